// What `cadre run`, `cadre sim` and `cadre sweep` share: agent names and brain parameters,
// output folders, child runs, and the end of a run (report, summary, exit code).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cadre/runtime/hub_core.h"
#include "cadre/runtime/report.h"
#include "cadre/runtime/scenario.h"

namespace cadre::cli {

// The brain parameters an agent of `entry` gets: the scenario's, plus the workflow's time_scale
// for simulated brains.
std::map<std::string, std::string> brain_params_for(const runtime::TeamEntry& entry,
                                                    const runtime::Scenario& scenario);

// The id of the n-th agent (from 1) of a role: "coder-3". Live and sim runs name agents alike.
std::string agent_id_for(const std::string& role, std::uint32_t n);

// The path of the running cadre binary, to start agents and runs with.
std::string self_executable();

// Runs argv (argv[0] a path) with output to log_path and waits; returns its exit code, or -1
// when it could not start or was killed by a signal.
int run_and_wait(const std::vector<std::string>& argv, const std::string& log_path);

// Before a live run: every llm brain's endpoint accepts a TCP connection (within 3 s). Fails
// naming the endpoint, the role and the reason, so a run does not start only to fail every goal.
Status check_llm_endpoints(const runtime::Scenario& scenario);

// Before a run, and in `cadre validate`: every plugin brain loads, has the right ABI and entry
// point, takes its role and initialises with its config. Fails naming the team role, the file
// and the reason, so no agent starts with a plugin that cannot work.
Status check_plugins(const runtime::Scenario& scenario);

// SIGINT and SIGTERM set a flag (read with stop_signal()) instead of killing the process, so a
// run can stop its agents and write a partial report; SIGPIPE is ignored.
void install_stop_signals();
int stop_signal();  // 0 until a stop signal arrived

class ProgressLine;

// "[  12.34s] line" on stdout, timed from construction; silent when quiet. With a progress line
// attached, the line it shows on the terminal is erased before each log line (and redrawn by
// its next update), so the two never share a line.
class RunLog {
 public:
  explicit RunLog(bool quiet);
  void operator()(const std::string& line) const;
  double elapsed_s() const;
  // `progress` must outlive this log (or be detached with nullptr).
  void attach(ProgressLine* progress) { progress_ = progress; }

 private:
  bool quiet_;
  std::chrono::steady_clock::time_point started_;
  ProgressLine* progress_ = nullptr;
};

// runs/<scenario>-<local timestamp>
std::string default_out_dir(const std::string& scenario_name);

// Creates `dir` (and parents). Prints the reason and returns false on failure.
bool make_out_dir(const std::string& dir);

// Writes the report into `out_dir`, prints the summary table, and returns the exit code of the
// run: 0 all goals ended, 3 stopped by a limit, 130 interrupted, 1 if the run failed
// (RunFacts::failure) or the report was not written.
int finish_run(const std::string& out_dir, const runtime::HubCore& core,
               const runtime::RunFacts& facts);

}  // namespace cadre::cli
