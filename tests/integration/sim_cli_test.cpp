// `cadre sim` and `cadre sweep` end to end, and their agreement with `cadre run`.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// goal id -> "outcome tokens_in tokens_out attempts"
std::map<std::string, std::string> goal_fingerprints(const std::string& dir) {
  std::map<std::string, std::string> fingerprints;
  for (const auto& goal : read_jsonl(dir + "/goals.jsonl"))
    fingerprints[goal["id"].get<std::string>()] =
        goal["outcome"].get<std::string>() + " " + goal["tokens_in"].dump() + " " +
        goal["tokens_out"].dump() + " " + goal["attempts"].dump();
  return fingerprints;
}

void expect_sim_and_live_agree(const std::string& scenario, const std::string& seed) {
  TempDir dir("agree");
  auto [live_code, live_output] =
      run_to_end({cadre_binary(), "run", scenario_path(scenario), "--seed", seed, "--out",
                  dir.path() + "/live", "-q"},
                 dir.path() + "/live.log", 120s);
  ASSERT_EQ(live_code, 0) << live_output;
  auto [sim_code, sim_output] =
      run_to_end({cadre_binary(), "sim", scenario_path(scenario), "--seed", seed, "--out",
                  dir.path() + "/sim", "-q"},
                 dir.path() + "/sim.log", 60s);
  ASSERT_EQ(sim_code, 0) << sim_output;

  const auto live = goal_fingerprints(dir.path() + "/live");
  const auto sim = goal_fingerprints(dir.path() + "/sim");
  ASSERT_FALSE(live.empty());
  EXPECT_EQ(live, sim);
  const json live_report = read_json(dir.path() + "/live/report.json");
  const json sim_report = read_json(dir.path() + "/sim/report.json");
  EXPECT_EQ(live_report["mode"], "live");
  EXPECT_EQ(sim_report["mode"], "sim");
  EXPECT_EQ(live_report["cost"]["tokens_in"], sim_report["cost"]["tokens_in"]);
  EXPECT_EQ(live_report["cost"]["tokens_out"], sim_report["cost"]["tokens_out"]);
  EXPECT_EQ(live_report["goals"], sim_report["goals"]);
}

TEST(SimCli, SimAndLiveAgreeGoalByGoalOnSmallTeam) {
  expect_sim_and_live_agree("small-team.yaml", "7");
}

TEST(SimCli, SimAndLiveAgreeGoalByGoalOnEscalationHeavy) {
  expect_sim_and_live_agree("escalation-heavy.yaml", "3");
}

TEST(SimCli, ReplanningTurnsEscalationsIntoResolutions) {
  TempDir dir("replan");
  auto run = [&](const std::string& on_exhausted) {
    auto [code, output] = run_to_end(
        {cadre_binary(), "sim", scenario_path("feature-team.yaml"), "--set",
         "workflow.on_exhausted=" + on_exhausted, "--set", "workflow.max_replans=2", "--out",
         dir.path() + "/" + on_exhausted, "-q"},
        dir.path() + "/" + on_exhausted + ".log", 60s);
    EXPECT_EQ(code, 0) << output;
    return read_json(dir.path() + "/" + on_exhausted + "/report.json");
  };
  const json escalating = run("escalate");
  const json replanning = run("replan");
  const int escalated_before = escalating["goals"]["escalated"];
  ASSERT_GT(escalated_before, 0) << "feature-team must escalate for this test to mean anything";
  EXPECT_LT(replanning["goals"]["escalated"].get<int>(), escalated_before);
  EXPECT_GT(replanning["goals"]["resolved"].get<int>(),
            escalating["goals"]["resolved"].get<int>());
  EXPECT_EQ(replanning["goals"]["failed"], 0);
  // The replans show in the task list as plan tasks named after their subtask.
  int replans = 0;
  for (const auto& attempt : replanning["task_attempts"]) {
    const std::string task = attempt["task"];
    if (task.size() > 7 && task.ends_with("/replan")) {
      ++replans;
      EXPECT_EQ(attempt["kind"], "plan");
    }
  }
  EXPECT_GE(replans, escalated_before - replanning["goals"]["escalated"].get<int>());
}

TEST(SimCli, GoalsWithNoChangeForStallSAreReportedWithTheReason) {
  TempDir dir("stall");
  auto [code, output] =
      run_to_end({cadre_binary(), "sim", scenario_path("feature-team.yaml"), "--set",
                  "workflow.stall_s=1", "--out", dir.path() + "/run"},
                 dir.path() + "/run.log", 60s);
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find(" stalled: "), std::string::npos) << output;
  const json report = read_json(dir.path() + "/run/report.json");
  const json& stalls = report["stalls"];
  ASSERT_FALSE(stalls.empty());
  std::set<std::string> kinds;
  for (const auto& stall : stalls) {
    EXPECT_NEAR(stall["noticed_s"].get<double>() - stall["since_s"].get<double>(), 1.0, 1e-5);
    ASSERT_FALSE(stall["end_s"].is_null()) << "every goal ended, so every stall did";
    EXPECT_GE(stall["end_s"].get<double>(), stall["noticed_s"].get<double>());
    const std::string reason = stall["reason"];
    kinds.insert(reason.substr(0, reason.find(" (")));
  }
  // The feature team waits on its coders and on its one (slow) human.
  EXPECT_TRUE(kinds.count("waiting on a human")) << output;
  EXPECT_TRUE(kinds.count("every coder is busy")) << output;
  // Without stall_s nothing is reported.
  auto [quiet_code, quiet] = run_to_end({cadre_binary(), "sim", scenario_path("feature-team.yaml"),
                                         "--out", dir.path() + "/quiet", "-q"},
                                        dir.path() + "/quiet.log", 60s);
  ASSERT_EQ(quiet_code, 0) << quiet;
  EXPECT_TRUE(read_json(dir.path() + "/quiet/report.json")["stalls"].empty());
}

