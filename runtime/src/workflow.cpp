#include "cadre/runtime/workflow.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace cadre::runtime {
namespace {

// The task id of planning; a subtask may not take it, or its solve attempts would share keys.
constexpr const char* kPlanTaskId = "plan";

std::string spec_subtask_id(std::size_t index) { return "s" + std::to_string(index + 1); }

// A plan is usable when it names at least one subtask and its ids are unique, non-empty and free
// of '/', which task ids reserve as a separator.
bool plan_is_usable(const std::vector<roles::SubtaskPlan>& plan, std::string& why) {
  if (plan.empty()) {
    why = "the plan names no subtask";
    return false;
  }
  std::set<std::string> seen;
  for (const auto& subtask : plan) {
    if (subtask.id.empty() || subtask.id.find('/') != std::string::npos) {
      why = "subtask id '" + subtask.id + "' is empty or contains '/'";
      return false;
    }
    if (subtask.id == kPlanTaskId) {
      why = "subtask id '" + subtask.id + "' is reserved for the plan task";
      return false;
    }
    if (!seen.insert(subtask.id).second) {
      why = "subtask id '" + subtask.id + "' appears twice";
      return false;
    }
  }
  for (const auto& subtask : plan) {
    for (const auto& dependency : subtask.depends_on) {
      if (!seen.count(dependency) || dependency == subtask.id) {
        why = "subtask '" + subtask.id + "' depends on '" + dependency + "', which is not another "
              "subtask of the plan";
        return false;
      }
    }
  }
  // No cycles: repeatedly take the subtasks whose dependencies are all taken.
  std::set<std::string> ordered;
  for (bool progress = true; progress;) {
    progress = false;
    for (const auto& subtask : plan) {
      if (ordered.count(subtask.id)) continue;
      bool ready = true;
      for (const auto& dependency : subtask.depends_on) ready = ready && ordered.count(dependency);
      if (ready) progress = ordered.insert(subtask.id).second;
    }
  }
  if (ordered.size() != plan.size()) {
    why = "the plan's dependencies form a cycle";
    return false;
  }
  return true;
}

std::vector<roles::FileEdit> as_files(const std::map<std::string, std::string>& tree) {
  std::vector<roles::FileEdit> files;
  files.reserve(tree.size());
  for (const auto& [path, content] : tree) files.push_back({path, content});
  return files;
}

}  // namespace

Workflow::Workflow(Ledger& ledger) : ledger_(ledger) {}

TaskId Workflow::add_plan_task(std::uint32_t goal_index) {
  GoalRecord& goal = ledger_.goal(goal_index);
  return ledger_.add_task(roles::TaskKind::plan, goal_index, 0, goal.plan_attempts++);
}

void Workflow::start_goal(std::uint32_t goal_index, WorkflowStep& step) {
  step.new_tasks.push_back(add_plan_task(goal_index));
}

void Workflow::on_result(TaskId task, const roles::TaskOutcome& outcome, TimeUs now,
                         WorkflowStep& step) {
  switch (ledger_.task(task).kind) {
    case roles::TaskKind::plan: on_plan(task, outcome, now, step); break;
    case roles::TaskKind::solve: on_solve(task, outcome, now, step); break;
    case roles::TaskKind::review: on_review(task, outcome, now, step); break;
    case roles::TaskKind::resolve: on_resolve(task, outcome, now, step); break;
    case roles::TaskKind::approve: on_approve(task, outcome, now, step); break;
  }
}

