// Loading a scenario from command-line arguments (path, --set, --seed).
#pragma once

#include <optional>

#include "cadre/result.h"
#include "cadre/runtime/scenario_loader.h"
#include "commands.h"

namespace cadre::cli {

// Fails with "--set TEXT" as the place for a malformed override, or the loader's error.
Result<runtime::Scenario> load_from_args(const ScenarioArgs& args);

// load_from_args for a command: prints the error and gives nothing when the scenario is bad (the
// command then exits with kExitBadInput).
std::optional<runtime::Scenario> load_or_print(const ScenarioArgs& args);

}  // namespace cadre::cli
