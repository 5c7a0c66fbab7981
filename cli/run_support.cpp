#include "run_support.h"

#include <iostream>

#include "commands.h"

#include <cstdio>
#include <ctime>
#include <filesystem>

#include <sys/wait.h>

#include "cadre/runtime/child_processes.h"

namespace cadre::cli {

std::map<std::string, std::string> brain_params_for(const runtime::TeamEntry& entry,
                                                    const runtime::Scenario& scenario) {
  std::map<std::string, std::string> params = entry.brain.params;
  if (entry.brain.kind == "sim") {
    char scale[64];
    std::snprintf(scale, sizeof scale, "%.17g", scenario.workflow.time_scale);
    params["time_scale"] = scale;
  }
  return params;
}

std::string agent_id_for(const std::string& role, std::uint32_t n) {
  return role + "-" + std::to_string(n);
}

std::string self_executable() {
  std::error_code error;
  auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::string("cadre") : path.string();
}

int run_and_wait(const std::vector<std::string>& argv, const std::string& log_path) {
  runtime::ChildProcesses children;
  auto pid = children.spawn(argv.empty() ? "" : argv[0], argv, log_path);
  if (!pid.ok()) return -1;
  while (true) {
    for (const auto& exit : children.reap())
      return WIFEXITED(exit.status) ? WEXITSTATUS(exit.status) : -1;
    struct timespec pause {0, 20'000'000};
    nanosleep(&pause, nullptr);
  }
}

std::string default_out_dir(const std::string& scenario_name) {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  return "runs/" + scenario_name + "-" + stamp;
}

bool make_out_dir(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) print_error(dir + ": cannot create output folder: " + error.message());
  return !error;
}

int finish_run(const std::string& out_dir, const runtime::HubCore& core,
               const runtime::RunFacts& facts) {
  auto written = runtime::write_report(out_dir, core, facts);
  std::cout << runtime::summary_table(core, facts);
  if (!written.ok()) {
    print_error(written.error().to_string());
    return kExitFailure;
  }
  std::cout << "  report     " << out_dir << "/report.json\n" << std::endl;
  if (facts.interrupted) return kExitInterrupted;
  if (!core.all_goals_ended()) return kExitLimit;
  return kExitOk;
}

}  // namespace cadre::cli
