// The hub's core: ledger + workflow + scheduler behind one event interface.
//
// Events in (start, agent joined/left, result received, time advanced), commands out (dispatch,
// cancel, ack, goal finished, run finished). No sockets, no clock, no disk: the live shell
// (LiveHub) and the simulator drive the same core, and tests drive it directly.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <string>
#include <variant>
#include <vector>

#include "cadre/roles/messages.h"
#include "cadre/runtime/clock.h"
#include "cadre/runtime/ledger.h"
#include "cadre/runtime/rate_limiter.h"
#include "cadre/runtime/scenario.h"
#include "cadre/runtime/scheduler.h"
#include "cadre/runtime/workflow.h"

namespace cadre::runtime {

// Send `assignment` to the agent. The assignment is built at dispatch into the core's own buffers
// (reused from event to event: no allocation once warm), so it is valid until the core's next
// event: execute the command before then.
struct DispatchCommand {
  std::string agent_id;
  AgentIndex agent = kNoAgent;
  TaskId task = 0;
  const roles::TaskAssignment* assignment = nullptr;
};
struct CancelCommand {
  std::string agent_id;
  roles::Cancel cancel;
};
struct AckCommand {
  std::string agent_id;
  roles::Ack ack;
};
struct GoalFinishedCommand {
  std::uint32_t goal_index;
};
// A goal stalled (workflow.stall_s without a change): the shell reports it; nothing else to do.
struct GoalStalledCommand {
  std::uint32_t goal_index;
  std::string reason;
};
struct RunFinishedCommand {
  std::string reason;  // "all goals ended", or the limit that stopped the run
};
// Test a candidate: write `files` into a fresh folder, run `spec.command` there, and report with
// HubCore::verify_finished.
struct VerifyCommand {
  std::string goal_id;
  std::string subtask_id;
  std::uint32_t attempt = 0;
  VerifySpec spec;
  std::vector<roles::FileEdit> files;
};
// An accepted candidate's files join the goal's workspace (the shell mirrors it on disk).
struct WorkspaceCommand {
  std::string goal_id;
  std::vector<roles::FileEdit> files;
};
using Command = std::variant<DispatchCommand, CancelCommand, AckCommand, GoalFinishedCommand,
                             RunFinishedCommand, VerifyCommand, WorkspaceCommand,
                             GoalStalledCommand>;

struct AgentJoin {
  std::string agent_id;
  std::string role;
  std::string model;
  std::uint32_t capacity = 1;
  std::int64_t pid = 0;
  bool person = false;  // AgentRecord::person: its tasks have no lease
};

// The agent id of the hub's inbox: a team entry `brain: {kind: inbox}` is the person (or people)
// answering `cadre inbox`; the live hub joins it to the core as this agent.
inline constexpr const char* kInboxAgentId = "inbox";

// Every event returns the commands it caused in the core's own vector: the caller may move
// from it, and it is valid until the core's next event (reusing it saves an allocation per event).
class HubCore {
 public:
  explicit HubCore(const Scenario& scenario);

  // Submits every goal of the scenario. Call once, first.
  std::vector<Command>& start(TimeUs now);
  std::vector<Command>& agent_joined(const AgentJoin& join, TimeUs now);
  std::vector<Command>& agent_left(const std::string& agent_id, TimeUs now);
  // A RESULT from `agent_id`. Always answers with an AckCommand: accepted when it is the first
  // result for its key from an agent that was given the task (the holder or a past holder);
  // otherwise ignored and counted in duplicates_ignored.
  std::vector<Command>& result_received(const std::string& agent_id,
                                        const roles::TaskOutcome& outcome, TimeUs now);
  // The same for a shell that knows which dispatch the result answers (the simulator): `task`
  // and `agent` are a DispatchCommand's, and `outcome` carries that task's key.
  std::vector<Command>& result_received(TaskId task, AgentIndex agent,
                                        const roles::TaskOutcome& outcome, TimeUs now);
  // The verdict of a VerifyCommand. `output` is the tail of what the command printed.
  std::vector<Command>& verify_finished(const std::string& goal_id, const std::string& subtask_id,
                                       std::uint32_t attempt, bool passed,
                                       const std::string& output, TimeUs now);
  // Expires due leases — each such task is offered again, to another agent when one is free,
  // while the slow holder may still answer — applies the wall-time limit, and notices goals
  // that stalled.
  std::vector<Command>& tick(TimeUs now);

  // Ends the run now: open goals fail with `reason`, held tasks are cancelled.
  std::vector<Command>& stop(const std::string& reason, TimeUs now);

  // When tick() next has something to do, if ever.
  std::optional<TimeUs> next_deadline() const;
  bool started() const { return started_; }
  bool finished() const { return finished_; }
  // Finished because every goal ended on its own (not stopped by a limit or a signal).
  bool all_goals_ended() const { return finished_ && finish_reason_ == kAllGoalsEnded; }
  static constexpr const char* kAllGoalsEnded = "all goals ended";
  const std::string& finish_reason() const { return finish_reason_; }
  TimeUs started_at() const { return started_at_; }
  // The time of the latest event the core was given (the end of the run's timeline once
  // finished).
  TimeUs last_event_at() const { return last_event_at_; }

