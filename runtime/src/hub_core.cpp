#include "cadre/runtime/hub_core.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace cadre::runtime {

namespace {

std::vector<std::string> limited_models(const Scenario& scenario) {
  std::vector<std::string> names;
  for (const auto& [name, model] : scenario.models)
    if (model.limited()) names.push_back(name);
  return names;
}

std::vector<RateLimits> rate_limits(const Scenario& scenario) {
  std::vector<RateLimits> limits;
  for (const auto& name : limited_models(scenario)) {
    const ModelEndpoint& m = scenario.models.at(name);
    limits.push_back(RateLimits{m.rpm, m.tpm, m.max_concurrency});
  }
  return limits;
}

std::uint64_t request_key(TaskId task, AgentIndex agent) {
  return (static_cast<std::uint64_t>(task) << 32) | agent;
}

}  // namespace

HubCore::HubCore(const Scenario& scenario)
    : ledger_(scenario),
      workflow_(ledger_),
      stall_us_(scenario.workflow.stall_s > 0
                    ? std::max<TimeUs>(1, seconds_to_us(scenario.workflow.stall_s))
                    : 0),
      limited_models_(limited_models(scenario)),
      limiter_(rate_limits(scenario)),
      lease_us_(std::max<TimeUs>(1, seconds_to_us(scenario.workflow.lease_s))) {}

std::uint64_t HubCore::priority_of(const TaskRecord& task) const {
  // Earlier goals first: finishing goals one after another gives shorter goal latencies than
  // spreading the team over every goal at once.
  return task.goal_index;
}

std::vector<Command>& HubCore::start(TimeUs now) {
  begin_event();
  saw(now);
  if (started_) return out_;
  started_ = true;
  started_at_ = now;
  for (std::uint32_t i = 0; i < ledger_.goals().size(); ++i) {
    step_.clear();
    workflow_.start_goal(i, step_);
    apply(now);
  }
  if (ledger_.goals().empty()) finish_run("no goals");
  place(now);
  return out_;
}

std::vector<Command>& HubCore::agent_joined(const AgentJoin& join, TimeUs now) {
  begin_event();
  saw(now);
  const std::vector<TaskId> lost =
      scheduler_.join(join.agent_id, join.role, join.model, join.capacity, join.pid);
  const AgentIndex agent = *scheduler_.index_of(join.agent_id);
  const auto limited = std::find(limited_models_.begin(), limited_models_.end(), join.model);
  scheduler_.set_gate(agent, limited == limited_models_.end()
                                 ? Scheduler::kNoGate
                                 : static_cast<std::uint32_t>(limited - limited_models_.begin()));
  for (TaskId task : lost) {
    end_request(task, agent, 0, now);
    ledger_.close_span(task, agent, SpanEnd::lost, now);
    if (ledger_.task(task).state == TaskState::leased) requeue(task);
  }
  scheduler_.agent(agent).person = join.person;
  place(now);
  return out_;
}

std::vector<Command>& HubCore::agent_left(const std::string& agent_id, TimeUs now) {
  begin_event();
  saw(now);
  const std::vector<TaskId> held = scheduler_.leave(agent_id);
  if (!held.empty()) {
    const AgentIndex agent = *scheduler_.index_of(agent_id);
    for (TaskId id : held) {
      end_request(id, agent, 0, now);
      ledger_.close_span(id, agent, SpanEnd::lost, now);
      TaskRecord& task = ledger_.task(id);
      if (task.state == TaskState::leased && task.agent == agent) {
        task.past_holders.push_back(agent);
        requeue(id);
      }
    }
  }
  place(now);
  return out_;
}

namespace {

// Whether `agent` may answer `task` now: the first result for a key wins, from the lease holder
// or from an agent that held the task before (a slow agent whose lease expired, or one that left
// and came back): results are idempotent by key. A result for a task that is done or cancelled,
// or from an agent that was never given it, is ignored.
bool may_answer(const TaskRecord& task, AgentIndex agent) {
  if (agent == kNoAgent) return false;
  if (task.state == TaskState::leased && task.agent == agent) return true;
  const bool open = task.state == TaskState::queued || task.state == TaskState::leased;
  return open && std::find(task.past_holders.begin(), task.past_holders.end(), agent) !=
                     task.past_holders.end();
}

}  // namespace

