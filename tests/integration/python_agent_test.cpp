// An agent written in Python on sdk/python takes a role in a live run next to C++ agents.
#include <gtest/gtest.h>

#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;

TEST(PythonAgent, APythonCriticServesALiveRunNextToCppAgents) {
  TempDir dir("python-critic");
  const std::string out = dir.path() + "/run";
  auto [code, output] = run_to_end({cadre_binary(), "run", scenario_path("python-critic.yaml"),
                                    "--out", out, "-q"},
                                   dir.path() + "/log", 120s);
  ASSERT_EQ(code, 0) << output << read_file(out + "/agents/critic-1.log");
  const auto report = read_json(out + "/report.json");
  ASSERT_FALSE(report.is_discarded());
  EXPECT_EQ(report["goals"]["open"], 0);

  // The critic is the Python process (its own pid, its HELLO), and it did the reviewing.
  bool found = false;
  for (const auto& agent : report["agents"]) {
    if (agent["id"] != "critic-1") continue;
    found = true;
    EXPECT_EQ(agent["model"], "python-critic");
    EXPECT_GT(agent["tasks"].get<int>(), 0);
    const pid_t pid = static_cast<pid_t>(agent["pid"].get<long>());
    EXPECT_GT(pid, 0);
    EXPECT_FALSE(process_alive(pid)) << "the Python agent outlived the run";
  }
  EXPECT_TRUE(found);
  EXPECT_NE(read_file(out + "/agents/critic-1.log").find("joined hub"), std::string::npos);
  int reviews = 0;
  for (const auto& event : read_journal_events(out))
    if (event["ev"] == "result" && event["agent"] == "critic-1" && event.contains("verdict"))
      ++reviews;
  EXPECT_GT(reviews, 0);
  // It judges by the simulation's ground truth: nothing wrong was ever accepted.
  EXPECT_EQ(report["quality"]["false_accepts"], 0);
  EXPECT_EQ(report["messages"]["malformed"], 0);
}

TEST(PythonAgent, AProcessAgentCannotBeSimulated) {
  TempDir dir("python-sim");
  auto [code, output] = run_to_end({cadre_binary(), "sim", scenario_path("python-critic.yaml"),
                                    "--out", dir.path() + "/sim"},
                                   dir.path() + "/log", 30s);
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("only live"), std::string::npos) << output;
}

}  // namespace
}  // namespace cadre::testing
