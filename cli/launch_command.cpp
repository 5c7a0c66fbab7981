// `cadre launch slurm`: writes the job script, submits it with sbatch, follows the job with
// scontrol (sacct once the controller has forgotten it) and reports how it ended.
#include "launch_command.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <thread>
#include <vector>

#include "cadre/runtime/report.h"
#include "run_support.h"
#include "scenario_args.h"

namespace cadre::cli {
namespace {

namespace fs = std::filesystem;

// Seconds the job waits for the hub to listen, and the hub for its team.
constexpr int kEndpointWaitS = 120;
constexpr int kTeamWaitS = 120;
// Seconds agents get to leave after the hub's BYE before their steps are stopped.
constexpr int kAgentGraceS = 10;
// An agent whose hub is gone this long exits (the job stops it anyway).
constexpr int kAgentHubTimeoutS = 60;
// Seconds the controller may stay unreachable while following before giving up.
constexpr double kControllerSilenceS = 120;

// A word for a POSIX shell: as is when it is plainly safe, else in single quotes.
std::string shell_quote(const std::string& word) {
  const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("_-./:=+,@%").find(c) != std::string_view::npos;
  });
  if (plain) return word;
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// An #SBATCH option value: sbatch splits directives at blanks unless the value is in double
// quotes (it has no escape for '"' itself, hence the check in launch_slurm_command).
std::string sbatch_value(const std::string& value) {
  const bool plain = !value.empty() && value.find_first_of(" \t'\\#") == std::string::npos;
  return plain ? value : "\"" + value + "\"";
}

// A literal path inside a Slurm filename pattern, where '%' starts a replacement.
std::string pattern_literal(const std::string& path) {
  std::string out;
  for (char c : path) out += c == '%' ? std::string("%%") : std::string(1, c);
  return out;
}

// "cadre-<scenario>", limited to characters every Slurm tool shows as they are.
std::string job_name(const std::string& scenario_name) {
  std::string name = "cadre-" + scenario_name;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '-';
  return name;
}

// One srun step: team entry `entry`'s `count` agents, named ROLE-FIRST.., on `nodes` nodes
// starting at node `relative` of the allocation.
struct AgentStep {
  std::size_t entry = 0;
  std::string role;
  std::uint32_t first = 1, count = 0, nodes = 1, relative = 0;
};

// Entries with as many agents as nodes (or more) spread over every node; smaller ones go to
// the next nodes in turn, starting after the hub's, so single agents do not pile onto node 0.
std::vector<AgentStep> place_agents(const runtime::Scenario& scenario, unsigned nodes) {
  std::vector<AgentStep> steps;
  std::map<std::string, std::uint32_t> numbered;  // agents named so far per role
  unsigned next = nodes > 1 ? 1 : 0;
  for (std::size_t i = 0; i < scenario.team.size(); ++i) {
    const auto& entry = scenario.team[i];
    // An inbox is served by the hub itself (a person answers with `cadre inbox`).
    if (entry.count == 0 || entry.brain.kind == "inbox") continue;
    AgentStep step;
    step.entry = i;
    step.role = entry.role;
    step.first = numbered[entry.role] + 1;
    numbered[entry.role] += entry.count;
    step.count = entry.count;
    step.nodes = std::min<std::uint32_t>(entry.count, nodes);
    step.relative = step.nodes >= nodes ? 0 : std::min(next, nodes - step.nodes);
    next = (step.relative + step.nodes) % nodes;
    steps.push_back(step);
  }
  return steps;
}

// ---- child processes ------------------------------------------------------------------------

struct Captured {
  int code = -1;  // exit code; -1 could not run or was killed by a signal
  std::string out, err;
};

// Runs argv (argv[0] looked up in PATH) with stdin from /dev/null and returns what it printed.
Captured capture(const std::vector<std::string>& argv) {
  Captured result;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return result;
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return result;
  }
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (pid < 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return result;
  }
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  char buffer[4096];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& fd : fds)
    if (fd.fd >= 0) ::close(fd.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool in_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0 && !fs::is_directory(candidate)) return true;
  }
  return false;
}

