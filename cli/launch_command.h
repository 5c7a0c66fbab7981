// `cadre launch slurm`: a scenario as one Slurm batch job. The job makes CURVE keys in its
// folder, runs the hub on the allocation's first node and the team's agents across its nodes
// (`srun` steps), and ends with the hub's exit code; the launcher submits it, follows it and
// prints the run's summary, or the job's state and Slurm's reason when it failed.
#pragma once

#include <string>

#include "cadre/runtime/scenario.h"
#include "commands.h"

namespace cadre::cli {

struct LaunchArgs {
  ScenarioArgs scenario;   // --set and --seed are passed on to the hub (--set to agents too)
  unsigned nodes = 1;      // nodes of the allocation; the hub runs on the first
  std::string partition;   // empty: the cluster's default
  std::string time_limit;  // Slurm's --time (e.g. 30, 2:00:00, 1-00:00:00); empty: partition's
  bool dry_run = false;    // print the script; create, submit and start nothing
  std::string out_dir;     // the job's folder, shared by every node; empty:
                           // runs/<scenario>-slurm-<timestamp> under the current folder
  std::string account;     // empty: the user's default
  double poll_s = 2;       // seconds between job state checks while following
};

// The sbatch script that runs `scenario` (loaded with args.scenario's overrides) as one job:
// #SBATCH lines (job name, nodes, output into out_dir, partition/time/account when given), then
// `cadre keys gen`, the hub step on node 0, one srun step per team entry (its `count` agents,
// cyclic over the allocation's nodes) and the hub's exit code as the job's.
// Pure: the paths are used as given and must be absolute; out_dir must not contain '"' or a
// newline (Slurm's #SBATCH lines cannot carry them; launch_slurm_command checks).
std::string slurm_script(const runtime::Scenario& scenario, const LaunchArgs& args,
                         const std::string& cadre_path, const std::string& scenario_abs_path,
                         const std::string& out_dir);

// Exit code: with --dry-run 0 (2 for a bad scenario or option). Otherwise the hub's exit code
// when the job ran the hub to its end (0 all goals ended, 3 stopped by a limit), 1 when Slurm is
// missing, sbatch refused the job or the job failed (its id, state and Slurm's reason printed),
// 2 bad input, 130 interrupted (the job is cancelled).
int launch_slurm_command(const LaunchArgs& args);

}  // namespace cadre::cli
