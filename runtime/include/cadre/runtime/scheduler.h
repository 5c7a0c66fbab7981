// The scheduler: which agents are present, what each holds, which tasks wait for which role, and
// the leases on assigned tasks. Pure bookkeeping on TaskIds; the hub core owns the tasks.
//
// Policy: a task goes only to a present agent of its role with free capacity; among those, the
// least loaded (ties: the earliest joined). Waiting tasks leave their role's queue in priority
// order (lower first; ties in enqueue order).
//
// Cost: every operation on the dispatch path (enqueue, place, release) is O(log n) on flat
// arrays and allocates nothing once they have grown: a role's waiting tasks are a binary heap
// whose cancelled entries are skipped when they surface, and its free agents an indexed heap.
#pragma once

#include <cstdint>
#include <optional>
#include <deque>
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
  std::vector<TaskId> held;  // tasks leased to it now, in the order it was given them
  // Statistics over the whole run (they survive a rejoin).
  std::uint64_t tasks_completed = 0;
  TimeUs busy_us = 0;
  std::uint32_t joins = 0;
};

struct Placement {
  TaskId task;
  AgentIndex agent;  // index into Scheduler::agents()
};

class Scheduler {
 public:
  // Registers (or re-registers) an agent as present. Returns the tasks it held before, if it was
  // already present: a second HELLO means it lost them, so the caller requeues them. An agent
  // keeps its index (Scheduler::index_of) for the whole run, across rejoins.
  std::vector<TaskId> join(const std::string& id, const std::string& role,
                           const std::string& model, std::uint32_t capacity, std::int64_t pid);
  // Marks an agent gone. Returns the tasks it held (for requeueing, in task order); empty if
  // unknown or absent.
  std::vector<TaskId> leave(const std::string& id);

  // Queues a task for `role`. `avoid_agent`, when given, is placed this task only if no other
  // agent of the role is free (a task whose lease expired should not go back to the agent that
  // sat on it). Enqueueing a task already queued moves it to the back of its priority.
  void enqueue(TaskId task, const std::string& role, std::uint64_t priority,
               AgentIndex avoid_agent = kNoAgent);
  // Removes a waiting task from its queue (cancelled); no-op if not queued.
  void dequeue(TaskId task);

  // Pairs waiting tasks with free agents until no pair is left, appending to `out`. Each
  // placement is recorded as held by its agent; the caller arms its lease. Roles are served in
  // the order of their names.
  void place(std::vector<Placement>& out);
  std::vector<Placement> place() {
    std::vector<Placement> out;
    place(out);
    return out;
  }

  // Gates: agents that share a quota (the model endpoint they call) are placed only while their
  // gate has allowance left; each placement takes one. The core sets the allowance before each
  // placement round from its rate limiter. An agent belongs to at most one gate.
  static constexpr std::uint32_t kNoGate = UINT32_MAX;
  static constexpr std::uint32_t kOpenGate = UINT32_MAX;  // an allowance with no limit
  void set_gate(AgentIndex agent, std::uint32_t gate);
  std::uint32_t gate_of(AgentIndex agent) const { return gate_of_[agent]; }
  void set_allowance(std::uint32_t gate, std::uint32_t allowance);
  std::uint32_t allowance(std::uint32_t gate) const;

  // The agent no longer holds the task (result, expiry, cancel). No-op if it does not.
  void release(AgentIndex agent, TaskId task);
  void release(const std::string& agent_id, TaskId task);

  // Lease timers: a task has at most one live lease, (generation > 0, deadline). arm_lease
  // replaces the task's lease; disarm_lease ends it (the task was answered or requeued).
  // expired() pops the live leases due at `now`, earliest first; next_lease_deadline() is the
  // earliest live one, so a shell never wakes for a lease that no longer matters.
  void arm_lease(TaskId task, std::uint64_t generation, TimeUs deadline);
  void disarm_lease(TaskId task);
  std::vector<std::pair<TaskId, std::uint64_t>> expired(TimeUs now);
  std::optional<TimeUs> next_lease_deadline() const;

