// HubCore: leases, agents coming and going, late and duplicate results, limits, determinism.
#include "cadre/runtime/hub_core.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "core_test_support.h"

namespace cadre::runtime {
namespace {

using namespace coretest;
using Keys = std::vector<std::string>;

std::vector<roles::Ack> acks(const std::vector<Command>& commands) {
  std::vector<roles::Ack> out;
  for (const auto& a : only<AckCommand>(commands)) out.push_back(a.ack);
  return out;
}

// A one-goal run taken to the point where coder-1 holds g1/s1#0 (dispatched at t = 0).
Driver solving(Scenario scenario) {
  Driver d(scenario);
  d.join("planner-1", "planner");
  d.join("coder-1", "coder");
  d.join("critic-1", "critic");
  d.start();
  d.answer("g1/plan#0");
  EXPECT_TRUE(d.pending_with("g1/s1#0").has_value());
  return d;
}

// ---------------------------------------------------------------------------------------------
// Start and dispatch

TEST(HubCore, ARunWithNoGoalsFinishesAtStart) {
  Driver d(make_scenario({}));
  auto out = d.start();
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<RunFinishedCommand>(out[0]));
  EXPECT_EQ(std::get<RunFinishedCommand>(out[0]).reason, "no goals");
  EXPECT_TRUE(d.core.finished());
  EXPECT_FALSE(d.core.next_deadline().has_value());
}

TEST(HubCore, NothingIsDispatchedUntilAnAgentOfTheRoleJoins) {
  Driver d(make_scenario({make_goal("g1", 1)}));
  d.advance_s(1);
  EXPECT_TRUE(d.start().empty());
  EXPECT_EQ(d.core.started_at(), seconds_to_us(1));
  EXPECT_TRUE(d.join("coder-1", "coder").empty());
  EXPECT_FALSE(d.core.next_deadline().has_value());  // no lease, no wall limit
  d.advance_s(2);
  auto out = d.join("planner-1", "planner");
  EXPECT_EQ(keys(only<DispatchCommand>(out)), (Keys{"g1/plan#0"}));
  EXPECT_EQ(d.goal(0).first_dispatch_at, seconds_to_us(3));
}

TEST(HubCore, StartingTwiceSubmitsTheGoalsOnlyOnce) {
  Driver d(make_scenario({make_goal("g1", 1)}));
  d.join_team();
  d.start();
  EXPECT_TRUE(d.start().empty());
  EXPECT_EQ(d.core.ledger().task_count(), 1u);
}

TEST(HubCore, ADispatchCarriesItsLeaseAndArmsTheDeadline) {
  Scenario s = make_scenario({make_goal("g1", 1)});
  s.workflow.lease_s = 2.5;
  Driver d(s);
  d.advance_s(10);
  d.join_team();
  auto out = d.start();
  auto dispatches = only<DispatchCommand>(out);
  ASSERT_EQ(dispatches.size(), 1u);
  EXPECT_EQ(dispatches[0].assignment->lease_ms, 2500u);
  const TaskRecord& task = d.core.ledger().task(*d.core.ledger().find_task("g1", "plan", 0));
  EXPECT_EQ(task.state, TaskState::leased);
  EXPECT_EQ(name_of(d.core, task.agent), "planner-1");
  EXPECT_EQ(task.lease_deadline, seconds_to_us(12.5));
  EXPECT_EQ(task.lease_generation, 1u);
  EXPECT_EQ(task.dispatches, 1u);
  EXPECT_EQ(d.core.next_deadline(), seconds_to_us(12.5));
  EXPECT_EQ(d.counters().dispatched, 1u);
}

TEST(HubCore, EveryResultIsAnsweredWithAnAckCarryingItsKey) {
  Driver d = solving(make_scenario({make_goal("g1", 1)}));
  auto out = d.answer("g1/s1#0");
  ASSERT_TRUE(std::holds_alternative<AckCommand>(out.front()));
  const auto& ack = std::get<AckCommand>(out.front());
  EXPECT_EQ(ack.agent_id, "coder-1");
  EXPECT_EQ(key_of(ack.ack), "g1/s1#0");
  EXPECT_TRUE(ack.ack.accepted);
}

// ---------------------------------------------------------------------------------------------
// Leases

TEST(HubCore, AnExpiredLeaseOffersTheTaskToAnotherAgentWithoutCancellingTheSlowHolder) {
  Driver d = solving(make_scenario({make_goal("g1", 1)}));
  d.join("coder-2", "coder");
  d.advance_s(30);
  auto out = d.tick();

  // The slow holder is not cancelled: its answer may still come and would count.
  EXPECT_EQ(count_of<CancelCommand>(out), 0u);
  EXPECT_EQ(d.counters().requeued, 1u);

  // The same attempt goes out again, to the other coder, under a new lease.
  auto again = only<DispatchCommand>(out);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(key_of(*again[0].assignment), "g1/s1#0");
  EXPECT_EQ(again[0].agent_id, "coder-2");
  const TaskRecord& task = d.core.ledger().task(*d.core.ledger().find_task("g1", "s1", 0));
  EXPECT_EQ(task.state, TaskState::leased);
  EXPECT_EQ(task.lease_generation, 2u);
  EXPECT_EQ(task.dispatches, 2u);
  EXPECT_EQ(task.lease_deadline, seconds_to_us(60));
  EXPECT_EQ(names_of(d.core, task.past_holders), (std::vector<std::string>{"coder-1"}));
  EXPECT_EQ(d.counters().dispatched, 3u);  // plan, s1#0, s1#0 again
}

TEST(HubCore, WhenTheLateHolderIsTheOnlyAgentOfItsRoleTheTaskStillGoesOutAgain) {
  Driver d = solving(make_scenario({make_goal("g1", 1)}));
  d.advance_s(31);
  auto out = d.tick();
  EXPECT_EQ(count_of<CancelCommand>(out), 0u);
  EXPECT_EQ(keys(only<DispatchCommand>(out)), (Keys{"g1/s1#0"}));
  EXPECT_EQ(only<DispatchCommand>(out)[0].agent_id, "coder-1");
  ASSERT_TRUE(d.answer("g1/s1#0").size() >= 1);
  EXPECT_TRUE(d.run());
}

TEST(HubCore, TickBeforeTheLeaseDeadlineChangesNothing) {
  Driver d = solving(make_scenario({make_goal("g1", 1)}));
  d.now = seconds_to_us(30) - 1;
  EXPECT_TRUE(d.tick().empty());
  EXPECT_EQ(d.counters().requeued, 0u);
  EXPECT_EQ(d.core.next_deadline(), seconds_to_us(30));
}

TEST(HubCore, TheLeaseOfAnAnsweredTaskNeverExpires) {
  Driver d = solving(make_scenario({make_goal("g1", 1)}));
  d.advance_s(1);
  d.answer("g1/s1#0");
  d.answer("g1/s1/review#0");
  ASSERT_TRUE(d.core.finished());
  d.advance_s(100);
  EXPECT_TRUE(d.tick().empty());
  EXPECT_EQ(d.counters().requeued, 0u);
}

TEST(HubCore, TheStaleLeaseOfAnEarlierDispatchDoesNotExpireTheCurrentOne) {
  Driver d = solving(make_scenario({make_goal("g1", 1)}));  // lease until t = 30
  d.join("coder-2", "coder");
  d.advance_s(10);
  auto out = d.leave("coder-1");  // requeued to coder-2, leased until t = 40
  EXPECT_EQ(only<DispatchCommand>(out).at(0).agent_id, "coder-2");
  // coder-1's lease ended with the requeue: the next deadline is coder-2's.
  EXPECT_EQ(d.core.next_deadline(), seconds_to_us(40));
  d.advance_s(20);  // t = 30: when coder-1's lease would have run out
  EXPECT_TRUE(d.tick().empty());
  EXPECT_EQ(d.counters().requeued, 1u);
  d.advance_s(10);  // t = 40: coder-2's own lease runs out
  out = d.tick();
  EXPECT_EQ(d.counters().requeued, 2u);
  const TaskRecord& task = d.core.ledger().task(*d.core.ledger().find_task("g1", "s1", 0));
  EXPECT_EQ(names_of(d.core, task.past_holders), (std::vector<std::string>{"coder-1", "coder-2"}));
}

TEST(HubCore, AnAnsweredTaskHoldsNoDeadline) {
  Driver d = solving(make_scenario({make_goal("g1", 1)}));  // s1#0 leased until t = 30
  EXPECT_EQ(d.core.next_deadline(), seconds_to_us(30));
  d.advance_s(5);
  d.answer("g1/s1#0");  // its review is leased until t = 35
  EXPECT_EQ(d.core.next_deadline(), seconds_to_us(35));
  d.advance_s(1);
  d.answer("g1/s1/review#0");  // the goal ends: nothing is leased any more
  EXPECT_TRUE(d.core.finished());
  EXPECT_FALSE(d.core.next_deadline().has_value());
}

TEST(HubCore, NextDeadlineIsTheEarliestLeaseOrTheWallLimit) {
  Scenario s = make_scenario({make_goal("g1", 1)});
  s.limits.wall_s = 100;
  Driver d(s);
  d.advance_s(5);
  d.start();
  EXPECT_EQ(d.core.next_deadline(), seconds_to_us(105));  // nothing leased yet
  d.join("planner-1", "planner");
  EXPECT_EQ(d.core.next_deadline(), seconds_to_us(35));
  s.limits.wall_s = 10;
  Driver e(s);
  e.join_team();
  e.start();
  EXPECT_EQ(e.core.next_deadline(), seconds_to_us(10));
}

// ---------------------------------------------------------------------------------------------
// Agents coming and going

TEST(HubCore, AnAgentLeavingRequeuesItsTasksToAnotherAgent) {
  Driver d = solving(make_scenario({make_goal("g1", 1)}));
  d.join("coder-2", "coder");
  auto out = d.leave("coder-1");
  EXPECT_EQ(count_of<CancelCommand>(out), 0u);  // nobody to tell
  auto again = only<DispatchCommand>(out);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].agent_id, "coder-2");
  EXPECT_EQ(key_of(*again[0].assignment), "g1/s1#0");
  EXPECT_EQ(d.counters().requeued, 1u);
  EXPECT_EQ(d.core.scheduler().present_agents("coder"), 1u);
}

