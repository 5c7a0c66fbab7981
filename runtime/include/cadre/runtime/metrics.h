// The hub's state as Prometheus text metrics (exposition format 0.0.4), for `--metrics` /metrics.
//
// Pure: a function of the core, the message counts and the time given; deterministic (families in
// a fixed order, labelled series sorted). Every family has # HELP and # TYPE; names start with
// `cadre_`. Serve it with content type kPrometheusContentType.
#pragma once

#include <string>

#include "cadre/runtime/clock.h"
#include "cadre/runtime/hub_core.h"
#include "cadre/runtime/report.h"

namespace cadre::runtime {

inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// The metrics text at `now` (the core's clock: cadre_run_elapsed_seconds is now - started_at
// while the run goes on, frozen at the last event once it finished, 0 before start).
std::string prometheus_text(const HubCore& core, const MessageStats& messages, TimeUs now);

// A label value escaped for the text format: backslash, double quote and newline.
std::string prometheus_escape_label(const std::string& value);

}  // namespace cadre::runtime
