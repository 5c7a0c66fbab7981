// `cadre sim`: the same scenario on a virtual clock, in one process.
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "scenario_args.h"
#include "run_support.h"
#include "team_sim.h"

namespace cadre::cli {

int sim_command(const RunArgs& args) {
  auto loaded = load_or_print(args.scenario);
  if (!loaded) return kExitBadInput;
  const runtime::Scenario& scenario = *loaded;
  runtime::SimOptions options;
  if (!args.quiet && scenario.goals.size() <= 200)
    options.on_progress = [](const std::string& line) { std::cout << line << "\n"; };
  auto team = TeamSim::create(scenario, options);
  if (!team.ok()) {
    print_error(team.error().to_string());
    return kExitBadInput;
  }

  const std::string out_dir = args.out_dir.empty() ? default_out_dir(scenario.name) : args.out_dir;
  if (!make_out_dir(out_dir)) return kExitFailure;
  runtime::RunFacts facts = (*team)->run();
  return finish_run(out_dir, (*team)->core(), facts);
}

}  // namespace cadre::cli
