// The scheduler: roles, capacity, load balancing, queue order, departures and leases.
#include "cadre/runtime/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace cadre::runtime {
namespace {

// Placements as "task->agent" strings, in the order the scheduler made them.
std::vector<std::string> trace(const std::vector<Placement>& placements) {
  std::vector<std::string> out;
  for (const auto& p : placements) out.push_back(std::to_string(p.task) + "->" + p.agent_id);
  return out;
}

using Trace = std::vector<std::string>;

TEST(Scheduler, ATaskGoesOnlyToAnAgentOfItsRole) {
  Scheduler s;
  s.join("critic-1", "critic", "m", 4, 0);
  s.enqueue(0, "coder", 0);
  EXPECT_TRUE(s.place().empty());
  EXPECT_EQ(s.waiting("coder"), 1u);

  s.join("coder-1", "coder", "m", 1, 0);
  EXPECT_EQ(trace(s.place()), (Trace{"0->coder-1"}));
  EXPECT_EQ(s.waiting("coder"), 0u);
  EXPECT_TRUE(s.agent("critic-1")->held.empty());
}

TEST(Scheduler, ATaskWaitsWhileNoAgentOfItsRoleIsPresent) {
  Scheduler s;
  s.enqueue(0, "human", 0);
  s.enqueue(1, "human", 0);
  EXPECT_TRUE(s.place().empty());
  EXPECT_EQ(s.waiting("human"), 2u);
  EXPECT_EQ(s.waiting_total(), 2u);
  EXPECT_EQ(s.present_agents("human"), 0u);
}

TEST(Scheduler, AnAgentIsNeverGivenMoreThanItsCapacity) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 2, 0);
  for (TaskId t = 0; t < 5; ++t) s.enqueue(t, "coder", 0);
  EXPECT_EQ(trace(s.place()), (Trace{"0->coder-1", "1->coder-1"}));
  EXPECT_EQ(s.agent("coder-1")->held.size(), 2u);
  EXPECT_TRUE(s.place().empty());
  EXPECT_EQ(s.waiting("coder"), 3u);
}

TEST(Scheduler, AReleasedTaskFreesCapacityForTheNextWaitingOne) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 1, 0);
  s.enqueue(0, "coder", 0);
  s.enqueue(1, "coder", 0);
  EXPECT_EQ(trace(s.place()), (Trace{"0->coder-1"}));
  s.release("coder-1", 0);
  EXPECT_TRUE(s.agent("coder-1")->held.empty());
  EXPECT_EQ(trace(s.place()), (Trace{"1->coder-1"}));
}

TEST(Scheduler, ReleasingATaskTheAgentDoesNotHoldChangesNothing) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 1, 0);
  s.enqueue(0, "coder", 0);
  s.enqueue(1, "coder", 0);
  EXPECT_EQ(trace(s.place()), (Trace{"0->coder-1"}));
  s.release("coder-1", 7);
  s.release("nobody", 0);
  EXPECT_TRUE(s.place().empty());
  EXPECT_EQ(s.agent("coder-1")->held.size(), 1u);
}

TEST(Scheduler, TheLeastLoadedAgentIsChosenFirst) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 3, 0);
  s.join("coder-2", "coder", "m", 3, 0);
  s.enqueue(0, "coder", 0);
  s.enqueue(1, "coder", 0);
  s.enqueue(2, "coder", 0);
  s.enqueue(3, "coder", 0);
  // 1st: tie at 0 -> earliest joined; 2nd: coder-2 has 0; 3rd: tie at 1 -> coder-1; 4th: coder-2.
  EXPECT_EQ(trace(s.place()), (Trace{"0->coder-1", "1->coder-2", "2->coder-1", "3->coder-2"}));

  s.release("coder-2", 1);
  s.release("coder-2", 3);  // coder-2 now holds nothing, coder-1 two
  s.enqueue(4, "coder", 0);
  EXPECT_EQ(trace(s.place()), (Trace{"4->coder-2"}));
}

TEST(Scheduler, TiesGoToTheEarliestJoinedAgent) {
  Scheduler s;
  s.join("coder-b", "coder", "m", 1, 0);
  s.join("coder-a", "coder", "m", 1, 0);
  s.enqueue(0, "coder", 0);
  EXPECT_EQ(trace(s.place()), (Trace{"0->coder-b"}));
}