TEST(HubCore, AnAgentLeavingWithNoOneToTakeOverLeavesItsTaskQueued) {
  Driver d = solving(make_scenario({make_goal("g1", 1)}));
  auto out = d.leave("coder-1");
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(d.core.scheduler().waiting("coder"), 1u);
  out = d.join("coder-2", "coder");
  EXPECT_EQ(only<DispatchCommand>(out).at(0).agent_id, "coder-2");
}

TEST(HubCore, ASecondHelloFromAPresentAgentRequeuesWhatItHeld) {
  Driver d = solving(make_scenario({make_goal("g1", 1)}));
  auto out = d.join("coder-1", "coder");  // it restarted and lost its work
  EXPECT_EQ(d.counters().requeued, 1u);
  EXPECT_EQ(keys(only<DispatchCommand>(out)), (Keys{"g1/s1#0"}));
  EXPECT_EQ(only<DispatchCommand>(out)[0].agent_id, "coder-1");
  EXPECT_EQ(d.core.ledger().task(*d.core.ledger().find_task("g1", "s1", 0)).dispatches, 2u);
}

TEST(HubCore, AnUnknownAgentLeavingChangesNothing) {
  Driver d = solving(make_scenario({make_goal("g1", 1)}));
  EXPECT_TRUE(d.leave("ghost").empty());
  EXPECT_EQ(d.counters().requeued, 0u);
}

TEST(HubCore, AgentsAreCreditedWithTheTasksTheyCompleteAndTheTimeTheySpent) {
  Driver d = solving(make_scenario({make_goal("g1", 1)}));
  d.advance_s(4);
  d.answer("g1/s1#0");
  const AgentRecord& coder = d.core.scheduler().agents().at(1);
  ASSERT_EQ(coder.id, "coder-1");
  EXPECT_EQ(coder.tasks_completed, 1u);
  EXPECT_EQ(coder.busy_us, seconds_to_us(4));
  EXPECT_TRUE(coder.held.empty());
}