TEST(SimCli, TwoSimRunsWithTheSameSeedWriteIdenticalReportsButForRealTime) {
  TempDir dir("sim-determinism");
  std::vector<json> reports;
  for (const char* run : {"a", "b"}) {
    auto [code, output] = run_to_end({cadre_binary(), "sim", scenario_path("feature-team.yaml"),
                                      "--out", dir.path() + "/" + run, "-q"},
                                     dir.path() + "/" + run + ".log", 60s);
    ASSERT_EQ(code, 0) << output;
    json report = read_json(dir.path() + "/" + run + "/report.json");
    ASSERT_FALSE(report.is_discarded());
    EXPECT_GE(report["time"]["real_s"].get<double>(), 0.0);
    report["time"].erase("real_s");  // the one wall-clock field (docs/simulation.md)
    reports.push_back(report);
    EXPECT_EQ(read_file(dir.path() + "/a/goals.jsonl"),
              read_file(dir.path() + "/" + run + "/goals.jsonl"));
  }
  EXPECT_EQ(reports[0].dump(), reports[1].dump());
}

TEST(SimCli, SweepWritesOneCsvRowPerPointAndSeedAndAChart) {
  TempDir dir("sweep");
  auto [code, output] = run_to_end(
      {cadre_binary(), "sweep", scenario_path("compute-scaling.yaml"), "--vary",
       "workflow.samples=1,4", "--vary", "critic.tpr=0.6,0.9", "--seeds", "2", "--set",
       "work.generate.count=40", "--out", dir.path() + "/sweep"},
      dir.path() + "/log", 120s);
  ASSERT_EQ(code, 0) << output;
  const std::string csv = read_file(dir.path() + "/sweep/sweep.csv");
  std::istringstream lines(csv);
  std::string header;
  std::getline(lines, header);
  EXPECT_EQ(header.rfind("run,seed,workflow.samples,critic.tpr,goals,resolved", 0), 0u) << header;
  std::vector<std::string> columns;
  std::istringstream header_cells(header);
  for (std::string cell; std::getline(header_cells, cell, ',');) columns.push_back(cell);
  const auto rate_column = static_cast<std::size_t>(
      std::find(columns.begin(), columns.end(), "resolution_rate") - columns.begin());
  ASSERT_LT(rate_column, columns.size());
  std::map<std::string, double> rate_by_samples;
  int rows = 0;
  for (std::string line; std::getline(lines, line); ++rows) {
    std::vector<std::string> cells;
    std::istringstream row(line);
    for (std::string cell; std::getline(row, cell, ',');) cells.push_back(cell);
    ASSERT_EQ(cells.size(), columns.size()) << line;
    rate_by_samples[cells[2]] += std::stod(cells[rate_column]);
  }
  EXPECT_EQ(rows, 2 * 2 * 2);
  // More samples resolve more goals (summed over critics and seeds).
  EXPECT_GT(rate_by_samples["4"], rate_by_samples["1"]);
  const std::string svg = read_file(dir.path() + "/sweep/sweep.svg");
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("class=\"series\""), std::string::npos);
  EXPECT_NE(svg.find("critic.tpr=0.9"), std::string::npos);
}

TEST(SimCli, ALiveSweepRunsEachPointAsARealRun) {
  TempDir dir("sweep-live");
  auto [code, output] = run_to_end({cadre_binary(), "sweep", scenario_path("small-team.yaml"),
                                    "--vary", "workflow.samples=1,2", "--live", "--out",
                                    dir.path() + "/sweep"},
                                   dir.path() + "/log", 120s);
  ASSERT_EQ(code, 0) << output;
  for (const char* point : {"0", "1"}) {
    const json report = read_json(dir.path() + "/sweep/points/" + point + "/report.json");
    ASSERT_FALSE(report.is_discarded()) << "point " << point;
    EXPECT_EQ(report["mode"], "live");
    EXPECT_EQ(report["workflow"]["samples"], point == std::string("0") ? 1 : 2);
  }
  std::istringstream csv(read_file(dir.path() + "/sweep/sweep.csv"));
  int lines = 0;
  for (std::string line; std::getline(csv, line);) ++lines;
  EXPECT_EQ(lines, 3);  // header + 2 points
}

TEST(SimCli, SweepRejectsABadValueBeforeRunningAnything) {
  TempDir dir("sweep-bad");
  auto [code, output] = run_to_end({cadre_binary(), "sweep", scenario_path("compute-scaling.yaml"),
                                    "--vary", "workflow.samples=1,lots", "--out",
                                    dir.path() + "/sweep"},
                                   dir.path() + "/log", 30s);
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("workflow.samples"), std::string::npos) << output;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/sweep/sweep.csv"));
}

}  // namespace
}  // namespace cadre::testing
