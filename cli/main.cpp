// `cadre`: the command-line entry point. Parses arguments and hands off to a subcommand; turns
// anything unexpected into a message and a non-zero exit code, never a stack trace.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "commands.h"

int main(int argc, char** argv) {
  using namespace cadre::cli;
  CLI::App app{
      "cadre: a runtime for teams of AI agents.\n"
      "Runs a scenario (a team, its workflow and its work) with real agent processes over ZeroMQ\n"
      "and reports resolved goals and cost per resolved goal.",
      "cadre"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "cadre 0.1.0");

  ScenarioArgs validate_args;
  auto* validate = app.add_subcommand(
      "validate", "Check a scenario file and print what it describes; exit 2 with file:line:col "
                  "on the first problem.");
  validate->add_option("scenario", validate_args.path, "Scenario YAML file")->required();
  validate->add_option("--set", validate_args.sets,
                       "Override a field, e.g. --set workflow.samples=4 (repeatable)");
  validate->add_option("--seed", validate_args.seed, "Replace the scenario's seed");

  RunArgs run_args;
  auto* run = app.add_subcommand(
      "run",
      "Run a scenario live: start the hub, spawn every agent as its own process, run the work,\n"
      "stop every process, print a summary and write report.json, goals.jsonl and\n"
      "journal.jsonl into the output folder. Ctrl-C stops cleanly with a partial report.");
  run->add_option("scenario", run_args.scenario.path, "Scenario YAML file")->required();
  run->add_option("--out", run_args.out_dir,
                  "Output folder (default: runs/<scenario>-<timestamp>)");
  run->add_option("--seed", run_args.scenario.seed, "Replace the scenario's seed");
  run->add_option("--set", run_args.scenario.sets,
                  "Override a field, e.g. --set team.coder.count=8 (repeatable)");
  run->add_flag("--quiet,-q", run_args.quiet, "Print only the summary");

  RunArgs sim_args;
  auto* sim = app.add_subcommand(
      "sim",
      "Run a scenario in simulation: the same hub core and brains in one process on a virtual\n"
      "clock, so thousands of agents take seconds. Writes the same report as `cadre run`, with\n"
      "mode \"sim\"; time.wall_s is virtual time and time.real_s the wall clock.");
  sim->add_option("scenario", sim_args.scenario.path, "Scenario YAML file")->required();
  sim->add_option("--out", sim_args.out_dir, "Output folder (default: runs/<scenario>-<timestamp>)");
  sim->add_option("--seed", sim_args.scenario.seed, "Replace the scenario's seed");
  sim->add_option("--set", sim_args.scenario.sets, "Override a field (repeatable)");
  sim->add_flag("--quiet,-q", sim_args.quiet, "Print only the summary");

  SweepArgs sweep_args;
  auto* sweep = app.add_subcommand(
      "sweep",
      "Run a scenario over a grid of overrides (and seeds), in simulation by default, and write\n"
      "sweep.csv (one row per run) and sweep.svg (resolution rate and cost per resolved goal\n"
      "against tokens per goal). Example:\n"
      "  cadre sweep scenarios/compute-scaling.yaml --vary workflow.samples=1,2,4,8,16 \\\n"
      "        --vary critic.tpr=0.7,0.9 --seeds 3\n"
      "A path starting with a role name is short for that team entry: critic.tpr means\n"
      "team.critic.brain.tpr, coder.count means team.coder.count.");
  sweep->add_option("scenario", sweep_args.scenario.path, "Scenario YAML file")->required();
  sweep->add_option("--vary", sweep_args.vary, "PATH=V1,V2,... (repeatable; the grid is their product)")
      ->required();
  sweep->add_option("--seeds", sweep_args.seeds, "Seeds per grid point: the scenario's seed, +1, ...");
  sweep->add_option("--set", sweep_args.scenario.sets, "Override a field for every run (repeatable)");
  sweep->add_option("--out", sweep_args.out_dir, "Output folder (default: runs/<scenario>-sweep-<timestamp>)");
  sweep->add_flag("--live", sweep_args.live, "Run each point live with real processes (one at a time)");
  sweep->add_option("--jobs,-j", sweep_args.jobs, "Simulations run at once (default 2)")
      ->check(CLI::Range(1u, 64u));

  AgentArgs agent_args;
  auto* agent = app.add_subcommand(
      "agent",
      "Run one agent process: connect to a hub, say HELLO, take tasks and answer them with its\n"
      "brain until the hub says BYE. `cadre run` starts these; they can be started by hand.");
  agent->add_option("--hub", agent_args.hub, "Hub endpoint, e.g. tcp://127.0.0.1:5555")
      ->required();
  agent->add_option("--id", agent_args.id, "Agent id, unique in the team (e.g. coder-3)")
      ->required();
  agent->add_option("--role", agent_args.role, "planner | coder | critic | human")->required();
  agent->add_option("--brain", agent_args.brain, "Brain kind: sim, llm, exec or plugin");
  agent->add_option("--model", agent_args.model, "Pricing key of the brain's model")->required();
  agent->add_option("--capacity", agent_args.capacity, "Tasks run at once")
      ->check(CLI::Range(1u, 1024u));
  agent->add_option("--brain-param", agent_args.brain_params,
                    "Brain parameter key=value, e.g. --brain-param skill=1.5 (repeatable)");
  agent->add_option("--hub-timeout", agent_args.hub_timeout_s,
                    "Exit with code 1 after this many seconds without a hub (0: never)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitBadInput;
  }

  try {
    if (validate->parsed()) return validate_command(validate_args);
    if (run->parsed()) return run_command(run_args);
    if (sim->parsed()) return sim_command(sim_args);
    if (sweep->parsed()) return sweep_command(sweep_args);
    if (agent->parsed()) return agent_command(agent_args);
  } catch (const std::exception& e) {
    print_error(std::string("unexpected failure: ") + e.what());
    return kExitFailure;
  } catch (...) {
    print_error("unexpected failure");
    return kExitFailure;
  }
  return kExitBadInput;
}
