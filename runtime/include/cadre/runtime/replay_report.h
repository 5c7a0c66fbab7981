// A run checked against its journal (`cadre replay`): the journal replayed into a fresh core
// (replay.h) gives the report the run should have written; comparing it field by field with the
// report the run did write shows whether the journal holds the whole run. And every goal's state
// at any record, to look back into a run.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cadre/result.h"
#include "cadre/runtime/hub_core.h"
#include "cadre/runtime/replay.h"
#include "cadre/runtime/report.h"

namespace cadre::runtime {

// The report.json fields a journal does not determine, as paths ("time.wall_s"; "agents[].x" is
// field x of every element): what the shell knew and never told the core — live or sim, the clock
// after the last record, the messages on the socket, the supervisor's restarts. Not compared.
const std::vector<std::string>& report_fields_not_in_journal();

// The fields of report_fields_not_in_journal as a run's report.json states them (mode, wall_s,
// real_s, messages, agent restarts). Fails naming `path` when `report_text` is not a cadre report.
Result<RunFacts> read_shell_facts(std::string_view report_text, const std::string& path);

// The RunFacts of a core rebuilt from a journal: the agents' pids as the journal's joins give
// them and `interrupted` from its stop record; the rest (report_fields_not_in_journal) from
// `shell`.
RunFacts replayed_run_facts(const HubCore& core, const ReplayResult& replayed,
                            const RunFacts& shell);

// One difference between a run's file and its replay.
struct ReportMismatch {
  // "cost.usd", "agents[coder-1].tasks", "task_attempts[login-form/s1#0].state",
  // "goals.jsonl[login-form].outcome": array elements are named by their key when they have one.
  std::string field;
  std::string report;  // the value in the run's file, as JSON text; "(absent)" when missing
  std::string replay;  // the value the replay gives, likewise
};

// Compares the run's report.json with the replay's, every field at every depth, skipping
// report_fields_not_in_journal. Array elements are matched by key when every element has one
// (agents by id, task_attempts by goal/task#attempt), else by position. Fails naming
// `report_path` when the run's text is not a JSON object.
Result<std::vector<ReportMismatch>> compare_report_json(std::string_view report_text,
                                                        std::string_view replay_text,
                                                        const std::string& report_path);

// The same for goals.jsonl: goals matched by id, fields named "goals.jsonl[ID].FIELD". Fails
// naming `report_path` and the line when a line of the run's file is not a JSON object with an id.
Result<std::vector<ReportMismatch>> compare_goal_lines(std::string_view report_text,
                                                       std::string_view replay_text,
                                                       const std::string& report_path);

// A subtask at some point of a run.
struct SubtaskProgress {
  std::string id;
  std::string state;  // subtask_state_name: waiting | solving | ... | failed
  std::uint32_t attempts = 0;  // solve attempts made so far
};

// A goal at some point of a run (`cadre replay --until`).
struct GoalProgress {
  std::string id;
  std::string outcome;  // open | resolved | escalated | failed | stopped_by_budget
  std::string reason;   // why it failed, when it did
  bool planned = false;            // its plan is in (subtasks are known)
  bool awaiting_approval = false;  // done by the team, waiting for a person (approval: human)
  std::uint32_t results = 0;       // results accepted so far (every kind of task)
  std::uint32_t tasks_running = 0;  // dispatched and not answered yet
  std::uint32_t tasks_queued = 0;   // waiting for an agent
  std::uint64_t tokens_in = 0, tokens_out = 0;
  double usd = 0.0;
  std::vector<SubtaskProgress> subtasks;  // empty until planned
};

// Every goal of `core`'s ledger as it stands, in goal order.
std::vector<GoalProgress> goal_progress(const HubCore& core);

}  // namespace cadre::runtime
