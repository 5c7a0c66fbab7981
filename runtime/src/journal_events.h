// The journal's RESULT record: the live hub writes it with outcome_record, replay reads it with
// outcome_from_record (defined in replay.cpp). A change to one is a change to the other;
// tests/runtime/replay_test.cpp round-trips every field.
#pragma once

#include <string_view>

#include "cadre/result.h"
#include "cadre/roles/messages.h"
#include "json_line.h"

namespace cadre::runtime {

// The journal record of a RESULT: everything needed to feed it to a core again.
inline JsonLine outcome_record(const roles::TaskOutcome& outcome) {
  JsonLine line;
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
    std::string plan = "[";
    for (const auto& s : outcome.plan) {
      if (plan.size() > 1) plan += ",";
      plan += JsonLine()
                  .field("id", s.id)
                  .field("title", s.title)
                  .field("instructions", s.instructions)
                  .field("difficulty", s.difficulty)
                  .raw("depends_on", [&] {
                    std::string ids = "[";
                    for (const auto& id : s.depends_on)
                      ids += (ids.size() > 1 ? "," : "") + json_quote(id);
                    return ids + "]";
                  }())
                  .str();
    }
    line.raw("plan", plan + "]");
  }
  if (outcome.candidate) {
    JsonLine candidate;
    candidate.field("content", outcome.candidate->content);
    if (!outcome.candidate->files.empty()) {
      std::string files = "[";
      for (const auto& file : outcome.candidate->files) {
        if (files.size() > 1) files += ",";
        files += JsonLine().field("path", file.path).field("content", file.content).str();
      }
      candidate.raw("files", files + "]");
    }
    if (outcome.candidate->sim_correct) candidate.field("sim_correct", *outcome.candidate->sim_correct);
    line.raw("candidate", candidate.str());
  }
  if (outcome.verdict)
    line.raw("verdict", JsonLine()
                            .field("accept", outcome.verdict->accept)
                            .field("score", outcome.verdict->score)
                            .field("feedback", outcome.verdict->feedback)
                            .str());
  return line;
}

// The outcome in a RESULT record (the JSON text of the record). Fails naming what is missing or
// of the wrong type.
Result<roles::TaskOutcome> outcome_from_record(std::string_view record_json);

}  // namespace cadre::runtime