std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// ---- the job's state --------------------------------------------------------------------------

struct JobState {
  std::string state;      // Slurm's, e.g. RUNNING, COMPLETED, TIMEOUT
  std::string reason;     // e.g. Resources, TimeLimit, NonZeroExitCode, None
  std::string exit_code;  // "code:signal"
  std::string nodes;      // node list once running
};

enum class Lookup { found, unknown_job, unavailable };

// The value of `key` in scontrol's one-line "Key=value Key=value" output.
std::string field(const std::string& line, const std::string& key) {
  std::size_t at = 0;
  while ((at = line.find(key + "=", at)) != std::string::npos) {
    if (at == 0 || line[at - 1] == ' ') {
      const std::size_t start = at + key.size() + 1;
      return line.substr(start, line.find(' ', start) - start);
    }
    at += key.size();
  }
  return "";
}

Lookup scontrol_state(const std::string& job_id, JobState& job) {
  const Captured shown = capture({"scontrol", "show", "job", "-o", job_id});
  if (shown.code == 0 && !field(shown.out, "JobState").empty()) {
    job.state = field(shown.out, "JobState");
    job.reason = field(shown.out, "Reason");
    job.exit_code = field(shown.out, "ExitCode");
    job.nodes = field(shown.out, "NodeList");
    return Lookup::found;
  }
  if (shown.err.find("Invalid job id") != std::string::npos) return Lookup::unknown_job;
  return Lookup::unavailable;
}

// From the accounting database, for a job the controller no longer keeps (MinJobAge).
Lookup sacct_state(const std::string& job_id, JobState& job) {
  const Captured rows = capture({"sacct", "-j", job_id, "-X", "-n", "-P", "-o", "State,Reason,ExitCode"});
  const std::string row = first_line(rows.out);
  if (rows.code != 0 || row.empty()) return Lookup::unavailable;
  std::vector<std::string> cells;
  std::istringstream in(row);
  for (std::string cell; std::getline(in, cell, '|');) cells.push_back(cell);
  if (cells.size() < 3) return Lookup::unavailable;
  job.state = cells[0].substr(0, cells[0].find(' '));  // "CANCELLED by 0"
  job.reason = cells[1];
  job.exit_code = cells[2];
  return Lookup::found;
}

bool active(const std::string& state) {
  static const std::set<std::string> kActive = {
      "PENDING",   "RUNNING",      "CONFIGURING", "COMPLETING", "SUSPENDED",
      "REQUEUED",  "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING",   "SIGNALING",
      "STAGE_OUT", "STOPPED",      "RESV_DEL_HOLD"};
  return kActive.count(state) > 0;
}

// Slurm's reason, or what the state means when Slurm gives none.
std::string reason_text(const JobState& job) {
  std::string reason = job.reason;
  if (reason.empty() || reason == "None") {
    static const std::map<std::string, std::string> kMeaning = {
        {"CANCELLED", "cancelled by scancel or an administrator"},
        {"TIMEOUT", "reached its time limit"},
        {"NODE_FAIL", "a node of the job failed"},
        {"OUT_OF_MEMORY", "ran out of memory"},
        {"PREEMPTED", "preempted by another job"},
        {"BOOT_FAIL", "a node failed to boot"},
        {"DEADLINE", "reached its deadline"},
        {"FAILED", "the job script failed"}};
    const auto meaning = kMeaning.find(job.state);
    reason = meaning != kMeaning.end() ? meaning->second : "no reason given";
  }
  if (!job.exit_code.empty()) reason += "; exit code " + job.exit_code;
  return reason;
}

// The hub's summary block from its log: from the last "cadre live run:" line through the
// "report" line, as `cadre run` prints it.
std::string hub_summary(const std::string& log) {
  const auto start = log.rfind("  cadre live run:");
  if (start == std::string::npos) return "";
  const auto report = log.find("  report ", start);
  const auto end = report == std::string::npos ? std::string::npos : log.find('\n', report);
  return "\n" + log.substr(start, end == std::string::npos ? std::string::npos : end - start + 1);
}

