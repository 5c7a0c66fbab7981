// `cadre`: the command-line entry point. Parses arguments and hands off to a subcommand; turns
// anything unexpected into a message and a non-zero exit code, never a stack trace.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "commands.h"
#include "hub_tools.h"
#include "launch_command.h"

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
  run->add_option("scenario", run_args.scenario.path, "Scenario YAML file");
  run->add_option("--resume", run_args.resume_dir,
                  "Continue the run in this folder after a crash: rebuild its state from its "
                  "journal (finished work stays finished, work in flight is given out again) "
                  "and run to the end with new agents");
  run->add_option("--out", run_args.out_dir,
                  "Output folder (default: runs/<scenario>-<timestamp>)");
  run->add_option("--seed", run_args.scenario.seed, "Replace the scenario's seed");
  run->add_option("--set", run_args.scenario.sets,
                  "Override a field, e.g. --set team.coder.count=8 (repeatable)");
  run->add_flag("--quiet,-q", run_args.quiet, "Print only the summary");
  run->add_option("--metrics", run_args.metrics_listen,
                  "Serve Prometheus metrics at http://ADDR:PORT/metrics (port 0: any free port; the "
                  "address is written to OUT/metrics.address)")
      ->type_name("ADDR:PORT");
  run->add_option("--progress-s", run_args.progress_s,
                  "Seconds between progress lines when stdout is not a terminal (default 5; on a "
                  "terminal one line is redrawn in place)")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.1, 86400.0));

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
  sim->add_option("--progress-s", sim_args.progress_s,
                  "Seconds of wall time between progress lines when stdout is not a terminal "
                  "(default 5; a last line at the end; on a terminal one line is redrawn in place)")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.1, 86400.0));

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
      "brain until the hub says BYE. `cadre run` starts these; on other hosts start them by hand\n"
      "or from a job script, e.g.\n"
      "  cadre agent --hub tcp://hub-host:5555 --scenario team.yaml --role coder --keys keys/\n"
      "takes the brain, model and capacity of the scenario's coder entry.");
  agent->add_option("--hub", agent_args.hub, "Hub endpoint, e.g. tcp://10.0.0.1:5555")
      ->required();
  agent->add_option("--role", agent_args.role, "planner | coder | critic | human")->required();
  agent->add_option("--id", agent_args.id,
                    "Agent id, unique in the team (default: ROLE-HOSTNAME-PID)");
  agent->add_option("--scenario", agent_args.scenario.path,
                    "Take brain, model, parameters and capacity from this scenario's team entry "
                    "for --role");
  agent->add_option("--entry", agent_args.entry,
                    "With --scenario: the team entry's index (0-based), when a role has several");
  agent->add_option("--set", agent_args.scenario.sets, "With --scenario: override a field");
  agent->add_option("--brain", agent_args.brain, "Brain kind: sim, llm, exec or plugin");
  agent->add_option("--model", agent_args.model, "Pricing key of the brain's model");
  agent->add_option("--capacity", agent_args.capacity, "Tasks run at once")
      ->check(CLI::Range(1u, 1024u));
  agent->add_option("--brain-param", agent_args.brain_params,
                    "Brain parameter key=value, e.g. --brain-param skill=1.5 (repeatable)");
  agent->add_option("--hub-timeout", agent_args.hub_timeout_s,
                    "Exit with code 1 after this many seconds without a hub (0: never)");
  agent->add_option("--keys", agent_args.keys.keys_dir,
                    "Key folder from `cadre keys gen`: uses DIR/agents/<key-name>.key and "
                    "DIR/hub.pub (CURVE encryption)");
  agent->add_option("--key-name", agent_args.keys.key_name, "With --keys: the agent key's name (default: agent)");
  agent->add_option("--key", agent_args.keys.key_file, "This agent's key file (NAME.key, mode 600)");
  agent->add_option("--hub-key", agent_args.keys.hub_key_file, "The hub's public key file (hub.pub)");

  HubArgs hub_args;
  auto* hub = app.add_subcommand(
      "hub",
      "Run the hub alone, for agents started elsewhere (`cadre agent` on other hosts, Slurm\n"
      "steps, containers). Waits for the team the scenario declares, runs the work, writes the\n"
      "report and tells the agents BYE. Writes OUT/hub.endpoint once listening.\n"
      "With --keys all traffic is CURVE-encrypted and only agents whose public keys are in\n"
      "KEYS/agents (or --allow) may join; without keys only loopback addresses are allowed\n"
      "unless --insecure.");
  hub->add_option("scenario", hub_args.scenario.path, "Scenario YAML file");
  hub->add_option("--resume", hub_args.resume_dir,
                  "Continue the run in this folder after the hub died: rebuild its state from "
                  "its journal and wait for the agents again (they reconnect by themselves)");
  hub->add_option("--listen", hub_args.listen,
                  "Where agents connect: tcp://ADDR:PORT (PORT may be * for any free port)")
      ->required();
  hub->add_option("--out", hub_args.out_dir, "Output folder (default: runs/<scenario>-<timestamp>)");
  hub->add_option("--wait-s", hub_args.wait_s,
                  "Seconds to wait for the team before giving up (default 60)")
      ->check(CLI::Range(0.0, 86400.0));
  hub->add_option("--keys", hub_args.keys.keys_dir,
                  "Key folder from `cadre keys gen`: DIR/hub.key, allow list DIR/agents/*.pub");
  hub->add_option("--allow", hub_args.keys.allow,
                  "Allow list instead of KEYS/agents: a folder of *.pub or a file of keys");
  hub->add_flag("--insecure", hub_args.keys.insecure,
                "Allow listening beyond loopback without keys (plain text, anyone may join)");
  hub->add_option("--seed", hub_args.scenario.seed, "Replace the scenario's seed");
  hub->add_option("--set", hub_args.scenario.sets, "Override a field (repeatable)");
  hub->add_flag("--quiet,-q", hub_args.quiet, "Print only the summary");
  hub->add_option("--metrics", hub_args.metrics_listen,
                  "Serve Prometheus metrics at http://ADDR:PORT/metrics (port 0: any free port; the "
                  "address is written to OUT/metrics.address)")
      ->type_name("ADDR:PORT");
  hub->add_option("--progress-s", hub_args.progress_s,
                  "Seconds between progress lines when stdout is not a terminal (default 5; on a "
                  "terminal one line is redrawn in place)")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.1, 86400.0));

  ReplayArgs replay_args;
  auto* replay = app.add_subcommand(
      "replay",
      "Rebuild a run from its journal alone and check it against its report. The journal's\n"
      "records are fed to a fresh hub core made from the run's scenario (DIR/run.json names the\n"
      "file, which must be unchanged); the report that core gives is printed like `cadre run`'s\n"
      "summary, with every goal's outcome, and compared field by field with DIR/report.json\n"
      "(task_attempts included) and DIR/goals.jsonl. Exit 0 and \"replay matches report.json\",\n"
      "or exit 1 listing every field that differs (field, report value, replay value).\n"
      "Not compared, because the journal does not hold them: mode, time.wall_s (the clock when\n"
      "the hub stopped, after its last record), time.real_s, messages (frames on the socket) and\n"
      "agents[].restarts (the supervisor's); they are shown as report.json states them.\n"
      "With --until N only the first N records are replayed and every goal's state at that point\n"
      "is shown instead (outcome or open, subtasks' states and solve attempts, results, tasks\n"
      "running and queued); no report is needed, so it works on a run that was killed.\n"
      "Exit 2 when DIR has no journal (a `cadre sim` run: its seed replays it, docs/simulation.md),\n"
      "the journal is damaged in the middle or malformed, run.json or the scenario is missing or\n"
      "changed, or report.json/goals.jsonl is missing or not a report.");
  replay->add_option("dir", replay_args.dir, "The run's output folder (of `cadre run` or `cadre hub`)")
      ->required();
  replay->add_option("--until", replay_args.until,
                     "Replay only the first N journal records (0 .. the journal's length) and show "
                     "every goal's state there")
      ->type_name("N")
      ->check(CLI::Validator(
          [](std::string& text) {
            return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos
                       ? std::string()
                       : "not a record count (a whole number from 0): " + text;
          },
          ""));
  replay->add_flag("--json", replay_args.json,
                   "Print one JSON document: {matches, mismatches, not_compared, summary, goals}, "
                   "or with --until {records, t_s, event, goals: [{id, outcome, subtasks, ...}]}");

  KeysGenArgs keys_args;
  auto* keys = app.add_subcommand("keys", "CURVE keys for a hub and its agents");
  keys->require_subcommand(1);
  auto* keys_gen = keys->add_subcommand(
      "gen",
      "Make DIR/hub.key + hub.pub and DIR/agents/NAME.key + NAME.pub (secret files mode 600,\n"
      "folders 700). Pairs that exist are kept, so it is safe to repeat.");
  keys_gen->add_option("dir", keys_args.dir, "Folder for the keys")->required();
  keys_gen->add_option("--agent", keys_args.agents,
                       "Name of an agent key pair to make (repeatable; default: agent)");

  LaunchArgs launch_args;
  auto* launch = app.add_subcommand("launch", "Run a scenario as a job of a cluster scheduler");
  launch->require_subcommand(1);
  auto* launch_slurm = launch->add_subcommand(
      "slurm",
      "Run a scenario as one Slurm job: the hub on the allocation's first node, the team's\n"
      "agents across its nodes (srun steps), CURVE keys made for the job in its folder. Submits\n"
      "the job, follows it and prints the summary and the path of report.json; a job that fails\n"
      "is reported with its id, state and Slurm's reason (exit 1). Ctrl-C cancels the job.");
  launch_slurm->add_option("scenario", launch_args.scenario.path, "Scenario YAML file")->required();
  launch_slurm->add_option("--nodes,-N", launch_args.nodes,
                           "Nodes to allocate (default 1); the hub runs on the first")
      ->check(CLI::Range(1u, 100000u));
  launch_slurm->add_option("--partition,-p", launch_args.partition,
                           "Slurm partition (default: the cluster's)");
  launch_slurm->add_option("--time,-t", launch_args.time_limit,
                           "Time limit in Slurm's format, e.g. 30, 2:00:00, 1-00:00:00 "
                           "(default: the partition's)");
  launch_slurm->add_option("--account,-A", launch_args.account,
                           "Slurm account to charge (default: yours)");
  launch_slurm->add_option("--out", launch_args.out_dir,
                           "The job's folder, on a file system every node shares "
                           "(default: runs/<scenario>-slurm-<timestamp>)");
  launch_slurm->add_option("--seed", launch_args.scenario.seed, "Replace the scenario's seed");
  launch_slurm->add_option("--set", launch_args.scenario.sets, "Override a field (repeatable)");
  launch_slurm->add_option("--poll-s", launch_args.poll_s,
                           "Seconds between job state checks (default 2)")
      ->check(CLI::Range(0.1, 3600.0));
  launch_slurm->add_flag("--dry-run", launch_args.dry_run,
                         "Print the job script; create and submit nothing");

  // Tools beside a running hub: they ask it for views and never join the team.
  auto add_tool_options = [](CLI::App* command, ToolArgs& tool) {
    command->add_option("--hub", tool.hub,
                        "The hub: its endpoint (tcp://HOST:PORT, ipc://PATH; see OUT/hub.endpoint) "
                        "or a run's output folder")
        ->required();
    command->add_option("--keys", tool.keys.keys_dir,
                        "Key folder from `cadre keys gen` when the hub uses CURVE: uses "
                        "DIR/agents/<key-name>.key and DIR/hub.pub");
    command->add_option("--key-name", tool.keys.key_name,
                        "With --keys: this tool's key name (default: agent)");
    command->add_option("--key", tool.keys.key_file, "This tool's key file (NAME.key, mode 600)");
    command->add_option("--hub-key", tool.keys.hub_key_file, "The hub's public key file (hub.pub)");
    command->add_option("--timeout-s", tool.timeout_s,
                        "Seconds to wait for the hub's answer (default 5)")
        ->check(CLI::Range(0.1, 3600.0));
    command->add_flag("--json", tool.json, "Print the hub's JSON view (docs/protocol.md, Tools)");
  };
  ToolArgs status_args;
  auto* status = app.add_subcommand(
      "status",
      "Show a running hub's team: every agent with its role, state, current tasks and heartbeat\n"
      "age; goals by state; tasks and cost so far.");
  add_tool_options(status, status_args);

  InboxArgs inbox_args;
  auto* inbox = app.add_subcommand(
      "inbox",
      "What waits for a person in a running hub whose human is an inbox (brain: {kind: inbox}):\n"
      "subtasks escalated to a human, with the candidates and the critics' feedback so far, and\n"
      "(workflow.approval: human) goals awaiting approval. On a terminal it then asks which item\n"
      "to decide; --resolve decides one without asking:\n"
      "  --accept CANDIDATE   take a listed candidate (for an approval: team)\n"
      "  --answer TEXT        give your own answer (the goal ends escalated)\n"
      "  --reject [REASON]    refuse it (the subtask or goal fails)");
  add_tool_options(inbox, inbox_args.tool);
  inbox->add_option("--resolve", inbox_args.resolve_goal, "Decide on this goal's waiting item")
      ->type_name("GOAL");
  inbox->add_option("--item", inbox_args.item,
                    "Which of the goal's items (e.g. s2/resolve, approve) when it has several");
  inbox->add_option("--accept", inbox_args.accept, "Accept this candidate (as listed)")
      ->type_name("CANDIDATE");
  inbox->add_option("--answer", inbox_args.answer, "Answer with this text")->type_name("TEXT");
  inbox->add_option("--reject", inbox_args.reason, "Reject, with an optional reason")
      ->expected(0, 1)
      ->type_name("[REASON]");
  inbox->add_option("--by", inbox_args.by, "Who decides, for the journal (default: $USER)");
  inbox->add_flag("--no-prompt", inbox_args.no_prompt, "List only, even on a terminal");

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
    if (agent->parsed()) {
      agent_args.capacity_given = agent->count("--capacity") > 0;
      return agent_command(agent_args);
    }
    if (hub->parsed()) return hub_command(hub_args);
    if (keys_gen->parsed()) return keys_gen_command(keys_args);
    if (replay->parsed()) return replay_command(replay_args);
    if (launch_slurm->parsed()) return launch_slurm_command(launch_args);
    if (status->parsed()) return status_command(status_args);
    if (inbox->parsed()) {
      inbox_args.reject = inbox->count("--reject") > 0;
      return inbox_command(inbox_args);
    }
  } catch (const std::exception& e) {
    print_error(std::string("unexpected failure: ") + e.what());
    return kExitFailure;
  } catch (...) {
    print_error("unexpected failure");
    return kExitFailure;
  }
  return kExitBadInput;
}