TEST(Scheduler, WaitingTasksLeaveInPriorityOrderThenFirstInFirstOut) {
  Scheduler s;
  s.enqueue(10, "coder", 2);
  s.enqueue(11, "coder", 0);
  s.enqueue(12, "coder", 1);
  s.enqueue(13, "coder", 0);
  s.enqueue(14, "coder", 2);
  s.join("coder-1", "coder", "m", 5, 0);
  EXPECT_EQ(trace(s.place()),
            (Trace{"11->coder-1", "13->coder-1", "12->coder-1", "10->coder-1", "14->coder-1"}));
}

TEST(Scheduler, ARequeuedTaskGoesBehindTasksOfItsPriorityAlreadyWaiting) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 1, 0);
  s.enqueue(0, "coder", 0);
  EXPECT_EQ(trace(s.place()), (Trace{"0->coder-1"}));
  s.enqueue(1, "coder", 0);
  s.release("coder-1", 0);
  s.enqueue(0, "coder", 0);  // requeued
  EXPECT_EQ(trace(s.place()), (Trace{"1->coder-1"}));
}

TEST(Scheduler, ADequeuedTaskIsNeverPlaced) {
  Scheduler s;
  s.enqueue(0, "coder", 0);
  s.enqueue(1, "coder", 0);
  s.dequeue(0);
  s.dequeue(42);  // not queued: no-op
  EXPECT_EQ(s.waiting_total(), 1u);
  s.join("coder-1", "coder", "m", 4, 0);
  EXPECT_EQ(trace(s.place()), (Trace{"1->coder-1"}));
  EXPECT_EQ(s.waiting_total(), 0u);
}

TEST(Scheduler, LeaveReturnsTheHeldTasksAndTheAgentGetsNoMoreWork) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 2, 0);
  s.enqueue(0, "coder", 0);
  s.enqueue(1, "coder", 0);
  s.enqueue(2, "coder", 0);
  EXPECT_EQ(s.place().size(), 2u);
  auto held = s.leave("coder-1");
  std::sort(held.begin(), held.end());
  EXPECT_EQ(held, (std::vector<TaskId>{0, 1}));
  EXPECT_FALSE(s.agent("coder-1")->present);
  EXPECT_TRUE(s.agent("coder-1")->held.empty());
  EXPECT_EQ(s.present_agents("coder"), 0u);
  EXPECT_TRUE(s.place().empty());
  EXPECT_EQ(s.waiting("coder"), 1u);
  // A result that arrives for a task the departed agent held changes nothing.
  s.release("coder-1", 0);
  EXPECT_TRUE(s.place().empty());
}

TEST(Scheduler, LeaveOfAnUnknownOrAbsentAgentReturnsNothing) {
  Scheduler s;
  EXPECT_TRUE(s.leave("ghost").empty());
  s.join("coder-1", "coder", "m", 1, 0);
  s.enqueue(0, "coder", 0);
  s.place();
  EXPECT_EQ(s.leave("coder-1").size(), 1u);
  EXPECT_TRUE(s.leave("coder-1").empty());
  EXPECT_EQ(s.present_agents("coder"), 0u);
}

TEST(Scheduler, ASecondJoinOfAPresentAgentReturnsTheTasksItHeld) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 2, 0);
  s.enqueue(0, "coder", 0);
  s.enqueue(1, "coder", 0);
  EXPECT_EQ(s.place().size(), 2u);
  auto lost = s.join("coder-1", "coder", "m", 2, 99);
  std::sort(lost.begin(), lost.end());
  EXPECT_EQ(lost, (std::vector<TaskId>{0, 1}));
  const AgentRecord* agent = s.agent("coder-1");
  EXPECT_TRUE(agent->present);
  EXPECT_TRUE(agent->held.empty());
  EXPECT_EQ(agent->joins, 2u);
  EXPECT_EQ(agent->pid, 99);
  EXPECT_EQ(s.present_agents("coder"), 1u);
  EXPECT_EQ(s.agents().size(), 1u);
  // It has its whole capacity again: exactly two new tasks.
  for (TaskId t = 2; t < 5; ++t) s.enqueue(t, "coder", 0);
  EXPECT_EQ(trace(s.place()), (Trace{"2->coder-1", "3->coder-1"}));
}