std::string tail_lines(const std::string& text, std::size_t count) {
  std::size_t at = text.size();
  if (at > 0 && text[at - 1] == '\n') --at;
  for (std::size_t lines = 0; at > 0; --at)
    if (text[at - 1] == '\n' && ++lines == count) break;
  return text.substr(at);
}

std::optional<int> read_exit_code(const std::string& path) {
  const std::string text = first_line(read_text(path));
  if (text.empty() || text.size() > 3 || !std::all_of(text.begin(), text.end(), ::isdigit))
    return std::nullopt;
  return std::stoi(text);
}

// How the job ended. When the job ran the hub to its end (COMPLETED, or FAILED by the hub's own
// exit code), the hub's summary and exit code. Otherwise the job failed: its state and Slurm's
// reason, the hub's partial summary if it wrote one (e.g. stopped at the time limit), else the
// end of its log, and 1.
int report_end(const std::string& job_id, const JobState& job, const std::string& out_dir,
               const RunLog& say) {
  const std::string report = out_dir + "/report.json";
  // On a shared file system the job's last files may show up here a little after it ended.
  if (job.state == "COMPLETED" || job.state == "FAILED") {
    const double patience_s = job.state == "COMPLETED" ? 30 : 10;
    for (double waited = 0; waited < patience_s && !fs::exists(out_dir + "/hub.exit"); waited += 0.2)
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const std::optional<int> hub_exit = read_exit_code(out_dir + "/hub.exit");
  const std::string job_output = out_dir + "/slurm-" + job_id + ".out";
  const bool has_report = fs::exists(report);
  const bool hub_ended = hub_exit && (job.state == "COMPLETED" || job.state == "FAILED");
  if (hub_ended) {
    say("job " + job_id + " " + job.state + "; the hub exited with code " +
        std::to_string(*hub_exit) + "; job output " + job_output);
  }
  if (has_report) {
    std::string summary = hub_summary(read_text(out_dir + "/hub.log"));
    if (summary.empty()) {
      // The log is gone or cut short: the report's figures say the essentials.
      auto figures = runtime::read_report_figures(report);
      std::ostringstream text;
      if (figures.ok())
        text << "\n  goals      " << figures->goals << " total, " << figures->resolved
             << " resolved, " << figures->escalated << " escalated, " << figures->failed
             << " failed\n  cost       $" << figures->usd << " total";
      text << "\n  report     " << report << "\n";
      summary = text.str();
    }
    std::cout << summary << std::endl;
  }
  if (hub_ended && has_report) return *hub_exit;

  print_error("job " + job_id + " " + job.state + ": " + reason_text(job));
  if (!has_report) {
    const std::string hub_log = read_text(out_dir + "/hub.log");
    if (!hub_log.empty())
      std::cerr << "last lines of " << out_dir << "/hub.log:\n" << tail_lines(hub_log, 12);
  }
  const std::string output = read_text(job_output);
  if (!output.empty()) std::cerr << "last lines of " << job_output << ":\n" << tail_lines(output, 12);
  return kExitFailure;
}

// Sleeps `seconds`, waking early for a stop signal; false if one came.
bool pause_for(double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (stop_signal() != 0) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return stop_signal() == 0;
}

// Follows the job until it ends; Ctrl-C (or SIGTERM) cancels it.
int follow(const std::string& job_id, const std::string& out_dir, double poll_s, const RunLog& say) {
  JobState job, last;
  double silent_since = -1;
  while (true) {
    if (stop_signal() != 0) {
      const Captured cancelled = capture({"scancel", job_id});
      if (cancelled.code == 0) {
        say("interrupted: cancelled job " + job_id);
      } else {
        print_error("interrupted, but scancel " + job_id + " failed: " + first_line(cancelled.err));
      }
      return kExitInterrupted;
    }
    const Lookup found = scontrol_state(job_id, job);
    if (found == Lookup::found) {
      silent_since = -1;
      if (job.state != last.state || job.reason != last.reason) {
        if (job.state == "PENDING") {
          say("job " + job_id + " PENDING" +
              (job.reason.empty() || job.reason == "None" ? "" : " (" + job.reason + ")"));
        } else if (job.state == "RUNNING") {
          say("job " + job_id + " RUNNING on " + job.nodes + "; hub log " + out_dir + "/hub.log");
        } else if (active(job.state)) {
          say("job " + job_id + " " + job.state);
        }
        last = job;
      }
      if (!active(job.state)) return report_end(job_id, job, out_dir, say);
    } else if (found == Lookup::unknown_job) {
      // Ended longer ago than the controller keeps jobs (MinJobAge): ask accounting, or go by
      // what the job left in its folder.
      if (sacct_state(job_id, job) != Lookup::found) {
        const auto hub_exit = read_exit_code(out_dir + "/hub.exit");
        job = JobState{};
        job.state = !hub_exit ? "ENDED" : *hub_exit == 0 ? "COMPLETED" : "FAILED";
        job.reason = hub_exit ? "" : "the controller no longer knows the job and there is no accounting";
      }
      return report_end(job_id, job, out_dir, say);
    } else {
      if (silent_since < 0) silent_since = say.elapsed_s();
      if (say.elapsed_s() - silent_since > kControllerSilenceS) {
        print_error("the Slurm controller has not answered for " +
                    std::to_string(static_cast<int>(kControllerSilenceS)) + " s; job " + job_id +
                    " may still be running (scontrol show job " + job_id + ")");
        return kExitFailure;
      }
    }
    if (!pause_for(poll_s)) continue;  // the loop's top cancels the job
  }
}

// "" or why `value` cannot go into an #SBATCH line: sbatch has no escape for '"' or a line
// break, and a backslash turns off the %j in the output file's name.
std::string sbatch_problem(const std::string& what, const std::string& value) {
  if (value.find_first_of("\"\n\r\\") != std::string::npos)
    return what + " must not contain '\"', '\\' or a line break (Slurm cannot take them in a job "
                  "script): " + value;
  return "";
}

}  // namespace