  const Ledger& ledger() const { return ledger_; }
  const Scheduler& scheduler() const { return scheduler_; }
  // The id of the agent at `index` (spans, tasks and placements name agents by index).
  const std::string& agent_id(AgentIndex index) const { return scheduler_.agent(index).id; }

 private:
  void accept_result(TaskId task, AgentIndex agent, const roles::TaskOutcome& outcome,
                     TimeUs now);
  void ignore_result(const std::string& agent_id, const roles::TaskOutcome& outcome);
  // A result that says the provider refused the request (rate_limited): the model backs off
  // team-wide and the task goes back to its queue; nothing is charged, nothing is decided.
  void refused_result(TaskId task, AgentIndex agent, const roles::TaskOutcome& outcome,
                      TimeUs now);
  // stop() without clearing the commands gathered so far; open goals end with `outcome`.
  void stop_into(const std::string& reason, TimeUs now,
                 GoalOutcome outcome = GoalOutcome::failed);
  // Takes a task back from everyone working on it (CANCEL with `reason`) or out of its queue.
  void cancel_task(TaskId id, const std::string& reason, TimeUs now);
  // Ends an open goal stopped_by_budget: its tasks are cancelled, nothing more of it runs.
  void stop_goal(std::uint32_t goal_index, const std::string& reason, TimeUs now);
  // The goal's own limits (limits.goal_budget_usd, goal_max_attempts): stops it when one is hit.
  void check_goal_limits(std::uint32_t goal_index, TimeUs now);
  // Carries out step_ (filled by the workflow since it was last cleared).
  void apply(TimeUs now);
  // Puts a task back in its queue; `avoid_agent` (the holder whose lease expired) gets it back
  // only when no other agent of the role is free.
  void requeue(TaskId task, AgentIndex avoid_agent = kNoAgent);
  void place(TimeUs now);
  // The run-wide limits (budget_usd, max_tokens, wall_s): stops the run when one is reached.
  void check_limits(TimeUs now);
  // Shared model quotas (scenario `models:`): a dispatch to an agent of a limited model is a
  // request the limiter granted; it ends when the task is answered, cancelled or its agent goes.
  void start_request(TaskId task, AgentIndex agent, TimeUs now);
  // Ends the requests of every agent working on `task`; `answerer` used `tokens`.
  void end_requests(TaskId task, AgentIndex answerer, std::uint64_t tokens, TimeUs now);
  void end_request(TaskId task, AgentIndex agent, std::uint64_t tokens, TimeUs now);
  // A goal changed at `now`: closes its open stall, if any, and arms its stall timer.
  void touch(std::uint32_t goal_index, TimeUs now);
  // Notices goals whose stall timer is due (GoalStalledCommand, Ledger::stalls()).
  void notice_stalls(TimeUs now);
  // Drops stall timers that no longer matter from the front of the queue.
  void prune_stall_timers();
  // Why an open goal is not moving: the roles it waits on and whether anyone can take them.
  std::string stall_reason(std::uint32_t goal_index) const;
  void finish_run(const std::string& reason);
  std::uint64_t priority_of(const TaskRecord& task) const;
  void saw(TimeUs now) { last_event_at_ = std::max(last_event_at_, now); }
  // Every event starts here: the commands and the assignments of the previous one are dropped.
  void begin_event() {
    out_.clear();
    sent_used_ = 0;
  }
  // The verdict word of an accepted result (TaskRecord::verdict).
  static const char* verdict_of(const TaskRecord& task, const roles::TaskOutcome& outcome);

  Ledger ledger_;
  Workflow workflow_;
  Scheduler scheduler_;
  std::vector<Command> out_;
  // The assignments of this event's dispatches (DispatchCommand points at them); a deque, so
  // adding one never moves the others.
  std::deque<roles::TaskAssignment> sent_;
  std::size_t sent_used_ = 0;
  // Stall timers (workflow.stall_s > 0): (due, goal, its change count when armed). Every timer
  // lasts stall_s from a clock that never goes back, so due times only grow: a FIFO.
  struct StallTimer {
    TimeUs due;
    std::uint32_t goal_index;
    std::uint64_t changes;
  };
  std::deque<StallTimer> stall_timers_;
  TimeUs stall_us_ = 0;
  // One limiter entry (and scheduler gate) per limited model, in name order.
  std::vector<std::string> limited_models_;
  RateLimiter limiter_;
  // Requests in flight to limited models, by (task << 32 | agent): the token estimate taken.
  std::unordered_map<std::uint64_t, double> requests_;
  std::vector<Placement> placements_;  // scratch for place()
  WorkflowStep step_;                  // scratch for the workflow's transitions
  TimeUs lease_us_;
  TimeUs started_at_ = 0;
  TimeUs last_event_at_ = 0;
  bool started_ = false;
  bool finished_ = false;
  bool stopping_ = false;
  std::string finish_reason_;
};

}  // namespace cadre::runtime
