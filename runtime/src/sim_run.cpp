#include "cadre/runtime/sim_run.h"

#include <algorithm>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "cadre/runtime/verifier.h"

namespace cadre::runtime {

SimRun::SimRun(const Scenario& scenario, std::vector<SimAgent> agents, SimAnswerFn answer,
               SimOptions options)
    : scenario_(scenario),
      agents_(std::move(agents)),
      answer_(std::move(answer)),
      options_(std::move(options)),
      core_(scenario_),
      epoch_(agents_.size(), 0),
      down_(agents_.size(), false),
      fault_state_(scenario.seed ^ 0x6a09e667f3bcc908ull) {
  core_agent_of_.assign(agents_.size(), kNoAgent);
  facts_.mode = "sim";
}

double SimRun::fault_draw() {
  std::uint64_t z = (fault_state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

void SimRun::push(Event event) {
  event.seq = next_seq_++;
  queue_.push_back(std::move(event));
  std::push_heap(queue_.begin(), queue_.end(), LaterFirst{});
}

std::uint32_t SimRun::keep_outcome(roles::TaskOutcome outcome) {
  if (!free_outcomes_.empty()) {
    const std::uint32_t slot = free_outcomes_.back();
    free_outcomes_.pop_back();
    outcomes_[slot] = std::move(outcome);
    return slot;
  }
  outcomes_.push_back(std::move(outcome));
  return static_cast<std::uint32_t>(outcomes_.size() - 1);
}

void SimRun::join(std::uint32_t agent, TimeUs now) {
  const SimAgent& a = agents_[agent];
  auto& commands =
      core_.agent_joined(AgentJoin{a.id, a.role, a.model, a.capacity, 0, a.person}, now);
  const AgentIndex index = *core_.scheduler().index_of(a.id);
  core_agent_of_[agent] = index;
  if (sim_agent_of_.size() <= index) sim_agent_of_.resize(index + 1, 0);
  sim_agent_of_[index] = agent;
  execute(commands, now);
}

void SimRun::dispatch(const DispatchCommand& command, TimeUs now) {
  const std::uint32_t agent = sim_agent_of_[command.agent];
  const TaskId task = command.task;
  const FaultConfig& faults = scenario_.faults;
  // A dead agent, or a lost ASSIGN: no answer ever comes; the lease or the agent's departure
  // gets the task requeued.
  if (down_[agent]) return;
  if (agents_[agent].person) {
    // The inbox lives in the hub: no network between them, nothing to crash, and its tasks have
    // no lease that would recover a lost message. Faults pass it by.
    SimAnswer answer = answer_(agent, *command.assignment);
    push({now + std::max<TimeUs>(0, seconds_to_us(answer.delay_s)), 0, EventKind::answer, agent,
          epoch_[agent], task, keep_outcome(std::move(answer.outcome))});
    return;
  }
  if (faults.message_loss > 0 && fault_draw() < faults.message_loss) {
    ++fault_counts_.lost;
    return;
  }
  if (faults.agent_crash > 0 && fault_draw() < faults.agent_crash) {
    // The agent dies on taking the task, and everything it held dies with it. The hub notices
    // after `liveness` missed heartbeats; the agent comes back after restart_s.
    ++fault_counts_.crashes;
    down_[agent] = true;
    const std::uint32_t life = ++epoch_[agent];
    const TimeUs detect = seconds_to_us(scenario_.workflow.heartbeat_s *
                                        std::max<std::uint32_t>(1, scenario_.workflow.liveness));
    push({now + detect, 0, EventKind::agent_detected_gone, agent, life});
    push({now + std::max(detect, seconds_to_us(faults.restart_s)), 0, EventKind::agent_restarted,
          agent, life});
    return;
  }
  SimAnswer answer = answer_(agent, *command.assignment);
  const TimeUs due = now + std::max<TimeUs>(0, seconds_to_us(answer.delay_s));
  if (faults.message_loss > 0 && fault_draw() < faults.message_loss) {
    ++fault_counts_.lost;  // the RESULT is lost on the way back
    return;
  }
  TimeUs arrival = due;
  if (faults.message_delay > 0 && fault_draw() < faults.message_delay) {
    ++fault_counts_.delayed;
    arrival += seconds_to_us(fault_draw() * faults.delay_s);
  }
  if (faults.message_duplication > 0 && fault_draw() < faults.message_duplication) {
    ++fault_counts_.duplicated;
    push({arrival + 1, 0, EventKind::answer, agent, epoch_[agent], task,
          keep_outcome(answer.outcome)});
  }
  push({arrival, 0, EventKind::answer, agent, epoch_[agent], task,
        keep_outcome(std::move(answer.outcome))});
}

void SimRun::execute(std::vector<Command>& commands, TimeUs now) {
  for (auto& command : commands) {
    if (auto* dispatch_command = std::get_if<DispatchCommand>(&command)) {
      ++facts_.messages.sent;
      dispatch(*dispatch_command, now);
    } else if (std::holds_alternative<CancelCommand>(command) ||
               std::holds_alternative<AckCommand>(command)) {
      // A cancelled attempt's answer may still arrive; the core ignores it as stale, exactly as
      // the live hub ignores a late result.
      ++facts_.messages.sent;
    } else if (auto* verify = std::get_if<VerifyCommand>(&command)) {
      // Verification takes no virtual time; it runs for real, in a scratch folder.
      pending_verifications_.push_back(std::move(*verify));
    } else if (auto* stalled = std::get_if<GoalStalledCommand>(&command)) {
      if (options_.on_progress) {
        const GoalRecord& record = core_.ledger().goals()[stalled->goal_index];
        options_.on_progress("goal " + record.spec.id + " stalled: " + stalled->reason);
      }
    } else if (auto* goal = std::get_if<GoalFinishedCommand>(&command)) {
      ++goals_done_;
      if (options_.on_progress) {
        const GoalRecord& record = core_.ledger().goals()[goal->goal_index];
        options_.on_progress("goal " + record.spec.id + " " + outcome_name(record.outcome) + " (" +
                             std::to_string(goals_done_) + "/" +
                             std::to_string(core_.ledger().goals().size()) + " ended)");
      }
    }
  }
}

std::string SimRun::scratch_root() {
  if (scratch_root_.empty()) {
    scratch_root_ = (std::filesystem::temp_directory_path() /
                     ("cadre-sim-verify-" + std::to_string(::getpid())))
                        .string();
  }
  return scratch_root_;
}

RunFacts SimRun::run() {
  const auto real_start = std::chrono::steady_clock::now();
  TimeUs now = 0;
  execute(core_.start(now), now);
  for (std::uint32_t agent = 0; agent < agents_.size(); ++agent) join(agent, now);
  const std::uint32_t step_every = std::max<std::uint32_t>(1, options_.step_every);
  std::uint32_t until_step = step_every;
  while (!core_.finished()) {
    if (options_.on_step && --until_step == 0) {
      until_step = step_every;
      options_.on_step(core_, now);
    }
    if (!pending_verifications_.empty()) {
      VerifyCommand verify = std::move(pending_verifications_.front());
      pending_verifications_.pop_front();
      const std::string scratch = scratch_root() + "/" + verify.goal_id + "-" +
                                  verify.subtask_id + "-" + std::to_string(verify.attempt);
      VerifyVerdict verdict = run_verification(verify, scratch);
      std::error_code ignored;
      std::filesystem::remove_all(scratch, ignored);
      execute(core_.verify_finished(verdict.goal_id, verdict.subtask_id, verdict.attempt,
                                    verdict.passed, verdict.output, now),
              now);
      continue;
    }
    const auto deadline = core_.next_deadline();
    if (queue_.empty() && !deadline) break;  // nothing can happen any more
    if (deadline && (queue_.empty() || *deadline < queue_.front().due)) {
      now = std::max(now, *deadline);
      execute(core_.tick(now), now);
      continue;
    }
    std::pop_heap(queue_.begin(), queue_.end(), LaterFirst{});
    Event event = std::move(queue_.back());
    queue_.pop_back();
    now = std::max(now, event.due);
    const std::uint32_t agent = event.agent;
    switch (event.kind) {
      case EventKind::answer: {
        const std::uint32_t slot = event.outcome;
        if (event.epoch == epoch_[agent] && !down_[agent]) {  // else it died before answering
          ++facts_.messages.received;
          auto& commands =
              core_.result_received(event.task, core_agent_of_[agent], outcomes_[slot], now);
          free_outcomes_.push_back(slot);  // the core is done with it; dispatches may reuse it
          execute(commands, now);
        } else {
          free_outcomes_.push_back(slot);
        }
        break;
      }
      case EventKind::agent_detected_gone:
        if (event.epoch == epoch_[agent] && down_[agent])
          execute(core_.agent_left(agents_[agent].id, now), now);
        break;
      case EventKind::agent_restarted:
        if (event.epoch != epoch_[agent] || !down_[agent]) break;
        down_[agent] = false;
        join(agent, now);
        break;
    }
  }
  if (!core_.finished()) execute(core_.stop("no agent can take the remaining work", now), now);
  facts_.wall_s = us_to_seconds(now);
  facts_.real_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - real_start).count();
  return facts_;
}

}  // namespace cadre::runtime
