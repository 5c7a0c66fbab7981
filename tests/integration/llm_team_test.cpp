// A team of LLM-brained agents (planner, coder, critic), scripted by the fake OpenAI-compatible
// server, builds a small real Python program; the goal's verify command tests it for real.
#include <gtest/gtest.h>

#include <fstream>

#include "fake_model_server.h"
#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;

std::string scenario_text(const std::string& base_url) {
  const std::string brain = "{kind: llm, model: fake-model, base_url: \"" + base_url +
                            "\", timeout_s: 10, max_retries: 1}";
  return "name: llm-e2e\n"
         "team:\n"
         "  - {role: planner, brain: " + brain + "}\n"
         "  - {role: coder, brain: " + brain + "}\n"
         "  - {role: critic, brain: " + brain + "}\n"
         "workflow: {samples: 1, max_revisions: 2, on_exhausted: fail, lease_s: 30,"
         " heartbeat_s: 0.25}\n"
         "work:\n"
         "  goals:\n"
         "    - id: calc\n"
         "      title: A tested calculator\n"
         "      description: calc.py with add(a, b), and unittest tests for it\n"
         "      verify: \"python3 -c 'import calc; assert calc.add(2, 3) == 5' &&"
         " (test ! -f test_calc.py || python3 -m unittest -q)\"\n"
         "pricing: {models: {fake-model: {in: 1.0, out: 2.0}}}\n"
         "limits: {wall_s: 60}\n";
}

TEST(LlmTeam, BuildsARealProgramThatItsVerifyCommandPasses) {
  TempDir dir("llm-e2e");
  FakeModelServer server(source_dir() + "/tests/llm/e2e_script.json", dir.path(),
                         {"--log", dir.path() + "/requests.jsonl"});
  ASSERT_GT(server.port(), 0) << read_file(dir.path() + "/server.out");
  const std::string scenario = dir.path() + "/llm-e2e.yaml";
  std::ofstream(scenario) << scenario_text(server.base_url());
  const std::string out = dir.path() + "/run";

  auto [code, output] =
      run_to_end({cadre_binary(), "run", scenario, "--out", out, "-q"}, dir.path() + "/log", 90s);
  ASSERT_EQ(code, 0) << output << read_file(out + "/agents/coder-1.log");

  const auto report = read_json(out + "/report.json");
  EXPECT_EQ(report["goals"]["resolved"], 1) << report.dump(2);
  EXPECT_GT(report["cost"]["tokens_in"].get<long>(), 0);

  // The files are really there, and the tests really pass in that folder.
  const std::string workspace = out + "/workspaces/calc";
  EXPECT_NE(read_file(workspace + "/calc.py").find("return a + b"), std::string::npos);
  EXPECT_NE(read_file(workspace + "/test_calc.py").find("assertEqual"), std::string::npos);
  auto [test_code, test_output] = run_to_end(
      {"/bin/sh", "-c", "cd '" + workspace + "' && python3 -m unittest -q"},
      dir.path() + "/unittest.log", 60s);
  EXPECT_EQ(test_code, 0) << test_output;

  // The first candidate (a - b) passed the critic but failed the test, and was revised.
  int failed = 0, passed = 0;
  for (const auto& event : read_journal_events(out)) {
    if (event["ev"] != "verify") continue;
    (event["passed"].get<bool>() ? passed : failed) += 1;
  }
  EXPECT_GE(failed, 1);
  EXPECT_GE(passed, 2);

  // The coder's attempt to write outside the workspace was refused and sent back; its second
  // answer was used, and nothing escaped.
  const std::string coder_log = read_file(out + "/agents/coder-1.llm.jsonl");
  EXPECT_NE(coder_log.find("escape.txt"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(out + "/workspaces/escape.txt"));
  EXPECT_FALSE(std::filesystem::exists(out + "/escape.txt"));
  EXPECT_EQ(report["tasks"]["failed_attempts"], 0) << report.dump(2);


}

TEST(LlmTeam, AnUnreachableEndpointStopsTheRunBeforeItStartsWithAClearMessage) {
  TempDir dir("llm-unreachable");
  const std::string scenario = dir.path() + "/llm-e2e.yaml";
  // Port 9 (discard) on loopback: nothing listens there.
  std::ofstream(scenario) << scenario_text("http://127.0.0.1:9/v1");
  const std::string out = dir.path() + "/run";
  auto [code, output] =
      run_to_end({cadre_binary(), "run", scenario, "--out", out, "-q"}, dir.path() + "/log", 30s);
  EXPECT_EQ(code, 1) << output;
  EXPECT_NE(output.find("cannot reach the llm endpoint http://127.0.0.1:9/v1"), std::string::npos)
      << output;
  EXPECT_NE(output.find("team role planner"), std::string::npos) << output;
  EXPECT_FALSE(std::filesystem::exists(out + "/report.json")) << "the run should not have started";
}

}  // namespace
}  // namespace cadre::testing
