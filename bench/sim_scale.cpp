// Benchmark: `cadre sim` on a large scenario (default scenarios/scale-10k.yaml), end to end as a
// user runs it. Prints simulated tasks per second, wall time and peak resident memory of the
// cadre process, as a table and as one JSON line.
//
//   build/bench/bench_sim_scale [SCENARIO] [--cadre PATH]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::string scenario = std::string(CADRE_SOURCE_DIR) + "/scenarios/scale-10k.yaml";
  std::string cadre = CADRE_BINARY;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--cadre" && i + 1 < argc) cadre = argv[++i];
    else if (arg == "-h" || arg == "--help") {
      std::printf("usage: %s [SCENARIO] [--cadre PATH]\n", argv[0]);
      return 0;
    } else scenario = arg;
  }
  const std::string out =
      (std::filesystem::temp_directory_path() / ("cadre-bench-sim-" + std::to_string(getpid())))
          .string();
  std::vector<std::string> args = {cadre, "sim", scenario, "--out", out, "-q"};
  std::vector<char*> c_args;
  for (auto& arg : args) c_args.push_back(arg.data());
  c_args.push_back(nullptr);

  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    execv(c_args[0], c_args.data());
    _exit(127);
  }
  int status = 0;
  struct rusage usage {};
  wait4(pid, &status, 0, &usage);
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "bench_sim_scale: cadre sim failed (status %d)\n", status);
    return 1;
  }
  std::ifstream in(out + "/report.json");
  // task_attempts (one entry per task: a million here) is not needed: skipped while parsing.
  const nlohmann::json::parser_callback_t skip_attempts =
      [](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        return !(event == nlohmann::json::parse_event_t::key && depth == 1 &&
                 parsed == "task_attempts");
      };
  const auto report = nlohmann::json::parse(in, skip_attempts, false);
  std::filesystem::remove_all(out);
  if (report.is_discarded()) {
    std::fprintf(stderr, "bench_sim_scale: no report.json\n");
    return 1;
  }
  const double tasks = report["tasks"]["completed"].get<double>();
  std::size_t agents = report["agents"].size();
  const double peak_mib = usage.ru_maxrss / 1024.0;
  const double sim_s = report["time"]["real_s"].get<double>();
  std::printf("%-28s %s\n", "scenario", scenario.c_str());
  std::printf("%-28s %zu\n", "agents", agents);
  std::printf("%-28s %d\n", "goals", report["goals"]["total"].get<int>());
  std::printf("%-28s %.0f\n", "tasks completed", tasks);
  std::printf("%-28s %.2f s\n", "wall time (whole process)", wall_s);
  std::printf("%-28s %.2f s\n", "simulation loop", sim_s);
  std::printf("%-28s %.0f\n", "simulated tasks per second", tasks / sim_s);
  std::printf("%-28s %.0f MiB\n", "peak resident memory", peak_mib);
  nlohmann::json line = {{"bench", "sim"},           {"scenario", scenario},
                         {"agents", agents},         {"tasks", tasks},
                         {"wall_s", wall_s},         {"sim_loop_s", sim_s},
                         {"tasks_per_s", tasks / sim_s}, {"peak_rss_mib", peak_mib}};
  std::printf("%s\n", line.dump().c_str());
  return 0;
}