void Workflow::on_plan(TaskId task, const roles::TaskOutcome& outcome, TimeUs now,
                       WorkflowStep& step) {
  if (ledger_.task(task).replan) {
    on_replan(task, outcome, now, step);
    return;
  }
  const std::uint32_t goal_index = ledger_.task(task).goal_index;
  GoalRecord& goal = ledger_.goal(goal_index);
  if (goal.planned || goal.outcome != GoalOutcome::none) return;
  std::string why = outcome.error;
  if (!outcome.ok || !plan_is_usable(outcome.plan, why)) {
    if (goal.plan_attempts < kMaxPlanAttempts) {
      step.new_tasks.push_back(add_plan_task(goal_index));
    } else {
      ledger_.finish_goal(goal_index, GoalOutcome::failed, now, "planning failed: " + why);
      step.finished.push_back(goal_index);
    }
    return;
  }
  goal.planned = true;
  for (const auto& planned : outcome.plan) {
    SubtaskRecord subtask;
    subtask.plan = planned;
    subtask.state = planned.depends_on.empty() ? SubtaskState::solving : SubtaskState::waiting;
    ledger_.add_subtask(goal_index, std::move(subtask));
  }
  for (std::uint32_t i = 0; i < goal.subtasks.size(); ++i)
    if (goal.subtasks[i].state == SubtaskState::solving) start_subtask(goal_index, i, step);
}

void Workflow::start_subtask(std::uint32_t goal_index, std::uint32_t subtask_index,
                             WorkflowStep& step) {
  ledger_.goal(goal_index).subtasks[subtask_index].state = SubtaskState::solving;
  start_round(goal_index, subtask_index, step);
}

const VerifySpec* Workflow::verify_spec(const GoalRecord& goal) const {
  if (goal.spec.verify.set()) return &goal.spec.verify;
  if (ledger_.scenario().verify.set()) return &ledger_.scenario().verify;
  return nullptr;
}

void Workflow::start_round(std::uint32_t goal_index, std::uint32_t subtask_index,
                           WorkflowStep& step) {
  GoalRecord& goal = ledger_.goal(goal_index);
  SubtaskRecord& subtask = goal.subtasks[subtask_index];
  const std::uint32_t samples = std::max<std::uint32_t>(1, ledger_.scenario().workflow.samples);
  subtask.round_candidates.clear();
  for (std::uint32_t i = 0; i < samples; ++i) {
    CandidateRecord candidate;
    candidate.attempt = subtask.round * samples + i;
    candidate.solve_task = ledger_.add_task(roles::TaskKind::solve, goal_index, subtask_index,
                                            candidate.attempt, subtask.round);
    step.new_tasks.push_back(candidate.solve_task);
    subtask.round_candidates.push_back(std::move(candidate));
    ++subtask.solve_attempts;
  }
}

void Workflow::on_solve(TaskId task, const roles::TaskOutcome& outcome, TimeUs now,
                        WorkflowStep& step) {
  const TaskRecord& record = ledger_.task(task);
  const std::uint32_t goal_index = record.goal_index;
  const std::uint32_t subtask_index = record.subtask_index;
  GoalRecord& goal = ledger_.goal(goal_index);
  SubtaskRecord& subtask = goal.subtasks[subtask_index];
  auto candidate = std::find_if(subtask.round_candidates.begin(), subtask.round_candidates.end(),
                                [&](const CandidateRecord& c) { return c.solve_task == task; });
  if (candidate == subtask.round_candidates.end()) return;  // a round that has ended
  if (!outcome.ok || !outcome.candidate) {
    candidate->solve_failed = true;
    candidate->finished = true;
    maybe_finish_round(goal_index, subtask_index, now, step);
    return;
  }
  candidate->candidate = outcome.candidate;
  if (const VerifySpec* spec = verify_spec(goal); spec && !outcome.candidate->files.empty()) {
    candidate->needs_verify = true;
    std::map<std::string, std::string> tree = goal.workspace;
    for (const auto& file : outcome.candidate->files) tree[file.path] = file.content;
    step.verify.push_back({goal_index, subtask.plan.id, candidate->attempt, *spec, as_files(tree)});
  }
  step.new_tasks.push_back(ledger_.add_task(roles::TaskKind::review, goal_index, subtask_index,
                                            candidate->attempt, subtask.round));
}

