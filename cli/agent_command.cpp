// `cadre agent`: one agent process.
#include <signal.h>

#include <atomic>
#include <iostream>

#include "cadre/agents/agent_process.h"
#include "commands.h"

namespace cadre::cli {
namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

}  // namespace

int agent_command(const AgentArgs& args) {
  agents::AgentOptions options;
  options.hub = args.hub;
  options.agent_id = args.id;
  options.role = args.role;
  options.brain = args.brain;
  options.model = args.model;
  options.capacity = args.capacity;
  options.hub_timeout_s = args.hub_timeout_s;
  for (const auto& param : args.brain_params) {
    const auto eq = param.find('=');
    if (eq == std::string::npos || eq == 0) {
      print_error("--brain-param '" + param + "': expected key=value");
      return kExitBadInput;
    }
    options.brain_params[param.substr(0, eq)] = param.substr(eq + 1);
  }
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  options.stop_requested = [] { return g_stop.load(); };
  const std::string prefix = "[" + args.id + "] ";
  options.log = [&](const std::string& line) { std::cerr << prefix << line << std::endl; };
  const int code = agents::run_agent(options);
  if (code == 2) return kExitBadInput;
  return code;
}

}  // namespace cadre::cli
