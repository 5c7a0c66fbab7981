#include "run_support.h"

#include <signal.h>

#include <atomic>
#include <iostream>
#include <set>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "commands.h"
#include "progress.h"

#include <cstdio>
#include <ctime>
#include <filesystem>

#include <sys/wait.h>

#include "cadre/agents/brain.h"
#include "cadre/runtime/child_processes.h"

namespace cadre::cli {

std::map<std::string, std::string> brain_params_for(const runtime::TeamEntry& entry,
                                                    const runtime::Scenario& scenario) {
  std::map<std::string, std::string> params = entry.brain.params;
  if (entry.brain.kind == "sim" || entry.brain.kind == "inbox") {  // inbox: cadre sim's person
    char scale[64];
    std::snprintf(scale, sizeof scale, "%.17g", scenario.workflow.time_scale);
    params["time_scale"] = scale;
  }
  return params;
}

Status check_plugins(const runtime::Scenario& scenario) {
  for (const auto& entry : scenario.team) {
    if (entry.brain.kind != "plugin") continue;
    auto brain = agents::make_brain(entry.brain.kind, entry.role, entry.brain.model,
                                    brain_params_for(entry, scenario));
    if (!brain.ok())
      return make_error("team role " + entry.role + ": " + brain.error().to_string(),
                        scenario.source_path);
  }
  return {};
}

namespace {
std::atomic<int> g_stop_signal{0};
void on_stop_signal(int sig) { g_stop_signal.store(sig); }
}  // namespace

void install_stop_signals() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int stop_signal() { return g_stop_signal.load(); }

RunLog::RunLog(bool quiet) : quiet_(quiet), started_(std::chrono::steady_clock::now()) {}

double RunLog::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

void RunLog::operator()(const std::string& line) const {
  if (quiet_) return;
  if (progress_ != nullptr) progress_->before_log();
  char stamp[24];
  std::snprintf(stamp, sizeof stamp, "[%7.2fs] ", elapsed_s());
  std::cout << stamp << line << std::endl;
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
  std::cout << "  report     " << out_dir << "/report.json, report.html (charts), trace.json "
               "(Perfetto)\n"
            << std::endl;
  if (facts.interrupted) return kExitInterrupted;
  if (!facts.failure.empty()) {
    print_error("the run stopped: " + facts.failure);
    return kExitFailure;
  }
  if (!core.all_goals_ended()) return kExitLimit;
  return kExitOk;
}

namespace {

// "http://host:port/path" -> host, port (80 or 443 by default). False if it is not a URL.
bool split_url(const std::string& url, std::string& host, std::string& port) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return false;
  const std::string scheme = url.substr(0, scheme_end);
  std::string rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find('/'));
  if (const auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
  port = scheme == "https" ? "443" : "80";
  if (!rest.empty() && rest.front() == '[') {  // [::1]:8080
    const auto close = rest.find(']');
    if (close == std::string::npos) return false;
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  } else {
    host = rest;
  }
  return !host.empty() && !port.empty();
}

// Connects to host:port with a timeout; returns "" or the reason it could not.
std::string try_connect(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return std::string("cannot resolve ") + host + ": " + gai_strerror(rc);
  std::string reason = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, 3000) == 1 ? 0 : -1;
      int error = rc == 0 ? 0 : ETIMEDOUT;
      socklen_t len = sizeof error;
      if (rc == 0) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
      errno = error;
      rc = error == 0 ? 0 : -1;
    }
    reason = rc == 0 ? "" : std::strerror(errno);
    ::close(fd);
    if (rc == 0) break;
  }
  ::freeaddrinfo(found);
  return reason;
}

}  // namespace

Status check_llm_endpoints(const runtime::Scenario& scenario) {
  std::set<std::string> checked;
  for (const auto& entry : scenario.team) {
    if (entry.brain.kind != "llm") continue;
    auto url = entry.brain.params.find("base_url");
    if (url == entry.brain.params.end() || !checked.insert(url->second).second) continue;
    std::string host, port;
    if (!split_url(url->second, host, port))
      return make_error("team role " + entry.role + ": base_url '" + url->second +
                        "' is not a URL like http://127.0.0.1:11434/v1");
    const std::string reason = try_connect(host, port);
    if (!reason.empty())
      return make_error("cannot reach the llm endpoint " + url->second + " (team role " +
                        entry.role + "): " + reason +
                        ". Is the model server running? See docs/llm.md.");
  }
  return Status::Ok();
}

}  // namespace cadre::cli