std::vector<Command>& HubCore::result_received(const std::string& agent_id,
                                               const roles::TaskOutcome& outcome, TimeUs now) {
  begin_event();
  saw(now);
  const auto id = ledger_.find_task(outcome.goal_id, outcome.task_id, outcome.attempt);
  const AgentIndex agent = scheduler_.index_of(agent_id).value_or(kNoAgent);
  if (!id || !may_answer(ledger_.task(*id), agent)) {
    ignore_result(agent_id, outcome);
    return out_;
  }
  if (outcome.rate_limited) {
    refused_result(*id, agent, outcome, now);
    return out_;
  }
  accept_result(*id, agent, outcome, now);
  return out_;
}

std::vector<Command>& HubCore::result_received(TaskId task, AgentIndex agent,
                                               const roles::TaskOutcome& outcome, TimeUs now) {
  begin_event();
  saw(now);
  const bool known_agent = agent < scheduler_.agents().size();
  if (task >= ledger_.task_count() || !known_agent || !may_answer(ledger_.task(task), agent)) {
    ignore_result(known_agent ? scheduler_.agent(agent).id : std::string(), outcome);
    return out_;
  }
  if (outcome.rate_limited) {
    refused_result(task, agent, outcome, now);
    return out_;
  }
  accept_result(task, agent, outcome, now);
  return out_;
}

void HubCore::ignore_result(const std::string& agent_id, const roles::TaskOutcome& outcome) {
  ++ledger_.counters().duplicates_ignored;
  out_.push_back(
      AckCommand{agent_id, roles::Ack{outcome.goal_id, outcome.task_id, outcome.attempt, false}});
}

void HubCore::refused_result(TaskId id, AgentIndex agent, const roles::TaskOutcome& outcome,
                             TimeUs now) {
  ++ledger_.counters().refused;
  const std::uint32_t gate = scheduler_.gate_of(agent);
  end_request(id, agent, 0, now);
  if (gate != Scheduler::kNoGate) limiter_.refused(gate, now, outcome.retry_after_s);
  ledger_.close_span(id, agent, SpanEnd::refused, now);
  TaskRecord& task = ledger_.task(id);
  if (task.state == TaskState::leased && task.agent == agent) {
    scheduler_.release(agent, id);
    requeue(id);  // to any agent of its role, when the model's quota allows
  } else {
    auto& past = task.past_holders;
    past.erase(std::remove(past.begin(), past.end(), agent), past.end());
  }
  // Taken: the agent is done with it (it must not send it again).
  out_.push_back(AckCommand{scheduler_.agent(agent).id,
                            roles::Ack{outcome.goal_id, outcome.task_id, outcome.attempt, true}});
  place(now);
}

void HubCore::accept_result(TaskId id, AgentIndex agent_index, const roles::TaskOutcome& outcome,
                            TimeUs now) {
  TaskRecord& task = ledger_.task(id);
  AgentRecord& agent = scheduler_.agent(agent_index);
  const bool held_now = task.state == TaskState::leased && task.agent == agent_index;
  ++agent.tasks_completed;
  if (held_now) agent.busy_us += now - task.leased_at;
  if (task.state == TaskState::queued) scheduler_.dequeue(id);
  if (task.state == TaskState::leased) {
    scheduler_.release(task.agent, id);
    scheduler_.disarm_lease(id);
  }
  // Everyone else still working on it can stop.
  auto cancel_other = [&](AgentIndex other) {
    if (other == agent_index) return;
    const AgentRecord& record = scheduler_.agent(other);
    if (!record.present) return;
    ledger_.close_span(id, other, SpanEnd::cancelled, now);
    out_.push_back(CancelCommand{
        record.id, roles::Cancel{std::string(ledger_.goal_id_of(id)),
                                 std::string(ledger_.task_id_of(id)), task.attempt,
                                 "answered by another agent"}});
  };
  end_requests(id, agent_index, outcome.tokens_in + outcome.tokens_out, now);
  for (AgentIndex other : task.past_holders) cancel_other(other);
  if (task.state == TaskState::leased) cancel_other(task.agent);
  task.past_holders.clear();
  task.state = TaskState::done;
  task.agent = agent_index;
  ++ledger_.counters().completed;
  if (!outcome.ok) ++ledger_.counters().failed_attempts;
  ledger_.close_span(id, agent_index, SpanEnd::answered, now);
  task.finished_at = now;
  task.tokens_in = outcome.tokens_in;
  task.tokens_out = outcome.tokens_out;
  task.usd = ledger_.charge(task.goal_index, outcome);
  task.verdict = verdict_of(task, outcome);
  out_.push_back(AckCommand{
      agent.id, roles::Ack{outcome.goal_id, outcome.task_id, outcome.attempt, true}});

  touch(task.goal_index, now);
  step_.clear();
  workflow_.on_result(id, outcome, now, step_);
  apply(now);
  check_goal_limits(task.goal_index, now);
  check_limits(now);
  place(now);
}