void Workflow::on_review(TaskId task, const roles::TaskOutcome& outcome, TimeUs now,
                         WorkflowStep& step) {
  const TaskRecord& record = ledger_.task(task);
  const std::uint32_t goal_index = record.goal_index;
  const std::uint32_t subtask_index = record.subtask_index;
  SubtaskRecord& subtask = ledger_.goal(goal_index).subtasks[subtask_index];
  auto candidate = std::find_if(
      subtask.round_candidates.begin(), subtask.round_candidates.end(),
      [&](const CandidateRecord& c) { return c.attempt == record.attempt; });
  if (candidate == subtask.round_candidates.end() || candidate->finished) return;
  if (outcome.ok && outcome.verdict) {
    candidate->verdict = outcome.verdict;
  } else {
    // A critic that could not judge counts as a rejection, with its error as feedback.
    candidate->verdict = roles::Verdict{false, 0.0, "review failed: " + outcome.error};
  }
  candidate->finished = !candidate->needs_verify || candidate->verified.has_value();
  maybe_finish_round(goal_index, subtask_index, now, step);
}

void Workflow::on_verified(std::uint32_t goal_index, const std::string& subtask_id,
                           std::uint32_t attempt, bool passed, const std::string& output,
                           TimeUs now, WorkflowStep& step) {
  if (goal_index >= ledger_.goals().size()) return;
  GoalRecord& goal = ledger_.goal(goal_index);
  if (goal.outcome != GoalOutcome::none) return;  // e.g. stopped by a limit while it ran
  for (std::uint32_t s = 0; s < goal.subtasks.size(); ++s) {
    SubtaskRecord& subtask = goal.subtasks[s];
    if (subtask.plan.id != subtask_id || subtask.state != SubtaskState::solving) continue;
    for (auto& candidate : subtask.round_candidates) {
      if (candidate.attempt != attempt || !candidate.needs_verify || candidate.verified) continue;
      candidate.verified = passed;
      candidate.verify_output = output;
      candidate.finished = candidate.verdict.has_value();
      maybe_finish_round(goal_index, s, now, step);
      return;
    }
  }
}

void Workflow::maybe_finish_round(std::uint32_t goal_index, std::uint32_t subtask_index,
                                  TimeUs now, WorkflowStep& step) {
  GoalRecord& goal = ledger_.goal(goal_index);
  SubtaskRecord& subtask = goal.subtasks[subtask_index];
  for (const auto& candidate : subtask.round_candidates)
    if (!candidate.finished) return;

  // Accepted: the critic accepts it and, where a verify command judges, the command passes.
  const CandidateRecord* best = nullptr;
  for (const auto& candidate : subtask.round_candidates) {
    if (!candidate.verdict || !candidate.verdict->accept) continue;
    if (candidate.needs_verify && !candidate.verified.value_or(false)) continue;
    if (best == nullptr || candidate.verdict->score > best->verdict->score) best = &candidate;
  }
  if (best != nullptr) {
    subtask.state = SubtaskState::resolved;
    subtask.accepted_correct = best->candidate->sim_correct;
    subtask.accepted_content = best->candidate->content;
    subtask.accepted_files = best->candidate->files;
    subtask_ended(goal_index, subtask_index, step);
    maybe_finish_goal(goal_index, now, step);
    return;
  }
  for (const auto& candidate : subtask.round_candidates) {
    if (candidate.needs_verify && candidate.verified == false)
      subtask.feedback.push_back("attempt " + std::to_string(candidate.attempt) +
                                 " failed verification: " + candidate.verify_output);
    if (candidate.verdict && !candidate.verdict->feedback.empty())
      subtask.feedback.push_back(candidate.verdict->feedback);
  }

  const WorkflowConfig& config = ledger_.scenario().workflow;
  if (subtask.round - subtask.first_round < config.max_revisions) {
    ++subtask.round;
    start_round(goal_index, subtask_index, step);
    return;
  }
  exhausted(goal_index, subtask_index, now, step);
}

