// Loading a scenario from command-line arguments (path, --set, --seed).
#pragma once

#include "cadre/result.h"
#include "cadre/runtime/scenario_loader.h"
#include "commands.h"

namespace cadre::cli {

// Fails with "--set TEXT" as the place for a malformed override, or the loader's error.
Result<runtime::Scenario> load_from_args(const ScenarioArgs& args);

}  // namespace cadre::cli
