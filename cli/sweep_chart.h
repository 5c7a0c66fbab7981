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

}  // namespace cadre::cli
