// `cadre run`: a live run on this machine. The hub runs in this process; every agent is a child
// process (`cadre agent ...`) connected over ZeroMQ on loopback TCP.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "cadre/agents/exec_brain.h"
#include "cadre/runtime/child_processes.h"
#include "cadre/runtime/live_hub.h"
#include "cadre/runtime/report.h"
#include "commands.h"
#include "scenario_args.h"
#include "run_support.h"

namespace cadre::cli {
namespace {


std::vector<std::string> agent_argv(const std::string& exe, const std::string& hub,
                                    const std::string& id, const runtime::TeamEntry& entry,
                                    const runtime::Scenario& scenario,
                                    const std::string& log_dir) {
  std::vector<std::string> argv = {exe,       "agent",          "--hub",  hub,
                                   "--id",    id,               "--role", entry.role,
                                   "--brain", entry.brain.kind, "--model", entry.brain.model,
                                   "--capacity", std::to_string(entry.capacity),
                                   // An orphaned agent gives up rather than waiting forever.
                                   "--hub-timeout", "30"};
  auto params = brain_params_for(entry, scenario);
  // An llm brain logs every exchange with its model next to the agent's log.
  if (entry.brain.kind == "llm" && !params.count("log_path"))
    params["log_path"] = log_dir + "/" + id + ".llm.jsonl";
  for (const auto& [key, value] : params) {
    argv.push_back("--brain-param");
    argv.push_back(key + "=" + value);
  }
  return argv;
}

// The folder of the scenario file, where process agents run.
std::string scenario_folder(const runtime::Scenario& scenario) {
  const auto slash = scenario.source_path.rfind('/');
  return slash == std::string::npos ? std::string(".") : scenario.source_path.substr(0, slash);
}

}  // namespace

int run_command(const RunArgs& args) {
  auto loaded = load_or_print(args.scenario);
  if (!loaded) return kExitBadInput;
  const runtime::Scenario& scenario = *loaded;
  if (auto plugins = check_plugins(scenario); !plugins.ok()) {
    print_error(plugins.error().to_string());
    return kExitBadInput;
  }
  if (auto reachable = check_llm_endpoints(scenario); !reachable.ok()) {
    print_error(reachable.error().to_string());
    return kExitFailure;
  }
  const std::string out_dir = args.out_dir.empty() ? default_out_dir(scenario.name) : args.out_dir;
  if (!make_out_dir(out_dir + "/agents")) return kExitFailure;

  install_stop_signals();
  const RunLog say(args.quiet);

  runtime::ChildProcesses children;
  runtime::LiveHubOptions options;
  options.out_dir = out_dir;
  options.interrupted = [] { return stop_signal() != 0; };
  options.on_idle = [&] {
    for (const auto& exit : children.reap()) say("agent " + exit.name + " " + exit.describe());
  };
  const bool chatty = scenario.goals.size() <= 200;
  options.on_progress = [&](const std::string& line) {
    if (chatty) say(line);
  };
  auto hub = runtime::LiveHub::create(scenario, options);
  if (!hub.ok()) {
    print_error(hub.error().to_string());
    return kExitFailure;
  }

  // Tools and tests that want to talk to this hub find its address here.
  {
    std::ofstream endpoint_file(out_dir + "/hub.endpoint");
    endpoint_file << (*hub)->endpoint() << "\n";
  }

  std::size_t agent_count = 0;
  for (const auto& entry : scenario.team) agent_count += entry.count;
  say("scenario '" + scenario.name + "': " + std::to_string(scenario.goals.size()) +
      " goals, " + std::to_string(agent_count) + " agents; hub at " + (*hub)->endpoint() +
      "; output in " + out_dir);

  if (scenario.faults.any())
    say("note: the scenario's faults: section is injected only by `cadre sim`; a live run has "
        "real faults and ignores it");

  const std::string exe = self_executable();
  std::map<std::string, std::uint32_t> next_index;
  for (const auto& entry : scenario.team) {
    for (std::uint32_t i = 0; i < entry.count; ++i) {
      const std::string id = agent_id_for(entry.role, ++next_index[entry.role]);
      Result<pid_t> pid = make_error("not started");
      if (entry.brain.kind == "process") {
        // An agent in any language: its own command, told where the hub is through CADRE_*
        // variables, running in the scenario file's folder (so relative paths work).
        auto command = agents::parse_exec_params({{"command", entry.brain.params.at("command")}});
        if (!command.ok()) {
          print_error("team role " + entry.role + ": " + command.error().to_string());
          children.stop_all(std::chrono::milliseconds(500));
          return kExitBadInput;
        }
        const std::map<std::string, std::string> env = {
            {"CADRE_HUB", (*hub)->endpoint()},    {"CADRE_AGENT_ID", id},
            {"CADRE_ROLE", entry.role},           {"CADRE_MODEL", entry.brain.model},
            {"CADRE_CAPACITY", std::to_string(entry.capacity)}};
        pid = children.spawn(id, command->command, out_dir + "/agents/" + id + ".log", env,
                             scenario_folder(scenario));
      } else {
        pid = children.spawn(
            id, agent_argv(exe, (*hub)->endpoint(), id, entry, scenario, out_dir + "/agents"),
            out_dir + "/agents/" + id + ".log");
      }
      if (!pid.ok()) {
        print_error("cannot start agent " + id + ": " + pid.error().to_string());
        children.stop_all(std::chrono::milliseconds(500));
        return kExitFailure;
      }
    }
  }

  runtime::RunFacts facts = (*hub)->run();
  for (const auto& exit : children.stop_all(std::chrono::seconds(3))) {
    if (!(WIFEXITED(exit.status) && WEXITSTATUS(exit.status) == 0))
      say("agent " + exit.name + " " + exit.describe());
  }

  return finish_run(out_dir, (*hub)->core(), facts);
}

}  // namespace cadre::cli
