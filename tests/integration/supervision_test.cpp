// Supervision in `cadre run`: agent processes killed mid-run are restarted under the same id, up
// to the intensity limit; past it the agent stays down, and a role with no agent left stops the
// run. Real hub, real agent processes; agents are found by the pids their "join" events carry.
#include <gtest/gtest.h>

#include <set>

#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// small-team at time_scale 0.05 runs ~10 s on an idle machine: long enough to kill agents a few
// times and see them come back while goals are still open.
std::vector<std::string> run_argv(const std::string& out, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {cadre_binary(), "run", scenario_path("small-team.yaml"),
                                   "--out", out, "--set", "workflow.time_scale=0.05"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

// The pid of every join of `agent`, in order.
std::vector<pid_t> joins_of(const std::string& out, const std::string& agent) {
  std::vector<pid_t> pids;
  for (const auto& event : read_journal_events(out))
    if (event.value("ev", "") == "join" && event.value("agent", "") == agent)
      pids.push_back(static_cast<pid_t>(event.value("pid", 0L)));
  return pids;
}

// Every agent pid the run ever had.
std::set<pid_t> all_agent_pids(const std::string& out) {
  std::set<pid_t> pids;
  for (const auto& event : read_journal_events(out))
    if (event.value("ev", "") == "join") pids.insert(static_cast<pid_t>(event.value("pid", 0L)));
  return pids;
}

// Waits for the n-th join (from 1) of `agent` and returns its pid, or 0 at the deadline.
pid_t wait_for_join(const std::string& out, const std::string& agent, std::size_t n,
                    std::chrono::milliseconds timeout) {
  pid_t pid = 0;
  eventually(
      [&] {
        const auto pids = joins_of(out, agent);
        if (pids.size() >= n) pid = pids[n - 1];
        return pid > 0;
      },
      timeout);
  return pid;
}

std::map<std::string, std::uint32_t> restarts_in(const json& report) {
  std::map<std::string, std::uint32_t> restarts;
  for (const auto& agent : report["agents"])
    restarts[agent["id"].get<std::string>()] = agent["restarts"].get<std::uint32_t>();
  return restarts;
}

// Kills `pid` and waits until it is gone, so the next join seen is a new process.
void kill_and_wait(pid_t pid) {
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0) << "pid " << pid;
  EXPECT_TRUE(eventually([&] { return !process_alive(pid); }, 10s)) << "pid " << pid;
}

TEST(Supervision, ACoderKilledMidRunIsRestartedUnderTheSameIdAndTheRunCompletes) {
  TempDir dir("sup-restart");
  const std::string out = dir.path() + "/run";
  const std::string log = dir.path() + "/log";
  ChildProcess run(run_argv(out), log);

  // Kill coder-1 while it holds a task it has not answered.
  pid_t first = 0;
  const bool holding = eventually(
      [&] {
        std::set<std::string> open;
        for (const auto& event : read_journal_events(out)) {
          if (event.value("agent", "") != "coder-1") continue;
          const std::string key = event.value("goal", "") + "/" + event.value("task", "") + "#" +
                                  std::to_string(event.value("attempt", 0));
          if (event["ev"] == "join") first = static_cast<pid_t>(event.value("pid", 0L));
          if (event["ev"] == "dispatch") open.insert(key);
          if (event["ev"] == "result") open.erase(key);
        }
        return first > 0 && !open.empty();
      },
      60s);
  ASSERT_TRUE(holding) << "coder-1 never held a task\n" << read_file(log);
  kill_and_wait(first);

  // A new process joins as coder-1.
  const pid_t second = wait_for_join(out, "coder-1", 2, 60s);
  ASSERT_GT(second, 0) << "coder-1 was not restarted\n" << read_file(log);
  EXPECT_NE(second, first);

  auto status = run.wait_for(120s);
  ASSERT_TRUE(status.has_value()) << "run did not finish\n" << read_file(log);
  ASSERT_TRUE(WIFEXITED(*status));
  const std::string output = read_file(log);
  EXPECT_EQ(WEXITSTATUS(*status), 0) << output;
  EXPECT_NE(output.find("agent coder-1 restarts in 0.5 s"), std::string::npos) << output;

  const json report = read_json(out + "/report.json");
  ASSERT_FALSE(report.is_discarded());
  EXPECT_EQ(report["goals"]["open"].get<int>(), 0);
  EXPECT_EQ(report["finish_reason"], "all goals ended");
  EXPECT_EQ(joins_of(out, "coder-1").size(), 2u);
  const auto restarts = restarts_in(report);
  EXPECT_EQ(restarts, (std::map<std::string, std::uint32_t>{{"planner-1", 0},
                                                             {"coder-1", 1},
                                                             {"coder-2", 0},
                                                             {"critic-1", 0},
                                                             {"human-1", 0}}));
  for (const auto& agent : report["agents"]) {
    if (agent["id"] == "coder-1") {
      EXPECT_EQ(agent["pid"].get<long>(), second);
    }
  }
  for (pid_t pid : all_agent_pids(out)) EXPECT_FALSE(process_alive(pid)) << "agent pid " << pid;
}

TEST(Supervision, PastTheIntensityLimitTheAgentStaysDownAndTheRunGoesOnWithTheOthers) {
  TempDir dir("sup-intensity");
  const std::string out = dir.path() + "/run";
  const std::string log = dir.path() + "/log";
  ChildProcess run(run_argv(out, {"--set", "supervision.max_restarts=2", "--set",
                                  "supervision.period_s=30", "--set",
                                  "supervision.backoff_s=0.1"}),
                   log);

  // Kill coder-1 as soon as each of its processes has joined: three deaths within 30 s.
  std::set<pid_t> killed;
  for (std::size_t n = 1; n <= 3; ++n) {
    const pid_t pid = wait_for_join(out, "coder-1", n, 60s);
    ASSERT_GT(pid, 0) << "join " << n << " of coder-1 never came\n" << read_file(log);
    EXPECT_FALSE(killed.count(pid));
    kill_and_wait(pid);
    killed.insert(pid);
  }

  auto status = run.wait_for(120s);
  ASSERT_TRUE(status.has_value()) << "run did not finish\n" << read_file(log);
  ASSERT_TRUE(WIFEXITED(*status));
  const std::string output = read_file(log);
  EXPECT_EQ(WEXITSTATUS(*status), 0) << output;
  EXPECT_NE(output.find("agent coder-1 left down: 2 restarts within 30 s"), std::string::npos)
      << output;

  // No fourth process: coder-1 stayed down, coder-2 did the rest.
  EXPECT_EQ(joins_of(out, "coder-1").size(), 3u);
  const json report = read_json(out + "/report.json");
  ASSERT_FALSE(report.is_discarded());
  EXPECT_EQ(report["goals"]["open"].get<int>(), 0);
  EXPECT_EQ(report["finish_reason"], "all goals ended");
  const auto restarts = restarts_in(report);
  EXPECT_EQ(restarts.at("coder-1"), 2u);
  EXPECT_EQ(restarts.at("coder-2"), 0u);
  EXPECT_EQ(restarts.at("critic-1"), 0u);
  for (pid_t pid : all_agent_pids(out)) EXPECT_FALSE(process_alive(pid)) << "agent pid " << pid;
}

TEST(Supervision, ARoleWithNoAgentLeftStopsTheRunWithAClearReason) {
  TempDir dir("sup-role-lost");
  const std::string out = dir.path() + "/run";
  const std::string log = dir.path() + "/log";
  // small-team has a single critic.
  ChildProcess run(run_argv(out, {"--set", "supervision.max_restarts=1", "--set",
                                  "supervision.backoff_s=0.1"}),
                   log);

  for (std::size_t n = 1; n <= 2; ++n) {
    const pid_t pid = wait_for_join(out, "critic-1", n, 60s);
    ASSERT_GT(pid, 0) << "join " << n << " of critic-1 never came\n" << read_file(log);
    kill_and_wait(pid);
  }

  auto status = run.wait_for(60s);
  ASSERT_TRUE(status.has_value()) << "run did not stop\n" << read_file(log);
  ASSERT_TRUE(WIFEXITED(*status));
  const std::string output = read_file(log);
  EXPECT_EQ(WEXITSTATUS(*status), 1) << output;
  EXPECT_NE(output.find("no critic left: critic-1 was restarted 1 time within 60 s and left down"),
            std::string::npos)
      << output;

  // The partial report names the reason.
  const json report = read_json(out + "/report.json");
  ASSERT_FALSE(report.is_discarded()) << output;
  EXPECT_NE(report["finish_reason"].get<std::string>().find("no critic left"), std::string::npos)
      << report["finish_reason"];
  EXPECT_EQ(restarts_in(report).at("critic-1"), 1u);
  EXPECT_EQ(joins_of(out, "critic-1").size(), 2u);
  for (pid_t pid : all_agent_pids(out)) EXPECT_FALSE(process_alive(pid)) << "agent pid " << pid;
}

}  // namespace
}  // namespace cadre::testing
