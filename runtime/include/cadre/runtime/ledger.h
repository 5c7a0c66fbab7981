// The ledger: every goal, subtask, candidate and task attempt of a run, and what they cost.
//
// It is plain state with bookkeeping methods; the rules that move it (the workflow) and the
// assignment of tasks to agents (the scheduler) live elsewhere. Deterministic, no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cadre/roles/messages.h"
#include "cadre/runtime/clock.h"
#include "cadre/runtime/scenario.h"

namespace cadre::runtime {

// Every goal ends in exactly one of these; `none` only while it is open. stopped_by_budget: a
// limit (scenario `limits:`) ended it before the team did; its reason names the limit.
enum class GoalOutcome { none, resolved, escalated, failed, stopped_by_budget };
const char* outcome_name(GoalOutcome outcome);

// waiting: for the subtasks it depends on. escalated: with a human. replanning: with the planner,
// to be rewritten or split. replaced: split into parts (SubtaskRecord::parts), which stand for it:
// it is resolved when they all are, failed when one fails. The last three are terminal.
enum class SubtaskState {
  waiting,
  solving,
  escalated,
  replanning,
  replaced,
  resolved,
  resolved_by_human,
  failed
};
const char* subtask_state_name(SubtaskState state);

// Index of a task in the ledger; stable for the whole run.
using TaskId = std::uint32_t;
// Index of an agent in Scheduler::agents(); stable for the whole run (a rejoining agent keeps
// it). The ledger records who did what by index; HubCore::agent_id names it.
using AgentIndex = std::uint32_t;
inline constexpr AgentIndex kNoAgent = UINT32_MAX;
inline constexpr std::uint32_t kNoSpan = UINT32_MAX;

// The key of a task attempt on the wire: (goal, task, attempt).
struct TaskKey {
  std::string goal_id;
  std::string task_id;
  std::uint32_t attempt = 0;
  bool operator==(const TaskKey&) const = default;
  std::string to_string() const;
};

enum class TaskState : std::uint8_t { queued, leased, done, cancelled };

// A task attempt as the ledger keeps it: its key and kind as indices, its state and its charges.
// What is sent to the agent is built from the goal and subtask records at dispatch
// (fill_assignment), not stored: a task is ~130 bytes however large its goal's text, and the
// fields every event reads sit together.
struct TaskRecord {
  std::uint32_t goal_index = 0;
  std::uint32_t subtask_index = 0;  // for solve/review/resolve
  std::uint32_t attempt = 0;
  std::uint32_t revision = 0;  // its subtask's revision round when it was made
  roles::TaskKind kind = roles::TaskKind::solve;
  TaskState state = TaskState::queued;
  bool replan = false;  // a plan task that rewrites or splits the subtask at subtask_index
  AgentIndex agent = kNoAgent;  // the lease holder while leased; the answerer when done
  // Agents that held the task before and may still be working on it (lease expired, or they
  // left and may come back with the result). Their result is as good as the holder's.
  std::vector<AgentIndex> past_holders;
  std::uint64_t lease_generation = 0;  // bumped on every dispatch; stale lease timers ignore it
  TimeUs leased_at = 0;
  TimeUs lease_deadline = 0;
  std::uint32_t dispatches = 0;
  // This task's latest dispatch (index into Ledger::spans(), kNoSpan before the first); earlier
  // ones follow DispatchSpan::previous. A task has a handful at most.
  std::uint32_t last_span = kNoSpan;
  TimeUs queued_at = 0;  // when it last entered its role's queue (dispatch latency starts here)
  // Set when a result is accepted (state done): when, what it cost, and what it said.
  TimeUs finished_at = -1;
  std::uint64_t tokens_in = 0;
  std::uint64_t tokens_out = 0;
  double usd = 0.0;
  // A word for the answer: planned | candidate | accepted | rejected | resolved | approved |
  // answered | error (the brain failed). Empty until done. (A static string.)
  std::string_view verdict;
};

// The role whose agents take tasks of `kind` (planner, coder, critic, human).
const char* role_of(roles::TaskKind kind);

// How one dispatch (one agent working on one task attempt) ended.
enum class SpanEnd : std::uint8_t {
  open,       // still running (at the end of a run: cut off by the end)
  answered,   // this agent's result was accepted
  cancelled,  // the task was answered by another agent, or the run stopped
  lost,       // the agent left (or went silent) while holding it
  refused,    // the model's provider refused the request (429): the task went back to its queue
};
const char* span_end_name(SpanEnd how);

// One dispatch: the unit of the run's timeline (report.html's Gantt chart, trace.json's spans).
// A task attempt has one span per agent it was given to (more than one after a lease expired).
struct DispatchSpan {
  TaskId task = 0;
  AgentIndex agent = kNoAgent;
  TimeUs start = 0;
  TimeUs end = -1;  // -1 while open
  std::uint32_t previous = kNoSpan;  // the same task's dispatch before this one
  SpanEnd how = SpanEnd::open;
};

// Dispatch latency: from a task entering its queue to its dispatch. Cumulative-friendly buckets
// (Prometheus `le` bounds, seconds); counts[i] is the number of observations <= kBoundsS[i] and
// > kBoundsS[i-1]; counts[kBuckets] those above the last bound.
struct LatencyHistogram {
  static constexpr std::size_t kBuckets = 12;
  static constexpr std::array<double, kBuckets> kBoundsS = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10.0};
  std::array<std::uint64_t, kBuckets + 1> counts{};
  std::uint64_t count = 0;
  double sum_s = 0.0;
  void observe(TimeUs latency);
};

