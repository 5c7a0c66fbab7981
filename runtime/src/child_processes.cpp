#include "cadre/runtime/child_processes.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace cadre::runtime {

std::string ChildExit::describe() const {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return "killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "ended with status " + std::to_string(status);
}

ChildProcesses::~ChildProcesses() { stop_all(std::chrono::milliseconds(500)); }

Result<pid_t> ChildProcesses::spawn(const std::string& name, const std::vector<std::string>& argv,
                                    const std::string& log_path,
                                    const std::map<std::string, std::string>& env,
                                    const std::string& workdir) {
  if (argv.empty()) return make_error("nothing to run for " + name);
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return make_error(std::string("cannot open log: ") + std::strerror(errno), log_path);
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  // The environment is built before fork: the child may only make async-signal-safe calls.
  std::vector<std::string> env_entries;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text = *entry;
    const auto eq = text.find('=');
    if (eq != std::string::npos && env.count(text.substr(0, eq))) continue;
    env_entries.push_back(text);
  }
  for (const auto& [key, value] : env) env_entries.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_entries) envp.push_back(entry.data());
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return make_error(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);  // the parent died before prctl took effect
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    if (!workdir.empty() && ::chdir(workdir.c_str()) != 0) {
      const char message[] = "cadre: cannot enter the agent's working folder\n";
      (void)!::write(STDERR_FILENO, message, sizeof message - 1);
      ::_exit(127);
    }
    ::execvpe(args[0], args.data(), envp.data());
    const char message[] = "cadre: exec failed\n";
    (void)!::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(127);
  }
  ::close(log_fd);
  children_.push_back({name, pid});
  return pid;
}

std::vector<ChildExit> ChildProcesses::reap() {
  std::vector<ChildExit> exits;
  for (auto it = children_.begin(); it != children_.end();) {
    int status = 0;
    const pid_t done = ::waitpid(it->pid, &status, WNOHANG);
    if (done == it->pid || (done < 0 && errno == ECHILD)) {
      exits.push_back({it->name, it->pid, status});
      it = children_.erase(it);
    } else {
      ++it;
    }
  }
  return exits;
}

std::vector<ChildExit> ChildProcesses::stop_all(std::chrono::milliseconds grace) {
  std::vector<ChildExit> exits = reap();
  for (const auto& child : children_) ::kill(child.pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (!children_.empty() && std::chrono::steady_clock::now() < deadline) {
    auto more = reap();
    exits.insert(exits.end(), more.begin(), more.end());
    if (!children_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (const auto& child : children_) ::kill(child.pid, SIGKILL);
  for (const auto& child : children_) {
    int status = 0;
    ::waitpid(child.pid, &status, 0);
    exits.push_back({child.name, child.pid, status});
  }
  children_.clear();
  return exits;
}

}  // namespace cadre::runtime