// ---------------------------------------------------------------------------------------------
// Late, duplicate and unknown results

TEST(HubCore, ALateResultFromTheOldHolderAfterReassignmentWinsAndTheNewHolderIsCancelled) {
  Driver d(make_scenario({make_goal("g1", 2)}));
  d.join("planner-1", "planner");
  d.join("coder-2", "coder");  // joined first: wins ties
  d.join("coder-1", "coder");
  d.join("critic-1", "critic");
  d.start();
  d.answer("g1/plan#0");  // t = 0: s1#0 -> coder-2, s2#0 -> coder-1
  ASSERT_EQ(d.pending_with("g1/s2#0")->agent_id, "coder-1");
  d.answer("g1/s1#0");
  d.answer("g1/s1/review#0");
  auto slow = d.drop("g1/s2#0");  // coder-1 is slow

  d.advance_s(30);
  auto out = d.tick();  // s2#0 offered to coder-2 as well
  ASSERT_EQ(only<DispatchCommand>(out).size(), 1u);
  EXPECT_EQ(only<DispatchCommand>(out)[0].agent_id, "coder-2");
  auto backup = d.drop("g1/s2#0");

  const auto tokens_before = d.core.ledger().tokens_in();
  out = d.answer_dispatch(slow);  // coder-1's RESULT arrives first: it is taken
  ASSERT_EQ(acks(out).size(), 1u);
  EXPECT_TRUE(acks(out)[0].accepted);
  EXPECT_EQ(only<AckCommand>(out)[0].agent_id, "coder-1");
  auto cancels = only<CancelCommand>(out);
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(cancels[0].agent_id, "coder-2");
  EXPECT_EQ(key_of(cancels[0].cancel), "g1/s2#0");
  EXPECT_GT(d.core.ledger().tokens_in(), tokens_before);
  EXPECT_EQ(d.counters().duplicates_ignored, 0u);

  const auto tokens_after = d.core.ledger().tokens_in();
  out = d.answer_dispatch(backup);  // coder-2 answers anyway: a duplicate, ignored
  EXPECT_FALSE(acks(out).at(0).accepted);
  EXPECT_EQ(d.counters().duplicates_ignored, 1u);
  EXPECT_EQ(d.core.ledger().tokens_in(), tokens_after);
  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
}

TEST(HubCore, ADuplicateResultForADoneTaskIsRefused) {
  Driver d = solving(make_scenario({make_goal("g1", 1)}));
  auto first = d.dispatched(TaskKind::solve).at(0);
  d.answer_dispatch(first);
  const auto tokens_before = d.core.ledger().tokens_in();
  const auto completed_before = d.counters().completed;
  auto out = d.answer_dispatch(first);  // the same RESULT again
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(acks(out).at(0).accepted);
  EXPECT_EQ(d.counters().duplicates_ignored, 1u);
  EXPECT_EQ(d.counters().completed, completed_before);
  EXPECT_EQ(d.core.ledger().tokens_in(), tokens_before);
  EXPECT_EQ(d.dispatched(TaskKind::review).size(), 1u);  // no second review
}

TEST(HubCore, ALateResultWhileTheTaskWaitsInTheQueueIsAccepted) {
  Driver d = solving(make_scenario({make_goal("g1", 1)}));
  auto held = d.drop("g1/s1#0");
  d.leave("coder-1");  // the task waits for a coder
  ASSERT_EQ(d.core.scheduler().waiting("coder"), 1u);

  auto out = d.answer_dispatch(held);  // its RESULT was already on the way
  EXPECT_TRUE(acks(out).at(0).accepted);
  EXPECT_EQ(keys(dispatches_of(out, TaskKind::review)), (Keys{"g1/s1/review#0"}));
  EXPECT_EQ(d.core.scheduler().waiting("coder"), 0u);
  EXPECT_EQ(d.core.ledger().task(*d.core.ledger().find_task("g1", "s1", 0)).state,
            TaskState::done);

  // A coder joining later gets nothing: the task is no longer waiting.
  EXPECT_TRUE(only<DispatchCommand>(d.join("coder-2", "coder")).empty());
  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
}

TEST(HubCore, AResultForAnUnknownKeyIsIgnored) {
  Driver d = solving(make_scenario({make_goal("g1", 1)}));
  const auto completed_before = d.counters().completed;
  for (auto [task, attempt] : std::vector<std::pair<std::string, std::uint32_t>>{
           {"s1", 7}, {"s9", 0}, {"s1/review", 0}}) {
    TaskOutcome o;
    o.goal_id = "g1";
    o.task_id = task;
    o.attempt = attempt;
    o.model = "m";
    o.tokens_in = 1000;
    o.candidate = roles::Candidate{"x", true};
    auto out = d.send("coder-1", o);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_FALSE(acks(out).at(0).accepted);
    EXPECT_EQ(key_of(acks(out)[0]), key_of(o));
  }
  TaskOutcome other_goal;
  other_goal.goal_id = "g9";
  other_goal.task_id = "plan";
  EXPECT_FALSE(acks(d.send("planner-1", other_goal)).at(0).accepted);
  EXPECT_EQ(d.counters().duplicates_ignored, 4u);
  EXPECT_EQ(d.counters().completed, completed_before);
  EXPECT_TRUE(d.pending_with("g1/s1#0").has_value());
  ASSERT_TRUE(d.run());
}

TEST(HubCore, AResultByTaskAndAgentIndexIsAcceptedOnlyFromTheHolder) {
  Driver d = solving(make_scenario({make_goal("g1", 1)}));
  d.join("coder-2", "coder");
  const Ledger& ledger = d.core.ledger();
  const TaskId s1 = *ledger.find_task("g1", "s1", 0);
  const Sent held = d.pending_with("g1/s1#0").value();
  const TaskOutcome answer = answer_for(d.rules, held.assignment);
  const AgentIndex holder = *d.core.scheduler().index_of("coder-1");
  const AgentIndex other = *d.core.scheduler().index_of("coder-2");
  EXPECT_FALSE(acks(d.core.result_received(s1, other, answer, d.now)).at(0).accepted);
  EXPECT_FALSE(acks(d.core.result_received(TaskId{99999}, holder, answer, d.now)).at(0).accepted);
  EXPECT_FALSE(acks(d.core.result_received(s1, AgentIndex{777}, answer, d.now)).at(0).accepted);
  EXPECT_EQ(d.counters().duplicates_ignored, 3u);
  auto out = d.core.result_received(s1, holder, answer, d.now);
  EXPECT_TRUE(acks(out).at(0).accepted);
  EXPECT_EQ(acks(out).at(0).task_id, "s1");
  EXPECT_EQ(ledger.task(s1).state, TaskState::done);
  EXPECT_EQ(name_of(d.core, ledger.task(s1).agent), "coder-1");
}