struct CandidateRecord {
  std::uint32_t attempt = 0;
  TaskId solve_task = 0;
  bool finished = false;  // answered (ok or not) and, if ok, reviewed and (if needed) verified
  bool solve_failed = false;
  std::optional<roles::Candidate> candidate;
  std::optional<roles::Verdict> verdict;
  bool needs_verify = false;    // files to test and a verify command to test them with
  std::optional<bool> verified; // the verify command's verdict, once it ran
  std::string verify_output;    // the tail of its output, for feedback
};

struct SubtaskRecord {
  roles::SubtaskPlan plan;
  bool discovered = false;  // missed by the plan and found at goal verification
  SubtaskState state = SubtaskState::solving;
  std::uint32_t round = 0;  // revision round in progress
  std::uint32_t first_round = 0;  // the round its current plan started (a rewrite starts anew)
  std::uint32_t replans = 0;      // replan tasks asked for it (parts inherit their whole's count)
  std::vector<std::uint32_t> parts;  // replaced: the subtasks that stand for it
  std::optional<std::uint32_t> part_of;  // a part of that (replaced) subtask
  std::vector<CandidateRecord> round_candidates;
  std::vector<std::string> feedback;  // critic feedback from finished rounds, oldest first
  // The ids of its review and resolve tasks ("<id>/review", "<id>/resolve"); set by
  // Ledger::add_subtask, so tasks name them without building a string.
  std::string review_task_id;
  std::string resolve_task_id;
  std::string replan_task_id;
  std::uint32_t solve_attempts = 0;
  std::optional<bool> accepted_correct;  // sim ground truth of the accepted candidate
  std::string accepted_content;                 // the accepted candidate's text
  std::vector<roles::FileEdit> accepted_files;  // the accepted candidate's files
};

struct GoalRecord {
  GoalSpec spec;
  std::uint32_t index = 0;
  GoalOutcome outcome = GoalOutcome::none;
  std::string reason;  // why it failed, when it did
  std::vector<SubtaskRecord> subtasks;
  // The goal's workspace as the team built it: the files of every accepted candidate, applied in
  // the order their subtasks ended (path -> content).
  std::map<std::string, std::string> workspace;
  bool planned = false;
  bool verified = false;  // goal verification (missed-subtask check) done
  // workflow.approval: human — the team's work is done and waits for a person's approval.
  bool awaiting_approval = false;
  std::uint32_t plan_attempts = 0;
  std::uint32_t attempts = 0;  // results accepted for this goal (all kinds)
  std::uint64_t tokens_in = 0;
  std::uint64_t tokens_out = 0;
  double usd = 0.0;
  TimeUs first_dispatch_at = -1;
  TimeUs finished_at = -1;
  // The last time anything of it changed (a task added, dispatched or answered; a verdict).
  TimeUs last_change_at = 0;
  std::uint64_t changes = 0;  // counts those changes (a stall timer armed at one is stale after)
  std::int64_t open_stall = -1;  // index into Ledger::stalls() while it is stalled
};

// A goal that went `workflow.stall_s` without a change: since when, when it was noticed, when it
// moved again (-1 while it has not), and why it was stuck when noticed.
struct StallRecord {
  std::uint32_t goal_index = 0;
  TimeUs since = 0;
  TimeUs noticed_at = 0;
  TimeUs ended_at = -1;
  std::string reason;
};

struct TaskCounters {
  std::uint64_t dispatched = 0;
  std::uint64_t completed = 0;  // results accepted
  std::uint64_t requeued = 0;   // leases expired or holders gone
  std::uint64_t duplicates_ignored = 0;
  std::uint64_t failed_attempts = 0;  // results with ok = false
  std::uint64_t refused = 0;  // requests the provider refused (429) under a hub-paced quota
};

class Ledger {
 public:
  explicit Ledger(const Scenario& scenario);

  const Scenario& scenario() const { return scenario_; }

  std::vector<GoalRecord>& goals() { return goals_; }
  const std::vector<GoalRecord>& goals() const { return goals_; }
  GoalRecord& goal(std::uint32_t index) { return goals_[index]; }

