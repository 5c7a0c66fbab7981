#include <iostream>

#include "commands.h"
#include "run_support.h"
#include "scenario_args.h"

namespace cadre::cli {

void print_error(const std::string& message) { std::cerr << "cadre: error: " << message << "\n"; }

Result<runtime::Scenario> load_from_args(const ScenarioArgs& args) {
  std::vector<runtime::Override> overrides;
  for (const auto& text : args.sets) {
    auto parsed = runtime::parse_override(text);
    if (!parsed.ok()) return make_error(parsed.error().message, "--set " + text);
    overrides.push_back(*parsed);
  }
  return runtime::load_scenario(args.path, overrides, args.seed);
}

std::optional<runtime::Scenario> load_or_print(const ScenarioArgs& args) {
  auto loaded = load_from_args(args);
  if (!loaded.ok()) {
    print_error(loaded.error().to_string());
    return std::nullopt;
  }
  return std::move(loaded.value());
}

int validate_command(const ScenarioArgs& args) {
  auto scenario = load_or_print(args);
  if (!scenario) return kExitBadInput;
  if (auto plugins = check_plugins(*scenario); !plugins.ok()) {
    print_error(plugins.error().to_string());
    return kExitBadInput;
  }
  std::size_t agents = 0, subtasks = 0;
  for (const auto& entry : scenario->team) agents += entry.count;
  for (const auto& goal : scenario->goals) subtasks += goal.subtasks.size();
  std::cout << args.path << ": ok: scenario '" << scenario->name << "', seed " << scenario->seed
            << ", " << agents << " agents, " << scenario->goals.size() << " goals, " << subtasks
            << " subtasks\n";
  return kExitOk;
}

}  // namespace cadre::cli