TEST(HubCore, AResultFromAnAgentThatDoesNotHoldTheTaskIsRefused) {
  Driver d = solving(make_scenario({make_goal("g1", 1)}));
  d.join("coder-2", "coder");
  auto held = d.pending_with("g1/s1#0").value();
  auto out = d.send("coder-2", answer_for(d.rules, held.assignment));
  EXPECT_FALSE(acks(out).at(0).accepted);
  EXPECT_EQ(d.counters().duplicates_ignored, 1u);
  EXPECT_EQ(name_of(d.core, d.core.ledger().task(*d.core.ledger().find_task("g1", "s1", 0)).agent),
            "coder-1");
}

// ---------------------------------------------------------------------------------------------
// Limits

TEST(HubCore, ReachingTheBudgetStopsTheRunEndingOpenGoalsStoppedByBudgetAndCancellingHeldTasks) {
  Scenario s = make_scenario({make_goal("g1", 2), make_goal("g2", 1)});
  s.limits.budget_usd = 1e-6;  // the first priced result reaches it
  Driver d(s);
  d.join("planner-1", "planner");
  d.join("planner-2", "planner");
  for (const char* id : {"coder-1", "coder-2"}) d.join(id, "coder");
  for (const char* id : {"critic-1", "critic-2"}) d.join(id, "critic");
  auto out = d.start();
  EXPECT_EQ(keys(only<DispatchCommand>(out)), (Keys{"g1/plan#0", "g2/plan#0"}));

  out = d.answer("g1/plan#0");
  EXPECT_TRUE(acks(out).at(0).accepted);  // the result that crossed the line is still taken
  EXPECT_TRUE(only<DispatchCommand>(out).empty());  // g1's solves are never sent
  auto cancels = only<CancelCommand>(out);
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(cancels[0].agent_id, "planner-2");
  EXPECT_EQ(key_of(cancels[0].cancel), "g2/plan#0");
  EXPECT_TRUE(starts_with(cancels[0].cancel.reason, "budget_usd limit reached"))
      << cancels[0].cancel.reason;
  std::vector<std::uint32_t> finished;
  for (const auto& g : only<GoalFinishedCommand>(out)) finished.push_back(g.goal_index);
  EXPECT_EQ(finished, (std::vector<std::uint32_t>{0, 1}));
  ASSERT_TRUE(std::holds_alternative<RunFinishedCommand>(out.back()));
  EXPECT_TRUE(
      starts_with(std::get<RunFinishedCommand>(out.back()).reason, "budget_usd limit reached"))
      << std::get<RunFinishedCommand>(out.back()).reason;
  EXPECT_EQ(count_of<RunFinishedCommand>(out), 1u);

  EXPECT_TRUE(d.core.finished());
  EXPECT_TRUE(starts_with(d.core.finish_reason(), "budget_usd limit reached"))
      << d.core.finish_reason();
  for (const auto& g : d.core.ledger().goals()) {
    EXPECT_EQ(g.outcome, GoalOutcome::stopped_by_budget);
    EXPECT_TRUE(starts_with(g.reason, "budget_usd limit reached")) << g.reason;
  }
  for (TaskId t = 0; t < d.core.ledger().task_count(); ++t) {
    EXPECT_NE(d.core.ledger().task(t).state, TaskState::queued);
    EXPECT_NE(d.core.ledger().task(t).state, TaskState::leased);
  }
  EXPECT_EQ(d.core.scheduler().waiting_total(), 0u);
  EXPECT_FALSE(d.core.next_deadline().has_value());

  // Afterwards: results are refused, ticks and joins do nothing.
  TaskOutcome late = answer_for(d.rules, d.dispatched().at(1).assignment);
  EXPECT_FALSE(acks(d.send("planner-2", late)).at(0).accepted);
  d.advance_s(1000);
  EXPECT_TRUE(d.tick().empty());
  EXPECT_TRUE(d.join("coder-9", "coder").empty());
  EXPECT_EQ(count_of<RunFinishedCommand>(d.log), 1u);
}

TEST(HubCore, AHumanEscalationFeeCountsTowardsTheBudget) {
  Rules rules;
  rules.correct = [](const TaskAssignment&) { return false; };
  Scenario s = make_scenario({make_goal("g1", 1), make_goal("g2", 1)}, 1, 0);
  s.limits.budget_usd = 1.0;  // tokens cost far less; the 5.0 fee crosses it
  Driver d(s, rules);
  d.join_team();
  d.start();
  d.answer("g1/plan#0");
  d.drop("g2/plan#0");  // g2 stays open
  d.run();
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::escalated);
  EXPECT_EQ(d.goal(1).outcome, GoalOutcome::stopped_by_budget);
  EXPECT_TRUE(starts_with(d.goal(1).reason, "budget_usd limit reached")) << d.goal(1).reason;
  EXPECT_TRUE(starts_with(d.core.finish_reason(), "budget_usd limit reached"))
      << d.core.finish_reason();
  EXPECT_EQ(count_of<CancelCommand>(d.log), 1u);  // g2's plan, held by planner-1
}

