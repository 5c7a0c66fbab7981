// Replay: a RESULT record carries every field of an outcome, and a journal fed to a fresh core
// rebuilds exactly the state — the same report — that the core which wrote it reached; the
// replay's report is compared with the run's field by field (`cadre replay`, replay_report.h).
#include "cadre/runtime/replay.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cadre/agents/sim_brain.h"
#include "cadre/runtime/replay_report.h"
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


// ---------------------------------------------------------------------------------------------
// The replay's report against the run's (`cadre replay`, replay_report.h).

std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// What a live hub knows beside its core: the facts report_fields_not_in_journal names.
RunFacts shell_facts_for_test() {
  RunFacts facts;
  facts.mode = "live";
  facts.wall_s = 9.5;
  facts.messages = {120, 80, 1, 0};
  facts.agent_restarts = {{"coder-2", 1}};
  return facts;
}

TEST(ReplayReport, AReplayedJournalGivesTheReportAndGoalLinesTheRunWrote) {
  const Scenario scenario = scenario_for_replay();
  HubCore original(scenario);
  const auto records = run_and_journal(scenario, original);
  const auto dir = std::filesystem::temp_directory_path() /
                   ("cadre-replay-report-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const Status written = write_report(dir.string(), original, shell_facts_for_test());
  const std::string report = file_text((dir / "report.json").string());
  const std::string goals = file_text((dir / "goals.jsonl").string());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(written.ok()) << written.error().to_string();

  HubCore rebuilt(scenario);
  auto replayed = replay_journal(records, rebuilt);
  ASSERT_TRUE(replayed.ok()) << replayed.error().to_string();
  auto shell = read_shell_facts(report, "report.json");
  ASSERT_TRUE(shell.ok()) << shell.error().to_string();
  EXPECT_EQ(shell->mode, "live");
  EXPECT_EQ(shell->wall_s, 9.5);
  EXPECT_EQ(shell->messages.sent, 120u);
  EXPECT_EQ(shell->agent_restarts.at("coder-2"), 1u);
  const RunFacts facts = replayed_run_facts(rebuilt, *replayed, *shell);
  EXPECT_FALSE(facts.interrupted);
  EXPECT_EQ(facts.agent_pids.at("coder-1"), 1000);

  // The rebuilt core's goal lines are the run's, byte for byte.
  EXPECT_EQ(goals_jsonl(rebuilt), goals);
  auto report_diff = compare_report_json(report, report_json(rebuilt, facts), "report.json");
  ASSERT_TRUE(report_diff.ok());
  EXPECT_TRUE(report_diff->empty()) << report_diff->front().field;
  auto goal_diff = compare_goal_lines(goals, goals_jsonl(rebuilt), "goals.jsonl");
  ASSERT_TRUE(goal_diff.ok());
  EXPECT_TRUE(goal_diff->empty()) << goal_diff->front().field;

  // Without the shell's facts the replay still agrees on everything the journal holds.
  auto bare = compare_report_json(report, report_json(rebuilt, replayed_run_facts(rebuilt, *replayed, {})),
                                  "report.json");
  ASSERT_TRUE(bare.ok());
  EXPECT_TRUE(bare->empty()) << bare->front().field;
}

TEST(ReplayReport, EveryDifferenceIsListedWithItsFieldAndBothValuesButTheShellsFacts) {
  const std::string report = R"({"mode":"live","interrupted":false,
    "goals":{"total":2,"resolved":2},"time":{"wall_s":1.5,"goal_p50_s":0.5},
    "messages":{"sent":10,"received":9},
    "agents":[{"id":"coder-1","tasks":3,"restarts":0},{"id":"critic-1","tasks":2,"restarts":0}],
    "task_attempts":[{"goal":"g","task":"plan","attempt":0,"state":"done"},
                     {"goal":"g","task":"s1","attempt":0,"state":"done"},
                     {"goal":"g","task":"s1","attempt":1,"state":"done"}]})";
  const std::string replay = R"({"mode":"sim","interrupted":false,
    "goals":{"total":2,"resolved":1},"time":{"wall_s":7,"goal_p50_s":0.5},
    "messages":{"sent":0,"received":0},
    "agents":[{"id":"coder-1","tasks":4,"restarts":5},{"id":"critic-1","tasks":2,"restarts":0}],
    "task_attempts":[{"goal":"g","task":"plan","attempt":0,"state":"done"},
                     {"goal":"g","task":"s1","attempt":1,"state":"leased"}],
    "extra":true})";
  auto diff = compare_report_json(report, replay, "report.json");
  ASSERT_TRUE(diff.ok()) << diff.error().to_string();
  std::vector<std::string> lines;
  for (const auto& m : *diff) lines.push_back(m.field + " " + m.report + " " + m.replay);
  // Attempts are matched by key: the missing one is one difference, not a shift of the rest.
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "agents[coder-1].tasks 3 4",
                       "goals.resolved 2 1",
                       "task_attempts[g/s1#0] {\"attempt\":0,\"goal\":\"g\",\"state\":\"done\","
                       "\"task\":\"s1\"} (absent)",
                       "task_attempts[g/s1#1].state \"done\" \"leased\"",
                       "extra (absent) true",
                   }));

  auto damaged = compare_report_json("{\"goals\": ", replay, "/runs/x/report.json");
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.error().to_string().find("/runs/x/report.json"), std::string::npos);
}

