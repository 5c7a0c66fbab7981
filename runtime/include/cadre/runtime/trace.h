// trace.json: a run's timeline in Chrome's trace-event format, for Perfetto (ui.perfetto.dev) and
// chrome://tracing. Field reference: docs/reports.md.
//
// {"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}: pid 1 is the team
// ("process_name": "cadre <scenario>"); each agent is a track, tid = 1 + its index in
// HubCore::scheduler().agents() (the order of report.json's "agents"), named by "thread_name"
// metadata "<agent id> (<role>)". Every dispatch span is one complete event ("ph": "X"; ts and dur
// in microseconds from the run's start) named "<kind> <goal>/<task>" with args goal, task,
// subtask, kind, attempt, agent, verdict, end, tokens_in, tokens_out, usd. Spans still open are
// cut off at the end of the run's timeline (HubCore::last_event_at) with end "open".
#pragma once

#include <string>

#include "cadre/result.h"
#include "cadre/runtime/hub_core.h"
#include "cadre/runtime/report.h"

namespace cadre::runtime {

// The whole document as text (for tests and tools; write_trace streams it instead).
std::string trace_json(const HubCore& core, const RunFacts& facts);

// Writes the document to `path`. Fails naming the path on I/O errors.
Status write_trace(const std::string& path, const HubCore& core, const RunFacts& facts);

}  // namespace cadre::runtime