TEST(HubCore, ReachingTheWallTimeOnTickStopsTheRun) {
  Scenario s = make_scenario({make_goal("g1", 1), make_goal("g2", 1)});
  s.limits.wall_s = 10;
  Driver d(s);
  d.advance_s(5);
  d.join_team();
  d.start();  // started at t = 5: the limit falls at t = 15
  d.answer("g1/plan#0");
  d.answer("g1/s1#0");
  d.answer("g1/s1/review#0");
  ASSERT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
  ASSERT_TRUE(d.pending_with("g2/plan#0").has_value());
  EXPECT_EQ(d.core.next_deadline(), seconds_to_us(15));

  d.now = seconds_to_us(15) - 1;
  EXPECT_TRUE(d.tick().empty());
  d.now = seconds_to_us(15);
  auto out = d.tick();
  auto cancels = only<CancelCommand>(out);
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(key_of(cancels[0].cancel), "g2/plan#0");
  EXPECT_EQ(cancels[0].cancel.reason, "wall_s limit reached (10 s)");
  ASSERT_EQ(only<GoalFinishedCommand>(out).size(), 1u);
  EXPECT_EQ(only<GoalFinishedCommand>(out)[0].goal_index, 1u);
  EXPECT_EQ(std::get<RunFinishedCommand>(out.back()).reason, "wall_s limit reached (10 s)");
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);  // ended goals keep their outcome
  EXPECT_EQ(d.goal(1).outcome, GoalOutcome::stopped_by_budget);
  EXPECT_EQ(d.goal(1).reason, "wall_s limit reached (10 s)");
  EXPECT_EQ(d.goal(1).finished_at, seconds_to_us(15));
  EXPECT_TRUE(d.core.finished());
  EXPECT_TRUE(d.tick().empty());
}

TEST(HubCore, AResultArrivingAfterTheWallTimeIsTakenThenTheRunStops) {
  Scenario s = make_scenario({make_goal("g1", 1)});
  s.limits.wall_s = 10;
  Driver d(s);
  d.join_team();
  d.start();
  d.advance_s(12);  // no tick came in between
  auto out = d.answer("g1/plan#0");
  EXPECT_TRUE(acks(out).at(0).accepted);
  EXPECT_TRUE(only<DispatchCommand>(out).empty());
  EXPECT_EQ(std::get<RunFinishedCommand>(out.back()).reason, "wall_s limit reached (10 s)");
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::stopped_by_budget);
}

// g1's work is always wrong, so it revises until it fails; g2's is right the first time.
struct TwoGoalTeam {
  static Scenario scenario() {
    Scenario s = make_scenario({make_goal("g1", 1), make_goal("g2", 1)}, 1, 3, OnExhausted::fail);
    return s;
  }
  static Rules rules() {
    Rules rules;
    rules.correct = [](const TaskAssignment& a) { return a.goal_id != "g1"; };
    return rules;
  }
};

double largest_task_usd(const Ledger& ledger) {
  double largest = 0;
  for (TaskId t = 0; t < ledger.task_count(); ++t) largest = std::max(largest, ledger.task(t).usd);
  return largest;
}

TEST(HubCore, AGoalPastItsBudgetStopsAloneWithABoundedOverrunWhileTheOthersGoOn) {
  // What each goal costs with no limit, to put the limit between them.
  Driver base(TwoGoalTeam::scenario(), TwoGoalTeam::rules());
  base.join_team();
  base.start();
  ASSERT_TRUE(base.run());
  const double g1_cost = base.goal(0).usd, g2_cost = base.goal(1).usd;
  const double budget = g2_cost * 1.01;
  ASSERT_GT(g1_cost, budget) << "g1 must need more than g2 for this test to mean anything";

  Scenario s = TwoGoalTeam::scenario();
  s.limits.goal_budget_usd = budget;
  Driver d(s, TwoGoalTeam::rules());
  d.join_team();
  d.start();
  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.goal(1).outcome, GoalOutcome::resolved);
  EXPECT_NEAR(d.goal(1).usd, g2_cost, 1e-12);
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::stopped_by_budget);
  EXPECT_TRUE(starts_with(d.goal(0).reason, "goal_budget_usd limit reached")) << d.goal(0).reason;
  // It stopped as soon as a result took it to the limit: past it by less than one result.
  EXPECT_GE(d.goal(0).usd, budget);
  EXPECT_LT(d.goal(0).usd - budget, largest_task_usd(d.core.ledger()) + 1e-12);
  EXPECT_LT(d.goal(0).usd, g1_cost);
  EXPECT_EQ(d.core.finish_reason(), HubCore::kAllGoalsEnded);
  for (TaskId t = 0; t < d.core.ledger().task_count(); ++t) {
    const TaskRecord& task = d.core.ledger().task(t);
    EXPECT_TRUE(task.state == TaskState::done || task.state == TaskState::cancelled);
  }
}

TEST(HubCore, AGoalWhoseWorkNeedsMoreAttemptsThanItsLimitStopsBeforeStartingThem) {
  Scenario s = make_scenario({make_goal("g1", 2), make_goal("g2", 1)});
  s.limits.goal_max_attempts = 3;  // g2 needs plan, solve, review; g1 needs five
  Driver d(s);
  d.join_team();
  d.start();
  d.answer("g1/plan#0");  // g1's two solves: attempts 2 and 3; one coder takes s1
  ASSERT_TRUE(d.pending_with("g1/s1#0").has_value());
  auto out = d.answer("g1/s1#0");  // its review would be attempt 4
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::stopped_by_budget);
  EXPECT_EQ(d.goal(0).reason,
            "goal_max_attempts limit reached (the work needs more than 3 task attempts)");
  for (const auto& dispatch : only<DispatchCommand>(out))
    EXPECT_NE(dispatch.assignment->goal_id, "g1") << key_of(*dispatch.assignment);
  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.goal(1).outcome, GoalOutcome::resolved);
  std::size_t g1_dispatches = 0;
  for (const auto& sent : d.dispatched()) g1_dispatches += sent.assignment.goal_id == "g1";
  EXPECT_EQ(g1_dispatches, 2u);  // the plan and s1; s2 waited in the queue and never ran
  EXPECT_EQ(d.core.scheduler().waiting_total(), 0u);
}

