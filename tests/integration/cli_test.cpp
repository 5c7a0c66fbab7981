// The `cadre` command's handling of bad input: clear messages, exit code 2, never a crash.
#include <gtest/gtest.h>

#include <fstream>

#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;

TEST(Cli, ValidateAcceptsEveryShippedScenario) {
  TempDir dir("validate");
  for (const auto& entry : std::filesystem::directory_iterator(source_dir() + "/scenarios")) {
    if (entry.path().extension() != ".yaml") continue;
    auto [code, output] = run_to_end({cadre_binary(), "validate", entry.path().string()},
                                     dir.path() + "/log", 30s);
    EXPECT_EQ(code, 0) << entry.path() << ": " << output;
    EXPECT_NE(output.find(": ok:"), std::string::npos) << output;
  }
}

TEST(Cli, ValidateRejectsABadFileWithFileLineColumnAndExitCode2) {
  TempDir dir("validate-bad");
  const std::string path = dir.path() + "/bad.yaml";
  std::ofstream(path) << "name: bad\n"
                          "pricing: {models: {m: {in: 1, out: 1}}}\n"
                          "work: {generate: {count: 3}}\n"
                          "team:\n"
                          "  - role: coder\n"
                          "    count: many\n"
                          "    brain: {kind: sim, model: m}\n";
  auto [code, output] = run_to_end({cadre_binary(), "validate", path}, dir.path() + "/log", 30s);
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find(path + ":6:12"), std::string::npos) << output;
  EXPECT_NE(output.find("count"), std::string::npos) << output;
}

TEST(Cli, RunOfAMissingFileFailsWithExitCode2) {
  TempDir dir("run-missing");
  auto [code, output] = run_to_end({cadre_binary(), "run", dir.path() + "/nope.yaml"},
                                   dir.path() + "/log", 30s);
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("nope.yaml"), std::string::npos) << output;
}

TEST(Cli, RunRejectsAMalformedOverride) {
  TempDir dir("run-set");
  auto [code, output] = run_to_end(
      {cadre_binary(), "run", scenario_path("small-team.yaml"), "--set", "workflow.samples"},
      dir.path() + "/log", 30s);
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("--set"), std::string::npos) << output;
}

TEST(Cli, UnknownSubcommandAndMissingArgumentsExitWith2) {
  TempDir dir("cli-args");
  EXPECT_EQ(run_to_end({cadre_binary(), "frobnicate"}, dir.path() + "/a", 30s).first, 2);
  EXPECT_EQ(run_to_end({cadre_binary(), "agent", "--role", "coder"}, dir.path() + "/b", 30s).first,
            2);
  auto [code, output] = run_to_end({cadre_binary(), "--help"}, dir.path() + "/c", 30s);
  EXPECT_EQ(code, 0);
  EXPECT_NE(output.find("run"), std::string::npos);
}

TEST(Cli, AnAgentWithAnUnknownBrainExitsWith2AndSaysWhy) {
  TempDir dir("agent-brain");
  auto [code, output] = run_to_end({cadre_binary(), "agent", "--hub", "tcp://127.0.0.1:1", "--id",
                                    "x-1", "--role", "coder", "--model", "m", "--brain", "oracle"},
                                   dir.path() + "/log", 30s);
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("oracle"), std::string::npos) << output;
}

}  // namespace
}  // namespace cadre::testing