std::vector<Command>& HubCore::tick(TimeUs now) {
  begin_event();
  saw(now);
  for (const auto& [id, generation] : scheduler_.expired(now)) {
    TaskRecord& task = ledger_.task(id);
    if (task.state != TaskState::leased || task.lease_generation != generation) continue;
    // The holder is not cancelled: it may yet answer, and its answer counts. The task is offered
    // to another agent too (a backup attempt); the first result wins.
    const AgentIndex holder = task.agent;
    scheduler_.release(holder, id);
    task.past_holders.push_back(holder);
    requeue(id, holder);
  }
  check_limits(now);
  place(now);
  notice_stalls(now);
  return out_;
}

std::vector<Command>& HubCore::stop(const std::string& reason, TimeUs now) {
  begin_event();
  saw(now);
  stop_into(reason, now);
  return out_;
}

void HubCore::stop_into(const std::string& reason, TimeUs now, GoalOutcome outcome) {
  if (finished_) return;
  stopping_ = true;
  for (TaskId id = 0; id < ledger_.task_count(); ++id) cancel_task(id, reason, now);
  for (auto& goal : ledger_.goals()) {
    if (goal.outcome != GoalOutcome::none) continue;
    ledger_.finish_goal(goal.index, outcome, now, reason);
    out_.push_back(GoalFinishedCommand{goal.index});
  }
  finish_run(reason);
}

void HubCore::cancel_task(TaskId id, const std::string& reason, TimeUs now) {
  TaskRecord& task = ledger_.task(id);
  auto cancel = [&](AgentIndex agent) {
    const AgentRecord& record = scheduler_.agent(agent);
    if (!record.present) return;
    out_.push_back(CancelCommand{record.id, roles::Cancel{std::string(ledger_.goal_id_of(id)),
                                                          std::string(ledger_.task_id_of(id)),
                                                          task.attempt, reason}});
  };
  const bool held = task.state == TaskState::leased;
  end_requests(id, kNoAgent, 0, now);
  if (task.state == TaskState::queued) {
    scheduler_.dequeue(id);
  } else if (held) {
    scheduler_.release(task.agent, id);
    scheduler_.disarm_lease(id);
    cancel(task.agent);
  } else {
    return;  // done or cancelled already
  }
  // Past holders of an expired lease may still be at work: they stop too (once each).
  for (std::size_t i = 0; i < task.past_holders.size(); ++i) {
    const AgentIndex past = task.past_holders[i];
    const bool told = (held && past == task.agent) ||
                      std::find(task.past_holders.begin(), task.past_holders.begin() + i, past) !=
                          task.past_holders.begin() + i;
    if (!told) cancel(past);
  }
  task.past_holders.clear();
  task.state = TaskState::cancelled;
  ledger_.close_open_spans(id, SpanEnd::cancelled, now);
}

void HubCore::stop_goal(std::uint32_t goal_index, const std::string& reason, TimeUs now) {
  if (ledger_.goal(goal_index).outcome != GoalOutcome::none) return;
  for (TaskId id : ledger_.tasks_of_goal(goal_index)) cancel_task(id, reason, now);
  ledger_.finish_goal(goal_index, GoalOutcome::stopped_by_budget, now, reason);
  out_.push_back(GoalFinishedCommand{goal_index});
  if (ledger_.open_goals() == 0) finish_run(kAllGoalsEnded);
}

