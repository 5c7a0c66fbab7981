// Replay: a RESULT record carries every field of an outcome, and a journal fed to a fresh core
// rebuilds exactly the state — the same report — that the core which wrote it reached.
#include "cadre/runtime/replay.h"

#include <gtest/gtest.h>

#include <deque>
#include <nlohmann/json.hpp>

#include "cadre/agents/sim_brain.h"
#include "cadre/runtime/report.h"
#include "journal_events.h"

namespace cadre::runtime {
namespace {

TEST(ReplayRecords, AResultRecordRoundTripsEveryField) {
  roles::TaskOutcome outcome;
  outcome.goal_id = "g1";
  outcome.task_id = "s2";
  outcome.attempt = 7;
  outcome.ok = false;
  outcome.error = "quote \" backslash \\ newline \n";
  outcome.tokens_in = 123456789012ULL;
  outcome.tokens_out = 42;
  outcome.model = "m";
  outcome.brain_s = 0.1 + 0.2;  // not exactly representable in few digits
  outcome.plan = {{"s1", "t", "do it", 0.3, {}}, {"s2", "u", "then", 0.7, {"s1"}}};
  roles::Candidate candidate;
  candidate.content = "caf\xc3\xa9 and a stray \xff byte";
  candidate.sim_correct = true;
  candidate.files = {{"src/a.py", "print(1)\n"}, {"b.txt", ""}};
  outcome.candidate = candidate;
  outcome.verdict = roles::Verdict{true, 0.875, "fine"};

  const std::string json = outcome_record(outcome).field("agent", "coder-1").str();
  ASSERT_FALSE(nlohmann::json::parse(json, nullptr, false).is_discarded()) << json;
  auto back = outcome_from_record(json);
  ASSERT_TRUE(back.ok()) << back.error().to_string();
  EXPECT_EQ(back->goal_id, "g1");
  EXPECT_EQ(back->task_id, "s2");
  EXPECT_EQ(back->attempt, 7u);
  EXPECT_FALSE(back->ok);
  EXPECT_EQ(back->error, outcome.error);
  EXPECT_EQ(back->tokens_in, outcome.tokens_in);
  EXPECT_EQ(back->tokens_out, 42u);
  EXPECT_EQ(back->model, "m");
  EXPECT_EQ(back->brain_s, outcome.brain_s);
  ASSERT_EQ(back->plan.size(), 2u);
  EXPECT_EQ(back->plan[1].depends_on, std::vector<std::string>{"s1"});
  EXPECT_EQ(back->plan[1].difficulty, 0.7);
  ASSERT_TRUE(back->candidate.has_value());
  // Invalid UTF-8 becomes U+FFFD; valid text is kept as it is.
  EXPECT_EQ(back->candidate->content, "caf\xc3\xa9 and a stray \xef\xbf\xbd byte");
  EXPECT_EQ(back->candidate->sim_correct, std::optional<bool>(true));
  ASSERT_EQ(back->candidate->files.size(), 2u);
  EXPECT_EQ(back->candidate->files[0].path, "src/a.py");
  EXPECT_EQ(back->candidate->files[0].content, "print(1)\n");
  ASSERT_TRUE(back->verdict.has_value());
  EXPECT_EQ(back->verdict->score, 0.875);
  EXPECT_EQ(back->verdict->feedback, "fine");
}

Scenario scenario_for_replay() {
  Scenario scenario;
  scenario.name = "replay-test";
  scenario.seed = 11;
  BrainConfig big{"sim", "big", {}}, small{"sim", "small", {}};
  scenario.team = {{"planner", 1, 2, big}, {"coder", 2, 2, small}, {"critic", 1, 2, big},
                   {"human", 1, 1, BrainConfig{"sim", "human", {}}}};
  scenario.workflow.samples = 2;
  scenario.workflow.max_revisions = 1;
  for (int g = 0; g < 5; ++g) {
    GoalSpec goal;
    goal.id = "g" + std::to_string(g);
    goal.title = "goal";
    for (int s = 0; s <= g % 2; ++s) goal.subtasks.push_back({"part", 0.2 * (g + s)});
    scenario.goals.push_back(goal);
  }
  scenario.pricing.models = {{"small", {0.15, 0.6}}, {"big", {2.5, 10}}};
  return scenario;
}

// Drives a core to the end with sim brains, writing the journal records the live hub would.
std::vector<JournalRecord> run_and_journal(const Scenario& scenario, HubCore& core) {
  std::vector<JournalRecord> records;
  TimeUs t = 0;
  auto log = [&](JsonLine line) {
    line.field("n", static_cast<std::uint64_t>(records.size())).field("t_us", t);
    records.push_back({line.str()});
  };
  struct Work {
    std::string agent_id;
    roles::TaskAssignment assignment;  // as sent (the ledger's record changes once done)
  };
  std::deque<Work> work;
  auto take = [&](const std::vector<Command>& commands) {
    for (const auto& command : commands)
      if (const auto* dispatch = std::get_if<DispatchCommand>(&command))
        work.push_back({dispatch->agent_id, *dispatch->assignment});
  };
  std::map<std::string, std::unique_ptr<agents::SimBrain>> brains;
  for (const auto& entry : scenario.team) {
    for (std::uint32_t i = 1; i <= entry.count; ++i) {
      const std::string id = entry.role + "-" + std::to_string(i);
      agents::SimBrainParams params;
      params.miss_rate = 0.3;
      brains[id] = std::make_unique<agents::SimBrain>(entry.role, entry.brain.model, params);
      log(JsonLine().field("ev", "join").field("agent", id).field("role", entry.role)
              .field("model", entry.brain.model).field("capacity", entry.capacity)
              .field("pid", std::int64_t{1000}));
      take(core.agent_joined({id, entry.role, entry.brain.model, entry.capacity, 1000}, t));
    }
  }
  log(JsonLine().field("ev", "start"));
  take(core.start(t));
  int lost = 0;
  while (!work.empty() && !core.finished()) {
    Work next = work.front();
    work.pop_front();
    t += 1000;
    if (lost++ == 5) {  // one agent leaves halfway: its tasks are requeued
      log(JsonLine().field("ev", "leave").field("agent", next.agent_id).field("why", "test"));
      take(core.agent_left(next.agent_id, t));
      continue;
    }
    auto outcome = brains[next.agent_id]->answer(next.assignment).outcome;
    log(outcome_record(outcome).field("agent", next.agent_id));
    take(core.result_received(next.agent_id, outcome, t));
  }
  return records;
}

TEST(Replay, AJournalRebuildsTheSameStateInAFreshCore) {
  const Scenario scenario = scenario_for_replay();
  HubCore original(scenario);
  const auto records = run_and_journal(scenario, original);
  ASSERT_TRUE(original.finished());

  HubCore rebuilt(scenario);
  auto replayed = replay_journal(records, rebuilt);
  ASSERT_TRUE(replayed.ok()) << replayed.error().to_string();
  EXPECT_EQ(replayed->records, records.size());
  EXPECT_TRUE(replayed->started);
  EXPECT_TRUE(rebuilt.finished());
  RunFacts facts;
  EXPECT_EQ(report_json(rebuilt, facts), report_json(original, facts));
  EXPECT_EQ(replayed->agents_present.size(), 4u);  // 5 joined, one left
}

TEST(Replay, UntilStopsPartWayWithTheStateAtThatRecord) {
  const Scenario scenario = scenario_for_replay();
  HubCore original(scenario);
  const auto records = run_and_journal(scenario, original);
  HubCore part(scenario);
  auto replayed = replay_journal(records, part, 10);
  ASSERT_TRUE(replayed.ok());
  EXPECT_EQ(replayed->records, 10u);
  EXPECT_FALSE(part.finished());
}

TEST(Replay, ARecordThatIsNotAHubEventFailsNamingIt) {
  const Scenario scenario = scenario_for_replay();
  {
    HubCore core(scenario);
    auto replayed = replay_journal({{R"({"n":0,"t_us":0,"ev":"start"})"},
                                    {R"({"n":2,"t_us":5,"ev":"tick"})"}},
                                   core);
    ASSERT_FALSE(replayed.ok());
    EXPECT_NE(replayed.error().to_string().find("journal record 1: numbered 2"), std::string::npos)
        << replayed.error().to_string();
  }
  {
    HubCore core(scenario);
    auto replayed = replay_journal({{R"({"n":0,"t_us":0,"ev":"teleport"})"}}, core);
    ASSERT_FALSE(replayed.ok());
    EXPECT_NE(replayed.error().to_string().find("unknown event \"teleport\""), std::string::npos);
  }
  {
    HubCore core(scenario);
    auto replayed = replay_journal(
        {{R"({"n":0,"t_us":0,"ev":"result","goal":"g0","task":"plan","attempt":1.7e120})"}}, core);
    ASSERT_FALSE(replayed.ok());
    EXPECT_NE(replayed.error().to_string().find("journal record 0: malformed"), std::string::npos)
        << replayed.error().to_string();
  }
}

}  // namespace
}  // namespace cadre::runtime
