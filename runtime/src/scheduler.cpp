#include "cadre/runtime/scheduler.h"

#include <algorithm>
#include <iterator>

namespace cadre::runtime {

Scheduler::RoleSlot Scheduler::role_slot(const std::string& role) {
  for (RoleSlot slot = 0; slot < roles_.size(); ++slot)
    if (roles_[slot].name == role) return slot;
  const auto slot = static_cast<RoleSlot>(roles_.size());
  roles_.push_back(RoleQueue{role, {}, 0, {}, 0});
  role_order_.insert(std::upper_bound(role_order_.begin(), role_order_.end(), slot,
                                      [&](RoleSlot a, RoleSlot b) {
                                        return roles_[a].name < roles_[b].name;
                                      }),
                     slot);
  return slot;
}

const Scheduler::RoleQueue* Scheduler::find_role(const std::string& role) const {
  for (const auto& queue : roles_)
    if (queue.name == role) return &queue;
  return nullptr;
}

// ---- free agents: an indexed min-heap on (in flight, join sequence) -------------------------

bool Scheduler::free_before(AgentIndex a, AgentIndex b) const {
  const LoadKey& key_a = load_[a];
  const LoadKey& key_b = load_[b];
  return key_a.in_flight != key_b.in_flight ? key_a.in_flight < key_b.in_flight
                                            : key_a.join_seq < key_b.join_seq;
}

void Scheduler::free_sift_up(RoleQueue& queue, std::uint32_t position) {
  auto& heap = queue.free_agents;
  const AgentIndex moving = heap[position];
  while (position > 0) {
    const std::uint32_t parent = (position - 1) / 2;
    if (!free_before(moving, heap[parent])) break;
    heap[position] = heap[parent];
    free_position_[heap[position]] = position;
    position = parent;
  }
  heap[position] = moving;
  free_position_[moving] = position;
}

void Scheduler::free_sift_down(RoleQueue& queue, std::uint32_t position) {
  auto& heap = queue.free_agents;
  const auto size = static_cast<std::uint32_t>(heap.size());
  const AgentIndex moving = heap[position];
  for (;;) {
    std::uint32_t child = 2 * position + 1;
    if (child >= size) break;
    if (child + 1 < size && free_before(heap[child + 1], heap[child])) ++child;
    if (!free_before(heap[child], moving)) break;
    heap[position] = heap[child];
    free_position_[heap[position]] = position;
    position = child;
  }
  heap[position] = moving;
  free_position_[moving] = position;
}

void Scheduler::free_insert(RoleQueue& queue, AgentIndex agent) {
  queue.free_agents.push_back(agent);
  free_sift_up(queue, static_cast<std::uint32_t>(queue.free_agents.size() - 1));
}

void Scheduler::free_remove(RoleQueue& queue, AgentIndex agent) {
  const std::uint32_t position = free_position_[agent];
  free_position_[agent] = kNotFree;
  const AgentIndex last = queue.free_agents.back();
  queue.free_agents.pop_back();
  if (last == agent) return;
  queue.free_agents[position] = last;
  free_position_[last] = position;
  free_sift_up(queue, position);
  free_sift_down(queue, free_position_[last]);
}

void Scheduler::refresh_free(AgentIndex index) {
  const AgentRecord& agent = agents_[index];
  load_[index] = LoadKey{agent.join_seq, static_cast<std::uint32_t>(agent.held.size())};
  RoleQueue& queue = roles_[agent_role_[index]];
  const std::uint32_t gate = gate_of_[index];
  const bool should_be_free = agent.present && agent.held.size() < agent.capacity &&
                              (gate == kNoGate || gates_[gate].allowance > 0);
  const bool is_free = free_position_[index] != kNotFree;
  if (is_free && !should_be_free) {
    free_remove(queue, index);
  } else if (!is_free && should_be_free) {
    free_insert(queue, index);
  } else if (is_free) {  // its load changed: move it up or down
    free_sift_up(queue, free_position_[index]);
    free_sift_down(queue, free_position_[index]);
  }
}

// ---- agents -------------------------------------------------------------------------------

std::vector<TaskId> Scheduler::join(const std::string& id, const std::string& role,
                                    const std::string& model, std::uint32_t capacity,
                                    std::int64_t pid) {
  std::vector<TaskId> lost;
  auto found = agent_index_.find(id);
  if (found != agent_index_.end() && agents_[found->second].present) lost = leave(id);
  AgentIndex index;
  if (found == agent_index_.end()) {
    index = static_cast<AgentIndex>(agents_.size());
    agents_.emplace_back();
    agent_role_.push_back(0);
    load_.emplace_back();
    free_position_.push_back(kNotFree);
    gate_of_.push_back(kNoGate);
    agent_index_.emplace(id, index);
  } else {
    index = found->second;
  }
  AgentRecord& agent = agents_[index];
  agent.id = id;
  agent.role = role;
  agent.model = model;
  agent.capacity = capacity == 0 ? 1 : capacity;
  agent.pid = pid;
  agent.present = true;
  agent.join_seq = next_join_++;
  agent.held.clear();
  ++agent.joins;
  agent_role_[index] = role_slot(role);
  ++roles_[agent_role_[index]].present;
  refresh_free(index);
  return lost;
}

std::vector<TaskId> Scheduler::leave(const std::string& id) {
  auto found = agent_index_.find(id);
  if (found == agent_index_.end() || !agents_[found->second].present) return {};
  const AgentIndex index = found->second;
  AgentRecord& agent = agents_[index];
  RoleQueue& queue = roles_[agent_role_[index]];
  if (free_position_[index] != kNotFree) free_remove(queue, index);
  --queue.present;
  agent.present = false;
  std::vector<TaskId> held = std::move(agent.held);
  agent.held.clear();
  std::sort(held.begin(), held.end());
  return held;
}

std::optional<AgentIndex> Scheduler::index_of(const std::string& id) const {
  auto found = agent_index_.find(id);
  if (found == agent_index_.end()) return std::nullopt;
  return found->second;
}

AgentRecord* Scheduler::agent(const std::string& id) {
  auto found = agent_index_.find(id);
  return found == agent_index_.end() ? nullptr : &agents_[found->second];
}

// ---- tasks --------------------------------------------------------------------------------

void Scheduler::enqueue(TaskId task, const std::string& role, std::uint64_t priority,
                        AgentIndex avoid_agent) {
  if (tasks_.size() <= task) tasks_.resize(static_cast<std::size_t>(task) + 1);
  TaskSlot& slot = tasks_[task];
  if (slot.queued) dequeue(task);
  slot.role = role_slot(role);
  slot.queued = true;
  slot.avoid = avoid_agent;
  slot.seq = next_seq_++;
  RoleQueue& queue = roles_[slot.role];
  queue.waiting.push_back(Waiting{priority, slot.seq, task});
  std::push_heap(queue.waiting.begin(), queue.waiting.end());
  ++queue.waiting_live;
  ++waiting_total_;
}

void Scheduler::dequeue(TaskId task) {
  if (task >= tasks_.size() || !tasks_[task].queued) return;
  TaskSlot& slot = tasks_[task];
  slot.queued = false;  // its heap entry is now stale and skipped when it surfaces
  RoleQueue& queue = roles_[slot.role];
  --queue.waiting_live;
  --waiting_total_;
  prune(queue);
}

void Scheduler::prune(RoleQueue& queue) {
  while (!queue.waiting.empty()) {
    const Waiting& top = queue.waiting.front();
    const TaskSlot& slot = tasks_[top.task];
    if (slot.queued && slot.seq == top.seq) return;
    std::pop_heap(queue.waiting.begin(), queue.waiting.end());
    queue.waiting.pop_back();
  }
}

void Scheduler::place(std::vector<Placement>& out) {
  for (RoleSlot role : role_order_) {
    RoleQueue& queue = roles_[role];
    while (queue.waiting_live > 0 && !queue.free_agents.empty()) {
      prune(queue);
      const TaskId task = queue.waiting.front().task;
      std::pop_heap(queue.waiting.begin(), queue.waiting.end());
      queue.waiting.pop_back();
      TaskSlot& slot = tasks_[task];
      slot.queued = false;
      --queue.waiting_live;
      --waiting_total_;
      // The least loaded free agent is the heap's root; the next one is the smaller of its two
      // children.
      const auto& heap = queue.free_agents;
      AgentIndex choice = heap[0];
      if (slot.avoid != kNoAgent && choice == slot.avoid && heap.size() > 1) {
        choice = heap[1];
        if (heap.size() > 2 && free_before(heap[2], heap[1])) choice = heap[2];
      }
      agents_[choice].held.push_back(task);
      const std::uint32_t gate = gate_of_[choice];
      if (gate != kNoGate && gates_[gate].allowance != kOpenGate &&
          --gates_[gate].allowance == 0) {
        for (AgentIndex shut : gates_[gate].agents) refresh_free(shut);  // its quota is used
      } else {
        refresh_free(choice);
      }
      out.push_back(Placement{task, choice});
    }
    prune(queue);
  }
}

void Scheduler::set_gate(AgentIndex agent, std::uint32_t gate) {
  if (gate_of_[agent] == gate) return;
  if (gate_of_[agent] != kNoGate) {
    auto& members = gates_[gate_of_[agent]].agents;
    members.erase(std::find(members.begin(), members.end(), agent));
  }
  gate_of_[agent] = gate;
  if (gate != kNoGate) {
    if (gates_.size() <= gate) gates_.resize(gate + 1);
    gates_[gate].agents.push_back(agent);
  }
  refresh_free(agent);
}

void Scheduler::set_allowance(std::uint32_t gate, std::uint32_t allowance) {
  if (gates_.size() <= gate) gates_.resize(gate + 1);
  Gate& g = gates_[gate];
  const bool was_open = g.allowance > 0;
  g.allowance = allowance;
  if (was_open != (allowance > 0))
    for (AgentIndex agent : g.agents) refresh_free(agent);
}

std::uint32_t Scheduler::allowance(std::uint32_t gate) const {
  return gate < gates_.size() ? gates_[gate].allowance : kOpenGate;
}

void Scheduler::release(AgentIndex index, TaskId task) {
  if (index >= agents_.size()) return;
  AgentRecord& agent = agents_[index];
  if (!agent.present) return;
  auto it = std::find(agent.held.begin(), agent.held.end(), task);
  if (it == agent.held.end()) return;
  agent.held.erase(it);  // keeps the order it was given them (a handful at most)
  refresh_free(index);
}

void Scheduler::release(const std::string& agent_id, TaskId task) {
  if (auto index = index_of(agent_id)) release(*index, task);
}

// ---- leases -------------------------------------------------------------------------------

void Scheduler::arm_lease(TaskId task, std::uint64_t generation, TimeUs deadline) {
  if (live_lease_.size() <= task) live_lease_.resize(static_cast<std::size_t>(task) + 1, 0);
  live_lease_[task] = generation;
  auto at = leases_.end();
  while (at != leases_.begin() && std::prev(at)->deadline > deadline) --at;
  leases_.insert(at, Lease{deadline, task, generation});
  prune_leases();  // the task's earlier lease may have been the earliest
}

void Scheduler::disarm_lease(TaskId task) {
  if (task >= live_lease_.size() || live_lease_[task] == 0) return;
  live_lease_[task] = 0;
  prune_leases();
}

void Scheduler::prune_leases() {
  while (!leases_.empty() && live_lease_[leases_.front().task] != leases_.front().generation)
    leases_.pop_front();
}

std::vector<std::pair<TaskId, std::uint64_t>> Scheduler::expired(TimeUs now) {
  std::vector<std::pair<TaskId, std::uint64_t>> due;
  while (!leases_.empty() && leases_.front().deadline <= now) {
    const Lease lease = leases_.front();
    leases_.pop_front();
    if (live_lease_[lease.task] != lease.generation) continue;
    live_lease_[lease.task] = 0;
    due.emplace_back(lease.task, lease.generation);
  }
  prune_leases();
  return due;
}

std::optional<TimeUs> Scheduler::next_lease_deadline() const {
  if (leases_.empty()) return std::nullopt;
  return leases_.front().deadline;
}

std::size_t Scheduler::present_agents(const std::string& role) const {
  const RoleQueue* queue = find_role(role);
  return queue == nullptr ? 0 : queue->present;
}

std::size_t Scheduler::waiting(const std::string& role) const {
  const RoleQueue* queue = find_role(role);
  return queue == nullptr ? 0 : queue->waiting_live;
}

}  // namespace cadre::runtime