  std::optional<AgentIndex> index_of(const std::string& id) const;
  AgentRecord* agent(const std::string& id);
  AgentRecord& agent(AgentIndex index) { return agents_[index]; }
  const AgentRecord& agent(AgentIndex index) const { return agents_[index]; }
  const std::vector<AgentRecord>& agents() const { return agents_; }
  std::size_t present_agents(const std::string& role) const;
  std::size_t waiting(const std::string& role) const;
  std::size_t waiting_total() const { return waiting_total_; }

 private:
  using RoleSlot = std::uint32_t;
  struct Waiting {
    std::uint64_t priority;
    std::uint64_t seq;  // enqueue order; also tells a live entry from a stale one
    TaskId task;
    // Min-heap order for std::push_heap (which builds a max-heap on `<`): invert.
    bool operator<(const Waiting& other) const {
      return priority != other.priority ? priority > other.priority : seq > other.seq;
    }
  };
  struct RoleQueue {
    std::string name;
    std::vector<Waiting> waiting;  // heap; entries of dequeued or re-enqueued tasks are stale
    std::size_t waiting_live = 0;
    // Present agents with free capacity: a min-heap on (in flight, join sequence).
    std::vector<AgentIndex> free_agents;
    std::size_t present = 0;
  };
  // Where a task waits: its role, and the enqueue sequence of its live heap entry.
  struct TaskSlot {
    RoleSlot role = 0;
    bool queued = false;
    AgentIndex avoid = kNoAgent;
    std::uint64_t seq = 0;
  };
  struct Lease {
    TimeUs deadline;
    TaskId task;
    std::uint64_t generation;
  };
  static constexpr std::uint32_t kNotFree = UINT32_MAX;

  RoleSlot role_slot(const std::string& role);
  const RoleQueue* find_role(const std::string& role) const;
  // Drops stale entries from the top of a role's waiting heap.
  void prune(RoleQueue& queue);
  bool free_before(AgentIndex a, AgentIndex b) const;
  void free_sift_up(RoleQueue& queue, std::uint32_t position);
  void free_sift_down(RoleQueue& queue, std::uint32_t position);
  void free_insert(RoleQueue& queue, AgentIndex agent);
  void free_remove(RoleQueue& queue, AgentIndex agent);
  // Puts an agent where its load says: in its role's free heap or out of it.
  void refresh_free(AgentIndex agent);

  std::vector<AgentRecord> agents_;
  // Per agent, what the free heap orders on, kept apart from the records so that a sift touches
  // a compact array.
  struct LoadKey {
    std::uint64_t join_seq = 0;
    std::uint32_t in_flight = 0;
  };
  std::vector<LoadKey> load_;
  std::vector<RoleSlot> agent_role_;           // per agent: its role's slot
  std::vector<std::uint32_t> free_position_;  // per agent: its place in the free heap, or kNotFree
  struct Gate {
    std::uint32_t allowance = kOpenGate;
    std::vector<AgentIndex> agents;
  };
  std::vector<Gate> gates_;
  std::vector<std::uint32_t> gate_of_;  // per agent: its gate, or kNoGate
  std::unordered_map<std::string, AgentIndex> agent_index_;
  std::vector<RoleQueue> roles_;
  std::vector<RoleSlot> role_order_;  // slots sorted by role name
  std::vector<TaskSlot> tasks_;       // indexed by TaskId
  std::size_t waiting_total_ = 0;
  // Drops leases that are no longer live from the front of the queue.
  void prune_leases();
  // Leases in deadline order. Every lease the core arms lasts the same time from a clock that
  // never goes back, so a new lease belongs at the back: a FIFO instead of a heap (O(1) arm and
  // expiry, and expiry walks the tasks in dispatch order). An out-of-order deadline is inserted
  // in its place.
  std::deque<Lease> leases_;
  std::vector<std::uint64_t> live_lease_;  // per task: the generation of its live lease, or 0
  std::uint64_t next_seq_ = 0;
  std::uint64_t next_join_ = 0;
};

}  // namespace cadre::runtime
