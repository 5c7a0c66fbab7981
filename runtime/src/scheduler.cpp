#include "cadre/runtime/scheduler.h"

namespace cadre::runtime {

std::vector<TaskId> Scheduler::join(const std::string& id, const std::string& role,
                                    const std::string& model, std::uint32_t capacity,
                                    std::int64_t pid) {
  std::vector<TaskId> lost;
  auto found = agent_index_.find(id);
  if (found != agent_index_.end() && agents_[found->second].present) lost = leave(id);
  std::size_t index;
  if (found == agent_index_.end()) {
    index = agents_.size();
    agents_.emplace_back();
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
  RoleQueue& queue = role_queue(role);
  ++queue.present;
  queue.free_agents.emplace(0u, agent.join_seq, index);
  return lost;
}

std::vector<TaskId> Scheduler::leave(const std::string& id) {
  auto found = agent_index_.find(id);
  if (found == agent_index_.end() || !agents_[found->second].present) return {};
  AgentRecord& agent = agents_[found->second];
  RoleQueue& queue = role_queue(agent.role);
  const auto in_flight = static_cast<std::uint32_t>(agent.held.size());
  queue.free_agents.erase({in_flight, agent.join_seq, found->second});
  --queue.present;
  agent.present = false;
  std::vector<TaskId> held(agent.held.begin(), agent.held.end());
  agent.held.clear();
  return held;
}

void Scheduler::enqueue(TaskId task, const std::string& role, std::uint64_t priority,
                        const std::string& avoid_agent) {
  std::pair<std::uint64_t, std::uint64_t> key{priority, next_seq_++};
  role_queue(role).waiting.emplace(key, task);
  queued_at_[task] = {role, key, avoid_agent};
}

void Scheduler::dequeue(TaskId task) {
  auto it = queued_at_.find(task);
  if (it == queued_at_.end()) return;
  role_queue(it->second.role).waiting.erase(it->second.key);
  queued_at_.erase(it);
}

void Scheduler::update_free(std::size_t agent_index, std::uint32_t old_in_flight,
                            bool was_free) {
  AgentRecord& agent = agents_[agent_index];
  RoleQueue& queue = role_queue(agent.role);
  if (was_free) queue.free_agents.erase({old_in_flight, agent.join_seq, agent_index});
  const auto in_flight = static_cast<std::uint32_t>(agent.held.size());
  if (agent.present && in_flight < agent.capacity)
    queue.free_agents.emplace(in_flight, agent.join_seq, agent_index);
}

std::vector<Placement> Scheduler::place() {
  std::vector<Placement> placements;
  for (auto& [role, queue] : roles_) {
    while (!queue.waiting.empty() && !queue.free_agents.empty()) {
      auto task_it = queue.waiting.begin();
      const TaskId task = task_it->second;
      queue.waiting.erase(task_it);
      auto queued = queued_at_.find(task);
      auto choice = queue.free_agents.begin();
      if (!queued->second.avoid_agent.empty() &&
          agents_[std::get<2>(*choice)].id == queued->second.avoid_agent &&
          queue.free_agents.size() > 1)
        ++choice;
      queued_at_.erase(queued);
      const auto [in_flight, join_seq, index] = *choice;
      AgentRecord& agent = agents_[index];
      agent.held.insert(task);
      update_free(index, in_flight, true);
      placements.push_back({task, agent.id});
    }
  }
  return placements;
}

void Scheduler::release(const std::string& agent_id, TaskId task) {
  auto found = agent_index_.find(agent_id);
  if (found == agent_index_.end()) return;
  AgentRecord& agent = agents_[found->second];
  if (!agent.present) return;
  const auto old_in_flight = static_cast<std::uint32_t>(agent.held.size());
  if (agent.held.erase(task) == 0) return;
  update_free(found->second, old_in_flight, old_in_flight < agent.capacity);
}

void Scheduler::arm_lease(TaskId task, std::uint64_t generation, TimeUs deadline) {
  leases_.push({deadline, task, generation});
}

std::vector<std::pair<TaskId, std::uint64_t>> Scheduler::expired(TimeUs now) {
  std::vector<std::pair<TaskId, std::uint64_t>> due;
  while (!leases_.empty() && leases_.top().deadline <= now) {
    due.emplace_back(leases_.top().task, leases_.top().generation);
    leases_.pop();
  }
  return due;
}

std::optional<TimeUs> Scheduler::next_lease_deadline() const {
  if (leases_.empty()) return std::nullopt;
  return leases_.top().deadline;
}

AgentRecord* Scheduler::agent(const std::string& id) {
  auto found = agent_index_.find(id);
  return found == agent_index_.end() ? nullptr : &agents_[found->second];
}

std::size_t Scheduler::present_agents(const std::string& role) const {
  auto it = roles_.find(role);
  return it == roles_.end() ? 0 : it->second.present;
}

std::size_t Scheduler::waiting(const std::string& role) const {
  auto it = roles_.find(role);
  return it == roles_.end() ? 0 : it->second.waiting.size();
}

std::size_t Scheduler::waiting_total() const { return queued_at_.size(); }

}  // namespace cadre::runtime
