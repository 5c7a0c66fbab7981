// `cadre sim`: the same scenario on a virtual clock, in one process.
#include <filesystem>
#include <iostream>

#include "cadre/runtime/report.h"
#include "commands.h"
#include "scenario_args.h"
#include "team_brains.h"
#include "team_sim.h"

namespace cadre::cli {

int sim_command(const RunArgs& args) {
  auto loaded = load_from_args(args.scenario);
  if (!loaded.ok()) {
    print_error(loaded.error().to_string());
    return kExitBadInput;
  }
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
  std::error_code fs_error;
  std::filesystem::create_directories(out_dir, fs_error);
  if (fs_error) {
    print_error(out_dir + ": cannot create output folder: " + fs_error.message());
    return kExitFailure;
  }

  runtime::RunFacts facts = (*team)->run();
  const runtime::HubCore& core = (*team)->core();
  auto written = runtime::write_report(out_dir, core, facts);
  std::cout << runtime::summary_table(core, facts);
  if (!written.ok()) {
    print_error(written.error().to_string());
    return kExitFailure;
  }
  std::cout << "  report     " << out_dir << "/report.json\n" << std::endl;
  if (core.finish_reason() != "all goals ended") return kExitLimit;
  return kExitOk;
}

}  // namespace cadre::cli
