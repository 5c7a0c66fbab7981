// Shared model quotas end to end: a team of llm agents against a fake provider that enforces a
// requests-per-minute quota. Declared in `models:` with its rpm, the hub paces the team and the
// provider refuses a handful of requests at most; without it, every agent sends as fast as it
// can and retries on its own, and the provider refuses many.
#include <gtest/gtest.h>

#include <fstream>

#include "fake_model_server.h"
#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr int kQuotaRpm = 240;  // 4 requests a second, in one-second slices
constexpr int kGoals = 6;

// Every planner gets a one-subtask plan, every coder a file, every critic an acceptance.
std::string write_script(const std::string& dir) {
  const json script = {
      {"rules",
       {{{"match", "You are the planner"},
         {"where", "system"},
         {"content",
          {{"subtasks",
            {{{"id", "s1"}, {"title", "the module"}, {"instructions", "write it"},
              {"depends_on", json::array()}}}}}}},
        {{"match", "You are the critic"},
         {"where", "system"},
         {"content", {{"accept", true}, {"score", 0.9}, {"feedback", "fine"}}}}}},
      {"default",
       {{"content",
         {{"files", {{{"path", "m.py"}, {"content", "x = 1\n"}}}}, {"notes", "done"}}}}}};
  const std::string path = dir + "/script.json";
  std::ofstream(path) << script.dump();
  return path;
}

// Eight coders, two critics and a planner on one endpoint; `declared`: through `models:` with
// the provider's quota, else each brain names the endpoint itself.
std::string scenario_text(const std::string& base_url, bool declared) {
  const std::string brain =
      declared ? "{kind: llm, model: shared, timeout_s: 10, max_retries: 4}"
               : "{kind: llm, model: shared, base_url: \"" + base_url +
                     "\", timeout_s: 10, max_retries: 4}";
  std::string text =
      "name: quota\n"
      "team:\n"
      "  - {role: planner, capacity: 4, brain: " + brain + "}\n"
      "  - {role: coder, count: 8, brain: " + brain + "}\n"
      "  - {role: critic, count: 2, capacity: 4, brain: " + brain + "}\n"
      "workflow: {samples: 2, max_revisions: 0, on_exhausted: fail, lease_s: 60,"
      " heartbeat_s: 0.25}\n"
      "work:\n  goals:\n";
  for (int g = 1; g <= kGoals; ++g)
    text += "    - {id: g" + std::to_string(g) + ", title: goal " + std::to_string(g) +
            ", subtasks: [{difficulty: 0.5}]}\n";
  text += "pricing: {models: {shared: {in: 1.0, out: 2.0}}}\n"
          "limits: {wall_s: 90}\n";
  if (declared)
    text += "models:\n  shared: {base_url: \"" + base_url + "\", model: fake-model, rpm: " +
            std::to_string(kQuotaRpm) + "}\n";
  return text;
}

struct QuotaRun {
  int code = -1;
  std::string output;
  json report;
  int refusals = -1;
};

QuotaRun run_team(const std::string& dir, bool declared) {
  std::filesystem::create_directories(dir);
  // The provider: its quota enforced in one-second slices, as large providers do.
  FakeModelServer server(write_script(dir), dir,
                         {"--quota", std::to_string(kQuotaRpm), "--quota-slices"});
  const std::string scenario = dir + "/quota.yaml";
  std::ofstream(scenario) << scenario_text(server.base_url(), declared);
  QuotaRun run;
  std::tie(run.code, run.output) =
      run_to_end({cadre_binary(), "run", scenario, "--out", dir + "/run", "-q"}, dir + "/log", 120s);
  if (std::filesystem::exists(dir + "/run/report.json")) run.report = read_json(dir + "/run/report.json");
  const json stats = server.stats();
  run.refusals = stats.is_object() ? stats["by_status"].value("429", 0) : -1;
  return run;
}

TEST(RateLimit, AHubPacedTeamStaysInsideTheProvidersQuotaWhereAnUnpacedOneIsRefusedOften) {
  TempDir dir("quota");
  const QuotaRun unpaced = run_team(dir.path() + "/unpaced", false);
  const QuotaRun paced = run_team(dir.path() + "/paced", true);

  ASSERT_EQ(paced.code, 0) << paced.output;
  EXPECT_EQ(paced.report["goals"]["resolved"], kGoals) << paced.report.dump(2);
  EXPECT_LE(paced.refusals, 3) << "the provider refused more than a handful of the paced team";
  EXPECT_GE(unpaced.refusals, 10) << "the unpaced team should have met many refusals\n"
                                  << unpaced.output;
  std::printf("429s: paced team %d, unpaced team %d\n", paced.refusals, unpaced.refusals);
}

}  // namespace
}  // namespace cadre::testing
