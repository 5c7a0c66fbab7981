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

// For `--resume DIR`: the scenario and output folder become those of the run in DIR, whose
// journal must not be damaged in the middle (runtime::check_resumable). Without
// --resume, a scenario file is required. Prints the error and returns false on bad input (the
// command exits with kExitBadInput).
bool apply_resume(const std::string& resume_dir, ScenarioArgs& scenario, std::string& out_dir);

// Makes `out_dir` (and out_dir + `subfolder`) and, unless resuming, writes its run.json. Prints
// the reason and returns false on failure.
bool prepare_run_folder(const std::string& out_dir, const std::string& subfolder,
                        const ScenarioArgs& scenario, bool resuming);

// DIR/run.json: what a run was started with (scenario file, --set, --seed, the file's checksum),
// so `--resume DIR` continues it with the same scenario.
Status write_run_record(const std::string& dir, const ScenarioArgs& args);

// The ScenarioArgs of the run in `dir`. Fails when run.json is missing or unreadable, or when
// the scenario file has changed since the run began (a resumed run must replay the same work).
Result<ScenarioArgs> read_run_record(const std::string& dir);

}  // namespace cadre::cli
