// The plan-solve-verify workflow: the team's cognitive architecture as transitions on the ledger.
//
//   goal --plan--> subtasks; each subtask runs rounds of `samples` solve attempts, each reviewed by
//   a critic; the best accepted candidate (highest score, then lowest attempt) resolves the
//   subtask; a round with none accepted starts a revision round with the critics' feedback, up to
//   `max_revisions`; then the subtask is escalated to a human or fails (`on_exhausted`). When every
//   subtask has ended, the goal is verified against its specification: subtasks the plan missed
//   are added and run; then the goal ends resolved (all by the team), escalated (some by a human)
//   or failed (any failed). With `approval: human` (copilot) a goal that would end resolved or
//   escalated first waits on an `approve` task for the human role: approved, it ends as it
//   would have; answered with the person's own work, escalated; rejected, failed.
//
// Every round waits for all its attempts and reviews before deciding, and a goal waits for all its
// subtasks, so outcomes and token totals do not depend on timing or on which agent answered.
#pragma once

#include <cstdint>
#include <vector>

#include "cadre/roles/messages.h"
#include "cadre/runtime/clock.h"
#include "cadre/runtime/ledger.h"

namespace cadre::runtime {

// A candidate to test with the goal's verify command: the workspace so far plus its files.
struct VerifyRequest {
  std::uint32_t goal_index = 0;
  std::string subtask_id;
  std::uint32_t attempt = 0;
  VerifySpec spec;
  std::vector<roles::FileEdit> files;  // the whole tree to test: workspace + candidate
};

// Files an accepted candidate adds to its goal's workspace.
struct WorkspaceUpdate {
  std::uint32_t goal_index = 0;
  std::vector<roles::FileEdit> files;
};

// What a transition asks of the core. The core keeps one and clears it per event (its vectors keep
// their capacity: no allocation per result).
struct WorkflowStep {
  std::vector<TaskId> new_tasks;        // to enqueue
  std::vector<std::uint32_t> finished;  // goals that ended
  std::vector<VerifyRequest> verify;    // candidates to test
  std::vector<WorkspaceUpdate> workspace_updates;
  void clear() {
    new_tasks.clear();
    finished.clear();
    verify.clear();
    workspace_updates.clear();
  }
};

class Workflow {
 public:
  explicit Workflow(Ledger& ledger);

  // Each transition appends what it asks of the core to `step`.

  // Creates the goal's plan task.
  void start_goal(std::uint32_t goal_index, WorkflowStep& step);

  // Applies an accepted result to the ledger (the task is already marked done and charged).
  void on_result(TaskId task, const roles::TaskOutcome& outcome, TimeUs now, WorkflowStep& step);

  // Applies the verify command's verdict on a candidate. Ignored for a candidate that is not
  // waiting for one (e.g. its round already ended).
  void on_verified(std::uint32_t goal_index, const std::string& subtask_id,
                   std::uint32_t attempt, bool passed, const std::string& output, TimeUs now,
                   WorkflowStep& step);

  // Attempts of a plan before the goal fails.
  static constexpr std::uint32_t kMaxPlanAttempts = 3;

 private:
  void on_plan(TaskId task, const roles::TaskOutcome& outcome, TimeUs now, WorkflowStep& step);
  void on_solve(TaskId task, const roles::TaskOutcome& outcome, TimeUs now, WorkflowStep& step);
  void on_review(TaskId task, const roles::TaskOutcome& outcome, TimeUs now, WorkflowStep& step);
  void on_resolve(TaskId task, const roles::TaskOutcome& outcome, TimeUs now, WorkflowStep& step);
  void on_approve(TaskId task, const roles::TaskOutcome& outcome, TimeUs now, WorkflowStep& step);
  // A replan's answer: one subtask rewrites it, several split it into parts.
  void on_replan(TaskId task, const roles::TaskOutcome& outcome, TimeUs now, WorkflowStep& step);
  // A subtask used up its revision rounds (or a replan failed): workflow.on_exhausted decides.
  void exhausted(std::uint32_t goal_index, std::uint32_t subtask_index, TimeUs now,
                 WorkflowStep& step);
  // A subtask's state, where a replaced (split) one takes its parts' combined state.
  static SubtaskState effective_state(const GoalRecord& goal, std::uint32_t subtask_index);
  // The goal's outcome from its subtasks' states: failed, escalated or resolved.
  static GoalOutcome outcome_of(const GoalRecord& goal);

  void start_subtask(std::uint32_t goal_index, std::uint32_t subtask_index, WorkflowStep& step);
  void start_round(std::uint32_t goal_index, std::uint32_t subtask_index, WorkflowStep& step);
  void maybe_finish_round(std::uint32_t goal_index, std::uint32_t subtask_index, TimeUs now,
                          WorkflowStep& step);
  void maybe_finish_goal(std::uint32_t goal_index, TimeUs now, WorkflowStep& step);
  // A subtask ended: apply its accepted files, start subtasks that waited on it, or fail those
  // that can no longer run.
  void subtask_ended(std::uint32_t goal_index, std::uint32_t subtask_index, WorkflowStep& step);
  const VerifySpec* verify_spec(const GoalRecord& goal) const;
  TaskId add_plan_task(std::uint32_t goal_index);
  TaskId add_approve_task(std::uint32_t goal_index);

  Ledger& ledger_;
};

}  // namespace cadre::runtime
