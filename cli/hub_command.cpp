// `cadre hub`: the hub alone, for agents started elsewhere (other hosts, Slurm steps, containers).
#include <fstream>
#include <iostream>
#include <map>

#include "cadre/runtime/live_hub.h"
#include "commands.h"
#include "progress.h"
#include "run_support.h"
#include "scenario_args.h"
#include "security_args.h"

namespace cadre::cli {

int hub_command(const HubArgs& given) {
  HubArgs args = given;
  if (!apply_resume(args.resume_dir, args.scenario, args.out_dir)) return kExitBadInput;
  const bool resuming = !args.resume_dir.empty();
  auto loaded = load_or_print(args.scenario);
  if (!loaded) return kExitBadInput;
  const runtime::Scenario& scenario = *loaded;
  auto security = hub_security(args.keys, args.listen);
  if (!security.ok()) {
    print_error(security.error().to_string());
    return kExitBadInput;
  }
  const std::string out_dir = args.out_dir.empty() ? default_out_dir(scenario.name) : args.out_dir;
  if (!prepare_run_folder(out_dir, "", args.scenario, resuming)) return kExitFailure;

  install_stop_signals();
  RunLog say(args.quiet);
  // Live progress (also while waiting for the team): redrawn in place on a terminal, a plain line
  // every --progress-s otherwise.
  ProgressLine progress(ProgressLine::for_stdout(!args.quiet, args.progress_s,
                                                 [&say](const std::string& line) { say(line); }));
  say.attach(&progress);
  const runtime::LiveHub* live = nullptr;  // set once the hub exists; on_idle runs after that
  runtime::LiveHubOptions options;
  options.metrics_listen = args.metrics_listen;
  options.on_idle = [&] {
    if (live != nullptr) progress.update(live->core());
  };
  options.listen = args.listen;
  options.out_dir = out_dir;
  options.security = *security;
  options.resume = resuming;
  options.interrupted = [] { return stop_signal() != 0; };
  const bool chatty = scenario.goals.size() <= 200;
  options.on_progress = [&](const std::string& line) {
    if (chatty) say(line);
  };
  // Refusals are security events: they are printed even with --quiet.
  options.on_log = [&](const std::string& line) {
    if (line.rfind("refused", 0) == 0) {
      progress.before_log();
      std::cerr << "cadre hub: " << line << std::endl;
    } else {
      say(line);
    }
  };
  auto hub = runtime::LiveHub::create(scenario, options);
  if (!hub.ok()) {
    print_error(hub.error().to_string());
    return kExitFailure;
  }
  live = hub->get();
  const std::string endpoint = connectable_endpoint((*hub)->endpoint());
  {
    // Written once listening, so scripts can wait for it before starting agents.
    std::ofstream endpoint_file(out_dir + "/hub.endpoint");
    endpoint_file << endpoint << "\n";
  }

  // An inbox human is a person answering in `cadre inbox`, served by the hub: no agent joins.
  std::map<std::string, std::uint32_t> needed;
  bool inbox = false;
  for (const auto& entry : scenario.team) {
    if (entry.brain.kind == "inbox")
      inbox = true;
    else
      needed[entry.role] += entry.count;
  }
  std::string team;
  for (const auto& [role, count] : needed)
    team += (team.empty() ? "" : ", ") + std::to_string(count) + " " + role;
  if (inbox) team += " + an inbox for a person";
  say("hub for scenario '" + scenario.name + "' (" + std::to_string(scenario.goals.size()) +
      " goals) listening at " + endpoint + (security->has_value() ? " (CURVE)" : " (plain text)") +
      "; waiting up to " + std::to_string(static_cast<int>(args.wait_s)) + " s for " + team +
      "; output in " + out_dir);

  if (auto assembled = (*hub)->wait_for_team(args.wait_s); !assembled.ok()) {
    progress.before_log();
    print_error(assembled.error().to_string());
    return stop_signal() != 0 ? kExitInterrupted : kExitFailure;
  }
  say("team complete; starting");
  runtime::RunFacts facts = (*hub)->run();
  progress.finish((*hub)->core());
  say.attach(nullptr);
  return finish_run(out_dir, (*hub)->core(), facts);
}

}  // namespace cadre::cli
