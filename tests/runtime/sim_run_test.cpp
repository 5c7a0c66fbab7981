// The simulation shell: virtual time, determinism, and invariants under injected faults.
#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "cadre/agents/sim_brain.h"
#include "cadre/runtime/report.h"
#include "cadre/runtime/sim_run.h"

namespace cadre::runtime {
namespace {

Scenario small_scenario(std::uint64_t seed) {
  Scenario scenario;
  scenario.name = "sim-test";
  scenario.seed = seed;
  auto brain = [](const std::string& model) {
    BrainConfig config;
    config.model = model;
    return config;
  };
  scenario.team = {{"planner", 1, 2, brain("big")},
                   {"coder", 3, 2, brain("small")},
                   {"critic", 2, 2, brain("big")},
                   {"human", 1, 1, brain("human")}};
  scenario.workflow.samples = 2;
  scenario.workflow.max_revisions = 1;
  scenario.workflow.lease_s = 5;
  scenario.workflow.heartbeat_s = 0.5;
  scenario.workflow.time_scale = 0.05;
  for (int g = 0; g < 6; ++g) {
    GoalSpec goal;
    goal.id = "g" + std::to_string(g);
    goal.title = "goal " + std::to_string(g);
    for (int s = 0; s <= g % 3; ++s) goal.subtasks.push_back({"part", 0.15 * (g + s)});
    scenario.goals.push_back(goal);
  }
  scenario.pricing.models = {{"small", {0.15, 0.6}}, {"big", {2.5, 10}}};
  scenario.pricing.human_usd_per_escalation = 20;
  return scenario;
}

struct Team {
  std::vector<SimAgent> agents;
  std::vector<std::unique_ptr<agents::SimBrain>> brains;
  std::vector<std::size_t> brain_of;
};

Team make_team(const Scenario& scenario) {
  Team team;
  for (const auto& entry : scenario.team) {
    agents::SimBrainParams params;
    params.time_scale = scenario.workflow.time_scale;
    params.miss_rate = 0.2;
    team.brains.push_back(std::make_unique<agents::SimBrain>(entry.role, entry.brain.model, params));
    for (std::uint32_t i = 0; i < entry.count; ++i) {
      team.agents.push_back({entry.role + "-" + std::to_string(i + 1), entry.role,
                             entry.brain.model, entry.capacity});
      team.brain_of.push_back(team.brains.size() - 1);
    }
  }
  return team;
}

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
  Team team = make_team(scenario);
  SimRun sim(scenario, team.agents, [&](std::size_t agent, const roles::TaskAssignment& task) {
    auto answer = team.brains[team.brain_of[agent]]->answer(task);
    return SimAnswer{answer.outcome, answer.delay_s};
  });
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