std::string slurm_script(const runtime::Scenario& scenario, const LaunchArgs& args,
                         const std::string& cadre_path, const std::string& scenario_abs_path,
                         const std::string& out_dir) {
  const unsigned nodes = std::max(1u, args.nodes);
  const std::vector<AgentStep> steps = place_agents(scenario, nodes);
  std::uint32_t agents = 0;
  for (const auto& step : steps) agents += step.count;

  std::vector<std::string> hub_options, agent_options;
  if (args.scenario.seed >= 0) {
    hub_options.push_back("--seed");
    hub_options.push_back(std::to_string(args.scenario.seed));
  }
  for (const auto& set : args.scenario.sets) {
    for (auto* options : {&hub_options, &agent_options}) {
      options->push_back("--set");
      options->push_back(set);
    }
  }
  auto array = [](const std::vector<std::string>& words) {
    std::string text = "(";
    for (const auto& word : words) text += (text.size() > 1 ? " " : "") + shell_quote(word);
    return text + ")";
  };

  std::ostringstream s;
  s << "#!/bin/bash\n";
  s << "#SBATCH --job-name=" << sbatch_value(job_name(scenario.name)) << "\n";
  s << "#SBATCH --nodes=" << nodes << "\n";
  s << "#SBATCH --output=" << sbatch_value(pattern_literal(out_dir) + "/slurm-%j.out") << "\n";
  s << "#SBATCH --chdir=" << sbatch_value(out_dir) << "\n";
  // A rerun after a node failure would start the work over: report the failure instead.
  s << "#SBATCH --no-requeue\n";
  if (!args.partition.empty()) s << "#SBATCH --partition=" << sbatch_value(args.partition) << "\n";
  if (!args.time_limit.empty()) s << "#SBATCH --time=" << sbatch_value(args.time_limit) << "\n";
  if (!args.account.empty()) s << "#SBATCH --account=" << sbatch_value(args.account) << "\n";
  s << "#\n"
    << "# Scenario '" << scenario.name << "' as one Slurm job, written by `cadre launch slurm`:\n"
    << "# CURVE keys made for this job in its folder, the hub on the allocation's first node and\n"
    << "# " << agents << " agents in " << steps.size() << " srun steps across " << nodes
    << (nodes == 1 ? " node" : " nodes") << ". The job ends with the hub's exit code:\n"
    << "# 0 all goals ended, 1 failure, 2 bad input, 3 stopped by a limit.\n"
    << "# Every step uses --overlap (steps share the allocation's CPUs and memory) and\n"
    << "# --overcommit (more agents than CPUs): agents mostly wait on the hub or a model.\n"
    << "set -euo pipefail\n\n";
  s << "cadre=" << shell_quote(cadre_path) << "\n"
    << "scenario=" << shell_quote(scenario_abs_path) << "\n"
    << "out=" << shell_quote(out_dir) << "\n"
    << "keys=\"$out/keys\"\n"
    << "hub_options=" << array(hub_options) << "\n"
    << "agent_options=" << array(agent_options) << "\n\n";

  s << R"SH(rm -f "$out/hub.endpoint" "$out/hub.exit"
mkdir -p "$out/agents"
"$cadre" keys gen "$keys" >/dev/null

# The hub: one task on the allocation's first node, listening on a free port of every
# interface; it writes $out/hub.endpoint once it listens.
srun --job-name=cadre-hub --nodes=1 --ntasks=1 --relative=0 --overlap --overcommit \
  "$cadre" hub "$scenario" --listen 'tcp://0.0.0.0:*' --out "$out" --keys "$keys" \
  --wait-s )SH" << kTeamWaitS << R"SH( "${hub_options[@]}" >"$out/hub.log" 2>&1 &
hub_step=$!

endpoint=""
for ((waited = 0; waited < )SH" << kEndpointWaitS << R"SH(; waited++)); do
  if [ -s "$out/hub.endpoint" ]; then endpoint="$(head -n 1 "$out/hub.endpoint")"; fi
  case "$endpoint" in tcp://*:[0-9]*) break ;; esac
  if ! kill -0 "$hub_step" 2>/dev/null; then
    code=0
    wait "$hub_step" || code=$?
    echo "$code" >"$out/hub.exit"
    echo "cadre: error: the hub ended (exit code $code) before listening; see $out/hub.log" >&2
    exit $((code == 0 ? 1 : code))
  fi
  sleep 1
done
case "$endpoint" in
  tcp://*:[0-9]*) echo "hub listening at $endpoint" ;;
  *) echo "cadre: error: the hub wrote no address into $out/hub.endpoint within )SH"
    << kEndpointWaitS << R"SH( s; see $out/hub.log" >&2
     kill "$hub_step" 2>/dev/null || true
     exit 1 ;;
