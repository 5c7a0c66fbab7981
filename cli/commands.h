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
};

struct SweepArgs {
  ScenarioArgs scenario;
  std::vector<std::string> vary;  // raw "PATH=V1,V2,..."
  long long seeds = 1;
  std::string out_dir;
  bool live = false;
  unsigned jobs = 2;
};

struct AgentArgs {
  std::string hub;
  std::string id;
  std::string role;
  std::string brain = "sim";
  std::string model;
  std::vector<std::string> brain_params;  // raw "key=value"
  unsigned capacity = 1;
  double hub_timeout_s = 0;
};

int validate_command(const ScenarioArgs& args);
int run_command(const RunArgs& args);
int sim_command(const RunArgs& args);
int sweep_command(const SweepArgs& args);
int agent_command(const AgentArgs& args);

// Prints "cadre: error: MESSAGE" to stderr.
void print_error(const std::string& message);

}  // namespace cadre::cli
