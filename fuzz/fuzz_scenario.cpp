// libFuzzer target: the scenario parser on arbitrary YAML text. parse_scenario must return a
// Scenario or an Error for any input: never crash, never throw (an escaping exception is a crash
// for libFuzzer), never hang or exhaust memory (-timeout, -rss_limit_mb).
#include <cstddef>
#include <cstdint>
#include <string>

#include "cadre/runtime/scenario_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto scenario = cadre::runtime::parse_scenario(text, "fuzz.yaml");
  // An error always says something.
  if (!scenario.ok() && scenario.error().message.empty()) __builtin_trap();
  return 0;
}
