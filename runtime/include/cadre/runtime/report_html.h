// report.html: a run's report as one self-contained page (no network, no scripts; charts are
// static inline SVG): the outcome breakdown, cost, a Gantt timeline of every agent's dispatches
// and the distribution of goal times. What each part shows: docs/reports.md.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "cadre/runtime/hub_core.h"
#include "cadre/runtime/report.h"

namespace cadre::runtime {

// How much of the timeline the page draws. Agents are taken in turn from each role (in the
// scheduler's order) while both limits hold; what is left out is counted in the page (and is in
// trace.json and report.json's task_attempts).
struct HtmlLimits {
  std::size_t max_agents = 60;  // Gantt rows
  std::size_t max_bars = 5000;  // Gantt bars (dispatch spans)
};

// The page as text.
std::string report_html(const HubCore& core, const RunFacts& facts, const HtmlLimits& limits = {});

// `text` escaped for HTML text and attribute values (& < > " ').
std::string html_escape(std::string_view text);

// Each chart's fill colours; no colour is used by two charts, so a screenshot tells which charts
// were drawn (tests/integration/check_render.py).
namespace report_colours {
// outcome bar
inline constexpr const char* kResolved = "#2e8b57";
inline constexpr const char* kEscalated = "#e6a23c";
inline constexpr const char* kFailed = "#d64545";
inline constexpr const char* kStopped = "#7b5ea7";
inline constexpr const char* kOpen = "#9e9e9e";
// timeline, by task kind
inline constexpr const char* kPlan = "#6a4c93";
inline constexpr const char* kSolve = "#1f77b4";
inline constexpr const char* kReview = "#17becf";
inline constexpr const char* kResolve = "#e377c2";
inline constexpr const char* kApprove = "#8c564b";
// goal-time histogram
inline constexpr const char* kLatency = "#b5a642";
inline constexpr const char* kP50 = "#444444";
inline constexpr const char* kP95 = "#b03a2e";
}  // namespace report_colours

}  // namespace cadre::runtime