void HubCore::check_goal_limits(std::uint32_t goal_index, TimeUs now) {
  const Limits& limits = ledger_.scenario().limits;
  const GoalRecord& goal = ledger_.goal(goal_index);
  if (goal.outcome != GoalOutcome::none || stopping_ || finished_) return;
  char reason[128];
  if (limits.goal_budget_usd > 0 && goal.usd >= limits.goal_budget_usd) {
    std::snprintf(reason, sizeof reason, "goal_budget_usd limit reached ($%.6g of $%.6g)",
                  goal.usd, limits.goal_budget_usd);
  } else if (limits.goal_max_attempts > 0 &&
             ledger_.task_count_of_goal(goal_index) > limits.goal_max_attempts) {
    std::snprintf(reason, sizeof reason,
                  "goal_max_attempts limit reached (the work needs more than %u task attempts)",
                  limits.goal_max_attempts);
  } else {
    return;
  }
  stop_goal(goal_index, reason, now);
}

void HubCore::start_request(TaskId task, AgentIndex agent, TimeUs now) {
  const std::uint32_t gate = scheduler_.gate_of(agent);
  if (gate == Scheduler::kNoGate) return;
  requests_[request_key(task, agent)] = limiter_.started(gate, now);
}

void HubCore::end_request(TaskId task, AgentIndex agent, std::uint64_t tokens, TimeUs now) {
  if (requests_.empty()) return;
  auto found = requests_.find(request_key(task, agent));
  if (found == requests_.end()) return;
  limiter_.finished(scheduler_.gate_of(agent), now, tokens, found->second);
  requests_.erase(found);
}

void HubCore::end_requests(TaskId id, AgentIndex answerer, std::uint64_t tokens, TimeUs now) {
  if (requests_.empty()) return;
  const TaskRecord& task = ledger_.task(id);
  for (AgentIndex past : task.past_holders) end_request(id, past, past == answerer ? tokens : 0, now);
  if (task.agent != kNoAgent) end_request(id, task.agent, task.agent == answerer ? tokens : 0, now);
}

void HubCore::touch(std::uint32_t goal_index, TimeUs now) {
  ledger_.goal_changed(goal_index, now);
  if (stall_us_ == 0) return;
  stall_timers_.push_back(StallTimer{now + stall_us_, goal_index, ledger_.goal(goal_index).changes});
  prune_stall_timers();
}

void HubCore::prune_stall_timers() {
  while (!stall_timers_.empty()) {
    const StallTimer& front = stall_timers_.front();
    const GoalRecord& goal = ledger_.goal(front.goal_index);
    if (goal.outcome == GoalOutcome::none && goal.changes == front.changes &&
        goal.open_stall < 0)
      return;
    stall_timers_.pop_front();
  }
}

void HubCore::notice_stalls(TimeUs now) {
  if (finished_ || stopping_) return;
  prune_stall_timers();
  while (!stall_timers_.empty() && stall_timers_.front().due <= now) {
    const std::uint32_t goal_index = stall_timers_.front().goal_index;
    stall_timers_.pop_front();
    GoalRecord& goal = ledger_.goal(goal_index);
    StallRecord stall;
    stall.goal_index = goal_index;
    stall.since = goal.last_change_at;
    stall.noticed_at = now;
    stall.reason = stall_reason(goal_index);
    goal.open_stall = static_cast<std::int64_t>(ledger_.stalls().size());
    out_.push_back(GoalStalledCommand{goal_index, stall.reason});
    ledger_.stalls().push_back(std::move(stall));
    prune_stall_timers();
  }
}