esac

# start_agents ENTRY ROLE FIRST COUNT NODES RELATIVE: the COUNT agents of team entry ENTRY as
# one srun step on NODES nodes from node RELATIVE of the allocation, placed cyclically; task i
# is agent ROLE-(FIRST+i) and logs to $out/agents/<id>.log.
agent_steps=()
start_agents() {
  srun --job-name="cadre-$2" --ntasks="$4" --nodes="$5" --relative="$6" --distribution=cyclic \
    --overlap --overcommit \
    bash -c 'id="$1-$(($2 + SLURM_PROCID))"; log="$3/$id.log"; shift 3; exec "$@" --id "$id" >"$log" 2>&1' \
    agent "$2" "$3" "$out/agents" \
    "$cadre" agent --hub "$endpoint" --scenario "$scenario" --entry "$1" --role "$2" \
    --keys "$keys" --hub-timeout )SH" << kAgentHubTimeoutS << R"SH( "${agent_options[@]}" &
  agent_steps+=($!)
}
)SH";
  for (const auto& step : steps)
    s << "start_agents " << step.entry << " " << shell_quote(step.role) << " " << step.first << " "
      << step.count << " " << step.nodes << " " << step.relative << "\n";

  s << R"SH(
code=0
wait "$hub_step" || code=$?
echo "$code" >"$out/hub.exit"