TEST(ReplayReport, GoalLinesAreMatchedByIdAndALineThatIsNoGoalIsNamed) {
  const std::string report = "{\"id\":\"a\",\"outcome\":\"resolved\",\"usd\":0.5}\n"
                             "{\"id\":\"b\",\"outcome\":\"failed\",\"reason\":\"limit\"}\n";
  const std::string replay = "{\"id\":\"b\",\"outcome\":\"failed\",\"reason\":\"limit\"}\n"
                             "{\"id\":\"a\",\"outcome\":\"escalated\",\"usd\":0.5}\n";
  auto diff = compare_goal_lines(report, replay, "goals.jsonl");
  ASSERT_TRUE(diff.ok());
  ASSERT_EQ(diff->size(), 1u);
  EXPECT_EQ((*diff)[0].field, "goals.jsonl[a].outcome");
  EXPECT_EQ((*diff)[0].report, "\"resolved\"");
  EXPECT_EQ((*diff)[0].replay, "\"escalated\"");

  auto bad = compare_goal_lines(report + "not json\n", replay, "/runs/x/goals.jsonl");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().to_string().find("/runs/x/goals.jsonl: line 3"), std::string::npos)
      << bad.error().to_string();
}

TEST(ReplayReport, ShellFactsAreReadOnlyFromACadreReport) {
  EXPECT_FALSE(read_shell_facts("[1, 2]", "r.json").ok());
  auto missing = read_shell_facts(R"({"mode":"live"})", "r.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().to_string().find("r.json: not a cadre report"), std::string::npos)
      << missing.error().to_string();
}

TEST(ReplayReport, AStopForAnInterruptIsReplayedAsAnInterruptedRun) {
  const Scenario scenario = scenario_for_replay();
  HubCore original(scenario);
  auto records = run_and_journal(scenario, original);
  // Cut the run after a few records and stop it as the live hub does on Ctrl-C.
  records.resize(12);
  records.push_back({JsonLine().field("ev", "stop").field("reason", "interrupted")
                         .field("n", std::uint64_t{12}).field("t_us", std::int64_t{999999})
                         .str()});
  HubCore rebuilt(scenario);
  auto replayed = replay_journal(records, rebuilt);
  ASSERT_TRUE(replayed.ok()) << replayed.error().to_string();
  EXPECT_TRUE(replayed_run_facts(rebuilt, *replayed, {}).interrupted);
}

TEST(ReplayReport, GoalProgressShowsEveryGoalOpenEarlyAndEndedAtTheEnd) {
  const Scenario scenario = scenario_for_replay();
  HubCore original(scenario);
  const auto records = run_and_journal(scenario, original);

  HubCore early(scenario);
  ASSERT_TRUE(replay_journal(records, early, 7).ok());  // 5 joins, the start, one result
  const auto at_start = goal_progress(early);
  ASSERT_EQ(at_start.size(), scenario.goals.size());
  std::uint32_t running = 0, planned = 0;
  for (const auto& goal : at_start) {
    EXPECT_EQ(goal.outcome, "open") << goal.id;
    running += goal.tasks_running;
    planned += goal.planned;
  }
  EXPECT_GT(running, 0u);
  EXPECT_EQ(planned, 1u);  // the one plan answered so far
  EXPECT_EQ(at_start[0].id, "g0");

  HubCore end(scenario);
  ASSERT_TRUE(replay_journal(records, end).ok());
  for (const auto& goal : goal_progress(end)) {
    EXPECT_NE(goal.outcome, "open") << goal.id;
    EXPECT_EQ(goal.tasks_running + goal.tasks_queued, 0u) << goal.id;
    EXPECT_TRUE(goal.planned) << goal.id;
    EXPECT_GT(goal.results, 0u) << goal.id;
    for (const auto& subtask : goal.subtasks) {
      EXPECT_NE(subtask.state, "solving") << goal.id << "/" << subtask.id;
      EXPECT_GT(subtask.attempts, 0u) << goal.id << "/" << subtask.id;
    }
  }
}

}  // namespace
}  // namespace cadre::runtime