std::string HubCore::stall_reason(std::uint32_t goal_index) const {
  // What its open tasks wait for, the most telling first.
  std::string no_agent, human, limited, busy, working;
  for (TaskId id : ledger_.tasks_of_goal(goal_index)) {
    const TaskRecord& task = ledger_.task(id);
    if (task.state != TaskState::queued && task.state != TaskState::leased) continue;
    const std::string role = role_of(task.kind);
    const std::string what = std::string(ledger_.task_id_of(id));
    if (task.state == TaskState::queued && scheduler_.present_agents(role) == 0) {
      if (no_agent.empty()) no_agent = "no agent of role " + role + " is present (" + what + " waits)";
    } else if (role == "human") {
      if (human.empty()) human = "waiting on a human (" + what + ")";
    } else if (task.state == TaskState::queued) {
      if (!limited.empty() || !busy.empty()) continue;
      // Free agents of the role that only a model's quota holds back: rate-limited.
      for (const AgentRecord& agent : scheduler_.agents()) {
        if (!agent.present || agent.role != role || agent.held.size() >= agent.capacity) continue;
        const AgentIndex index = *scheduler_.index_of(agent.id);
        const std::uint32_t gate = scheduler_.gate_of(index);
        if (gate != Scheduler::kNoGate && scheduler_.allowance(gate) == 0) {
          limited = "rate-limited: model " + limited_models_[gate] + " is at its quota (" + what +
                    " waits)";
          break;
        }
      }
      if (limited.empty()) busy = "every " + role + " is busy (" + what + " waits)";
    } else if (working.empty()) {
      working = "waiting on " + agent_id(task.agent) + " (" + role + ", " + what + ")";
    }
  }
  if (!no_agent.empty()) return no_agent;
  if (!human.empty()) return human;
  for (const auto& subtask : ledger_.goals()[goal_index].subtasks)
    for (const auto& candidate : subtask.round_candidates)
      if (candidate.needs_verify && !candidate.verified)
        return "waiting for the verify command (" + subtask.plan.id + ")";
  if (!limited.empty()) return limited;
  if (!busy.empty()) return busy;
  if (!working.empty()) return working;
  return "nothing of it is open";
}

std::optional<TimeUs> HubCore::next_deadline() const {
  if (finished_) return std::nullopt;
  std::optional<TimeUs> next = scheduler_.next_lease_deadline();
  if (!stall_timers_.empty() && (!next || stall_timers_.front().due < *next))
    next = stall_timers_.front().due;
  if (limiter_.models() > 0 && scheduler_.waiting_total() > 0) {
    // Work waits and a quota may be what holds it: wake when one refills.
    if (auto refill = limiter_.next_refill(last_event_at_); refill && (!next || *refill < *next))
      next = refill;
  }
  const double wall_s = ledger_.scenario().limits.wall_s;
  if (started_ && wall_s > 0) {
    const TimeUs wall_deadline = started_at_ + seconds_to_us(wall_s);
    if (!next || wall_deadline < *next) next = wall_deadline;
  }
  return next;
}

std::vector<Command>& HubCore::verify_finished(const std::string& goal_id,
                                             const std::string& subtask_id, std::uint32_t attempt,
                                             bool passed, const std::string& output, TimeUs now) {
  begin_event();
  saw(now);
  if (finished_ || stopping_) return out_;
  if (const auto goal = ledger_.find_goal(goal_id)) {
    touch(*goal, now);
    step_.clear();
    workflow_.on_verified(*goal, subtask_id, attempt, passed, output, now, step_);
    apply(now);
  }
  check_limits(now);
  place(now);
  return out_;
}

void HubCore::apply(TimeUs now) {
  WorkflowStep& step = step_;
  for (auto& request : step.verify)
    out_.push_back(VerifyCommand{ledger_.goal(request.goal_index).spec.id,
                                 std::move(request.subtask_id), request.attempt,
                                 std::move(request.spec), std::move(request.files)});
  for (auto& update : step.workspace_updates)
    out_.push_back(WorkspaceCommand{ledger_.goal(update.goal_index).spec.id,
                                    std::move(update.files)});
  const std::uint32_t max_attempts = ledger_.scenario().limits.goal_max_attempts;
  for (TaskId id : step.new_tasks) {
    TaskRecord& task = ledger_.task(id);
    if (max_attempts > 0 && ledger_.task_count_of_goal(task.goal_index) > max_attempts) {
      // The goal's work needs more attempts than it may start: none of these runs.
      task.state = TaskState::cancelled;
      continue;
    }
    task.queued_at = now;
    scheduler_.enqueue(id, role_of(task.kind), priority_of(task));
    touch(task.goal_index, now);
  }
  if (max_attempts > 0) {
    for (TaskId id : step.new_tasks) check_goal_limits(ledger_.task(id).goal_index, now);
  }
  for (std::uint32_t goal : step.finished) out_.push_back(GoalFinishedCommand{goal});
  if (!step.finished.empty() && ledger_.open_goals() == 0) finish_run(kAllGoalsEnded);
}

