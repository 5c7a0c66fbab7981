#include "cadre/runtime/ledger.h"

#include <functional>
#include <utility>

namespace cadre::runtime {

const char* outcome_name(GoalOutcome outcome) {
  switch (outcome) {
    case GoalOutcome::none: return "open";
    case GoalOutcome::resolved: return "resolved";
    case GoalOutcome::escalated: return "escalated";
    case GoalOutcome::failed: return "failed";
    case GoalOutcome::stopped_by_budget: return "stopped_by_budget";
  }
  return "?";
}

const char* subtask_state_name(SubtaskState state) {
  switch (state) {
    case SubtaskState::waiting: return "waiting";
    case SubtaskState::solving: return "solving";
    case SubtaskState::escalated: return "escalated";
    case SubtaskState::replanning: return "replanning";
    case SubtaskState::replaced: return "replaced";
    case SubtaskState::resolved: return "resolved";
    case SubtaskState::resolved_by_human: return "resolved_by_human";
    case SubtaskState::failed: return "failed";
  }
  return "?";
}

const char* span_end_name(SpanEnd how) {
  switch (how) {
    case SpanEnd::open: return "open";
    case SpanEnd::answered: return "answered";
    case SpanEnd::cancelled: return "cancelled";
    case SpanEnd::lost: return "lost";
    case SpanEnd::refused: return "refused";
  }
  return "?";
}

void LatencyHistogram::observe(TimeUs latency) {
  const double seconds = us_to_seconds(latency < 0 ? 0 : latency);
  std::size_t bucket = 0;
  while (bucket < kBuckets && seconds > kBoundsS[bucket]) ++bucket;
  ++counts[bucket];
  ++count;
  sum_s += seconds;
}

void Ledger::open_span(TaskId task, AgentIndex agent, TimeUs now) {
  TaskRecord& record = tasks_[task];
  const auto index = static_cast<std::uint32_t>(spans_.size());
  spans_.push_back(DispatchSpan{task, agent, now, -1, record.last_span, SpanEnd::open});
  record.last_span = index;
}

void Ledger::close_span(TaskId task, AgentIndex agent, SpanEnd how, TimeUs now) {
  for (std::uint32_t i = tasks_[task].last_span; i != kNoSpan; i = spans_[i].previous) {
    DispatchSpan& span = spans_[i];
    if (span.agent != agent || span.how != SpanEnd::open) continue;
    span.end = now;
    span.how = how;
    return;
  }
}

void Ledger::close_open_spans(TaskId task, SpanEnd how, TimeUs now) {
  for (std::uint32_t i = tasks_[task].last_span; i != kNoSpan; i = spans_[i].previous) {
    DispatchSpan& span = spans_[i];
    if (span.how != SpanEnd::open) continue;
    span.end = now;
    span.how = how;
  }
}

std::string TaskKey::to_string() const {
  return goal_id + "/" + task_id + "#" + std::to_string(attempt);
}

Ledger::Ledger(const Scenario& scenario) : scenario_(scenario) {
  goals_.reserve(scenario_.goals.size());
  for (std::uint32_t i = 0; i < scenario_.goals.size(); ++i) {
    GoalRecord goal;
    goal.spec = scenario_.goals[i];
    goal.index = i;
    goals_.push_back(std::move(goal));
  }
  std::size_t slots = 16;
  while (slots < 2 * goals_.size()) slots *= 2;
  goal_slots_.assign(slots, 0);
  for (const auto& goal : goals_) {
    std::size_t slot = std::hash<std::string_view>{}(goal.spec.id) & (slots - 1);
    while (goal_slots_[slot] != 0) slot = (slot + 1) & (slots - 1);
    goal_slots_[slot] = goal.index + 1;
  }
  tasks_of_goal_.resize(goals_.size());
  open_goals_ = goals_.size();
}

std::uint32_t Ledger::task_id_hash(std::string_view task_id) {
  std::uint32_t h = 2166136261u;  // FNV-1a 32
  for (unsigned char c : task_id) h = (h ^ c) * 16777619u;
  return h;
}

const char* role_of(roles::TaskKind kind) {
  switch (kind) {
    case roles::TaskKind::plan: return "planner";
    case roles::TaskKind::solve: return "coder";
    case roles::TaskKind::review: return "critic";
    case roles::TaskKind::resolve:
    case roles::TaskKind::approve: return "human";
  }
  return "?";
}

std::uint32_t Ledger::add_subtask(std::uint32_t goal_index, SubtaskRecord subtask) {
  subtask.review_task_id = subtask.plan.id + "/review";
  subtask.resolve_task_id = subtask.plan.id + "/resolve";
  subtask.replan_task_id = subtask.plan.id + "/replan";
  auto& subtasks = goals_[goal_index].subtasks;
  subtasks.push_back(std::move(subtask));
  return static_cast<std::uint32_t>(subtasks.size() - 1);
}

TaskId Ledger::add_task(roles::TaskKind kind, std::uint32_t goal_index,
                        std::uint32_t subtask_index, std::uint32_t attempt,
                        std::uint32_t revision) {
  const auto id = static_cast<TaskId>(tasks_.size());
  TaskRecord& record = tasks_.emplace_back();
  record.kind = kind;
  record.goal_index = goal_index;
  record.subtask_index = subtask_index;
  record.attempt = attempt;
  record.revision = revision;
  auto& goal_tasks = tasks_of_goal_[goal_index];
  if (goal_tasks.empty()) goal_tasks.reserve(16);  // a goal has tens of tasks: one allocation
  goal_tasks.push_back(GoalTaskEntry{attempt, task_id_hash(task_id_of(id)), id});
  return id;
}

TaskId Ledger::add_replan_task(std::uint32_t goal_index, std::uint32_t subtask_index,
                               std::uint32_t attempt, std::uint32_t revision) {
  const auto id = static_cast<TaskId>(tasks_.size());
  TaskRecord& record = tasks_.emplace_back();
  record.kind = roles::TaskKind::plan;
  record.replan = true;
  record.goal_index = goal_index;
  record.subtask_index = subtask_index;
  record.attempt = attempt;
  record.revision = revision;
  tasks_of_goal_[goal_index].push_back(GoalTaskEntry{attempt, task_id_hash(task_id_of(id)), id});
  return id;
}

std::string_view Ledger::task_id_of(TaskId id) const {
  const TaskRecord& task = tasks_[id];
  switch (task.kind) {
    case roles::TaskKind::plan:
      if (task.replan) return goals_[task.goal_index].subtasks[task.subtask_index].replan_task_id;
      return "plan";
    case roles::TaskKind::approve:
      return "approve";
    case roles::TaskKind::solve:
      return goals_[task.goal_index].subtasks[task.subtask_index].plan.id;
    case roles::TaskKind::review:
      return goals_[task.goal_index].subtasks[task.subtask_index].review_task_id;
    case roles::TaskKind::resolve:
      return goals_[task.goal_index].subtasks[task.subtask_index].resolve_task_id;
  }
  return {};
}

std::vector<TaskId> Ledger::tasks_of_goal(std::uint32_t goal_index) const {
  std::vector<TaskId> ids;
  ids.reserve(tasks_of_goal_[goal_index].size());
  for (const GoalTaskEntry& entry : tasks_of_goal_[goal_index]) ids.push_back(entry.id);
  return ids;
}

TaskKey Ledger::key_of(TaskId id) const {
  return TaskKey{std::string(goal_id_of(id)), std::string(task_id_of(id)), tasks_[id].attempt};
}

std::optional<std::uint32_t> Ledger::find_goal(std::string_view goal_id) const {
  const std::size_t mask = goal_slots_.size() - 1;
  for (std::size_t slot = std::hash<std::string_view>{}(goal_id) & mask;;
       slot = (slot + 1) & mask) {
    const std::uint32_t entry = goal_slots_[slot];
    if (entry == 0) return std::nullopt;
    if (goals_[entry - 1].spec.id == goal_id) return entry - 1;
  }
}

std::optional<TaskId> Ledger::find_task(std::string_view goal_id, std::string_view task_id,
                                        std::uint32_t attempt) const {
  const auto goal = find_goal(goal_id);
  if (!goal) return std::nullopt;
  const std::uint32_t hash = task_id_hash(task_id);
  const auto& entries = tasks_of_goal_[*goal];
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (it->attempt != attempt || it->task_id_hash != hash) continue;
    if (task_id_of(it->id) == task_id) return it->id;
  }
  return std::nullopt;
}

