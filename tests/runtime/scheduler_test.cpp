// The scheduler: roles, capacity, load balancing, queue order, departures and leases.
#include "cadre/runtime/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace cadre::runtime {
namespace {

// Placements as "task->agent" strings, in the order the scheduler made them.
std::vector<std::string> trace(const Scheduler& s, const std::vector<Placement>& placements) {
  std::vector<std::string> out;
  for (const auto& p : placements)
    out.push_back(std::to_string(p.task) + "->" + s.agent(p.agent).id);
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
  EXPECT_EQ(trace(s, s.place()), (Trace{"0->coder-1"}));
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
  EXPECT_EQ(trace(s, s.place()), (Trace{"0->coder-1", "1->coder-1"}));
  EXPECT_EQ(s.agent("coder-1")->held.size(), 2u);
  EXPECT_TRUE(s.place().empty());
  EXPECT_EQ(s.waiting("coder"), 3u);
}

TEST(Scheduler, AReleasedTaskFreesCapacityForTheNextWaitingOne) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 1, 0);
  s.enqueue(0, "coder", 0);
  s.enqueue(1, "coder", 0);
  EXPECT_EQ(trace(s, s.place()), (Trace{"0->coder-1"}));
  s.release("coder-1", 0);
  EXPECT_TRUE(s.agent("coder-1")->held.empty());
  EXPECT_EQ(trace(s, s.place()), (Trace{"1->coder-1"}));
}

TEST(Scheduler, ReleasingATaskTheAgentDoesNotHoldChangesNothing) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 1, 0);
  s.enqueue(0, "coder", 0);
  s.enqueue(1, "coder", 0);
  EXPECT_EQ(trace(s, s.place()), (Trace{"0->coder-1"}));
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
  EXPECT_EQ(trace(s, s.place()), (Trace{"0->coder-1", "1->coder-2", "2->coder-1", "3->coder-2"}));

  s.release("coder-2", 1);
  s.release("coder-2", 3);  // coder-2 now holds nothing, coder-1 two
  s.enqueue(4, "coder", 0);
  EXPECT_EQ(trace(s, s.place()), (Trace{"4->coder-2"}));
}

TEST(Scheduler, TiesGoToTheEarliestJoinedAgent) {
  Scheduler s;
  s.join("coder-b", "coder", "m", 1, 0);
  s.join("coder-a", "coder", "m", 1, 0);
  s.enqueue(0, "coder", 0);
  EXPECT_EQ(trace(s, s.place()), (Trace{"0->coder-b"}));
}

TEST(Scheduler, WaitingTasksLeaveInPriorityOrderThenFirstInFirstOut) {
  Scheduler s;
  s.enqueue(10, "coder", 2);
  s.enqueue(11, "coder", 0);
  s.enqueue(12, "coder", 1);
  s.enqueue(13, "coder", 0);
  s.enqueue(14, "coder", 2);
  s.join("coder-1", "coder", "m", 5, 0);
  EXPECT_EQ(trace(s, s.place()),
            (Trace{"11->coder-1", "13->coder-1", "12->coder-1", "10->coder-1", "14->coder-1"}));
}

TEST(Scheduler, ARequeuedTaskGoesBehindTasksOfItsPriorityAlreadyWaiting) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 1, 0);
  s.enqueue(0, "coder", 0);
  EXPECT_EQ(trace(s, s.place()), (Trace{"0->coder-1"}));
  s.enqueue(1, "coder", 0);
  s.release("coder-1", 0);
  s.enqueue(0, "coder", 0);  // requeued
  EXPECT_EQ(trace(s, s.place()), (Trace{"1->coder-1"}));
}

TEST(Scheduler, ADequeuedTaskIsNeverPlaced) {
  Scheduler s;
  s.enqueue(0, "coder", 0);
  s.enqueue(1, "coder", 0);
  s.dequeue(0);
  s.dequeue(42);  // not queued: no-op
  EXPECT_EQ(s.waiting_total(), 1u);
  s.join("coder-1", "coder", "m", 4, 0);
  EXPECT_EQ(trace(s, s.place()), (Trace{"1->coder-1"}));
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
  EXPECT_EQ(trace(s, s.place()), (Trace{"2->coder-1", "3->coder-1"}));
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
  EXPECT_EQ(trace(s, s.place()), (Trace{"0->coder-1"}));
}

TEST(Scheduler, ARejoinedAgentCountsAsTheLatestJoinedForTies) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 1, 0);
  s.join("coder-2", "coder", "m", 1, 0);
  s.leave("coder-1");
  s.join("coder-1", "coder", "m", 1, 0);
  s.enqueue(0, "coder", 0);
  EXPECT_EQ(trace(s, s.place()), (Trace{"0->coder-2"}));
}

