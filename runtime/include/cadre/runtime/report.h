// The run report: report.json (totals and every task attempt), goals.jsonl (one line per goal,
// for comparing runs goal by goal), report.html (the page with charts, report_html.h), trace.json
// (the timeline for Perfetto, trace.h) and the summary table printed at the end. The same for
// live and simulated runs. Every field: docs/reports.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "cadre/result.h"
#include "cadre/runtime/hub_core.h"

namespace cadre::runtime {

struct MessageStats {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::uint64_t malformed = 0;  // frames that did not decode, or bodies that did not
  std::uint64_t refused = 0;    // connections refused by authentication (CURVE/ZAP)
};

// What the shell knows that the core does not.
struct RunFacts {
  std::string mode = "live";  // live | sim
  double wall_s = 0.0;        // duration of the run on the core's clock (virtual in sim)
  double real_s = -1.0;       // sim only: wall-clock seconds the simulation took
  bool interrupted = false;   // stopped by a signal; the report is partial
  std::string failure;        // non-empty: the run could not go on (e.g. a role lost every agent)
  MessageStats messages;
  std::map<std::string, std::int64_t> agent_pids;  // agent id -> OS pid (0: unknown)
  // agent id -> times its process was restarted after dying (`cadre run`'s supervision); agents
  // not listed were never restarted.
  std::map<std::string, std::uint32_t> agent_restarts;
};

// Writes DIR/report.json, DIR/goals.jsonl, DIR/report.html and DIR/trace.json (DIR must exist).
// Fails naming the file on the first I/O error.
Status write_report(const std::string& dir, const HubCore& core, const RunFacts& facts);

// The report.json document as text, for tests and tools: the totals pretty-printed, then
// "task_attempts", one entry per task attempt dispatched at least once ({goal, task, attempt,
// kind, agent, state, verdict, start_s, end_s, tokens_in, tokens_out, usd}), one per line.
std::string report_json(const HubCore& core, const RunFacts& facts);

// goals.jsonl as write_report writes it: one JSON object per goal and line, in goal order
// ({id, outcome, subtasks, subtasks_discovered, subtasks_escalated, attempts, results, tokens_in,
// tokens_out, usd, time_s, reason if any}).
std::string goals_jsonl(const HubCore& core);

// A human-readable summary table of the run.
std::string summary_table(const HubCore& core, const RunFacts& facts);

// The figures a sweep compares, as read back from a report.json.
struct ReportFigures {
  double goals = 0, resolved = 0, escalated = 0, failed = 0;
  double resolved_correct = 0, false_accepts = 0;
  double tokens_in = 0, tokens_out = 0, usd = 0;
  double usd_per_resolved = -1;  // < 0: nothing resolved
  double goal_p95_s = 0;
};

// Reads report.json at `path` (skipping task_attempts). Fails naming the path when it is missing
// or not a report.
Result<ReportFigures> read_report_figures(const std::string& path);

// p-th percentile (0..100) of goal times in seconds over ended goals that were dispatched;
// 0 when there are none. Nearest-rank method.
double goal_time_percentile(const Ledger& ledger, double p);

}  // namespace cadre::runtime