bool Ledger::task_has_key(TaskId id, std::string_view goal_id, std::string_view task_id,
                          std::uint32_t attempt) const {
  if (id >= tasks_.size()) return false;
  return tasks_[id].attempt == attempt && task_id_of(id) == task_id && goal_id_of(id) == goal_id;
}

double Ledger::charge(std::uint32_t goal_index, const roles::TaskOutcome& outcome) {
  double usd = 0.0;
  auto price = scenario_.pricing.models.find(outcome.model);
  if (price != scenario_.pricing.models.end()) {
    usd = (static_cast<double>(outcome.tokens_in) * price->second.usd_per_mtok_in +
           static_cast<double>(outcome.tokens_out) * price->second.usd_per_mtok_out) /
          1e6;
  } else if (outcome.tokens_in + outcome.tokens_out > 0) {
    ++unpriced_results_;
  }
  GoalRecord& goal = goals_[goal_index];
  goal.tokens_in += outcome.tokens_in;
  goal.tokens_out += outcome.tokens_out;
  goal.usd += usd;
  ++goal.attempts;
  tokens_in_ += outcome.tokens_in;
  tokens_out_ += outcome.tokens_out;
  usd_ += usd;
  return usd;
}

void Ledger::charge_usd(std::uint32_t goal_index, double usd) {
  goals_[goal_index].usd += usd;
  usd_ += usd;
}

void Ledger::goal_changed(std::uint32_t goal_index, TimeUs now) {
  GoalRecord& goal = goals_[goal_index];
  goal.last_change_at = now;
  ++goal.changes;
  if (goal.open_stall >= 0) {
    stalls_[static_cast<std::size_t>(goal.open_stall)].ended_at = now;
    goal.open_stall = -1;
  }
}

void Ledger::finish_goal(std::uint32_t goal_index, GoalOutcome outcome, TimeUs now,
                         std::string reason) {
  goal_changed(goal_index, now);
  GoalRecord& goal = goals_[goal_index];
  goal.outcome = outcome;
  goal.finished_at = now;
  goal.reason = std::move(reason);
  --open_goals_;
}

}  // namespace cadre::runtime
