// What each role asks of a language model: prompt templates, filled from a task assignment.
//
// Template format (roles/prompts/<role>.md are the defaults):
//
//   <system part: who the model is, the rules, the answer format>
//   ---user---
//   <user part: this task's data>
//
// The line "---user---" (alone on its line; surrounding blanks and a trailing '\r' are allowed)
// must appear exactly once. Each part is trimmed of leading and trailing whitespace. In both
// parts `{{name}}` (spaces inside the braces allowed, on one line) is replaced by a value of the
// task; an unknown name is an error naming it. A "{{" with no "}}" after it on the same line is
// literal text. Values are inserted verbatim and never scanned for placeholders themselves.
//
// Placeholders:
//   {{goal_title}}     the goal's title
//   {{instructions}}   the task's instructions (the goal's for a plan, the subtask's otherwise)
//   {{subtask_id}}     the subtask the task is about: task_id before any '/' ("s1" for
//                      "s1/review"; "plan" for the plan task)
//   {{attempt}}        the attempt number
//   {{revision}}       the revision round of a solve (0 for the first)
//   {{feedback}}       critic feedback from earlier rounds, one "- " bullet each; "(none)"
//   {{goal_subtasks}}  the subtasks given with the goal, one bullet each with id, title,
//                      instructions and dependencies; "(none)"
//   {{candidate}}      the candidate under review: its content, then its files as fenced
//                      blocks; "(none)"
//   {{workspace}}      the workspace files, each as "File: <path>" and a fenced block;
//                      "(the workspace is empty)"
//   {{answer_format}}  the JSON schema of the answer the task's role must give (answer_schema)
#pragma once

#include <string>
#include <vector>

#include "cadre/result.h"
#include "cadre/roles/messages.h"

namespace cadre::roles {

struct RolePrompt {
  std::string system;
  std::string user;
};

// The line that separates a template's system part from its user part.
inline constexpr const char* kUserSeparator = "---user---";

// Reads a template file (at most 1 MiB) and checks its format (separator, known placeholders).
// Errors name the path.
Result<std::string> read_template_file(const std::string& path);

// Checks a template's format without a task: the separator and that every placeholder is known.
Status check_template(const std::string& template_text);

// The compiled-in copy of roles/prompts/<role>.md for a task kind: plan -> planner.md,
// solve -> coder.md, review -> critic.md, resolve -> coder.md (a human resolving a subtask
// answers like a coder).
std::string default_template(TaskKind kind);

// The JSON schema (draft 2020-12 subset; every property required, no additional properties, so
// it also suits OpenAI-style strict structured outputs) of the answer a task kind asks for:
//   plan:           {"subtasks": [{"id", "title", "instructions", "depends_on": [ids]}]}
//   solve, resolve: {"files": [{"path", "content"}], "notes"}
//   review:         {"accept": bool, "score": 0..1, "feedback"}
// The answers are read by parse_plan_answer / parse_coder_answer / parse_critic_answer.
std::string answer_schema(TaskKind kind);

// Fills a template from a task. Fails on a missing or repeated separator, or an unknown
// placeholder (the error names it, e.g. "unknown placeholder {{goal}}").
Result<RolePrompt> render_prompt(const std::string& template_text, const TaskAssignment& task);

// The known placeholder names, in the order documented above.
const std::vector<std::string>& prompt_placeholders();

}  // namespace cadre::roles
