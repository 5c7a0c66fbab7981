// Benchmark: how fast `cadre run` brings up a team, and how small an idle agent is.
//
// For each team size N (default 10, 100, 500) it writes a scenario of N sim agents (planners,
// coders, critics, humans) with one goal whose plan takes hours, so that once the plan task is
// out every agent but one planner is idle; it starts `cadre run SCENARIO --out DIR -q` as a child
// process and polls DIR/journal.jsonl for the hub's "join" records (the hub commits a join to the
// journal before it answers WELCOME). Figures per run:
//
//   registered   time from starting `cadre run` until all N agents are registered with the hub
//   first/half   ... until the first agent, and half of them, are registered
//   idle RSS     /proc/<pid>/status VmRSS of each agent process (pid from its join record), after
//                the team has been idle for --idle-s seconds; PSS from /proc/<pid>/smaps_rollup
//                (resident memory with shared pages divided among the processes sharing them)
//   team CPU     CPU time used by `cadre run` and all agent processes when the last one
//                registered (/proc/<pid>/schedstat): the work of bringing the team up, which on a
//                machine shared with other jobs says more than the wall time
//   agent CPU    the median agent's share of that (its start-up, and its waiting for WELCOME)
//   hub RSS      the `cadre run` process's VmRSS at the same moment as the agents' memory
//   idle CPU     CPU used by the idle team (hub and agents) during the --idle-s wait, in % of one
//                core: heartbeats and timers
//   stop         SIGINT to `cadre run` until it has exited (agents stopped and reaped, partial
//                report written)
//
// Every process is cleaned up by pid: `cadre run` gets SIGINT (then SIGKILL after --stop-timeout-s)
// and is reaped; an agent process still alive after that (there should be none: they die with
// their parent) is killed by its pid once checked to be a `cadre agent` of this run.
//
// Each N runs --repeat times; the table shows the best and the median of each figure, and one JSON
// line per N follows.
//
//   build/bench/bench_spawn [--n 10,100,500] [--repeat 3] [--idle-s 2] [--cadre PATH] [--keep]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_args.h"

