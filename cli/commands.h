// The `cadre` subcommands. Each returns the process exit code:
// 0 success, 2 bad input (scenario, options), 1 a run that could not start or finish, 3 a run
// stopped by a limit, 130 interrupted.
#pragma once

#include <string>
#include <vector>

namespace cadre::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitLimit = 3;
inline constexpr int kExitInterrupted = 130;

struct ScenarioArgs {
  std::string path;
  std::vector<std::string> sets;  // raw "key=value"
  long long seed = -1;            // -1: the file's
};

struct RunArgs {
  ScenarioArgs scenario;
  std::string out_dir;  // empty: runs/<scenario>-<timestamp>
  bool quiet = false;
  std::string resume_dir;  // continue the run in this folder (scenario from its run.json)
  double progress_s = 5;   // seconds between plain progress lines (stdout not a terminal)
  std::string metrics_listen;  // run: "ADDR:PORT" for Prometheus metrics; empty: none
};

struct SweepArgs {
  ScenarioArgs scenario;
  std::vector<std::string> vary;  // raw "PATH=V1,V2,..."
  long long seeds = 1;
  std::string out_dir;
  bool live = false;
  unsigned jobs = 2;
};

// Key options shared by the hub and the agent: a folder made by `cadre keys gen`, or files.
struct KeyArgs {
  std::string keys_dir;      // DIR: the hub reads DIR/hub.key and DIR/agents/*.pub; an agent
                             // reads DIR/agents/<key_name>.key and DIR/hub.pub
  std::string key_name = "agent";
  std::string key_file;      // agent: its own NAME.key (instead of keys_dir)
  std::string hub_key_file;  // agent: the hub's hub.pub (instead of keys_dir)
  std::string allow;         // hub: an allow list (a folder of *.pub or a file of keys)
  bool insecure = false;     // hub: allow a plain-text listen beyond loopback
};

struct AgentArgs {
  std::string hub;
  std::string id;  // empty: ROLE-HOSTNAME-PID
  std::string role;
  std::string brain = "sim";
  std::string model;
  std::vector<std::string> brain_params;  // raw "key=value"
  unsigned capacity = 1;
  bool capacity_given = false;
  double hub_timeout_s = 0;
  ScenarioArgs scenario;  // path empty: brain from the options above
  int entry = -1;         // team entry index in the scenario; -1: the first of `role`
  KeyArgs keys;
};

struct HubArgs {
  ScenarioArgs scenario;
  std::string listen;
  std::string out_dir;
  double wait_s = 60;
  bool quiet = false;
  KeyArgs keys;
  std::string resume_dir;
  double progress_s = 5;       // seconds between plain progress lines (stdout not a terminal)
  std::string metrics_listen;  // "ADDR:PORT" for Prometheus metrics; empty: none
};

// `cadre replay DIR`: the run in DIR rebuilt from its journal.
struct ReplayArgs {
  std::string dir;
  long long until = -1;  // >= 0: replay only this many records and show every goal's state
  bool json = false;     // print a JSON document instead of tables
};

struct KeysGenArgs {
  std::string dir;
  std::vector<std::string> agents;  // key names; empty: one named "agent"
};

int validate_command(const ScenarioArgs& args);
int run_command(const RunArgs& args);
int sim_command(const RunArgs& args);
int sweep_command(const SweepArgs& args);
int agent_command(const AgentArgs& args);
int hub_command(const HubArgs& args);
int keys_gen_command(const KeysGenArgs& args);
// 0 the replay matches the report (or --until showed the state), 1 it does not match, 2 bad
// input (no such run, a missing or damaged journal, run.json or report).
int replay_command(const ReplayArgs& args);

// Prints "cadre: error: MESSAGE" to stderr.
void print_error(const std::string& message);

}  // namespace cadre::cli
