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

// The hub's ASSIGN carries a `ref` that agents echo in their RESULT; it is a hint, checked
// against the RESULT's key. A critic that echoes nothing, a ref naming no task, or the ref of
// another task must be served exactly as one that echoes it faithfully: by the key.
TEST(PythonAgent, ResultsWithAMissingOrWrongRefAreTakenByTheirKey) {
  TempDir dir("python-ref");
  const std::string critic = dir.path() + "/tampering_critic.py";
  std::ofstream(critic) << "import itertools, os, sys\n"
                           "sys.path.insert(0, " << nlohmann::json(source_dir() + "/sdk/python").dump() << ")\n"
                           "import cadre_agent\n"
                           "turn = itertools.count()\n"
                           "send = cadre_agent.Agent.send\n"
                           "def tampering_send(self, kind, body):\n"
                           "    if kind == cadre_agent.RESULT:\n"
                           "        body = dict(body)\n"
                           "        n = next(turn) % 4\n"
                           "        if n == 0: body.pop('ref', None)\n"
                           "        elif n == 1: body['ref'] = 2**64 - 1\n"
                           "        elif n == 2: body['ref'] = 0\n"
                           "    return send(self, kind, body)\n"
                           "cadre_agent.Agent.send = tampering_send\n"
                           "def review(task):\n"
                           "    assert isinstance(task.get('ref'), int), 'the hub sends a ref'\n"
                           "    correct = bool((task.get('candidate') or {}).get('sim_correct', False))\n"
                           "    return {'verdict': {'accept': correct, 'score': 1.0 if correct else 0.0}}\n"
                           "sys.exit(cadre_agent.run_agent(review))\n";
  // The python-critic scenario with this critic.
  std::string scenario = read_file(scenario_path("python-critic.yaml"));
  const std::string command = "command: [/usr/bin/python3, ../examples/agents/perfect_critic.py]";
  const auto at = scenario.find(command);
  ASSERT_NE(at, std::string::npos);
  scenario.replace(at, command.size(), "command: [/usr/bin/python3, " + critic + "]");
  std::ofstream(dir.path() + "/scenario.yaml") << scenario;

  const std::string out = dir.path() + "/run";
  auto [code, output] = run_to_end({cadre_binary(), "run", dir.path() + "/scenario.yaml", "--out",
                                    out, "-q"},
                                   dir.path() + "/log", 120s);
  ASSERT_EQ(code, 0) << output << read_file(out + "/agents/critic-1.log");
  const auto report = read_json(out + "/report.json");
  ASSERT_FALSE(report.is_discarded());
  EXPECT_EQ(report["goals"]["open"], 0);
  EXPECT_EQ(report["quality"]["false_accepts"], 0);
  EXPECT_EQ(report["messages"]["malformed"], 0);
  int reviews = 0;
  for (const auto& event : read_journal_events(out))
    if (event["ev"] == "result" && event["agent"] == "critic-1" && event.contains("verdict"))
      ++reviews;
  EXPECT_GE(reviews, 4) << "every kind of tampering was tried";
  EXPECT_EQ(read_file(out + "/agents/critic-1.log").find("Traceback"), std::string::npos)
      << read_file(out + "/agents/critic-1.log");
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