# Agents leave on the hub's BYE; steps still running after )SH" << kAgentGraceS << R"SH( s are stopped.
for ((waited = 0; waited < )SH" << 2 * kAgentGraceS << R"SH(; waited++)); do
  running=0
  for step in "${agent_steps[@]}"; do
    if kill -0 "$step" 2>/dev/null; then running=1; fi
  done
  if [ "$running" -eq 0 ]; then break; fi
  sleep 0.5
done
for step in "${agent_steps[@]}"; do kill "$step" 2>/dev/null || true; done
wait || true
exit "$code"
)SH";
  return s.str();
}

int launch_slurm_command(const LaunchArgs& args) {
  auto loaded = load_or_print(args.scenario);
  if (!loaded) return kExitBadInput;
  const runtime::Scenario& scenario = *loaded;
  if (args.nodes < 1) {
    print_error("--nodes must be at least 1");
    return kExitBadInput;
  }
  if (!(args.poll_s > 0)) {
    print_error("--poll-s must be positive");
    return kExitBadInput;
  }
  std::error_code error;
  const std::string scenario_path = fs::absolute(args.scenario.path, error).lexically_normal().string();
  const std::string relative_out =
      args.out_dir.empty() ? default_out_dir(scenario.name + "-slurm") : args.out_dir;
  std::string out_dir = fs::absolute(relative_out, error).lexically_normal().string();
  while (out_dir.size() > 1 && out_dir.back() == '/') out_dir.pop_back();
  for (const auto& [what, value] : {std::pair<std::string, std::string>{"--out", out_dir},
                                    {"--partition", args.partition},
                                    {"--time", args.time_limit},
                                    {"--account", args.account}}) {
    if (const std::string problem = sbatch_problem(what, value); !problem.empty()) {
      print_error(problem);
      return kExitBadInput;
    }
  }

  const std::string script =
      slurm_script(scenario, args, self_executable(), scenario_path, out_dir);
  if (args.dry_run) {
    std::cout << script;
    return kExitOk;
  }

  if (!in_path("sbatch")) {
    print_error("Slurm is not installed here (no sbatch in PATH)");
    return kExitFailure;
  }
  if (!make_out_dir(out_dir)) return kExitFailure;
  // This job's results replace any a previous run left in the same folder.
  for (const char* stale : {"hub.endpoint", "hub.exit", "report.json"}) fs::remove(out_dir + "/" + stale, error);
  const std::string script_path = out_dir + "/job.sh";
  {
    std::ofstream file(script_path);
    file << script;
    if (!file.flush()) {
      print_error(script_path + ": cannot write the job script");
      return kExitFailure;
    }
  }

  install_stop_signals();
  const RunLog say(false);
  const Captured submitted = capture({"sbatch", "--parsable", script_path});
  const std::string job_id = first_line(submitted.out).substr(0, first_line(submitted.out).find(';'));
  if (submitted.code != 0 || job_id.empty() ||
      !std::all_of(job_id.begin(), job_id.end(), ::isdigit)) {
    std::string why = first_line(submitted.err);
    if (why.rfind("sbatch: error: ", 0) == 0) why = why.substr(15);
    if (why.empty()) why = submitted.code < 0 ? "sbatch could not run" : "sbatch printed no job id";
    print_error("sbatch refused the job: " + why + " (script: " + script_path + ")");
    return kExitFailure;
  }
  say("submitted job " + job_id + " (" + job_name(scenario.name) + ", " +
      std::to_string(args.nodes) + (args.nodes == 1 ? " node" : " nodes") + "); folder " +
      out_dir);
  return follow(job_id, out_dir, args.poll_s, say);
}

}  // namespace cadre::cli
