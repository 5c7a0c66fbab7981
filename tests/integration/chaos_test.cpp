// Chaos: a live run whose agents are killed with SIGKILL at random and whose hub is killed twice
// and resumed (`cadre run --resume`). At the end every goal is in exactly one terminal state, no
// result was accepted twice (tasks completed and tokens equal a clean run's), and every goal's
// outcome matches a clean run with the same seed.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;

// The agents alive now, by pid, from the journal (joins minus leaves, latest pid per agent).
std::vector<pid_t> live_agent_pids(const std::string& out) {
  std::map<std::string, pid_t> pid_of;
  for (const auto& event : read_journal_events(out)) {
    if (event["ev"] == "join") pid_of[event["agent"]] = static_cast<pid_t>(event["pid"].get<long>());
    if (event["ev"] == "leave") pid_of.erase(event["agent"].get<std::string>());
  }
  std::vector<pid_t> pids;
  for (const auto& [agent, pid] : pid_of)
    if (process_alive(pid)) pids.push_back(pid);
  return pids;
}

int results_in(const std::string& out) {
  int n = 0;
  for (const auto& event : read_journal_events(out)) n += event["ev"] == "result";
  return n;
}

TEST(Chaos, RandomAgentKillsAndTwoHubKillsEndEveryGoalAsACleanRunDoes) {
  TempDir dir("chaos");
  // Restarts plentiful and quick, so random kills never leave a role empty.
  const std::vector<std::string> settings = {
      "--set", "workflow.time_scale=0.05", "--set", "supervision.max_restarts=1000",
      "--set", "supervision.backoff_s=0.05", "--set", "supervision.backoff_max_s=0.2"};
  auto argv_for = [&](const std::string& out) {
    std::vector<std::string> argv = {cadre_binary(), "run", scenario_path("small-team.yaml"),
                                     "--out", out, "-q"};
    argv.insert(argv.end(), settings.begin(), settings.end());
    return argv;
  };
  const std::string clean = dir.path() + "/clean";
  auto [clean_code, clean_output] = run_to_end(argv_for(clean), clean + ".log", 120s);
  ASSERT_EQ(clean_code, 0) << clean_output;

  const std::string out = dir.path() + "/chaos";
  const unsigned seed = 20261129;
  std::mt19937 random(seed);
  SCOPED_TRACE("chaos seed " + std::to_string(seed));
  int agent_kills = 0;
  std::optional<int> final_status;
  for (int life = 0; life < 3 && !final_status; ++life) {
    ChildProcess hub(life == 0 ? argv_for(out)
                               : std::vector<std::string>{cadre_binary(), "run", "--resume", out},
                     out + ".life" + std::to_string(life) + ".log");
    const int results_at_start = results_in(out);
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto status = hub.wait_for(std::chrono::milliseconds(200 + random() % 400))) {
        final_status = *status;
        break;
      }
      // Lives 0 and 1 end with the hub killed once it has taken a dozen more results.
      if (life < 2 && results_in(out) >= results_at_start + 12) {
        hub.signal(SIGKILL);
        hub.wait_for(10s);
        break;
      }
      auto pids = live_agent_pids(out);
      if (!pids.empty()) {
        ::kill(pids[random() % pids.size()], SIGKILL);
        ++agent_kills;
      }
    }
    if (life < 2) {
      ASSERT_FALSE(final_status) << "the run ended before its hub was killed " << life + 1
                                 << " times";
    }
  }
  ASSERT_TRUE(final_status) << "the run did not end";
  ASSERT_TRUE(WIFEXITED(*final_status) && WEXITSTATUS(*final_status) == 0)
      << read_file(out + ".life2.log");
  EXPECT_GT(agent_kills, 3);

  int resumes = 0;
  for (const auto& event : read_journal_events(out)) resumes += event["ev"] == "resume";
  EXPECT_EQ(resumes, 2);

  // Every goal exactly once, terminal, as in the clean run.
  std::map<std::string, std::string> chaos_outcomes, clean_outcomes;
  for (const auto& goal : read_jsonl(out + "/goals.jsonl")) {
    const std::string id = goal["id"];
    EXPECT_FALSE(chaos_outcomes.count(id)) << "goal " << id << " reported twice";
    chaos_outcomes[id] = goal["outcome"];
    EXPECT_TRUE(goal["outcome"] == "resolved" || goal["outcome"] == "escalated" ||
                goal["outcome"] == "failed") << goal.dump();
  }
  for (const auto& goal : read_jsonl(clean + "/goals.jsonl")) clean_outcomes[goal["id"]] = goal["outcome"];
  EXPECT_EQ(chaos_outcomes, clean_outcomes);

  // No result accepted twice: as many completed tasks, tokens and dollars as the clean run.
  const auto report = read_json(out + "/report.json");
  const auto clean_report = read_json(clean + "/report.json");
  EXPECT_EQ(report["goals"]["open"], 0);
  EXPECT_EQ(report["tasks"]["completed"], clean_report["tasks"]["completed"]);
  EXPECT_EQ(report["cost"]["tokens_in"], clean_report["cost"]["tokens_in"]);
  EXPECT_EQ(report["cost"]["tokens_out"], clean_report["cost"]["tokens_out"]);
  EXPECT_EQ(report["cost"]["usd"], clean_report["cost"]["usd"]);
}

}  // namespace
}  // namespace cadre::testing
