// The sweep chart: resolution rate and cost per resolved goal against inference compute (tokens
// per goal), one line per combination of the secondary varied fields, as a self-contained SVG.
#pragma once

#include <string>
#include <vector>

namespace cadre::cli {

struct SweepSample {
  std::vector<std::string> values;  // one per varied field; the first is the line's x ordering
  double resolution_rate = 0.0;     // goals resolved by the team / goals
  double correct_rate = 0.0;        // goals resolved by the team with correct work (sim truth)
  double tokens_per_goal = 0.0;
  double usd_per_resolved = -1.0;   // < 0: nothing resolved
};

// Samples with equal values (different seeds) are averaged into one point.
std::string sweep_chart_svg(const std::string& title, const std::vector<std::string>& dimensions,
                            const std::vector<SweepSample>& samples);

// One run of a sweep (a grid point and seed), as the sweep's report.html lists it.
struct SweepRunRow {
  std::size_t run = 0;
  long long seed = 0;
  std::vector<std::string> values;  // one per varied field
  std::string failure;              // non-empty: the run failed (the figures are not set)
  double goals = 0, resolved = 0, escalated = 0, failed = 0;
  double tokens_per_goal = 0.0;
  double usd = 0.0;
  double usd_per_resolved = -1.0;  // < 0: nothing resolved
  std::string link;                // the run's own report.html, relative to the sweep's folder
};

// The sweep's report.html: self-contained (no scripts, no network), the chart `chart_svg` (from
// sweep_chart_svg) inline and a table of every run linking to its own report.
std::string sweep_report_html(const std::string& title, const std::vector<std::string>& dimensions,
                              const std::string& chart_svg, const std::vector<SweepRunRow>& rows);

}  // namespace cadre::cli
