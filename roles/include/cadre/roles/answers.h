// Reading what a model returned: the JSON answers the role prompts (cadre/roles/prompts.h) ask for,
// turned into the message bodies the hub understands. Pure functions, no I/O.
//
// Each parser first finds the JSON object in the reply (extract_json_object), then checks it
// against the role's answer format. Failures say what was wrong in words a model could act on
// (they are suitable as feedback for a retry), e.g. "subtasks[2].depends_on: unknown subtask 's9'".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "cadre/result.h"
#include "cadre/roles/messages.h"

namespace cadre::roles {

inline constexpr std::size_t kMaxPlanSubtasks = 50;
inline constexpr std::size_t kMaxSubtaskIdBytes = 64;
inline constexpr std::size_t kMaxAnswerFiles = 500;
// Files of one coder answer, in all: the candidate travels in a RESULT frame of at most 4 MiB.
inline constexpr std::size_t kMaxAnswerFileBytes = 3 * 1024 * 1024;

// Extracts the JSON object from a model reply and returns its text: the whole reply if it is one
// JSON object; else the first ```json fenced block (then any other fenced block) holding one;
// else the outermost {...} of the reply. A leading <think>...</think> block is ignored. JSON
// comments are tolerated. Fails with a reason ("reply holds no JSON object", "... does not parse:
// ...").
Result<std::string> extract_json_object(std::string_view reply);

// A planner's answer: {"subtasks": [{"id", "title", "instructions", "depends_on": [...],
// "difficulty"?}]}. Checks: 1..50 subtasks; ids are non-empty strings of at most 64 bytes with no
// '/', no control characters, not "plan", unique; title and instructions are strings (missing:
// empty); depends_on (missing: none) names ids of this plan, repeated entries dropped; the
// dependencies form no cycle (the error names one, e.g. "dependency cycle: s1 -> s2 -> s1");
// difficulty is a number in [0, 1], default 0.5.
Result<std::vector<SubtaskPlan>> parse_plan_answer(std::string_view reply);

// A coder's answer: {"files": [{"path", "content"}], "notes": "..."}. Checks: files is a non-empty
// list (at most 500, at most 3 MiB of content in all) of objects with string path and content;
// each path passes check_relative_path (the error names it) and appears once. The candidate's
// content is the notes, or when there are none a summary ("Wrote 2 files: a.c, b.c").
// sim_correct stays empty.
Result<Candidate> parse_coder_answer(std::string_view reply);

// A critic's answer: {"accept": true|false, "score": 0..1, "feedback": "..."}. accept is a
// required boolean; score is a number in [0, 1] (missing or null: 1 if accepted, else 0);
// feedback a string (missing: empty).
Result<Verdict> parse_critic_answer(std::string_view reply);

}  // namespace cadre::roles
