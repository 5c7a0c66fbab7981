// Helpers for multi-process tests: start `cadre` as a child, wait for it with a deadline, read
// what it wrote. Every process a test starts is killed and reaped by pid when its handle goes
// out of scope, so a failing test leaves nothing running.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace cadre::testing {

inline std::string source_dir() { return CADRE_SOURCE_DIR; }
inline std::string cadre_binary() { return CADRE_BINARY; }
inline std::string scenario_path(const std::string& name) {
  return source_dir() + "/scenarios/" + name;
}

// A fresh, empty folder under the build's temp area, removed at destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    path_ = std::filesystem::temp_directory_path() /
            ("cadre-test-" + tag + "-" + std::to_string(::getpid()) + "-" +
             std::to_string(counter()++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string path() const { return path_.string(); }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::filesystem::path path_;
};

class ChildProcess {
 public:
  // Starts argv with stdout+stderr to `log_path`.
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path) {
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      FILE* log = std::fopen(log_path.c_str(), "w");
      if (log != nullptr) {
        ::dup2(fileno(log), STDOUT_FILENO);
        ::dup2(fileno(log), STDERR_FILENO);
      }
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~ChildProcess() {
    if (pid_ > 0 && !exit_status_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) const { ::kill(pid_, sig); }

  // Waits up to `timeout` for the process to end; returns its raw status, or nullopt.
  std::optional<int> wait_for(std::chrono::milliseconds timeout) {
    if (exit_status_) return exit_status_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_status_ = status;
        return exit_status_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

// Runs argv to completion (deadline `timeout`) and returns {exit code or -1, output}.
inline std::pair<int, std::string> run_to_end(const std::vector<std::string>& argv,
                                              const std::string& log_path,
                                              std::chrono::milliseconds timeout) {
  ChildProcess child(argv, log_path);
  auto status = child.wait_for(timeout);
  std::ifstream in(log_path);
  std::stringstream text;
  text << in.rdbuf();
  if (!status || !WIFEXITED(*status)) return {-1, text.str()};
  return {WEXITSTATUS(*status), text.str()};
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline nlohmann::json read_json(const std::string& path) {
  return nlohmann::json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
}

inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line, nullptr, false));
  return lines;
}

// Journal records of a run folder ("<length> <crc32> <json>" lines; the JSON parsed), as far as
// they are written.
inline std::vector<nlohmann::json> read_journal_events(const std::string& dir) {
  std::vector<nlohmann::json> events;
  std::istringstream in(read_file(dir + "/journal.jsonl"));
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find(' ');
    const auto second = first == std::string::npos ? first : line.find(' ', first + 1);
    if (second == std::string::npos) continue;
    auto event = nlohmann::json::parse(line.substr(second + 1), nullptr, false);
    if (!event.is_discarded()) events.push_back(event);
  }
  return events;
}

inline bool process_alive(pid_t pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0) return false;
  // A zombie still answers kill(0); look at its state.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() || text[close + 2] != 'Z';
}

// Polls `predicate` every 20 ms until true or `timeout` passes.
template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return predicate();
}

}  // namespace cadre::testing
