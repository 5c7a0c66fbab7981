// The journal's RESULT record: the live hub writes it with outcome_record, replay reads it with
// outcome_from_record (defined in replay.cpp). A change to one is a change to the other;
// tests/runtime/replay_test.cpp round-trips every field.
#pragma once

#include <string_view>

#include "cadre/result.h"
#include "cadre/roles/messages.h"
#include "json_line.h"

namespace cadre::runtime {

// The journal record of a RESULT: everything needed to feed it to a core again. Written in place
// into one string (nested plan, candidate and verdict included).
inline JsonLine outcome_record(const roles::TaskOutcome& outcome) {
  std::size_t text = outcome.goal_id.size() + outcome.task_id.size() + outcome.model.size() +
                     outcome.error.size();
  for (const auto& s : outcome.plan) text += s.id.size() + s.title.size() + s.instructions.size() + 96;
  if (outcome.candidate) {
    text += outcome.candidate->content.size() + 48;
    for (const auto& file : outcome.candidate->files) text += file.path.size() + file.content.size() + 32;
  }
  if (outcome.verdict) text += outcome.verdict->feedback.size() + 64;
  JsonLine line(JsonLine::kTypicalBytes + text + text / 8);  // room for escapes
  line.field("ev", "result")
      .field("goal", outcome.goal_id)
      .field("task", outcome.task_id)
      .field("attempt", outcome.attempt)
      .field("ok", outcome.ok)
      .field("tokens_in", outcome.tokens_in)
      .field("tokens_out", outcome.tokens_out)
      .field("model", outcome.model)
      .field("brain_s", outcome.brain_s);
  if (!outcome.error.empty()) line.field("error", outcome.error);
  if (!outcome.plan.empty()) {
    line.array("plan", [&](JsonArray& plan) {
      for (const auto& s : outcome.plan) {
        plan.object([&](JsonObject& subtask) {
          subtask.field("id", s.id)
              .field("title", s.title)
              .field("instructions", s.instructions)
              .field("difficulty", s.difficulty)
              .array("depends_on", [&](JsonArray& ids) {
                for (const auto& id : s.depends_on) ids.string(id);
              });
        });
      }
    });
  }
  if (outcome.candidate) {
    const roles::Candidate& c = *outcome.candidate;
    line.object("candidate", [&](JsonObject& candidate) {
      candidate.field("content", c.content);
      if (!c.files.empty()) {
        candidate.array("files", [&](JsonArray& files) {
          for (const auto& file : c.files)
            files.object([&](JsonObject& f) { f.field("path", file.path).field("content", file.content); });
        });
      }
      if (c.sim_correct) candidate.field("sim_correct", *c.sim_correct);
    });
  }
  if (outcome.verdict) {
    const roles::Verdict& v = *outcome.verdict;
    line.object("verdict", [&](JsonObject& verdict) {
      verdict.field("accept", v.accept).field("score", v.score).field("feedback", v.feedback);
    });
  }
  return line;
}

// The outcome in a RESULT record (the JSON text of the record). Fails naming what is missing or
// of the wrong type.
Result<roles::TaskOutcome> outcome_from_record(std::string_view record_json);

}  // namespace cadre::runtime