TEST(HubCore, ReachingMaxTokensStopsTheRunAndEveryGoalEndsStoppedByBudget) {
  Scenario s = make_scenario({make_goal("g1", 1), make_goal("g2", 1)});
  s.limits.max_tokens = 1;
  Driver d(s);
  d.join("planner-1", "planner", 2);
  d.start();
  auto out = d.answer("g1/plan#0");
  auto cancels = only<CancelCommand>(out);
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(key_of(cancels[0].cancel), "g2/plan#0");
  EXPECT_TRUE(starts_with(d.core.finish_reason(), "max_tokens limit reached"))
      << d.core.finish_reason();
  for (const auto& goal : d.core.ledger().goals())
    EXPECT_EQ(goal.outcome, GoalOutcome::stopped_by_budget);
}

TEST(HubCore, AnExpiredHolderStillAtWorkIsCancelledWhenItsGoalIsStopped) {
  Scenario s = make_scenario({make_goal("g1", 1)});
  s.limits.max_tokens = 1;
  Driver d(s);
  d.join("planner-1", "planner");
  d.start();
  d.join("planner-2", "planner");
  d.advance_s(31);  // the lease expires; planner-1 may still answer
  d.tick();         // planner-2 takes the plan as a backup
  ASSERT_EQ(d.dispatched().size(), 2u);
  EXPECT_EQ(d.dispatched()[1].agent_id, "planner-2");
  auto out = d.stop("interrupted");
  std::vector<std::string> told;
  for (const auto& cancel : only<CancelCommand>(out)) told.push_back(cancel.agent_id);
  std::sort(told.begin(), told.end());
  EXPECT_EQ(told, (std::vector<std::string>{"planner-1", "planner-2"}));
}

// ---------------------------------------------------------------------------------------------
// Stalls (workflow.stall_s)

TEST(HubCore, AGoalWithNoAgentOfTheRoleItNeedsIsReportedStalledAndTheStallEndsWhenOneJoins) {
  Scenario s = make_scenario({make_goal("g1", 1)});
  s.workflow.stall_s = 10;
  Driver d(s);
  d.join("planner-1", "planner");
  d.join("coder-1", "coder");
  d.start();
  d.answer("g1/plan#0");
  d.advance_s(1);
  d.answer("g1/s1#0");  // its review waits: no critic
  const TimeUs last_change = d.now;
  EXPECT_EQ(d.core.next_deadline(), last_change + seconds_to_us(10));
  d.now = last_change + seconds_to_us(10) - 1;
  EXPECT_TRUE(only<GoalStalledCommand>(d.tick()).empty());
  d.now = last_change + seconds_to_us(10);
  auto stalled = only<GoalStalledCommand>(d.tick());
  ASSERT_EQ(stalled.size(), 1u);
  EXPECT_EQ(stalled[0].goal_index, 0u);
  EXPECT_EQ(stalled[0].reason, "no agent of role critic is present (s1/review waits)");
  ASSERT_EQ(d.core.ledger().stalls().size(), 1u);
  const StallRecord& stall = d.core.ledger().stalls()[0];
  EXPECT_EQ(stall.since, last_change);
  EXPECT_EQ(stall.noticed_at, last_change + seconds_to_us(10));
  EXPECT_EQ(stall.ended_at, -1);
  // Reported once, however long it lasts.
  d.advance_s(100);
  EXPECT_TRUE(only<GoalStalledCommand>(d.tick()).empty());
  EXPECT_FALSE(d.core.next_deadline() && *d.core.next_deadline() <= d.now);
  d.join("critic-1", "critic");  // the review goes out: the goal moves again
  EXPECT_EQ(d.core.ledger().stalls()[0].ended_at, d.now);
  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
  EXPECT_EQ(d.core.ledger().stalls().size(), 1u);
}

TEST(HubCore, AGoalWaitingOnAPersonIsReportedAsSuch) {
  Rules rules;
  rules.correct = [](const TaskAssignment&) { return false; };
  Scenario s = make_scenario({make_goal("g1", 1)}, 1, 0);
  s.workflow.stall_s = 5;
  Driver d(s, rules);
  d.join_team();
  d.start();
  d.held = [](const TaskAssignment& a) { return a.kind == TaskKind::resolve; };
  d.run();
  ASSERT_TRUE(d.pending_with("g1/s1/resolve#0").has_value());
  d.advance_s(5);
  auto stalled = only<GoalStalledCommand>(d.tick());
  ASSERT_EQ(stalled.size(), 1u);
  EXPECT_EQ(stalled[0].reason, "waiting on a human (s1/resolve)");
}

TEST(HubCore, AGoalThatKeepsMovingNeverStallsAndWithoutStallSNoTimerIsArmed) {
  for (double stall_s : {0.0, 1.0}) {
    Scenario s = make_scenario({make_goal("g1", 3)});
    s.workflow.stall_s = stall_s;
    Driver d(s);
    d.join_team();
    d.start();
    std::size_t ticks = 0;
    while (!d.core.finished() && !d.pending.empty()) {
      // Without stall_s the only timers are leases; with it, the next stall check is due.
      const TimeUs lease = *d.core.scheduler().next_lease_deadline();
      EXPECT_EQ(*d.core.next_deadline(),
                stall_s == 0 ? lease : std::min(lease, d.now + seconds_to_us(stall_s)));
      d.advance_s(0.5);  // something changes every half second
      EXPECT_TRUE(only<GoalStalledCommand>(d.tick()).empty());
      ++ticks;
      d.answer_index(0);
    }
    EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
    EXPECT_GT(ticks, 5u);
    EXPECT_TRUE(d.core.ledger().stalls().empty());
  }
}

TEST(HubCore, StopFailsOpenGoalsCancelsHeldTasksAndHappensOnce) {
  Driver d(make_scenario({make_goal("g1", 1), make_goal("g2", 1)}));
  d.join("planner-1", "planner", 2);
  d.start();
  auto out = d.stop("interrupted");
  EXPECT_EQ(count_of<CancelCommand>(out), 2u);
  EXPECT_EQ(count_of<GoalFinishedCommand>(out), 2u);
  EXPECT_EQ(std::get<RunFinishedCommand>(out.back()).reason, "interrupted");
  EXPECT_EQ(d.goal(0).reason, "interrupted");
  EXPECT_TRUE(d.stop("again").empty());
  EXPECT_EQ(d.core.finish_reason(), "interrupted");
}

