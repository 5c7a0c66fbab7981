// The simulation shell: virtual time, determinism, and invariants under injected faults.
#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "cadre/agents/sim_brain.h"
#include "cadre/runtime/report.h"
#include "cadre/runtime/sim_run.h"
#include "sim_test_support.h"

namespace cadre::runtime {
namespace {

using simtest::small_scenario;
using Team = simtest::Team;

struct Finished {
  std::map<std::string, std::string> outcomes;  // goal -> outcome
  std::map<std::string, std::uint64_t> tokens;  // goal -> tokens in + out
  std::string report;
  TaskCounters counters;
  SimFaultCounts faults;
  std::size_t open = 0;
  std::uint64_t charged_results = 0;
};

Finished simulate(const Scenario& scenario) {
  Team team(scenario);
  SimRun sim(scenario, team.agents, team.answer());
  RunFacts facts = sim.run();
  facts.real_s = -1;  // the one wall-clock field
  Finished finished;
  for (const auto& goal : sim.core().ledger().goals()) {
    finished.outcomes[goal.spec.id] = outcome_name(goal.outcome);
    finished.tokens[goal.spec.id] = goal.tokens_in + goal.tokens_out;
    finished.charged_results += goal.attempts;
  }
  finished.report = report_json(sim.core(), facts);
  finished.counters = sim.core().ledger().counters();
  finished.faults = sim.faults();
  finished.open = sim.core().ledger().open_goals();
  return finished;
}

TEST(SimRun, EndsEveryGoalOnTheVirtualClock) {
  const Finished run = simulate(small_scenario(3));
  EXPECT_EQ(run.open, 0u);
  EXPECT_EQ(run.outcomes.size(), 6u);
  for (const auto& [goal, outcome] : run.outcomes) EXPECT_NE(outcome, "open") << goal;
  EXPECT_GT(run.counters.completed, 0u);
  EXPECT_EQ(run.counters.requeued, 0u);
}

TEST(SimRun, TwoRunsWithTheSameSeedWriteIdenticalReports) {
  EXPECT_EQ(simulate(small_scenario(11)).report, simulate(small_scenario(11)).report);
  EXPECT_NE(simulate(small_scenario(11)).report, simulate(small_scenario(12)).report);
}

TEST(SimRun, UnderFaultsEveryGoalEndsOnceNoResultCountsTwiceAndOutcomesMatchACleanRun) {
  std::uint64_t lost = 0, duplicated = 0, crashes = 0, delayed = 0, requeued = 0, ignored = 0;
  for (std::uint64_t seed = 1; seed <= 1000; ++seed) {
    Scenario clean = small_scenario(seed);
    Scenario faulty = clean;
    faulty.faults.message_loss = 0.05;
    faulty.faults.message_delay = 0.1;
    faulty.faults.delay_s = 2.0;
    faulty.faults.message_duplication = 0.05;
    faulty.faults.agent_crash = 0.03;
    faulty.faults.restart_s = 1.0;
    const Finished expected = simulate(clean);
    const Finished run = simulate(faulty);
    ASSERT_EQ(run.open, 0u) << "seed " << seed;
    // Each accepted result was charged exactly once: charges == accepted results.
    ASSERT_EQ(run.charged_results, run.counters.completed) << "seed " << seed;
    // Faults change timing, never what happens to a goal or what it costs in tokens.
    ASSERT_EQ(run.outcomes, expected.outcomes) << "seed " << seed;
    ASSERT_EQ(run.tokens, expected.tokens) << "seed " << seed;
    lost += run.faults.lost;
    duplicated += run.faults.duplicated;
    crashes += run.faults.crashes;
    delayed += run.faults.delayed;
    requeued += run.counters.requeued;
    ignored += run.counters.duplicates_ignored;
  }
  // The faults really happened, and the hub really had to recover from them.
  EXPECT_GT(lost, 100u);
  EXPECT_GT(duplicated, 100u);
  EXPECT_GT(crashes, 50u);
  EXPECT_GT(delayed, 100u);
  EXPECT_GT(requeued, 100u);
  EXPECT_GT(ignored, 100u);
}

}  // namespace
}  // namespace cadre::runtime
