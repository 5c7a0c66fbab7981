// `cadre agent`: one agent process.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <iostream>

#include "cadre/agents/agent_process.h"
#include "commands.h"
#include "run_support.h"
#include "scenario_args.h"
#include "security_args.h"

namespace cadre::cli {
namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

std::string default_agent_id(const std::string& role) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "host");
  return role + "-" + host + "-" + std::to_string(::getpid());
}

// Brain, model, parameters and capacity from the scenario's team entry for the agent's role.
Status apply_scenario(const AgentArgs& args, agents::AgentOptions& options) {
  auto loaded = load_from_args(args.scenario);
  if (!loaded.ok()) return loaded.error();
  const auto& team = loaded->team;
  const runtime::TeamEntry* entry = nullptr;
  if (args.entry >= 0) {
    if (static_cast<std::size_t>(args.entry) >= team.size())
      return make_error("--entry " + std::to_string(args.entry) + ": the scenario has " +
                        std::to_string(team.size()) + " team entries (0.." +
                        std::to_string(team.size() - 1) + ")");
    entry = &team[args.entry];
    if (entry->role != args.role)
      return make_error("--entry " + std::to_string(args.entry) + " is a " + entry->role +
                        ", not a " + args.role);
  } else {
    for (const auto& candidate : team)
      if (candidate.role == args.role && entry == nullptr) entry = &candidate;
    if (entry == nullptr) return make_error("the scenario's team has no " + args.role);
  }
  if (entry->brain.kind == "inbox")
    return make_error("this human is an inbox: a person answers with `cadre inbox --hub ADDR`; "
                      "the hub serves it, no agent process is needed");
  if (entry->brain.kind == "process")
    return make_error("a process brain is a program of its own: start its command with "
                      "CADRE_HUB, CADRE_AGENT_ID, CADRE_ROLE, CADRE_MODEL and CADRE_CAPACITY set");
  options.brain = entry->brain.kind;
  options.model = entry->brain.model;
  options.brain_params = brain_params_for(*entry, *loaded);
  if (!args.capacity_given) options.capacity = entry->capacity;
  return {};
}

}  // namespace

int agent_command(const AgentArgs& args) {
  agents::AgentOptions options;
  options.hub = args.hub;
  options.agent_id = args.id.empty() ? default_agent_id(args.role) : args.id;
  options.role = args.role;
  options.brain = args.brain;
  options.model = args.model;
  options.capacity = args.capacity;
  options.hub_timeout_s = args.hub_timeout_s;
  if (!args.scenario.path.empty()) {
    if (auto applied = apply_scenario(args, options); !applied.ok()) {
      print_error(applied.error().to_string());
      return kExitBadInput;
    }
  } else if (args.model.empty()) {
    print_error("--model is required (or --scenario FILE to take the brain from a scenario)");
    return kExitBadInput;
  }
  for (const auto& param : args.brain_params) {
    const auto eq = param.find('=');
    if (eq == std::string::npos || eq == 0) {
      print_error("--brain-param '" + param + "': expected key=value");
      return kExitBadInput;
    }
    options.brain_params[param.substr(0, eq)] = param.substr(eq + 1);
  }
  auto security = agent_security(args.keys);
  if (!security.ok()) {
    print_error(security.error().to_string());
    return kExitBadInput;
  }
  options.security = *security;

  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  options.stop_requested = [] { return g_stop.load(); };
  const std::string prefix = "[" + options.agent_id + "] ";
  options.log = [&](const std::string& line) { std::cerr << prefix << line << std::endl; };
  const int code = agents::run_agent(options);
  if (code == 2) return kExitBadInput;
  return code;
}

}  // namespace cadre::cli
