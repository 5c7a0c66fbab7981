#include "cadre/runtime/hub_core.h"

#include <algorithm>
#include <utility>

namespace cadre::runtime {

HubCore::HubCore(const Scenario& scenario)
    : ledger_(scenario),
      workflow_(ledger_),
      lease_us_(std::max<TimeUs>(1, seconds_to_us(scenario.workflow.lease_s))) {}

std::uint64_t HubCore::priority_of(const TaskRecord& task) const {
  // Earlier goals first: finishing goals one after another gives shorter goal latencies than
  // spreading the team over every goal at once.
  return task.goal_index;
}

std::vector<Command> HubCore::start(TimeUs now) {
  out_.clear();
  saw(now);
  if (started_) return std::move(out_);
  started_ = true;
  started_at_ = now;
  for (std::uint32_t i = 0; i < ledger_.goals().size(); ++i) apply(workflow_.start_goal(i), now);
  if (ledger_.goals().empty()) finish_run("no goals");
  place(now);
  return std::move(out_);
}

std::vector<Command> HubCore::agent_joined(const AgentJoin& join, TimeUs now) {
  out_.clear();
  saw(now);
  for (TaskId lost :
       scheduler_.join(join.agent_id, join.role, join.model, join.capacity, join.pid)) {
    ledger_.close_span(lost, join.agent_id, SpanEnd::lost, now);
    if (ledger_.task(lost).state == TaskState::leased) requeue(lost);
  }
  if (AgentRecord* agent = scheduler_.agent(join.agent_id)) agent->person = join.person;
  place(now);
  return std::move(out_);
}

std::vector<Command> HubCore::agent_left(const std::string& agent_id, TimeUs now) {
  out_.clear();
  saw(now);
  for (TaskId held : scheduler_.leave(agent_id)) {
    ledger_.close_span(held, agent_id, SpanEnd::lost, now);
    const TaskRecord& task = ledger_.task(held);
    if (task.state == TaskState::leased && task.agent_id == agent_id) {
      ledger_.task(held).past_holders.push_back(agent_id);
      requeue(held);
    }
  }
  place(now);
  return std::move(out_);
}

std::vector<Command> HubCore::result_received(const std::string& agent_id,
                                              const roles::TaskOutcome& outcome, TimeUs now) {
  out_.clear();
  saw(now);
  roles::Ack ack{outcome.goal_id, outcome.task_id, outcome.attempt, false};
  auto id = ledger_.find_task(outcome.goal_id, outcome.task_id, outcome.attempt);
  bool accept = false;
  if (id) {
    const TaskRecord& task = ledger_.task(*id);
    // The first result for a key wins, from the lease holder or from an agent that held the task
    // before (a slow agent whose lease expired, or one that left and came back): results are
    // idempotent by key. A result for a task that is done or cancelled, or from an agent that was
    // never given it, is ignored.
    const bool open = task.state == TaskState::queued || task.state == TaskState::leased;
    const bool given = (task.state == TaskState::leased && task.agent_id == agent_id) ||
                       std::find(task.past_holders.begin(), task.past_holders.end(), agent_id) !=
                           task.past_holders.end();
    accept = open && given;
  }
  if (!accept) {
    ++ledger_.counters().duplicates_ignored;
    out_.push_back(AckCommand{agent_id, std::move(ack)});
    return std::move(out_);
  }

  TaskRecord& task = ledger_.task(*id);
  if (AgentRecord* agent = scheduler_.agent(agent_id)) {
    ++agent->tasks_completed;
    if (task.state == TaskState::leased && task.agent_id == agent_id)
      agent->busy_us += now - task.leased_at;
  }
  if (task.state == TaskState::queued) scheduler_.dequeue(*id);
  if (task.state == TaskState::leased) scheduler_.release(task.agent_id, *id);
  // Everyone else still working on it can stop.
  std::vector<std::string> others = task.past_holders;
  if (task.state == TaskState::leased) others.push_back(task.agent_id);
  for (const auto& other : others) {
    if (other == agent_id) continue;
    const AgentRecord* agent = scheduler_.agent(other);
    if (agent == nullptr || !agent->present) continue;
    ledger_.close_span(*id, other, SpanEnd::cancelled, now);
    out_.push_back(CancelCommand{other, roles::Cancel{task.assignment.goal_id,
                                                      task.assignment.task_id,
                                                      task.assignment.attempt,
                                                      "answered by another agent"}});
  }
  task.past_holders.clear();
  task.state = TaskState::done;
  task.agent_id = agent_id;
  ++ledger_.counters().completed;
  if (!outcome.ok) ++ledger_.counters().failed_attempts;
  ledger_.close_span(*id, agent_id, SpanEnd::answered, now);
  task.finished_at = now;
  task.tokens_in = outcome.tokens_in;
  task.tokens_out = outcome.tokens_out;
  task.usd = ledger_.charge(task.goal_index, outcome);
  task.verdict = verdict_of(task, outcome);
  ack.accepted = true;
  out_.push_back(AckCommand{agent_id, std::move(ack)});

  apply(workflow_.on_result(*id, outcome, now), now);
  // A done task is never sent again: drop what only its dispatch needed (the ledger keeps the
  // key, the agent and the charges; candidates live in their subtask).
  {
    roles::TaskAssignment& sent = ledger_.task(*id).assignment;
    std::vector<roles::SubtaskPlan>().swap(sent.goal_subtasks);
    std::vector<std::string>().swap(sent.feedback);
    sent.candidate.reset();
    std::string().swap(sent.instructions);
    std::string().swap(sent.goal_title);
  }
  check_limits(now);
  place(now);
  return std::move(out_);
}

std::vector<Command> HubCore::tick(TimeUs now) {
  out_.clear();
  saw(now);
  for (const auto& [id, generation] : scheduler_.expired(now)) {
    TaskRecord& task = ledger_.task(id);
    if (task.state != TaskState::leased || task.lease_generation != generation) continue;
    // The holder is not cancelled: it may yet answer, and its answer counts. The task is offered
    // to another agent too (a backup attempt); the first result wins.
    const std::string holder = task.agent_id;
    scheduler_.release(holder, id);
    task.past_holders.push_back(holder);
    requeue(id, holder);
  }
  check_limits(now);
  place(now);
  return std::move(out_);
}

std::vector<Command> HubCore::stop(const std::string& reason, TimeUs now) {
  out_.clear();
  saw(now);
  if (!finished_) {
    stopping_ = true;
    for (TaskId id = 0; id < ledger_.task_count(); ++id) {
      TaskRecord& task = ledger_.task(id);
      if (task.state == TaskState::queued) {
        scheduler_.dequeue(id);
        task.state = TaskState::cancelled;
      } else if (task.state == TaskState::leased) {
        scheduler_.release(task.agent_id, id);
        ledger_.close_span(id, task.agent_id, SpanEnd::cancelled, now);
        out_.push_back(CancelCommand{task.agent_id,
                                     roles::Cancel{task.assignment.goal_id,
                                                   task.assignment.task_id,
                                                   task.assignment.attempt, reason}});
        task.state = TaskState::cancelled;
      }
      // Past holders of an expired lease may still be at work; their time ends here too.
      while (!task.open_spans.empty())
        ledger_.close_span(id, ledger_.spans()[task.open_spans.front()].agent_id,
                           SpanEnd::cancelled, now);
    }
    for (auto& goal : ledger_.goals()) {
      if (goal.outcome != GoalOutcome::none) continue;
      ledger_.finish_goal(goal.index, GoalOutcome::failed, now, reason);
      out_.push_back(GoalFinishedCommand{goal.index});
    }
    finish_run(reason);
  }
  return std::move(out_);
}

std::optional<TimeUs> HubCore::next_deadline() const {
  if (finished_) return std::nullopt;
  std::optional<TimeUs> next = scheduler_.next_lease_deadline();
  const double wall_s = ledger_.scenario().limits.wall_s;
  if (started_ && wall_s > 0) {
    const TimeUs wall_deadline = started_at_ + seconds_to_us(wall_s);
    if (!next || wall_deadline < *next) next = wall_deadline;
  }
  return next;
}

std::vector<Command> HubCore::verify_finished(const std::string& goal_id,
                                             const std::string& subtask_id, std::uint32_t attempt,
                                             bool passed, const std::string& output, TimeUs now) {
  out_.clear();
  saw(now);
  if (finished_ || stopping_) return std::move(out_);
  for (const auto& goal : ledger_.goals()) {
    if (goal.spec.id != goal_id) continue;
    apply(workflow_.on_verified(goal.index, subtask_id, attempt, passed, output, now), now);
    break;
  }
  check_limits(now);
  place(now);
  return std::move(out_);
}

void HubCore::apply(const WorkflowStep& step, TimeUs now) {
  for (const auto& request : step.verify)
    out_.push_back(VerifyCommand{ledger_.goal(request.goal_index).spec.id, request.subtask_id,
                                 request.attempt, request.spec, request.files});
  for (const auto& update : step.workspace_updates)
    out_.push_back(WorkspaceCommand{ledger_.goal(update.goal_index).spec.id, update.files});
  for (TaskId id : step.new_tasks) {
    TaskRecord& task = ledger_.task(id);
    task.queued_at = now;
    scheduler_.enqueue(id, task.assignment.role, priority_of(task));
  }
  for (std::uint32_t goal : step.finished) out_.push_back(GoalFinishedCommand{goal});
  if (!step.finished.empty() && ledger_.open_goals() == 0) finish_run(kAllGoalsEnded);
}

void HubCore::requeue(TaskId id, const std::string& avoid_agent) {
  TaskRecord& task = ledger_.task(id);
  task.state = TaskState::queued;
  task.queued_at = last_event_at_;
  task.agent_id.clear();
  ++ledger_.counters().requeued;
  scheduler_.enqueue(id, task.assignment.role, priority_of(task), avoid_agent);
}

void HubCore::place(TimeUs now) {
  if (stopping_ || finished_) return;
  for (const Placement& placement : scheduler_.place()) {
    TaskRecord& task = ledger_.task(placement.task);
    task.state = TaskState::leased;
    task.agent_id = placement.agent_id;
    ++task.lease_generation;
    ++task.dispatches;
    task.leased_at = now;
    const AgentRecord* holder = scheduler_.agent(placement.agent_id);
    const bool leased = holder == nullptr || !holder->person;
    task.lease_deadline = leased ? now + lease_us_ : -1;
    task.assignment.lease_ms = leased ? static_cast<std::uint32_t>(lease_us_ / 1000) : 0;
    ++ledger_.counters().dispatched;
    ledger_.dispatch_latency().observe(now - task.queued_at);
    ledger_.open_span(placement.task, placement.agent_id, now);
    GoalRecord& goal = ledger_.goal(task.goal_index);
    if (goal.first_dispatch_at < 0) goal.first_dispatch_at = now;
    if (leased) scheduler_.arm_lease(placement.task, task.lease_generation, task.lease_deadline);
    out_.push_back(DispatchCommand{placement.agent_id, task.assignment});
  }
}

const char* HubCore::verdict_of(const TaskRecord& task, const roles::TaskOutcome& outcome) {
  if (!outcome.ok) return "error";
  switch (task.assignment.kind) {
    case roles::TaskKind::plan: return "planned";
    case roles::TaskKind::solve: return "candidate";
    case roles::TaskKind::review:
      return outcome.verdict && outcome.verdict->accept ? "accepted" : "rejected";
    case roles::TaskKind::resolve: return outcome.candidate ? "resolved" : "rejected";
    case roles::TaskKind::approve:
      return outcome.candidate                                   ? "answered"
             : outcome.verdict && outcome.verdict->accept ? "approved"
                                                                 : "rejected";
  }
  return "?";
}

void HubCore::check_limits(TimeUs now) {
  if (finished_ || stopping_) return;
  const Limits& limits = ledger_.scenario().limits;
  std::string reason;
  if (limits.budget_usd > 0 && ledger_.usd() >= limits.budget_usd) {
    reason = "budget limit reached";
  } else if (limits.wall_s > 0 && now - started_at_ >= seconds_to_us(limits.wall_s)) {
    reason = "wall time limit reached";
  }
  if (reason.empty()) return;
  auto commands = std::move(out_);
  auto stopped = stop(reason, now);
  commands.insert(commands.end(), std::make_move_iterator(stopped.begin()),
                  std::make_move_iterator(stopped.end()));
  out_ = std::move(commands);
}

void HubCore::finish_run(const std::string& reason) {
  if (finished_) return;
  finished_ = true;
  finish_reason_ = reason;
  out_.push_back(RunFinishedCommand{reason});
}

}  // namespace cadre::runtime