  // Appends a subtask to a goal and names its tasks; returns its index.
  std::uint32_t add_subtask(std::uint32_t goal_index, SubtaskRecord subtask);
  // Adds a task in state queued. Preconditions: for solve/review/resolve, `subtask_index` is a
  // subtask of the goal (for plan/approve it is ignored); no task with the same key exists.
  TaskId add_task(roles::TaskKind kind, std::uint32_t goal_index, std::uint32_t subtask_index,
                  std::uint32_t attempt, std::uint32_t revision = 0);
  // A plan task that asks the planner to rewrite or split a subtask ("<subtask>/replan").
  TaskId add_replan_task(std::uint32_t goal_index, std::uint32_t subtask_index,
                         std::uint32_t attempt, std::uint32_t revision);
  TaskRecord& task(TaskId id) { return tasks_[id]; }
  const TaskRecord& task(TaskId id) const { return tasks_[id]; }
  std::size_t task_count() const { return tasks_.size(); }
  // A task's key. The views point into the goal and subtask records: valid until the goal gains
  // a subtask.
  std::string_view goal_id_of(TaskId id) const { return goals_[tasks_[id].goal_index].spec.id; }
  std::string_view task_id_of(TaskId id) const;
  TaskKey key_of(TaskId id) const;
  // The tasks of a goal, in the order they were added.
  std::vector<TaskId> tasks_of_goal(std::uint32_t goal_index) const;
  std::size_t task_count_of_goal(std::uint32_t goal_index) const {
    return tasks_of_goal_[goal_index].size();
  }
  std::optional<TaskId> find_task(std::string_view goal_id, std::string_view task_id,
                                  std::uint32_t attempt) const;
  // Whether task `id` exists and has the key (goal_id, task_id, attempt): a reference a peer
  // echoed back is checked with it before it is trusted.
  bool task_has_key(TaskId id, std::string_view goal_id, std::string_view task_id,
                    std::uint32_t attempt) const;
  // The index of the goal with this id.
  std::optional<std::uint32_t> find_goal(std::string_view goal_id) const;

  // Charges an accepted result's tokens (priced by its model) to its goal and the run; returns
  // the price in USD (0 when the model has no price).
  double charge(std::uint32_t goal_index, const roles::TaskOutcome& outcome);
  // Charges a fixed amount (a human escalation) to a goal and the run.
  void charge_usd(std::uint32_t goal_index, double usd);

  std::uint64_t tokens_in() const { return tokens_in_; }
  std::uint64_t tokens_out() const { return tokens_out_; }
  double usd() const { return usd_; }
  std::uint64_t unpriced_results() const { return unpriced_results_; }

  TaskCounters& counters() { return counters_; }
  const TaskCounters& counters() const { return counters_; }

  // Every dispatch of the run, in dispatch order.
  const std::vector<DispatchSpan>& spans() const { return spans_; }
  // Opens a span for `agent` working on `task` from `now`.
  void open_span(TaskId task, AgentIndex agent, TimeUs now);
  // Closes `agent`'s open span on `task`, if any.
  void close_span(TaskId task, AgentIndex agent, SpanEnd how, TimeUs now);
  // Closes every span of `task` still open.
  void close_open_spans(TaskId task, SpanEnd how, TimeUs now);

  // Every stall of the run, in the order they were noticed.
  std::vector<StallRecord>& stalls() { return stalls_; }
  const std::vector<StallRecord>& stalls() const { return stalls_; }

  LatencyHistogram& dispatch_latency() { return dispatch_latency_; }
  const LatencyHistogram& dispatch_latency() const { return dispatch_latency_; }

  std::size_t open_goals() const { return open_goals_; }
  // A goal changed: ends its stall, if it was in one.
  void goal_changed(std::uint32_t goal_index, TimeUs now);
  // Marks a goal finished with `outcome` (ending its stall). Precondition: it is open.
  void finish_goal(std::uint32_t goal_index, GoalOutcome outcome, TimeUs now, std::string reason);

 private:
  // Tasks are found by key through their goal: the goal's id leads to its list of tasks, which
  // is scanned newest first comparing the attempt and a hash of the task id before the id itself
  // (a goal holds tens of tasks; a lookup per RESULT builds no string and allocates nothing).
  struct GoalTaskEntry {
    std::uint32_t attempt;
    std::uint32_t task_id_hash;
    TaskId id;
  };
  static std::uint32_t task_id_hash(std::string_view task_id);

  Scenario scenario_;
  std::vector<GoalRecord> goals_;
  std::deque<TaskRecord> tasks_;  // a deque: growing never copies the tasks already held
  // Goals by id: open addressing over a power-of-two table of goal index + 1 (0: empty), probed
  // linearly from the id's hash. One slot read and one id compare per lookup, no node chasing.
  std::vector<std::uint32_t> goal_slots_;
  std::vector<std::vector<GoalTaskEntry>> tasks_of_goal_;
  std::uint64_t tokens_in_ = 0;
  std::uint64_t tokens_out_ = 0;
  double usd_ = 0.0;
  std::uint64_t unpriced_results_ = 0;
  TaskCounters counters_;
  std::vector<DispatchSpan> spans_;
  std::vector<StallRecord> stalls_;
  LatencyHistogram dispatch_latency_;
  std::size_t open_goals_ = 0;
};

// What is sent to the agent taking task `id`, built from its goal and subtask as they are now
// (the goal's workspace included). Fills `out` field by field, so a reused `out` keeps the
// capacity of its strings. `lease_ms` is left for the caller.
void fill_assignment(const Ledger& ledger, TaskId id, roles::TaskAssignment& out);

}  // namespace cadre::runtime