TEST(Scheduler, ARejoinAfterLeavingReturnsNothingAndKeepsTheStatistics) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 1, 0);
  s.agent("coder-1")->tasks_completed = 3;
  s.leave("coder-1");
  EXPECT_TRUE(s.join("coder-1", "coder", "m", 1, 0).empty());
  EXPECT_EQ(s.agent("coder-1")->tasks_completed, 3u);
  EXPECT_EQ(s.agent("coder-1")->joins, 2u);
  EXPECT_EQ(s.present_agents("coder"), 1u);
  s.enqueue(0, "coder", 0);
  EXPECT_EQ(trace(s.place()), (Trace{"0->coder-1"}));
}

TEST(Scheduler, ARejoinedAgentCountsAsTheLatestJoinedForTies) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 1, 0);
  s.join("coder-2", "coder", "m", 1, 0);
  s.leave("coder-1");
  s.join("coder-1", "coder", "m", 1, 0);
  s.enqueue(0, "coder", 0);
  EXPECT_EQ(trace(s.place()), (Trace{"0->coder-2"}));
}

TEST(Scheduler, AnAgentRejoiningUnderAnotherRoleMovesToThatRole) {
  Scheduler s;
  s.join("a-1", "coder", "m", 1, 0);
  s.join("a-1", "critic", "m", 1, 0);
  EXPECT_EQ(s.present_agents("coder"), 0u);
  EXPECT_EQ(s.present_agents("critic"), 1u);
  s.enqueue(0, "coder", 0);
  s.enqueue(1, "critic", 0);
  EXPECT_EQ(trace(s.place()), (Trace{"1->a-1"}));
}

TEST(Scheduler, CapacityZeroIsTreatedAsOne) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 0, 0);
  EXPECT_EQ(s.agent("coder-1")->capacity, 1u);
  s.enqueue(0, "coder", 0);
  s.enqueue(1, "coder", 0);
  EXPECT_EQ(trace(s.place()), (Trace{"0->coder-1"}));
}

TEST(Scheduler, EachRoleIsPlacedIndependently) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 1, 0);
  s.join("critic-1", "critic", "m", 1, 0);
  s.join("planner-1", "planner", "m", 1, 0);
  s.enqueue(0, "planner", 5);
  s.enqueue(1, "coder", 0);
  s.enqueue(2, "critic", 1);
  s.enqueue(3, "coder", 0);
  std::map<std::string, TaskId> got;
  for (const auto& p : s.place()) got[p.agent_id] = p.task;
  EXPECT_EQ(got, (std::map<std::string, TaskId>{{"planner-1", 0}, {"coder-1", 1}, {"critic-1", 2}}));
  EXPECT_EQ(s.waiting("coder"), 1u);
  EXPECT_EQ(s.waiting("critic"), 0u);
  EXPECT_EQ(s.waiting_total(), 1u);
}

TEST(Scheduler, ExpiredReturnsTheLeasesDueAtNowEarliestFirstAndOnlyOnce) {
  Scheduler s;
  s.arm_lease(1, 1, 300);
  s.arm_lease(2, 1, 100);
  s.arm_lease(3, 4, 200);
  s.arm_lease(4, 1, 500);
  EXPECT_TRUE(s.expired(99).empty());
  using Due = std::vector<std::pair<TaskId, std::uint64_t>>;
  EXPECT_EQ(s.expired(300), (Due{{2, 1}, {3, 4}, {1, 1}}));  // a deadline equal to now is due
  EXPECT_TRUE(s.expired(300).empty());
  EXPECT_EQ(s.next_lease_deadline(), 500);
  EXPECT_EQ(s.expired(10'000), (Due{{4, 1}}));
  EXPECT_FALSE(s.next_lease_deadline().has_value());
}

TEST(Scheduler, NextLeaseDeadlineIsTheEarliestArmedOne) {
  Scheduler s;
  EXPECT_FALSE(s.next_lease_deadline().has_value());
  s.arm_lease(0, 1, 700);
  EXPECT_EQ(s.next_lease_deadline(), 700);
  s.arm_lease(1, 1, 250);
  EXPECT_EQ(s.next_lease_deadline(), 250);
  s.arm_lease(0, 2, 900);  // a re-armed lease: the stale (0, 1) entry is still reported
  EXPECT_EQ(s.expired(800), (std::vector<std::pair<TaskId, std::uint64_t>>{{1, 1}, {0, 1}}));
  EXPECT_EQ(s.next_lease_deadline(), 900);
}

}  // namespace
}  // namespace cadre::runtime
