// Time as the core sees it: microseconds on whatever clock its shell drives (the wall clock in a
// live run, a virtual clock in simulation). The core never reads a clock itself.
#pragma once

#include <cmath>
#include <cstdint>

namespace cadre::runtime {

using TimeUs = std::int64_t;

inline constexpr TimeUs kUsPerSecond = 1'000'000;

inline TimeUs seconds_to_us(double seconds) {
  return static_cast<TimeUs>(std::llround(seconds * static_cast<double>(kUsPerSecond)));
}
inline double us_to_seconds(TimeUs us) { return static_cast<double>(us) / kUsPerSecond; }

}  // namespace cadre::runtime