namespace {

using Clock = std::chrono::steady_clock;

volatile sig_atomic_t g_interrupted = 0;
void on_interrupt(int) { g_interrupted = 1; }

struct Options {
  std::vector<int> sizes = {10, 100, 500};
  int repeat = 3;
  double idle_s = 2.0;
  double register_timeout_s = 120.0;
  double stop_timeout_s = 30.0;
  std::string cadre = CADRE_BINARY;
  bool keep = false;
};

struct Memory {
  double rss_mib = 0, pss_mib = 0, anon_mib = 0;
  int threads = 0;
};

struct RunFigures {
  bool ok = false;
  std::string error;
  double first_s = 0, half_s = 0, all_s = 0;
  double rss_median_mib = 0, rss_max_mib = 0;
  double pss_median_mib = 0, pss_total_mib = 0;
  double anon_median_mib = 0;
  int threads = 0;
  double hub_rss_mib = 0;
  double stop_s = 0;
  double team_cpu_s = 0;      // CPU time of `cadre run` and all agents when all had registered
  double agent_cpu_ms = 0;    // median CPU time of one agent by then (its start-up)
  double idle_cpu_pct = 0;    // CPU used by the idle team (agents + hub), % of one core
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// A team of n: 10% planners, 20% critics, 10% humans (each at least one), coders the rest.
std::string scenario_text(int n) {
  const int planners = std::max(1, n / 10);
  const int critics = std::max(1, n / 5);
  const int humans = std::max(1, n / 10);
  const int coders = n - planners - critics - humans;
  std::ostringstream out;
  out << "# written by bench_spawn: " << n << " sim agents, one goal whose plan takes hours\n"
      << "name: bench-spawn-" << n << "\n"
      << "seed: 1\n"
      << "team:\n"
      << "  - role: planner\n    count: " << planners
      << "\n    brain: {kind: sim, model: sim-large, overhead_s: 36000}\n"
      << "  - role: coder\n    count: " << coders << "\n    capacity: 2\n"
      << "    brain: {kind: sim, model: sim-small}\n"
      << "  - role: critic\n    count: " << critics << "\n    capacity: 4\n"
      << "    brain: {kind: sim, model: sim-large}\n"
      << "  - role: human\n    count: " << humans << "\n    brain: {kind: sim}\n"
      << "workflow:\n  lease_s: 100000\n  heartbeat_s: 0.5\n"
      << "work:\n  goals:\n    - id: g1\n      title: \"a plan that takes hours\"\n"
      << "      subtasks:\n        - {title: \"one step\", difficulty: 0.5}\n"
      << "pricing:\n  models:\n    sim-small: {in: 0.15, out: 0.60}\n"
      << "    sim-large: {in: 2.50, out: 10.00}\n"
      << "limits:\n  wall_s: 900\n";
  if (coders < 1) return {};
  return out.str();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Value (in kB) of "Key:   123 kB" in a /proc status-like text; -1 if absent.
long proc_field_kb(const std::string& text, const std::string& key) {
  const std::string haystack = "\n" + text;
  const auto at = haystack.find("\n" + key + ":");
  if (at == std::string::npos) return -1;
  return std::strtol(haystack.c_str() + at + key.size() + 2, nullptr, 10);
}

// CPU time a process has run so far, seconds (/proc/<pid>/schedstat, all its threads); -1 if
// it is gone.
double cpu_seconds(pid_t pid) {
  const std::string text = read_file("/proc/" + std::to_string(pid) + "/schedstat");
  if (text.empty()) return -1;
  return std::strtod(text.c_str(), nullptr) / 1e9;
}

std::optional<Memory> memory_of(pid_t pid) {
  const std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
  if (status.empty()) return std::nullopt;
  Memory memory;
  memory.rss_mib = proc_field_kb(status, "VmRSS") / 1024.0;
  memory.anon_mib = proc_field_kb(status, "RssAnon") / 1024.0;
  memory.threads = static_cast<int>(proc_field_kb(status, "Threads"));
  const std::string rollup = read_file("/proc/" + std::to_string(pid) + "/smaps_rollup");
  const long pss = proc_field_kb(rollup, "Pss");
  memory.pss_mib = pss >= 0 ? pss / 1024.0 : 0;
  return memory;
}

// The agent ids and pids of the join records in a journal text ("<len> <crc> <json>" lines).
// Only whole lines are looked at; `consumed` says how far.
void scan_joins(const std::string& text, std::size_t& consumed, std::map<std::string, pid_t>& joined) {
  while (true) {
    const auto end = text.find('\n', consumed);
    if (end == std::string::npos) return;
    const std::string_view line(text.data() + consumed, end - consumed);
    consumed = end + 1;
    if (line.find("\"ev\":\"join\"") == std::string_view::npos) continue;
    const auto brace = line.find('{');
    if (brace == std::string_view::npos) continue;
    const auto record = nlohmann::json::parse(line.substr(brace), nullptr, false);
    if (record.is_discarded() || !record.contains("agent")) continue;
    joined[record["agent"].get<std::string>()] =
        record.contains("pid") ? record["pid"].get<pid_t>() : 0;
  }
}

// True if `pid` is a `cadre agent` process of the run whose hub log folder is `out`.
bool is_our_agent(pid_t pid, const std::string& id) {
  std::string cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  return cmdline.find(" agent ") != std::string::npos &&
         cmdline.find(" --id " + id + " ") != std::string::npos;
}

RunFigures run_once(const Options& options, int n, int round) {
  RunFigures figures;
  const std::string text = scenario_text(n);
  if (text.empty()) {
    figures.error = "N too small for a team of four roles";
    return figures;
  }
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("cadre-bench-spawn-" + std::to_string(getpid()) + "-" +
                            std::to_string(n) + "-" + std::to_string(round)))
                              .string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string scenario = dir + "/scenario.yaml";
  const std::string out = dir + "/out";
  std::ofstream(scenario) << text;

  std::vector<std::string> args = {options.cadre, "run", scenario, "--out", out, "-q"};
  std::vector<char*> c_args;
  for (auto& arg : args) c_args.push_back(arg.data());
  c_args.push_back(nullptr);
  const std::string log_path = dir + "/cadre.log";

  const auto start = Clock::now();
  const pid_t cadre = fork();
  if (cadre < 0) {
    figures.error = std::string("fork: ") + std::strerror(errno);
    return figures;
  }
  if (cadre == 0) {
    std::FILE* log = std::fopen(log_path.c_str(), "w");
    if (log != nullptr) {
      dup2(fileno(log), STDOUT_FILENO);
      dup2(fileno(log), STDERR_FILENO);
    }
    execv(c_args[0], c_args.data());
    _exit(127);
  }

  // Registration: poll the journal.
  std::map<std::string, pid_t> joined;
  std::string journal;
  std::size_t consumed = 0;
  std::size_t read_bytes = 0;
  const std::string journal_path = out + "/journal.jsonl";
  bool exited = false;
  int status = 0;
  while (true) {
    if (std::FILE* file = std::fopen(journal_path.c_str(), "rb")) {
      std::fseek(file, static_cast<long>(read_bytes), SEEK_SET);
      char buffer[1 << 16];
      std::size_t got;
      while ((got = std::fread(buffer, 1, sizeof buffer, file)) > 0) {
        journal.append(buffer, got);
        read_bytes += got;
      }
      std::fclose(file);
      const std::size_t before = joined.size();
      scan_joins(journal, consumed, joined);
      const double t = seconds_since(start);
      if (before == 0 && !joined.empty()) figures.first_s = t;
      if (before < static_cast<std::size_t>((n + 1) / 2) &&
          joined.size() >= static_cast<std::size_t>((n + 1) / 2))
        figures.half_s = t;
      if (joined.size() >= static_cast<std::size_t>(n)) {
        figures.all_s = t;
        break;
      }
    }
    if (waitpid(cadre, &status, WNOHANG) == cadre) {
      exited = true;
      figures.error = "cadre run ended before the team registered (see " + log_path + ")";
      break;
    }
    if (g_interrupted) {
      figures.error = "interrupted";
      break;
    }
    if (seconds_since(start) > options.register_timeout_s) {
      figures.error = "only " + std::to_string(joined.size()) + " of " + std::to_string(n) +
                      " agents registered within " + std::to_string(options.register_timeout_s) +
                      " s";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }

  // Idle memory.
  if (figures.error.empty()) {
    auto team_cpu = [&](std::vector<double>* per_agent) {
      double total = std::max(0.0, cpu_seconds(cadre));
      for (const auto& [id, pid] : joined) {
        const double cpu = pid > 0 ? cpu_seconds(pid) : -1;
        if (cpu < 0) continue;
        total += cpu;
        if (per_agent != nullptr) per_agent->push_back(cpu * 1000);
      }
      return total;
    };
    std::vector<double> agent_cpu;
    figures.team_cpu_s = team_cpu(&agent_cpu);
    figures.agent_cpu_ms = median(agent_cpu);
    const auto idle_start = Clock::now();
    const auto idle_until = idle_start + std::chrono::duration<double>(options.idle_s);
    while (Clock::now() < idle_until && !g_interrupted)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    figures.idle_cpu_pct =
        100 * (team_cpu(nullptr) - figures.team_cpu_s) / std::max(1e-3, seconds_since(idle_start));
    std::vector<double> rss, pss, anon;
    for (const auto& [id, pid] : joined) {
      if (pid <= 0) continue;
      if (auto memory = memory_of(pid)) {
        rss.push_back(memory->rss_mib);
        pss.push_back(memory->pss_mib);
        anon.push_back(memory->anon_mib);
        figures.threads = std::max(figures.threads, memory->threads);
      }
    }
    if (auto hub = memory_of(cadre)) figures.hub_rss_mib = hub->rss_mib;
    if (rss.empty()) {
      figures.error = "no agent process to measure";
    } else {
      figures.rss_median_mib = median(rss);
      figures.rss_max_mib = *std::max_element(rss.begin(), rss.end());
      figures.pss_median_mib = median(pss);
      for (double value : pss) figures.pss_total_mib += value;
      figures.anon_median_mib = median(anon);
      figures.ok = true;
    }
  }

  // Stop `cadre run` (SIGINT: agents stopped and reaped, partial report), then make sure.
  const auto stop_start = Clock::now();
  if (!exited) {
    kill(cadre, SIGINT);
    while (true) {
      if (waitpid(cadre, &status, WNOHANG) == cadre) break;
      if (seconds_since(stop_start) > options.stop_timeout_s) {
        std::fprintf(stderr, "bench_spawn: cadre run (pid %d) did not stop; killing it\n", cadre);
        kill(cadre, SIGKILL);
        waitpid(cadre, &status, 0);
        figures.ok = false;
        figures.error = "cadre run did not stop within the stop timeout";
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  figures.stop_s = seconds_since(stop_start);
  // Agents die with their parent (PR_SET_PDEATHSIG); any left is a bug, but not one to leak.
  int leftovers = 0;
  for (const auto& [id, pid] : joined) {
    if (pid > 0 && kill(pid, 0) == 0 && is_our_agent(pid, id)) {
      ++leftovers;
      kill(pid, SIGKILL);
    }
  }
  if (leftovers > 0) {
    std::fprintf(stderr, "bench_spawn: %d agent processes outlived cadre run; killed them\n",
                 leftovers);
    figures.ok = false;
    if (figures.error.empty()) figures.error = "agent processes outlived cadre run";
  }
  if (!options.keep && figures.ok) std::filesystem::remove_all(dir);
  else if (!figures.ok) std::fprintf(stderr, "bench_spawn: run folder kept: %s\n", dir.c_str());
  return figures;
}

std::vector<int> parse_sizes(const std::string& text) {
  std::vector<int> sizes;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const int n = std::atoi(item.c_str());
    if (n >= 4) sizes.push_back(n);
    else {
      std::fprintf(stderr, "bench_spawn: --n: each size must be at least 4 (got '%s')\n",
                   item.c_str());
      std::exit(2);
    }
  }
  return sizes;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&] { return cadre::bench::option_value(argc, argv, i, "bench_spawn"); };
    if (arg == "--n") options.sizes = parse_sizes(value());
    else if (arg == "--repeat") options.repeat = std::max(1, std::atoi(value().c_str()));
    else if (arg == "--idle-s") options.idle_s = std::atof(value().c_str());
    else if (arg == "--timeout-s") options.register_timeout_s = std::atof(value().c_str());
    else if (arg == "--cadre") options.cadre = value();
    else if (arg == "--keep") options.keep = true;
    else if (arg == "-h" || arg == "--help") {
      std::printf("usage: %s [--n 10,100,500] [--repeat 3] [--idle-s 2] [--timeout-s 120] "
                  "[--cadre PATH] [--keep]\n",
                  argv[0]);
      return 0;
    } else {
      std::fprintf(stderr, "bench_spawn: unknown argument %s (see --help)\n", arg.c_str());
      return 2;
    }
  }
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  std::printf("cadre: %s; %d run(s) per size; idle memory sampled %.1f s after the last join\n",
              options.cadre.c_str(), options.repeat, options.idle_s);
  std::printf("%6s %-6s %10s %9s %9s %9s %9s %10s %10s %10s %10s %8s %9s %9s %8s\n", "agents", "",
              "registered", "first", "half", "team CPU", "agent CPU", "agent RSS", "RSS max",
              "agent PSS", "PSS total", "threads", "hub RSS", "idle CPU", "stop");
  std::vector<nlohmann::json> lines;
  int failures = 0;
  for (int n : options.sizes) {
    std::vector<RunFigures> runs;
    for (int round = 0; round < options.repeat && !g_interrupted; ++round) {
      RunFigures figures = run_once(options, n, round);
      if (!figures.ok) {
        std::fprintf(stderr, "bench_spawn: N=%d run %d: %s\n", n, round + 1,
                     figures.error.c_str());
        ++failures;
        continue;
      }
      runs.push_back(figures);
    }
    if (runs.empty()) continue;
    auto pick = [&](auto field) {
      std::vector<double> values;
      for (const auto& run : runs) values.push_back(run.*field);
      return std::make_pair(*std::min_element(values.begin(), values.end()), median(values));
    };
    const auto all = pick(&RunFigures::all_s);
    const auto first = pick(&RunFigures::first_s);
    const auto half = pick(&RunFigures::half_s);
    const auto rss = pick(&RunFigures::rss_median_mib);
    const auto rss_max = pick(&RunFigures::rss_max_mib);
    const auto pss = pick(&RunFigures::pss_median_mib);
    const auto pss_total = pick(&RunFigures::pss_total_mib);
    const auto anon = pick(&RunFigures::anon_median_mib);
    const auto hub = pick(&RunFigures::hub_rss_mib);
    const auto stop = pick(&RunFigures::stop_s);
    const auto team_cpu = pick(&RunFigures::team_cpu_s);
    const auto agent_cpu = pick(&RunFigures::agent_cpu_ms);
    const auto idle_cpu = pick(&RunFigures::idle_cpu_pct);
    int threads = 0;
    for (const auto& run : runs) threads = std::max(threads, run.threads);
    const char* row = "%6s %-6s %8.2f s %7.2f s %7.2f s %7.2f s %6.1f ms %6.1f MiB %6.1f MiB %6.1f MiB "
                      "%6.0f MiB %8s %5.0f MiB %7.1f %% %6.2f s\n";
    const std::string size = std::to_string(n), thread_count = std::to_string(threads);
    std::printf(row, size.c_str(), "best", all.first, first.first, half.first, team_cpu.first,
                agent_cpu.first, rss.first, rss_max.first, pss.first, pss_total.first,
                thread_count.c_str(), hub.first, idle_cpu.first, stop.first);
    std::printf(row, "", "median", all.second, first.second, half.second, team_cpu.second,
                agent_cpu.second, rss.second, rss_max.second, pss.second, pss_total.second, "",
                hub.second, idle_cpu.second, stop.second);
    lines.push_back({{"bench", "spawn"},
                     {"agents", n},
                     {"runs", runs.size()},
                     {"registered_s", {{"best", all.first}, {"median", all.second}}},
                     {"first_s", {{"best", first.first}, {"median", first.second}}},
                     {"half_s", {{"best", half.first}, {"median", half.second}}},
                     {"agent_rss_mib", {{"best", rss.first}, {"median", rss.second}}},
                     {"agent_rss_max_mib", {{"best", rss_max.first}, {"median", rss_max.second}}},
                     {"agent_pss_mib", {{"best", pss.first}, {"median", pss.second}}},
                     {"agent_anon_mib", {{"best", anon.first}, {"median", anon.second}}},
                     {"agents_pss_total_mib", {{"best", pss_total.first}, {"median", pss_total.second}}},
                     {"agent_threads", threads},
                     {"hub_rss_mib", {{"best", hub.first}, {"median", hub.second}}},
                     {"team_cpu_s", {{"best", team_cpu.first}, {"median", team_cpu.second}}},
                     {"agent_cpu_ms", {{"best", agent_cpu.first}, {"median", agent_cpu.second}}},
                     {"idle_cpu_pct", {{"best", idle_cpu.first}, {"median", idle_cpu.second}}},
                     {"stop_s", {{"best", stop.first}, {"median", stop.second}}}});
  }
  std::printf("targets (issue 9): 500 agents registered within 5 s; an idle agent under 10 MiB "
              "resident\n");
  for (const auto& line : lines) std::printf("%s\n", line.dump().c_str());
  if (g_interrupted) return 130;
  return failures > 0 ? 1 : 0;
}