// ---------------------------------------------------------------------------------------------
// Determinism: outcomes and token totals do not depend on who answers when.

// A mixed bag of fates, every one a function of the key.
Rules mixed_rules() {
  Rules rules;
  rules.plan_ok = [](const TaskAssignment& a) { return a.attempt > 0 || key_hash(a) % 4 != 0; };
  rules.plan = [](const TaskAssignment& a) {
    auto plan = a.goal_subtasks;
    if (plan.size() > 1 && key_hash(a.goal_id) % 3 == 0) plan.erase(plan.begin());
    return plan;
  };
  rules.solve_ok = [](const TaskAssignment& a) { return key_hash(a) % 7 != 0; };
  rules.correct = [](const TaskAssignment& a) { return key_hash(a) % 3 != 0; };
  rules.review = [](const TaskAssignment& a) {
    const bool correct = a.candidate && a.candidate->sim_correct.value_or(false);
    const std::uint64_t h = key_hash(a);
    roles::Verdict v;
    v.accept = correct ? h % 5 != 0 : h % 9 == 0;
    v.score = static_cast<double>(h % 100) / 100.0;
    if (!v.accept) v.feedback = "redo " + key_of(a);
    return v;
  };
  rules.resolve_ok = [](const TaskAssignment& a) { return key_hash(a) % 4 != 0; };
  return rules;
}

Scenario mixed_scenario() {
  std::vector<GoalSpec> goals;
  for (int i = 1; i <= 8; ++i) goals.push_back(make_goal("g" + std::to_string(i), 1 + i % 3));
  return make_scenario(goals, /*samples=*/2, /*max_revisions=*/1, OnExhausted::escalate);
}

struct RunSummary {
  std::vector<GoalOutcome> outcomes;
  std::vector<std::string> reasons;
  std::vector<std::uint64_t> goal_tokens_in, goal_tokens_out;
  std::vector<std::vector<SubtaskState>> subtask_states;
  std::uint64_t tokens_in = 0, tokens_out = 0, completed = 0;
  double usd = 0;

  static RunSummary of(const HubCore& core) {
    RunSummary s;
    for (const auto& g : core.ledger().goals()) {
      s.outcomes.push_back(g.outcome);
      s.reasons.push_back(g.reason);
      s.goal_tokens_in.push_back(g.tokens_in);
      s.goal_tokens_out.push_back(g.tokens_out);
      std::vector<SubtaskState> states;
      for (const auto& st : g.subtasks) states.push_back(st.state);
      s.subtask_states.push_back(states);
    }
    s.tokens_in = core.ledger().tokens_in();
    s.tokens_out = core.ledger().tokens_out();
    s.completed = core.ledger().counters().completed;
    s.usd = core.ledger().usd();
    return s;
  }
};

void expect_same(const RunSummary& a, const RunSummary& b) {
  EXPECT_EQ(a.outcomes, b.outcomes);
  EXPECT_EQ(a.reasons, b.reasons);
  EXPECT_EQ(a.goal_tokens_in, b.goal_tokens_in);
  EXPECT_EQ(a.goal_tokens_out, b.goal_tokens_out);
  EXPECT_EQ(a.subtask_states, b.subtask_states);
  EXPECT_EQ(a.tokens_in, b.tokens_in);
  EXPECT_EQ(a.tokens_out, b.tokens_out);
  EXPECT_EQ(a.completed, b.completed);
  EXPECT_NEAR(a.usd, b.usd, 1e-9);
}

RunSummary run_in_order(bool reversed) {
  Driver d(mixed_scenario(), mixed_rules());
  std::vector<std::pair<std::string, std::string>> team = {
      {"planner-1", "planner"}, {"coder-1", "coder"}, {"coder-2", "coder"}, {"coder-3", "coder"},
      {"critic-1", "critic"},   {"critic-2", "critic"}, {"human-1", "human"}};
  if (reversed) {
    std::reverse(team.begin(), team.end());
    d.start();  // goals first, agents later
    for (const auto& [id, role] : team) d.join(id, role, 2);
  } else {
    for (const auto& [id, role] : team) d.join(id, role, 1);
    d.start();
  }
  int step = 0;
  while (!d.core.finished() && !d.pending.empty() && step < 100000) {
    ++step;
    d.advance_s(reversed ? 0.05 + (step % 7) * 0.3 : 0.1);
    d.answer_index(reversed ? d.pending.size() - 1 : 0);
  }
  EXPECT_TRUE(d.core.finished());
  EXPECT_EQ(count_of<RunFinishedCommand>(d.log), 1u);
  EXPECT_EQ(count_of<GoalFinishedCommand>(d.log), 8u);
  return RunSummary::of(d.core);
}

TEST(HubCore, TheSameScenarioAnsweredInDifferentOrdersEndsTheSame) {
  const RunSummary fifo = run_in_order(false);
  const RunSummary lifo = run_in_order(true);
  expect_same(fifo, lifo);
  // The mix really is mixed: not every goal ends the same way.
  std::map<GoalOutcome, int> kinds;
  for (auto o : fifo.outcomes) ++kinds[o];
  EXPECT_GE(kinds.size(), 2u);
}

TEST(HubCore, LostAssignmentsDeparturesAndDuplicateResultsDoNotChangeTheOutcome) {
  const RunSummary clean = run_in_order(false);

  Driver d(mixed_scenario(), mixed_rules());
  d.join("human-1", "human");
  d.join("critic-1", "critic", 2);
  d.join("coder-2", "coder", 2);
  d.join("coder-1", "coder");
  d.join("planner-1", "planner", 3);
  d.start();
  int step = 0;
  int guard = 0;
  while (!d.core.finished() && ++guard < 100000) {
    if (d.pending.empty()) {  // only silent holders left: let their leases run out
      d.advance_s(31);
      d.tick();
      continue;
    }
    ++step;
    d.advance_s(0.2);
    const std::size_t pick = step % d.pending.size();
    if (step % 11 == 0) {
      d.pending.erase(d.pending.begin() + static_cast<std::ptrdiff_t>(pick));  // lost ASSIGN
    } else if (step % 17 == 0) {
      const std::string agent = d.pending[pick].agent_id;  // the agent crashes and comes back
      d.leave(agent);
      std::string role;
      for (const auto& a : d.core.scheduler().agents())
        if (a.id == agent) role = a.role;
      d.join(agent, role, agent.rfind("planner", 0) == 0 ? 3 : 1);
    } else if (step % 5 == 0) {
      auto dispatch = d.pending[pick];
      d.answer_index(pick);
      d.answer_dispatch(dispatch);  // the RESULT arrives twice
    } else {
      d.answer_index(pick);
    }
  }
  EXPECT_TRUE(d.core.finished());
  EXPECT_GT(d.counters().requeued, 0u);
  EXPECT_GT(d.counters().duplicates_ignored, 0u);
  EXPECT_EQ(count_of<RunFinishedCommand>(d.log), 1u);
  EXPECT_EQ(count_of<GoalFinishedCommand>(d.log), 8u);
  expect_same(clean, RunSummary::of(d.core));
}


