// fill_assignment: the wire assignment of a task, built from the ledger's goal and subtask
// records at dispatch time instead of being stored with the task.
#include <string>

#include "cadre/runtime/ledger.h"

namespace cadre::runtime {
namespace {

// The id a plan's subtask gets from the goal's specification: "s1", "s2", ...
void spec_subtask_id(std::size_t index, std::string& out) {
  out.assign("s");
  out += std::to_string(index + 1);
}

// `tree` (path -> content) as a list of files, reusing `out`'s strings.
void assign_files(const std::map<std::string, std::string>& tree,
                  std::vector<roles::FileEdit>& out) {
  out.resize(tree.size());
  std::size_t i = 0;
  for (const auto& [path, content] : tree) {
    out[i].path.assign(path);
    out[i].content.assign(content);
    ++i;
  }
}

// The work a person approves: every subtask's accepted answer and the workspace's files. Its
// ground truth (sim) is known only when every part's is: wrong if any part is.
void approval_work(const GoalRecord& goal, roles::Candidate& work) {
  work.content.clear();
  std::optional<bool> correct = true;
  for (const auto& subtask : goal.subtasks) {
    if (subtask.state == SubtaskState::replaced) continue;  // its parts stand for it
    work.content.append("## ").append(subtask.plan.id).append(" ").append(subtask.plan.title);
    if (subtask.state == SubtaskState::resolved_by_human) work.content.append(" (by a human)");
    work.content.append("\n").append(subtask.accepted_content).append("\n");
    if (!subtask.accepted_correct.has_value()) {
      if (correct == true) correct.reset();
    } else if (!*subtask.accepted_correct) {
      correct = false;
    }
  }
  work.sim_correct = correct;
  assign_files(goal.workspace, work.files);
}

// What a replan asks of the planner: the subtask that used up its rounds, why each round failed,
// and what the coders tried. In the instructions, so the default planner prompt shows it.
void replan_instructions(const GoalRecord& goal, const SubtaskRecord& subtask, std::string& out) {
  out.assign("Subtask ").append(subtask.plan.id).append(" (").append(subtask.plan.title);
  out.append(") of this goal failed every revision round. Rewrite it so that a coder can "
             "succeed, or split it into smaller subtasks (answer with one subtask to rewrite it, "
             "several to split it; ids are yours to choose).\n\nIts instructions were:\n");
  out.append(subtask.plan.instructions.empty() ? subtask.plan.title : subtask.plan.instructions);
  if (!subtask.feedback.empty()) {
    out.append("\n\nWhy its attempts were rejected:");
    for (const auto& item : subtask.feedback) out.append("\n- ").append(item);
  }
  bool any = false;
  for (const auto& candidate : subtask.round_candidates) {
    if (!candidate.candidate) continue;
    if (!any) out.append("\n\nThe last round's candidates:");
    any = true;
    out.append("\n- attempt ").append(std::to_string(candidate.attempt)).append(": ");
    out.append(candidate.candidate->content.substr(0, 2000));
  }
  out.append("\n\nThe goal: ").append(goal.spec.description);
}

}  // namespace

void fill_assignment(const Ledger& ledger, TaskId id, roles::TaskAssignment& out) {
  const TaskRecord& task = ledger.task(id);
  const GoalRecord& goal = ledger.goals()[task.goal_index];
  out.goal_id.assign(goal.spec.id);
  out.task_id.assign(ledger.task_id_of(id));
  out.attempt = task.attempt;
  out.kind = task.kind;
  out.role.assign(role_of(task.kind));
  out.seed = ledger.scenario().seed;
  out.revision = task.revision;
  out.goal_title.assign(goal.spec.title);
  out.lease_ms = 0;
  switch (task.kind) {
    case roles::TaskKind::plan:
      if (task.replan) {
        const SubtaskRecord& subtask = goal.subtasks[task.subtask_index];
        out.difficulty = subtask.plan.difficulty;
        replan_instructions(goal, subtask, out.instructions);
        out.feedback = subtask.feedback;
        out.candidate.reset();
        out.goal_subtasks.resize(1);
        out.goal_subtasks[0] = subtask.plan;
        out.goal_subtasks[0].depends_on.clear();
        assign_files(goal.workspace, out.workspace_files);
        return;
      }
      [[fallthrough]];
    case roles::TaskKind::approve: {
      out.difficulty = 0.5;
      out.instructions.assign(goal.spec.description);
      out.feedback.clear();
      out.workspace_files.clear();
      if (task.kind == roles::TaskKind::plan) {
        out.candidate.reset();
        out.goal_subtasks.resize(goal.spec.subtasks.size());
        for (std::size_t i = 0; i < goal.spec.subtasks.size(); ++i) {
          const SubtaskSpec& spec = goal.spec.subtasks[i];
          roles::SubtaskPlan& plan = out.goal_subtasks[i];
          spec_subtask_id(i, plan.id);
          plan.title.assign(spec.title);
          plan.instructions.assign(spec.title);
          plan.difficulty = spec.difficulty;
          plan.depends_on.clear();
        }
      } else {
        out.goal_subtasks.resize(goal.subtasks.size());
        for (std::size_t i = 0; i < goal.subtasks.size(); ++i)
          out.goal_subtasks[i] = goal.subtasks[i].plan;
        if (!out.candidate) out.candidate.emplace();
        approval_work(goal, *out.candidate);
      }
      return;
    }
    case roles::TaskKind::solve:
    case roles::TaskKind::review:
    case roles::TaskKind::resolve: break;
  }
  const SubtaskRecord& subtask = goal.subtasks[task.subtask_index];
  out.difficulty = subtask.plan.difficulty;
  out.instructions.assign(subtask.plan.instructions.empty() ? subtask.plan.title
                                                            : subtask.plan.instructions);
  out.goal_subtasks.clear();
  assign_files(goal.workspace, out.workspace_files);
  if (task.kind == roles::TaskKind::review) {
    out.feedback.clear();
    const CandidateRecord* judged = nullptr;
    for (const auto& candidate : subtask.round_candidates)
      if (candidate.attempt == task.attempt && candidate.candidate) judged = &candidate;
    if (judged == nullptr) {
      out.candidate.reset();  // its round has ended: the task is done and never sent again
    } else if (out.candidate) {
      *out.candidate = *judged->candidate;
    } else {
      out.candidate = *judged->candidate;
    }
  } else {
    out.feedback = subtask.feedback;
    out.candidate.reset();
  }
}

}  // namespace cadre::runtime