void Workflow::exhausted(std::uint32_t goal_index, std::uint32_t subtask_index, TimeUs now,
                         WorkflowStep& step) {
  const WorkflowConfig& config = ledger_.scenario().workflow;
  SubtaskRecord& subtask = ledger_.goal(goal_index).subtasks[subtask_index];
  OnExhausted how = config.on_exhausted;
  if (how == OnExhausted::replan) {
    if (subtask.replans < config.max_replans) {
      subtask.state = SubtaskState::replanning;
      step.new_tasks.push_back(ledger_.add_replan_task(goal_index, subtask_index,
                                                       subtask.replans++, subtask.round));
      return;
    }
    how = config.after_replans;
  }
  if (how == OnExhausted::fail) {
    subtask.state = SubtaskState::failed;
    subtask_ended(goal_index, subtask_index, step);
    maybe_finish_goal(goal_index, now, step);
    return;
  }
  subtask.state = SubtaskState::escalated;
  step.new_tasks.push_back(ledger_.add_task(roles::TaskKind::resolve, goal_index, subtask_index,
                                            0, subtask.round));
}

void Workflow::on_replan(TaskId task, const roles::TaskOutcome& outcome, TimeUs now,
                         WorkflowStep& step) {
  const std::uint32_t goal_index = ledger_.task(task).goal_index;
  const std::uint32_t subtask_index = ledger_.task(task).subtask_index;
  GoalRecord& goal = ledger_.goal(goal_index);
  if (goal.outcome != GoalOutcome::none) return;
  if (goal.subtasks[subtask_index].state != SubtaskState::replanning) return;
  std::string why = outcome.error;
  if (!outcome.ok || !plan_is_usable(outcome.plan, why)) {
    // A failed replan is a replan used: another one, or the subtask gives up.
    goal.subtasks[subtask_index].feedback.push_back("replanning failed: " + why);
    exhausted(goal_index, subtask_index, now, step);
    return;
  }
  if (outcome.plan.size() == 1) {
    // Rewritten: the same subtask (id, dependencies) with the planner's new text, and a fresh
    // allowance of revision rounds.
    SubtaskRecord& subtask = goal.subtasks[subtask_index];
    const roles::SubtaskPlan& rewrite = outcome.plan.front();
    subtask.plan.title = rewrite.title;
    subtask.plan.instructions = rewrite.instructions;
    subtask.plan.difficulty = rewrite.difficulty;
    subtask.state = SubtaskState::solving;
    ++subtask.round;
    subtask.first_round = subtask.round;
    start_round(goal_index, subtask_index, step);
    return;
  }
  // Split: the parts stand for the subtask. Their ids are the subtask's with ".1", ".2", ...
  // (the planner's own ids may clash with the goal's); their dependencies among themselves are
  // kept, mapped to the new ids.
  const std::string base = goal.subtasks[subtask_index].plan.id;
  const std::uint32_t replans = goal.subtasks[subtask_index].replans;
  std::map<std::string, std::string> renamed;
  for (std::size_t i = 0; i < outcome.plan.size(); ++i)
    renamed[outcome.plan[i].id] = base + "." + std::to_string(i + 1);
  std::vector<std::uint32_t> parts;
  for (const auto& planned : outcome.plan) {
    SubtaskRecord part;
    part.plan = planned;
    part.plan.id = renamed[planned.id];
    for (auto& dependency : part.plan.depends_on) dependency = renamed[dependency];
    part.state = part.plan.depends_on.empty() ? SubtaskState::solving : SubtaskState::waiting;
    part.part_of = subtask_index;
    part.replans = replans;  // the replans allowed are for the whole, not for each part
    parts.push_back(ledger_.add_subtask(goal_index, std::move(part)));
  }
  SubtaskRecord& whole = ledger_.goal(goal_index).subtasks[subtask_index];
  whole.state = SubtaskState::replaced;
  whole.parts = parts;
  for (std::uint32_t part : parts)
    if (ledger_.goal(goal_index).subtasks[part].state == SubtaskState::solving)
      start_subtask(goal_index, part, step);
}