// ---------------------------------------------------------------------------------------------
// The timeline: a span per dispatch, the task's answer, dispatch latency

const DispatchSpan* span_of(const HubCore& core, const std::string& key, const std::string& agent) {
  const Ledger& ledger = core.ledger();
  for (const auto& span : ledger.spans()) {
    if (ledger.key_of(span.task).to_string() == key && core.agent_id(span.agent) == agent)
      return &span;
  }
  return nullptr;
}

TEST(HubCore, EveryDispatchIsASpanThatEndsHowItsAgentsWorkEnded) {
  Driver d(make_scenario({make_goal("g1", 2)}));
  d.join("planner-1", "planner");
  d.join("coder-2", "coder");
  d.join("coder-1", "coder");
  d.join("critic-1", "critic");
  d.join("human-1", "human");
  d.start();
  d.advance_s(1);
  d.answer("g1/plan#0");  // t = 1: s1#0 -> coder-2, s2#0 -> coder-1
  auto slow = d.drop("g1/s2#0");
  d.advance_s(30);
  d.tick();  // t = 31: s2#0 also offered to coder-2
  auto backup = d.drop("g1/s2#0");
  d.advance_s(2);
  d.answer_dispatch(slow);  // t = 33: coder-1 answers first; coder-2 is cancelled
  (void)backup;

  const Ledger& ledger = d.core.ledger();
  const DispatchSpan* plan = span_of(d.core, "g1/plan#0", "planner-1");
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(plan->start, 0);
  EXPECT_EQ(plan->end, seconds_to_us(1));
  EXPECT_EQ(plan->how, SpanEnd::answered);
  const DispatchSpan* first = span_of(d.core, "g1/s2#0", "coder-1");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->start, seconds_to_us(1));
  EXPECT_EQ(first->end, seconds_to_us(33));
  EXPECT_EQ(first->how, SpanEnd::answered);
  const DispatchSpan* second = span_of(d.core, "g1/s2#0", "coder-2");
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->start, seconds_to_us(31));
  EXPECT_EQ(second->end, seconds_to_us(33));
  EXPECT_EQ(second->how, SpanEnd::cancelled);
  const DispatchSpan* other = span_of(d.core, "g1/s1#0", "coder-2");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->how, SpanEnd::open);  // never answered in this test
  EXPECT_EQ(ledger.spans().size(), d.counters().dispatched);

  // The answered task keeps its answer's figures.
  const TaskRecord& s2 = ledger.task(*ledger.find_task("g1", "s2", 0));
  EXPECT_EQ(s2.finished_at, seconds_to_us(33));
  EXPECT_EQ(s2.verdict, "candidate");
  EXPECT_EQ(s2.tokens_in, tokens_in_for(slow.assignment));
  EXPECT_NEAR(s2.usd, (tokens_in_for(slow.assignment) + 2.0 * tokens_out_for(slow.assignment)) / 1e6,
              1e-12);
  EXPECT_EQ(ledger.task(*ledger.find_task("g1", "plan", 0)).verdict, "planned");

  // Stopping closes every open span, the slow holder's included.
  d.advance_s(1);
  d.stop("interrupted");
  for (const auto& span : ledger.spans()) EXPECT_NE(span.how, SpanEnd::open);
  EXPECT_EQ(span_of(d.core, "g1/s1#0", "coder-2")->end, seconds_to_us(34));
  EXPECT_EQ(d.core.last_event_at(), seconds_to_us(34));
}

TEST(HubCore, AnAgentThatLeavesLosesItsSpansAndReviewsSayWhatTheCriticDecided) {
  Driver d(make_scenario({make_goal("g1", 1)}));
  d.join_team(2, 1);
  d.start();
  d.answer("g1/plan#0");
  d.drop("g1/s1#0");  // coder-1 goes silent and then leaves
  d.leave("coder-1");
  const Ledger& ledger = d.core.ledger();
  EXPECT_EQ(span_of(d.core, "g1/s1#0", "coder-1")->how, SpanEnd::lost);
  ASSERT_TRUE(d.run());
  EXPECT_EQ(span_of(d.core, "g1/s1#0", "coder-2")->how, SpanEnd::answered);
  EXPECT_EQ(ledger.task(*ledger.find_task("g1", "s1/review", 0)).verdict, "accepted");
}

TEST(HubCore, DispatchLatencyIsTheTimeATaskWaitedInItsQueue) {
  Driver d(make_scenario({make_goal("g1", 1)}));
  d.start();  // t = 0: the plan waits, no planner yet
  d.advance_s(0.004);
  d.join("planner-1", "planner");  // t = 4 ms: dispatched
  const LatencyHistogram& h = d.core.ledger().dispatch_latency();
  ASSERT_EQ(h.count, 1u);
  EXPECT_NEAR(h.sum_s, 0.004, 1e-9);
  // 4 ms lands in the (0.0025, 0.005] bucket.
  for (std::size_t i = 0; i < h.counts.size(); ++i)
    EXPECT_EQ(h.counts[i], LatencyHistogram::kBoundsS[i < LatencyHistogram::kBuckets ? i : 0] == 0.005 && i < LatencyHistogram::kBuckets ? 1u : 0u) << i;
}

}  // namespace
}  // namespace cadre::runtime
