// `cadre sim`: the same scenario on a virtual clock, in one process.
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "progress.h"
#include "scenario_args.h"
#include "run_support.h"
#include "team_sim.h"

namespace cadre::cli {

int sim_command(const RunArgs& args) {
  auto loaded = load_or_print(args.scenario);
  if (!loaded) return kExitBadInput;
  const runtime::Scenario& scenario = *loaded;
  // Progress on a terminal: one line redrawn in place; otherwise a plain line every
  // --progress-s seconds of wall time and one at the end. Checked every few thousand events.
  ProgressLine progress(ProgressLine::for_stdout(!args.quiet, args.progress_s, nullptr));
  runtime::SimOptions options;
  if (!args.quiet && scenario.goals.size() <= 200) {
    options.on_progress = [&progress](const std::string& line) {
      progress.before_log();
      std::cout << line << "\n";
    };
  }
  if (!args.quiet) {
    options.on_step = [&progress](const runtime::HubCore& core, runtime::TimeUs now) {
      progress.update(core, runtime::us_to_seconds(now));
    };
  }
  auto team = TeamSim::create(scenario, options);
  if (!team.ok()) {
    print_error(team.error().to_string());
    return kExitBadInput;
  }

  const std::string out_dir = args.out_dir.empty() ? default_out_dir(scenario.name) : args.out_dir;
  if (!make_out_dir(out_dir)) return kExitFailure;
  runtime::RunFacts facts = (*team)->run();
  progress.finish((*team)->core(), facts.wall_s);
  return finish_run(out_dir, (*team)->core(), facts);
}

}  // namespace cadre::cli