SubtaskState Workflow::effective_state(const GoalRecord& goal, std::uint32_t subtask_index) {
  const SubtaskRecord& subtask = goal.subtasks[subtask_index];
  if (subtask.state != SubtaskState::replaced) return subtask.state;
  bool all_resolved = true;
  for (std::uint32_t part : subtask.parts) {
    const SubtaskState state = effective_state(goal, part);
    if (state == SubtaskState::failed) return SubtaskState::failed;
    all_resolved = all_resolved && (state == SubtaskState::resolved ||
                                    state == SubtaskState::resolved_by_human);
  }
  return all_resolved ? SubtaskState::resolved : SubtaskState::solving;
}

void Workflow::on_resolve(TaskId task, const roles::TaskOutcome& outcome, TimeUs now,
                          WorkflowStep& step) {
  const TaskRecord& record = ledger_.task(task);
  SubtaskRecord& subtask = ledger_.goal(record.goal_index).subtasks[record.subtask_index];
  if (subtask.state != SubtaskState::escalated) return;
  if (outcome.ok && outcome.candidate) {
    subtask.state = SubtaskState::resolved_by_human;
    subtask.accepted_correct = outcome.candidate->sim_correct;
    subtask.accepted_content = outcome.candidate->content;
    subtask.accepted_files = outcome.candidate->files;
    ledger_.charge_usd(record.goal_index, ledger_.scenario().pricing.human_usd_per_escalation);
  } else {
    subtask.state = SubtaskState::failed;
  }
  subtask_ended(record.goal_index, record.subtask_index, step);
  maybe_finish_goal(record.goal_index, now, step);
}

void Workflow::subtask_ended(std::uint32_t goal_index, std::uint32_t subtask_index,
                             WorkflowStep& step) {
  GoalRecord& goal = ledger_.goal(goal_index);
  const SubtaskRecord& ended = goal.subtasks[subtask_index];
  if (!ended.accepted_files.empty()) {
    for (const auto& file : ended.accepted_files) goal.workspace[file.path] = file.content;
    step.workspace_updates.push_back({goal_index, ended.accepted_files});
  }
  // Subtasks waiting on others: start those whose dependencies all resolved; fail those with a
  // failed dependency (repeat, as a failure can cascade down a chain).
  for (bool changed = true; changed;) {
    changed = false;
    for (std::uint32_t i = 0; i < goal.subtasks.size(); ++i) {
      SubtaskRecord& waiting = goal.subtasks[i];
      if (waiting.state != SubtaskState::waiting) continue;
      bool all_resolved = true, any_failed = false;
      for (const auto& dependency : waiting.plan.depends_on) {
        for (std::uint32_t j = 0; j < goal.subtasks.size(); ++j) {
          if (goal.subtasks[j].plan.id != dependency) continue;
          const SubtaskState state = effective_state(goal, j);  // a split one: its parts
          any_failed = any_failed || state == SubtaskState::failed;
          all_resolved = all_resolved && (state == SubtaskState::resolved ||
                                          state == SubtaskState::resolved_by_human);
        }
      }
      if (any_failed) {
        waiting.state = SubtaskState::failed;
        changed = true;
      } else if (all_resolved) {
        start_subtask(goal_index, i, step);
        changed = true;
      }
    }
  }
}

