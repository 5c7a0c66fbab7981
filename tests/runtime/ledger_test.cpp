// The ledger: task bookkeeping by key, pricing of results, goal accounting.
#include "cadre/runtime/ledger.h"

#include <gtest/gtest.h>

#include "core_test_support.h"

namespace cadre::runtime {
namespace {

using coretest::make_goal;
using coretest::make_scenario;

// Gives goal `goal_index` a subtask with id `id`; returns its index.
std::uint32_t add_subtask(Ledger& ledger, std::uint32_t goal_index, const std::string& id) {
  SubtaskRecord subtask;
  subtask.plan.id = id;
  return ledger.add_subtask(goal_index, std::move(subtask));
}

roles::TaskOutcome result(const std::string& model, std::uint64_t in, std::uint64_t out) {
  roles::TaskOutcome o;
  o.goal_id = "g1";
  o.task_id = "s1";
  o.model = model;
  o.tokens_in = in;
  o.tokens_out = out;
  return o;
}

TEST(Ledger, StartsWithEveryGoalOpenAndNothingSpent) {
  Ledger ledger(make_scenario({make_goal("g1", 2), make_goal("g2", 1)}));
  ASSERT_EQ(ledger.goals().size(), 2u);
  EXPECT_EQ(ledger.open_goals(), 2u);
  EXPECT_EQ(ledger.goals()[0].spec.id, "g1");
  EXPECT_EQ(ledger.goals()[1].index, 1u);
  EXPECT_EQ(ledger.goals()[0].outcome, GoalOutcome::none);
  EXPECT_EQ(ledger.task_count(), 0u);
  EXPECT_EQ(ledger.tokens_in(), 0u);
  EXPECT_EQ(ledger.tokens_out(), 0u);
  EXPECT_DOUBLE_EQ(ledger.usd(), 0.0);
  EXPECT_EQ(ledger.unpriced_results(), 0u);
}

TEST(Ledger, AddedTaskStartsQueuedWithItsGoalAndSubtask) {
  Ledger ledger(make_scenario({make_goal("g1", 2)}));
  add_subtask(ledger, 0, "s1");
  const std::uint32_t s2 = add_subtask(ledger, 0, "s2");
  const TaskId id = ledger.add_task(roles::TaskKind::solve, 0, s2, 0);
  EXPECT_EQ(ledger.task_count(), 1u);
  const TaskRecord& task = ledger.task(id);
  EXPECT_EQ(task.state, TaskState::queued);
  EXPECT_EQ(task.goal_index, 0u);
  EXPECT_EQ(task.subtask_index, 1u);
  EXPECT_EQ(ledger.task_id_of(id), "s2");
  EXPECT_EQ(ledger.goal_id_of(id), "g1");
  EXPECT_EQ(ledger.key_of(id).to_string(), "g1/s2#0");
  EXPECT_EQ(task.lease_generation, 0u);
  EXPECT_EQ(task.dispatches, 0u);
  EXPECT_EQ(task.agent, kNoAgent);
}

TEST(Ledger, FindsATaskByGoalTaskAndAttempt) {
  Ledger ledger(make_scenario({make_goal("g1", 1), make_goal("g2", 1)}));
  add_subtask(ledger, 0, "s1");
  add_subtask(ledger, 1, "s1");
  const TaskId a = ledger.add_task(roles::TaskKind::solve, 0, 0, 0);
  const TaskId b = ledger.add_task(roles::TaskKind::solve, 0, 0, 1);
  const TaskId c = ledger.add_task(roles::TaskKind::solve, 1, 0, 0);
  const TaskId d = ledger.add_task(roles::TaskKind::review, 0, 0, 0);
  const TaskId p = ledger.add_task(roles::TaskKind::plan, 0, 0, 0);
  EXPECT_EQ(ledger.find_task("g1", "plan", 0), p);
  EXPECT_EQ(ledger.find_task("g1", "s1", 0), a);
  EXPECT_EQ(ledger.find_task("g1", "s1", 1), b);
  EXPECT_EQ(ledger.find_task("g2", "s1", 0), c);
  EXPECT_EQ(ledger.find_task("g1", "s1/review", 0), d);
  EXPECT_FALSE(ledger.find_task("g1", "s1", 2).has_value());
  EXPECT_FALSE(ledger.find_task("g3", "s1", 0).has_value());
  EXPECT_FALSE(ledger.find_task("g1", "s2", 0).has_value());
}

TEST(Ledger, KeysThatOnlyDifferInWhereTheSeparatorFallsAreDistinct) {
  // ("g1", "1s", 0) and ("g11", "s", 0) must not be confused, nor ("g", "s1", 10) / ("g", "s11", 0).
  Ledger ledger(make_scenario({make_goal("g1", 1), make_goal("g11", 1), make_goal("g", 1)}));
  add_subtask(ledger, 0, "1s");
  add_subtask(ledger, 1, "s");
  add_subtask(ledger, 2, "s1");
  add_subtask(ledger, 2, "s11");
  const TaskId a = ledger.add_task(roles::TaskKind::solve, 0, 0, 0);
  const TaskId b = ledger.add_task(roles::TaskKind::solve, 1, 0, 0);
  const TaskId c = ledger.add_task(roles::TaskKind::solve, 2, 0, 10);
  const TaskId d = ledger.add_task(roles::TaskKind::solve, 2, 1, 0);
  EXPECT_FALSE(ledger.find_task("g1", "s", 0).has_value());
  EXPECT_FALSE(ledger.find_task("g", "s11", 10).has_value());
  EXPECT_EQ(ledger.find_task("g1", "1s", 0), a);
  EXPECT_EQ(ledger.find_task("g11", "s", 0), b);
  EXPECT_EQ(ledger.find_task("g", "s1", 10), c);
  EXPECT_EQ(ledger.find_task("g", "s11", 0), d);
}

TEST(Ledger, TaskKeyPrintsAsGoalSlashTaskHashAttempt) {
  EXPECT_EQ((TaskKey{"g1", "s1/review", 3}).to_string(), "g1/s1/review#3");
  EXPECT_EQ((TaskKey{"g1", "s1", 0}), (TaskKey{"g1", "s1", 0}));
  EXPECT_FALSE((TaskKey{"g1", "s1", 0}) == (TaskKey{"g1", "s1", 1}));
}

TEST(Ledger, ChargePricesTokensByModelInUsdPerMillion) {
  Scenario s = make_scenario({make_goal("g1", 1)});
  s.pricing.models["big"] = ModelPrice{3.0, 15.0};
  Ledger ledger(s);
  ledger.charge(0, result("big", 1'000'000, 200'000));  // 3.0 + 3.0
  EXPECT_NEAR(ledger.usd(), 6.0, 1e-9);
  EXPECT_NEAR(ledger.goals()[0].usd, 6.0, 1e-9);
  EXPECT_EQ(ledger.tokens_in(), 1'000'000u);
  EXPECT_EQ(ledger.tokens_out(), 200'000u);
  EXPECT_EQ(ledger.goals()[0].tokens_in, 1'000'000u);
  EXPECT_EQ(ledger.goals()[0].tokens_out, 200'000u);
  EXPECT_EQ(ledger.goals()[0].attempts, 1u);
  EXPECT_EQ(ledger.unpriced_results(), 0u);

  ledger.charge(0, result("m", 1000, 500));  // m: 1.0 in, 2.0 out -> 0.001 + 0.001
  EXPECT_NEAR(ledger.usd(), 6.002, 1e-9);
  EXPECT_EQ(ledger.goals()[0].attempts, 2u);
}

TEST(Ledger, ChargeForAnUnknownModelCountsTheTokensAsUnpriced) {
  Ledger ledger(make_scenario({make_goal("g1", 1)}));
  ledger.charge(0, result("mystery", 500, 50));
  EXPECT_EQ(ledger.unpriced_results(), 1u);
  EXPECT_DOUBLE_EQ(ledger.usd(), 0.0);
  EXPECT_DOUBLE_EQ(ledger.goals()[0].usd, 0.0);
  EXPECT_EQ(ledger.tokens_in(), 500u);
  EXPECT_EQ(ledger.tokens_out(), 50u);
  EXPECT_EQ(ledger.goals()[0].attempts, 1u);
}

TEST(Ledger, AnUnknownModelWithoutTokensIsNotCountedAsUnpriced) {
  Ledger ledger(make_scenario({make_goal("g1", 1)}));
  ledger.charge(0, result("", 0, 0));  // e.g. a failed brain that used nothing
  EXPECT_EQ(ledger.unpriced_results(), 0u);
  EXPECT_EQ(ledger.goals()[0].attempts, 1u);
}

TEST(Ledger, ChargesGoToTheirOwnGoalAndAddUpForTheRun) {
  Ledger ledger(make_scenario({make_goal("g1", 1), make_goal("g2", 1)}));
  ledger.charge(0, result("m", 2'000'000, 0));  // 2.0
  ledger.charge(1, result("m", 0, 1'000'000));  // 2.0
  ledger.charge(1, result("m", 1'000'000, 0));  // 1.0
  EXPECT_NEAR(ledger.goals()[0].usd, 2.0, 1e-9);
  EXPECT_NEAR(ledger.goals()[1].usd, 3.0, 1e-9);
  EXPECT_NEAR(ledger.usd(), 5.0, 1e-9);
  EXPECT_EQ(ledger.goals()[1].attempts, 2u);
  EXPECT_EQ(ledger.tokens_in(), 3'000'000u);
  EXPECT_EQ(ledger.tokens_out(), 1'000'000u);
}

TEST(Ledger, ChargeUsdAddsAFixedAmountWithoutTokensOrAttempts) {
  Ledger ledger(make_scenario({make_goal("g1", 1)}));
  ledger.charge_usd(0, 5.0);
  EXPECT_NEAR(ledger.usd(), 5.0, 1e-12);
  EXPECT_NEAR(ledger.goals()[0].usd, 5.0, 1e-12);
  EXPECT_EQ(ledger.goals()[0].attempts, 0u);
  EXPECT_EQ(ledger.tokens_in(), 0u);
}

TEST(Ledger, FinishGoalRecordsTheOutcomeAndDecrementsOpenGoals) {
  Ledger ledger(make_scenario({make_goal("g1", 1), make_goal("g2", 1)}));
  ledger.finish_goal(1, GoalOutcome::failed, 42, "budget limit reached");
  EXPECT_EQ(ledger.open_goals(), 1u);
  EXPECT_EQ(ledger.goals()[1].outcome, GoalOutcome::failed);
  EXPECT_EQ(ledger.goals()[1].finished_at, 42);
  EXPECT_EQ(ledger.goals()[1].reason, "budget limit reached");
  EXPECT_EQ(ledger.goals()[0].outcome, GoalOutcome::none);
  ledger.finish_goal(0, GoalOutcome::resolved, 50, "");
  EXPECT_EQ(ledger.open_goals(), 0u);
  EXPECT_EQ(ledger.goals()[0].outcome, GoalOutcome::resolved);
}

TEST(Ledger, OutcomeNamesAreTheReportedWords) {
  EXPECT_STREQ(outcome_name(GoalOutcome::none), "open");
  EXPECT_STREQ(outcome_name(GoalOutcome::resolved), "resolved");
  EXPECT_STREQ(outcome_name(GoalOutcome::escalated), "escalated");
  EXPECT_STREQ(outcome_name(GoalOutcome::failed), "failed");
}

}  // namespace
}  // namespace cadre::runtime