void HubCore::requeue(TaskId id, AgentIndex avoid_agent) {
  TaskRecord& task = ledger_.task(id);
  task.state = TaskState::queued;
  task.queued_at = last_event_at_;
  task.agent = kNoAgent;
  scheduler_.disarm_lease(id);
  ++ledger_.counters().requeued;
  scheduler_.enqueue(id, role_of(task.kind), priority_of(task), avoid_agent);
}

void HubCore::place(TimeUs now) {
  if (stopping_ || finished_) return;
  placements_.clear();
  for (std::uint32_t gate = 0; gate < limited_models_.size(); ++gate)
    scheduler_.set_allowance(gate, limiter_.allowance(gate, now));
  scheduler_.place(placements_);
  for (const Placement& placement : placements_) {
    TaskRecord& task = ledger_.task(placement.task);
    const AgentRecord& holder = scheduler_.agent(placement.agent);
    task.state = TaskState::leased;
    task.agent = placement.agent;
    ++task.lease_generation;
    ++task.dispatches;
    task.leased_at = now;
    const bool leased = !holder.person;
    task.lease_deadline = leased ? now + lease_us_ : -1;
    ++ledger_.counters().dispatched;
    ledger_.dispatch_latency().observe(now - task.queued_at);
    ledger_.open_span(placement.task, placement.agent, now);
    GoalRecord& goal = ledger_.goal(task.goal_index);
    if (goal.first_dispatch_at < 0) goal.first_dispatch_at = now;
    touch(task.goal_index, now);
    if (leased) scheduler_.arm_lease(placement.task, task.lease_generation, task.lease_deadline);
    start_request(placement.task, placement.agent, now);
    if (sent_used_ == sent_.size()) sent_.emplace_back();
    roles::TaskAssignment& sent = sent_[sent_used_++];
    fill_assignment(ledger_, placement.task, sent);
    sent.lease_ms = leased ? static_cast<std::uint32_t>(lease_us_ / 1000) : 0;
    out_.push_back(DispatchCommand{holder.id, placement.agent, placement.task, &sent});
  }
}

const char* HubCore::verdict_of(const TaskRecord& task, const roles::TaskOutcome& outcome) {
  if (!outcome.ok) return "error";
  switch (task.kind) {
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
  char reason[128];
  const std::uint64_t tokens = ledger_.tokens_in() + ledger_.tokens_out();
  if (limits.budget_usd > 0 && ledger_.usd() >= limits.budget_usd) {
    std::snprintf(reason, sizeof reason, "budget_usd limit reached ($%.6g of $%.6g)",
                  ledger_.usd(), limits.budget_usd);
  } else if (limits.max_tokens > 0 && tokens >= limits.max_tokens) {
    std::snprintf(reason, sizeof reason, "max_tokens limit reached (%llu of %llu tokens)",
                  static_cast<unsigned long long>(tokens),
                  static_cast<unsigned long long>(limits.max_tokens));
  } else if (limits.wall_s > 0 && now - started_at_ >= seconds_to_us(limits.wall_s)) {
    std::snprintf(reason, sizeof reason, "wall_s limit reached (%g s)", limits.wall_s);
  } else {
    return;
  }
  stop_into(reason, now, GoalOutcome::stopped_by_budget);
}

void HubCore::finish_run(const std::string& reason) {
  if (finished_) return;
  finished_ = true;
  finish_reason_ = reason;
  out_.push_back(RunFinishedCommand{reason});
}

}  // namespace cadre::runtime
