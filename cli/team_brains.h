// What `cadre run` and `cadre sim` share about a team: agent output folders and brain parameters.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cadre/runtime/scenario.h"

namespace cadre::cli {

// The brain parameters an agent of `entry` gets: the scenario's, plus the workflow's time_scale
// for simulated brains.
std::map<std::string, std::string> brain_params_for(const runtime::TeamEntry& entry,
                                                    const runtime::Scenario& scenario);

// The id of the n-th agent (from 1) of a role: "coder-3". Live and sim runs name agents alike.
std::string agent_id_for(const std::string& role, std::uint32_t n);

// The path of the running cadre binary, to start agents and runs with.
std::string self_executable();

// Runs argv (argv[0] a path) with output to log_path and waits; returns its exit code, or -1
// when it could not start or was killed by a signal.
int run_and_wait(const std::vector<std::string>& argv, const std::string& log_path);

// runs/<scenario>-<local timestamp>
std::string default_out_dir(const std::string& scenario_name);

}  // namespace cadre::cli
