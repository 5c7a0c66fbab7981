// Hard budgets (scenario `limits:`) end to end: `cadre sim` and `cadre run` stop the team at the
// limit, every goal ends in a terminal state, and report.json states the overrun, which is
// bounded by the work that was in flight.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string usd_text(double usd) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6f", usd);
  return text;
}

// feature-team.yaml's pricing.human_per_escalation: charged when a person resolves a subtask.
constexpr double kEscalationFee = 25.0;

double largest_attempt_usd(const json& report) {
  double largest = 0;
  for (const auto& attempt : report["task_attempts"])
    largest = std::max(largest, attempt["usd"].get<double>());
  return largest;
}

// The checks every budget-stopped run must pass.
void expect_stopped_at_the_limit(const json& report, double budget) {
  const json& goals = report["goals"];
  EXPECT_EQ(goals["open"], 0) << goals.dump();
  EXPECT_EQ(goals["resolved"].get<int>() + goals["escalated"].get<int>() +
                goals["failed"].get<int>() + goals["stopped_by_budget"].get<int>(),
            goals["total"].get<int>());
  EXPECT_GT(goals["stopped_by_budget"].get<int>(), 0);
  EXPECT_EQ(report["finish_reason"].get<std::string>().rfind("budget_usd limit reached", 0), 0u)
      << report["finish_reason"];
  const double usd = report["cost"]["usd"].get<double>();
  const double overrun = report["cost"]["overrun_usd"].get<double>();
  EXPECT_GE(usd, budget);
  EXPECT_NEAR(overrun, usd - budget, 2e-6);
  EXPECT_NEAR(report["limits"]["overrun_usd"]["run"].get<double>(), overrun, 2e-6);
  // Nothing was dispatched past the limit: the overrun is the result that crossed it (a task's
  // tokens or a person's fee), at most.
  EXPECT_LE(overrun, std::max(largest_attempt_usd(report), kEscalationFee) + 1e-6);
  for (const auto& attempt : report["task_attempts"]) {
    const std::string state = attempt["state"];
    EXPECT_TRUE(state == "done" || state == "cancelled") << attempt.dump();
  }
}

double unlimited_spend(const TempDir& dir) {
  auto [code, output] = run_to_end({cadre_binary(), "sim", scenario_path("feature-team.yaml"),
                                    "--out", dir.path() + "/free", "-q"},
                                   dir.path() + "/free.log", 60s);
  EXPECT_EQ(code, 0) << output;
  return read_json(dir.path() + "/free/report.json")["cost"]["usd"].get<double>();
}

TEST(Budget, SimStopsTheTeamAtTheBudgetWithABoundedReportedOverrun) {
  TempDir dir("budget-sim");
  const double budget = unlimited_spend(dir) / 2;
  ASSERT_GT(budget, 0);
  auto [code, output] =
      run_to_end({cadre_binary(), "sim", scenario_path("feature-team.yaml"), "--set",
                  "limits.budget_usd=" + usd_text(budget), "--out", dir.path() + "/run"},
                 dir.path() + "/run.log", 60s);
  ASSERT_EQ(code, 3) << "a run stopped by a limit exits 3\n" << output;
  EXPECT_NE(output.find("stopped by a limit"), std::string::npos) << output;
  const json report = read_json(dir.path() + "/run/report.json");
  expect_stopped_at_the_limit(report, std::stod(usd_text(budget)));
  for (const auto& goal : read_jsonl(dir.path() + "/run/goals.jsonl")) {
    if (goal["outcome"] != "stopped_by_budget") continue;
    EXPECT_EQ(goal["reason"].get<std::string>().rfind("budget_usd limit reached", 0), 0u);
  }
}

TEST(Budget, ALiveRunStopsTheTeamAtTheBudgetAndCancelsWhatIsInFlight) {
  TempDir dir("budget-live");
  const double budget = unlimited_spend(dir) / 3;
  auto [code, output] =
      run_to_end({cadre_binary(), "run", scenario_path("feature-team.yaml"), "--set",
                  "limits.budget_usd=" + usd_text(budget), "--out", dir.path() + "/run", "-q"},
                 dir.path() + "/run.log", 120s);
  ASSERT_EQ(code, 3) << output;
  const json report = read_json(dir.path() + "/run/report.json");
  expect_stopped_at_the_limit(report, std::stod(usd_text(budget)));
  // Work in flight when the limit was reached was taken back (attempts listed were dispatched).
  const json& attempts = report["task_attempts"];
  const auto cancelled = std::count_if(attempts.begin(), attempts.end(), [](const json& a) {
    return a["state"] == "cancelled" && a["agent"] != "";
  });
  EXPECT_GT(cancelled, 0) << "the feature team always has work in flight at a third of its spend";
}

TEST(Budget, AGoalBudgetStopsOnlyTheGoalsThatReachIt) {
  TempDir dir("budget-goal");
  auto [free_code, free_output] =
      run_to_end({cadre_binary(), "sim", scenario_path("feature-team.yaml"), "--out",
                  dir.path() + "/free", "-q"},
                 dir.path() + "/free.log", 60s);
  ASSERT_EQ(free_code, 0) << free_output;
  std::vector<double> spends;
  for (const auto& goal : read_jsonl(dir.path() + "/free/goals.jsonl"))
    spends.push_back(goal["usd"].get<double>());
  std::sort(spends.begin(), spends.end());
  const double limit = spends[spends.size() / 2];  // the median goal's spend
  auto [code, output] =
      run_to_end({cadre_binary(), "sim", scenario_path("feature-team.yaml"), "--set",
                  "limits.goal_budget_usd=" + usd_text(limit), "--out", dir.path() + "/run",
                  "-q"},
                 dir.path() + "/run.log", 60s);
  ASSERT_EQ(code, 0) << output;
  const json report = read_json(dir.path() + "/run/report.json");
  EXPECT_EQ(report["finish_reason"], "all goals ended");
  const int stopped = report["goals"]["stopped_by_budget"];
  EXPECT_GT(stopped, 0);
  EXPECT_LT(stopped, report["goals"]["total"].get<int>());
  const double largest = largest_attempt_usd(report);
  double overrun = 0;
  for (const auto& goal : read_jsonl(dir.path() + "/run/goals.jsonl")) {
    const double usd = goal["usd"].get<double>();
    if (goal["outcome"] == "stopped_by_budget") {
      EXPECT_GE(usd, std::stod(usd_text(limit)) - 1e-6) << goal.dump();
      // Past the limit by what it had in flight: a few results at most (samples run at once).
      EXPECT_LT(usd - limit, std::max(4 * largest, kEscalationFee)) << goal.dump();
    }
    // A goal may also end on its own with the result that crossed its limit.
    overrun += std::max(0.0, usd - std::stod(usd_text(limit)));
  }
  EXPECT_NEAR(report["cost"]["overrun_usd"].get<double>(), std::max(0.0, overrun), 1e-4);
}

}  // namespace
}  // namespace cadre::testing