TEST(Scheduler, AnAgentRejoiningUnderAnotherRoleMovesToThatRole) {
  Scheduler s;
  s.join("a-1", "coder", "m", 1, 0);
  s.join("a-1", "critic", "m", 1, 0);
  EXPECT_EQ(s.present_agents("coder"), 0u);
  EXPECT_EQ(s.present_agents("critic"), 1u);
  s.enqueue(0, "coder", 0);
  s.enqueue(1, "critic", 0);
  EXPECT_EQ(trace(s, s.place()), (Trace{"1->a-1"}));
}

TEST(Scheduler, CapacityZeroIsTreatedAsOne) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 0, 0);
  EXPECT_EQ(s.agent("coder-1")->capacity, 1u);
  s.enqueue(0, "coder", 0);
  s.enqueue(1, "coder", 0);
  EXPECT_EQ(trace(s, s.place()), (Trace{"0->coder-1"}));
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
  for (const auto& p : s.place()) got[s.agent(p.agent).id] = p.task;
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
  s.arm_lease(0, 2, 900);  // re-armed: the lease of generation 1 is no longer live
  EXPECT_EQ(s.next_lease_deadline(), 250);
  EXPECT_EQ(s.expired(800), (std::vector<std::pair<TaskId, std::uint64_t>>{{1, 1}}));
  EXPECT_EQ(s.next_lease_deadline(), 900);
}

TEST(Scheduler, ADisarmedLeaseNeitherExpiresNorSetsTheNextDeadline) {
  Scheduler s;
  s.arm_lease(0, 1, 100);
  s.arm_lease(1, 1, 200);
  s.arm_lease(2, 3, 300);
  s.disarm_lease(0);  // answered
  EXPECT_EQ(s.next_lease_deadline(), 200);
  s.disarm_lease(2);
  s.disarm_lease(7);  // never armed: no-op
  EXPECT_EQ(s.expired(1000), (std::vector<std::pair<TaskId, std::uint64_t>>{{1, 1}}));
  EXPECT_FALSE(s.next_lease_deadline().has_value());
  s.disarm_lease(1);  // already expired: no-op
  EXPECT_TRUE(s.expired(2000).empty());
}


TEST(Scheduler, ATaskAvoidsTheAgentNamedWhileAnotherOfItsRoleIsFree) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 2, 0);
  s.join("coder-2", "coder", "m", 2, 0);
  s.join("coder-3", "coder", "m", 2, 0);
  const AgentIndex first = *s.index_of("coder-1");
  // coder-1 is the least loaded and earliest joined, but the task avoids it.
  s.enqueue(0, "coder", 0, first);
  EXPECT_EQ(trace(s, s.place()), (Trace{"0->coder-2"}));
  // Among the others, the least loaded: coder-3 (coder-2 now holds one).
  s.enqueue(1, "coder", 0, first);
  EXPECT_EQ(trace(s, s.place()), (Trace{"1->coder-3"}));
}

TEST(Scheduler, ATaskGoesToTheAgentItAvoidsWhenNoOtherIsFree) {
  Scheduler s;
  s.join("coder-1", "coder", "m", 1, 0);
  s.join("coder-2", "coder", "m", 1, 0);
  s.enqueue(0, "coder", 0);
  EXPECT_EQ(trace(s, s.place()), (Trace{"0->coder-1"}));
  s.enqueue(1, "coder", 0, *s.index_of("coder-2"));
  EXPECT_EQ(trace(s, s.place()), (Trace{"1->coder-2"}));
}

// The scheduler's heaps against a plain model of the policy: random joins, departures, enqueues,
// cancellations, releases and placements must give the same placements in the same order.
class SchedulerModel {
 public:
  struct Agent {
    std::string id, role;
    std::uint32_t capacity = 1;
    bool present = false;
    std::uint64_t join_seq = 0;
    std::vector<TaskId> held;
  };
  struct Waiting {
    TaskId task;
    std::string role;
    std::uint64_t priority, seq;
    std::optional<std::size_t> avoid;
  };