void Workflow::maybe_finish_goal(std::uint32_t goal_index, TimeUs now, WorkflowStep& step) {
  GoalRecord& goal = ledger_.goal(goal_index);
  if (goal.outcome != GoalOutcome::none) return;
  for (const auto& subtask : goal.subtasks)
    if (subtask.state == SubtaskState::solving || subtask.state == SubtaskState::escalated ||
        subtask.state == SubtaskState::waiting || subtask.state == SubtaskState::replanning)
      return;

  if (!goal.verified) {
    // Goal verification: the specification's subtasks that the plan missed are found now and
    // run like any other.
    goal.verified = true;
    std::set<std::string> planned;
    for (const auto& subtask : goal.subtasks)
      if (!subtask.part_of) planned.insert(subtask.plan.id);  // parts are the planner's own
    // Only a plan made from the specification (its ids are the specification's: "s1", "s2",
    // ...) can be checked against it; a planner that invented its own subtasks is not.
    std::set<std::string> specified;
    for (std::size_t i = 0; i < goal.spec.subtasks.size(); ++i) specified.insert(spec_subtask_id(i));
    bool follows_spec = true;
    for (const auto& id : planned) follows_spec = follows_spec && specified.count(id);
    if (!follows_spec) planned = specified;
    const auto first_new = static_cast<std::uint32_t>(goal.subtasks.size());
    for (std::size_t i = 0; i < goal.spec.subtasks.size(); ++i) {
      const std::string id = spec_subtask_id(i);
      if (planned.count(id)) continue;
      SubtaskRecord subtask;
      subtask.plan = {id, goal.spec.subtasks[i].title, goal.spec.subtasks[i].title,
                      goal.spec.subtasks[i].difficulty};
      subtask.discovered = true;
      ledger_.add_subtask(goal_index, std::move(subtask));
    }
    if (goal.subtasks.size() > first_new) {
      for (auto i = first_new; i < goal.subtasks.size(); ++i) start_subtask(goal_index, i, step);
      return;
    }
  }

  const GoalOutcome outcome = outcome_of(goal);
  if (outcome != GoalOutcome::failed &&
      ledger_.scenario().workflow.approval == Approval::human) {
    if (goal.awaiting_approval) return;
    goal.awaiting_approval = true;
    step.new_tasks.push_back(add_approve_task(goal_index));
    return;
  }
  ledger_.finish_goal(goal_index, outcome, now,
                      outcome == GoalOutcome::failed ? "revisions exhausted" : "");
  step.finished.push_back(goal_index);
}

GoalOutcome Workflow::outcome_of(const GoalRecord& goal) {
  GoalOutcome outcome = GoalOutcome::resolved;
  for (const auto& subtask : goal.subtasks) {
    if (subtask.state == SubtaskState::failed) outcome = GoalOutcome::failed;
    if (subtask.state == SubtaskState::resolved_by_human && outcome != GoalOutcome::failed)
      outcome = GoalOutcome::escalated;
  }
  return outcome;
}

TaskId Workflow::add_approve_task(std::uint32_t goal_index) {
  // What the person sees (every subtask's accepted answer, the workspace) is built on dispatch
  // (fill_assignment); the goal no longer changes while it waits.
  return ledger_.add_task(roles::TaskKind::approve, goal_index, 0, 0);
}

void Workflow::on_approve(TaskId task, const roles::TaskOutcome& outcome, TimeUs now,
                          WorkflowStep& step) {
  const std::uint32_t goal_index = ledger_.task(task).goal_index;
  GoalRecord& goal = ledger_.goal(goal_index);
  if (!goal.awaiting_approval || goal.outcome != GoalOutcome::none) return;
  goal.awaiting_approval = false;
  ledger_.charge_usd(goal_index, ledger_.scenario().pricing.human_usd_per_approval);
  GoalOutcome outcome_now = outcome_of(goal);
  std::string reason;
  if (!outcome.ok) {
    outcome_now = GoalOutcome::failed;
    reason = "approval failed: " + outcome.error;
  } else if (outcome.candidate) {
    // The person answered with their own work: it is theirs, so the goal is escalated.
    outcome_now = GoalOutcome::escalated;
    if (!outcome.candidate->files.empty()) {
      for (const auto& file : outcome.candidate->files) goal.workspace[file.path] = file.content;
      step.workspace_updates.push_back({goal_index, outcome.candidate->files});
    }
  } else if (!outcome.verdict || !outcome.verdict->accept) {
    outcome_now = GoalOutcome::failed;
    reason = "rejected at approval";
    if (outcome.verdict && !outcome.verdict->feedback.empty())
      reason += ": " + outcome.verdict->feedback;
  }
  ledger_.finish_goal(goal_index, outcome_now, now, reason);
  step.finished.push_back(goal_index);
}

}  // namespace cadre::runtime
