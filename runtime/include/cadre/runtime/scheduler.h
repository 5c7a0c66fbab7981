// The scheduler: which agents are present, what each holds, which tasks wait for which role, and
// the leases on assigned tasks. Pure bookkeeping on TaskIds; the hub core owns the tasks.
//
// Policy: a task goes only to a present agent of its role with free capacity; among those, the
// least loaded (ties: the earliest joined). Waiting tasks leave their role's queue in priority
// order (lower first; ties in enqueue order).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "cadre/runtime/clock.h"
#include "cadre/runtime/ledger.h"

namespace cadre::runtime {

struct AgentRecord {
  std::string id;
  std::string role;
  std::string model;
  std::uint32_t capacity = 1;
  std::int64_t pid = 0;
  bool present = false;
  // A person (the hub's inbox): tasks it holds have no lease — people take the time they take;
  // they end when answered or when the run stops.
  bool person = false;
  std::uint64_t join_seq = 0;
  std::set<TaskId> held;  // tasks leased to it now
  // Statistics over the whole run (they survive a rejoin).
  std::uint64_t tasks_completed = 0;
  TimeUs busy_us = 0;
  std::uint32_t joins = 0;
};

struct Placement {
  TaskId task;
  std::string agent_id;
};

class Scheduler {
 public:
  // Registers (or re-registers) an agent as present. Returns the tasks it held before, if it was
  // already present: a second HELLO means it lost them, so the caller requeues them.
  std::vector<TaskId> join(const std::string& id, const std::string& role,
                           const std::string& model, std::uint32_t capacity, std::int64_t pid);
  // Marks an agent gone. Returns the tasks it held (for requeueing); empty if unknown.
  std::vector<TaskId> leave(const std::string& id);

  // Queues a task for `role`. `avoid_agent`, when given, is placed this task only if no other
  // agent of the role is free (a task whose lease expired should not go back to the agent that
  // sat on it).
  void enqueue(TaskId task, const std::string& role, std::uint64_t priority,
               const std::string& avoid_agent = {});
  // Removes a waiting task from its queue (cancelled); no-op if not queued.
  void dequeue(TaskId task);

  // Pairs waiting tasks with free agents until no pair is left. Each placement is recorded as
  // held by its agent; the caller arms its lease.
  std::vector<Placement> place();

  // The agent no longer holds the task (result, expiry, cancel).
  void release(const std::string& agent_id, TaskId task);

  // Lease timers: a lease is (task, generation, deadline); expired() pops those due at `now`.
  // The caller checks the generation against the task's current one (stale entries are skipped).
  void arm_lease(TaskId task, std::uint64_t generation, TimeUs deadline);
  std::vector<std::pair<TaskId, std::uint64_t>> expired(TimeUs now);
  std::optional<TimeUs> next_lease_deadline() const;

  AgentRecord* agent(const std::string& id);
  const std::vector<AgentRecord>& agents() const { return agents_; }
  std::size_t present_agents(const std::string& role) const;
  std::size_t waiting(const std::string& role) const;
  std::size_t waiting_total() const;

 private:
  struct RoleQueue {
    // (priority, enqueue sequence) -> task
    std::map<std::pair<std::uint64_t, std::uint64_t>, TaskId> waiting;
    // (in flight, join sequence, agent index) for present agents with free capacity
    std::set<std::tuple<std::uint32_t, std::uint64_t, std::size_t>> free_agents;
    std::size_t present = 0;
  };
  struct Lease {
    TimeUs deadline;
    TaskId task;
    std::uint64_t generation;
    bool operator>(const Lease& other) const { return deadline > other.deadline; }
  };

  void update_free(std::size_t agent_index, std::uint32_t old_in_flight, bool was_free);
  RoleQueue& role_queue(const std::string& role) { return roles_[role]; }

  std::vector<AgentRecord> agents_;
  std::unordered_map<std::string, std::size_t> agent_index_;
  std::map<std::string, RoleQueue> roles_;
  struct QueuedAt {
    std::string role;
    std::pair<std::uint64_t, std::uint64_t> key;
    std::string avoid_agent;
  };
  std::unordered_map<TaskId, QueuedAt> queued_at_;
  std::priority_queue<Lease, std::vector<Lease>, std::greater<Lease>> leases_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t next_join_ = 0;
};

}  // namespace cadre::runtime
