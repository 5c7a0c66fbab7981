// `cadre run`: a live run on this machine. The hub runs in this process; every agent is a child
// process (`cadre agent ...`) connected over ZeroMQ on loopback TCP.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "cadre/agents/exec_brain.h"
#include "cadre/runtime/child_processes.h"
#include "cadre/runtime/live_hub.h"
#include "cadre/runtime/report.h"
#include "cadre/runtime/supervisor.h"
#include "commands.h"
#include "progress.h"
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

// How to start one agent, kept so that a restart starts it exactly as the first time (same id,
// argv, environment and folder; output appended to the same log).
struct AgentLaunch {
  std::string id;
  std::string role;
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string workdir;
  std::string log_path;
};

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", seconds);
  return text;
}

}  // namespace

int run_command(const RunArgs& given) {
  RunArgs args = given;
  if (!apply_resume(args.resume_dir, args.scenario, args.out_dir)) return kExitBadInput;
  const bool resuming = !args.resume_dir.empty();
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
  if (!prepare_run_folder(out_dir, "/agents", args.scenario, resuming)) return kExitFailure;

  install_stop_signals();
  RunLog say(args.quiet);
  // Live progress: redrawn in place on a terminal, a plain line every --progress-s otherwise.
  ProgressLine progress(ProgressLine::for_stdout(!args.quiet, args.progress_s,
                                                 [&say](const std::string& line) { say(line); }));
  say.attach(&progress);

  runtime::ChildProcesses children;
  // Agent processes that die while the run goes on are restarted (scenario `supervision:`); the
  // supervisor's clock is the run log's (seconds since the start of the command).
  runtime::Supervisor supervisor(scenario.supervision);
  std::map<std::string, AgentLaunch> launches;
  std::set<std::string> needed_roles;  // every role of the team is needed while goals are open
  for (const auto& entry : scenario.team) needed_roles.insert(entry.role);
  const runtime::LiveHub* live = nullptr;  // set once the hub exists; on_idle runs inside run()

  auto start_agent = [&](const AgentLaunch& launch) {
    return children.spawn(launch.id, launch.argv, launch.log_path, launch.env, launch.workdir);
  };
  // A death: the supervisor answers restart (later, from on_idle) or give up.
  auto on_death = [&](const std::string& id, double t) {
    auto decision = supervisor.died(id, t);
    if (!decision.ok()) {
      say("supervision: " + decision.error().to_string());
    } else if (decision->restart) {
      say("agent " + id + " restarts in " + seconds_text(decision->delay_s) + " s (restart " +
          std::to_string(decision->restarts_in_period + 1) + " of at most " +
          std::to_string(scenario.supervision.max_restarts) + " within " +
          seconds_text(scenario.supervision.period_s) + " s)");
    } else {
      say("agent " + id + " left down: " + decision->reason);
    }
  };

  runtime::LiveHubOptions options;
  options.out_dir = out_dir;
  options.resume = resuming;  // (--resume: the journal in out_dir is replayed first)
  options.on_log = [&](const std::string& line) { say(line); };
  options.interrupted = [] { return stop_signal() != 0; };
  options.metrics_listen = args.metrics_listen;
  options.on_idle = [&] {
    if (live != nullptr) progress.update(live->core());  // reads the clock; counts only when due
    const double t = say.elapsed_s();
    const auto exits = children.reap();
    // Once every goal has ended or a stop signal arrived, agents leave as part of the shutdown:
    // those exits are not deaths (looked at after reaping, so an exit that raced a Ctrl-C is
    // taken for part of it). Before that, any exit is a death, a clean one included: the hub
    // tells agents BYE only when the run is over.
    const bool shutting_down = stop_signal() != 0 || (live != nullptr && live->core().finished());
    for (const auto& exit : exits) {
      const bool clean = WIFEXITED(exit.status) && WEXITSTATUS(exit.status) == 0;
      say("agent " + exit.name + " " + exit.describe() +
          (clean && !shutting_down ? " while the run was going on" : ""));
      if (!shutting_down) on_death(exit.name, t);
    }
    if (shutting_down) return;
    for (const auto& id : supervisor.due(t)) {
      const AgentLaunch& launch = launches.at(id);
      auto pid = start_agent(launch);
      (void)supervisor.restarted(id, t);  // due() listed it: a restart is pending
      if (pid.ok()) {
        say("agent " + id + " restarted (pid " + std::to_string(*pid) + ")");
      } else {
        // Counted as a restart that died at once, so a process that cannot start is given up.
        say("cannot restart agent " + id + ": " + pid.error().to_string());
        on_death(id, t);
      }
    }
  };
  options.failure = [&] { return supervisor.failure(needed_roles); };
  const bool chatty = scenario.goals.size() <= 200;
  options.on_progress = [&](const std::string& line) {
    if (chatty) say(line);
  };
  auto hub = runtime::LiveHub::create(scenario, options);
  if (!hub.ok()) {
    print_error(hub.error().to_string());
    return kExitFailure;
  }
  live = hub->get();

  // Tools and tests that want to talk to this hub find its address here.
  {
    std::ofstream endpoint_file(out_dir + "/hub.endpoint");
    endpoint_file << (*hub)->endpoint() << "\n";
  }

  // An inbox human is a person answering in `cadre inbox`: the hub serves it, no process runs.
  std::size_t agent_count = 0, inbox_count = 0;
  for (const auto& entry : scenario.team)
    (entry.brain.kind == "inbox" ? inbox_count : agent_count) += entry.count;
  say("scenario '" + scenario.name + "': " + std::to_string(scenario.goals.size()) +
      " goals, " + std::to_string(agent_count) + " agents" +
      (inbox_count > 0 ? " + an inbox for a person" : "") + "; hub at " + (*hub)->endpoint() +
      "; output in " + out_dir);

  if (scenario.faults.any())
    say("note: the scenario's faults: section is injected only by `cadre sim`; a live run has "
        "real faults and ignores it");

  // Every agent's launch is worked out before any starts, so a bad command starts nothing.
  const std::string exe = self_executable();
  std::vector<std::string> order;
  std::map<std::string, std::uint32_t> next_index;
  for (const auto& entry : scenario.team) {
    if (entry.brain.kind == "inbox") continue;  // served by the hub itself
    for (std::uint32_t i = 0; i < entry.count; ++i) {
      AgentLaunch launch;
      launch.id = agent_id_for(entry.role, ++next_index[entry.role]);
      launch.role = entry.role;
      launch.log_path = out_dir + "/agents/" + launch.id + ".log";
      if (entry.brain.kind == "process") {
        // An agent in any language: its own command, told where the hub is through CADRE_*
        // variables, running in the scenario file's folder (so relative paths work).
        auto command = agents::parse_exec_params({{"command", entry.brain.params.at("command")}});
        if (!command.ok()) {
          print_error("team role " + entry.role + ": " + command.error().to_string());
          return kExitBadInput;
        }
        launch.argv = command->command;
        launch.env = {{"CADRE_HUB", (*hub)->endpoint()},    {"CADRE_AGENT_ID", launch.id},
                      {"CADRE_ROLE", entry.role},           {"CADRE_MODEL", entry.brain.model},
                      {"CADRE_CAPACITY", std::to_string(entry.capacity)}};
        launch.workdir = scenario_folder(scenario);
      } else {
        launch.argv =
            agent_argv(exe, (*hub)->endpoint(), launch.id, entry, scenario, out_dir + "/agents");
      }
      order.push_back(launch.id);
      launches.emplace(launch.id, std::move(launch));
    }
  }
  std::size_t started = 0;
  for (const auto& id : order) {
    // Welcome the agents started so far before starting more: a large team would otherwise
    // repeat its HELLOs (and re-register) while the hub is busy spawning.
    if (++started % 16 == 0) (*hub)->serve_arrived();
    const AgentLaunch& launch = launches.at(id);
    auto pid = start_agent(launch);
    if (!pid.ok()) {
      print_error("cannot start agent " + id + ": " + pid.error().to_string());
      children.stop_all(std::chrono::milliseconds(500));
      return kExitFailure;
    }
    (void)supervisor.add(id, launch.role, say.elapsed_s());  // ids are unique: role-n
  }

  runtime::RunFacts facts = (*hub)->run();
  for (const auto& exit : children.stop_all(std::chrono::seconds(3))) {
    if (!(WIFEXITED(exit.status) && WEXITSTATUS(exit.status) == 0))
      say("agent " + exit.name + " " + exit.describe());
  }

  facts.agent_restarts = supervisor.restart_counts();
  progress.finish((*hub)->core());
  say.attach(nullptr);
  return finish_run(out_dir, (*hub)->core(), facts);
}

}  // namespace cadre::cli