  void join(const std::string& id, const std::string& role, std::uint32_t capacity) {
    auto it = std::find_if(agents.begin(), agents.end(), [&](const Agent& a) { return a.id == id; });
    if (it == agents.end()) it = agents.insert(agents.end(), Agent{id, role, 1, false, 0, {}});
    it->role = role;
    it->capacity = capacity;
    it->present = true;
    it->join_seq = next_join++;
    it->held.clear();
  }
  void leave(const std::string& id) {
    for (auto& a : agents)
      if (a.id == id) {
        a.present = false;
        a.held.clear();
      }
  }
  void enqueue(TaskId task, const std::string& role, std::uint64_t priority,
               std::optional<std::size_t> avoid) {
    dequeue(task);
    waiting.push_back({task, role, priority, next_seq++, avoid});
  }
  void dequeue(TaskId task) {
    waiting.erase(std::remove_if(waiting.begin(), waiting.end(),
                                 [&](const Waiting& w) { return w.task == task; }),
                  waiting.end());
  }
  void release(std::size_t agent, TaskId task) {
    auto& held = agents[agent].held;
    if (!agents[agent].present) return;
    auto it = std::find(held.begin(), held.end(), task);
    if (it != held.end()) held.erase(it);
  }
  // Free agents of a role, best first.
  std::vector<std::size_t> free_of(const std::string& role) const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < agents.size(); ++i)
      if (agents[i].present && agents[i].role == role && agents[i].held.size() < agents[i].capacity)
        out.push_back(i);
    std::sort(out.begin(), out.end(), [&](std::size_t a, std::size_t b) {
      if (agents[a].held.size() != agents[b].held.size())
        return agents[a].held.size() < agents[b].held.size();
      return agents[a].join_seq < agents[b].join_seq;
    });
    return out;
  }
  std::vector<std::string> place() {
    std::vector<std::string> out;
    std::vector<std::string> roles;
    for (const auto& w : waiting) roles.push_back(w.role);
    std::sort(roles.begin(), roles.end());
    roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
    for (const auto& role : roles) {
      for (;;) {
        auto best = waiting.end();
        for (auto it = waiting.begin(); it != waiting.end(); ++it)
          if (it->role == role && (best == waiting.end() || it->priority < best->priority ||
                                   (it->priority == best->priority && it->seq < best->seq)))
            best = it;
        const auto free = free_of(role);
        if (best == waiting.end() || free.empty()) break;
        std::size_t choice = free[0];
        if (best->avoid && choice == *best->avoid && free.size() > 1) choice = free[1];
        agents[choice].held.push_back(best->task);
        out.push_back(std::to_string(best->task) + "->" + agents[choice].id);
        waiting.erase(best);
      }
    }
    return out;
  }

  std::vector<Agent> agents;
  std::vector<Waiting> waiting;
  std::uint64_t next_join = 0, next_seq = 0;
};

TEST(Scheduler, PlacesExactlyAsThePlainModelOfItsPolicyUnderRandomOperations) {
  const std::vector<std::string> roles = {"coder", "critic", "planner"};
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 random(seed);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(random() % n); };
    Scheduler s;
    SchedulerModel model;
    TaskId next_task = 0;
    std::vector<TaskId> placed;  // tasks that may be held
    for (int step = 0; step < 3000; ++step) {
      const std::size_t op = pick(100);
      if (op < 8) {
        const std::string id = "agent-" + std::to_string(pick(12));
        const std::string role = roles[pick(op < 2 ? roles.size() : 1)];
        const auto capacity = static_cast<std::uint32_t>(1 + pick(3));
        // Tasks lost by a rejoin are requeued by the core; here both sides simply drop them.
        s.join(id, role, "m", capacity, 0);
        model.join(id, role, capacity);
      } else if (op < 12) {
        const std::string id = "agent-" + std::to_string(pick(12));
        s.leave(id);
        model.leave(id);
      } else if (op < 50) {
        const TaskId task = next_task++;
        const std::string role = roles[pick(roles.size())];
        const std::uint64_t priority = pick(4);
        std::optional<std::size_t> avoid;
        AgentIndex avoid_index = kNoAgent;
        if (!model.agents.empty() && pick(4) == 0) {
          avoid = pick(model.agents.size());
          avoid_index = *s.index_of(model.agents[*avoid].id);
        }
        s.enqueue(task, role, priority, avoid_index);
        model.enqueue(task, role, priority, avoid);
      } else if (op < 55 && next_task > 0) {
        const TaskId task = static_cast<TaskId>(pick(next_task));
        s.dequeue(task);
        model.dequeue(task);
      } else if (op < 80 && !placed.empty() && !model.agents.empty()) {
        const std::size_t agent = pick(model.agents.size());
        const TaskId task = placed[pick(placed.size())];
        s.release(*s.index_of(model.agents[agent].id), task);
        model.release(agent, task);
      } else {
        const auto got = trace(s, s.place());
        const auto want = model.place();
        ASSERT_EQ(got, want) << "seed " << seed << " step " << step;
        for (const auto& p : got) placed.push_back(static_cast<TaskId>(std::stoul(p)));
      }
      ASSERT_EQ(s.waiting_total(), model.waiting.size()) << "seed " << seed << " step " << step;
    }
  }
}

}  // namespace
}  // namespace cadre::runtime
