#include "cadre/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace cadre {
namespace {

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

std::string SubprocessResult::describe() const {
  char text[96];
  if (timed_out) {
    std::snprintf(text, sizeof text, "timed out after %.1f s", seconds);
  } else if (term_signal == SIGXCPU) {
    return "exceeded its CPU limit";
  } else if (term_signal != 0) {
    std::snprintf(text, sizeof text, "killed by signal %d (%s)", term_signal,
                  strsignal(term_signal));
  } else {
    std::snprintf(text, sizeof text, "exit %d", exit_code);
  }
  return text;
}

Result<SubprocessResult> run_subprocess(const std::vector<std::string>& argv,
                                        const std::string& stdin_text,
                                        const SubprocessLimits& limits,
                                        const std::string& workdir,
                                        const std::map<std::string, std::string>& env) {
  if (argv.empty()) return make_error("nothing to run");
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, status_pipe[2] = {-1, -1};
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC) ||
      ::pipe2(status_pipe, O_CLOEXEC)) {
    const std::string reason = std::strerror(errno);
    for (int* p : {in, out, err, status_pipe}) close_fd(p[0]), close_fd(p[1]);
    return make_error("cannot run '" + argv[0] + "': pipe: " + reason);
  }
  // Everything the child needs is prepared before fork: only async-signal-safe calls after it.
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_entries;
  for (const auto& [key, value] : env) env_entries.push_back(key + "=" + value);
  const pid_t parent = ::getpid();
  const auto started = std::chrono::steady_clock::now();

  const pid_t pid = ::fork();
  if (pid < 0) {
    const std::string reason = std::strerror(errno);
    for (int* p : {in, out, err, status_pipe}) close_fd(p[0]), close_fd(p[1]);
    return make_error("cannot run '" + argv[0] + "': fork: " + reason);
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    if (limits.cpu_s > 0) {
      const rlim_t cpu = static_cast<rlim_t>(limits.cpu_s + 0.999);
      struct rlimit limit {cpu, cpu + 1};
      ::setrlimit(RLIMIT_CPU, &limit);
    }
    if (limits.memory_mb > 0) {
      const rlim_t bytes = static_cast<rlim_t>(limits.memory_mb) << 20;
      struct rlimit limit {bytes, bytes};
      ::setrlimit(RLIMIT_AS, &limit);
    }
    for (auto& entry : env_entries) ::putenv(entry.data());
    int failed_step = 0;
    if (!workdir.empty() && ::chdir(workdir.c_str()) != 0) failed_step = 1;
    if (failed_step == 0) ::execvp(args[0], args.data());
    const int code[2] = {failed_step, errno};
    (void)!::write(status_pipe[1], code, sizeof code);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, so a timeout can reach the group at once
  close_fd(in[0]);
  close_fd(out[1]);
  close_fd(err[1]);
  close_fd(status_pipe[1]);

  // Did exec work? The status pipe closes on exec (CLOEXEC) or carries the errno.
  int code[2] = {0, 0};
  const ssize_t got = ::read(status_pipe[0], code, sizeof code);
  close_fd(status_pipe[0]);
  if (got == static_cast<ssize_t>(sizeof code)) {
    close_fd(in[1]);
    close_fd(out[0]);
    close_fd(err[0]);
    ::waitpid(pid, nullptr, 0);
    const std::string what = code[0] == 1 ? "cannot enter '" + workdir + "'" : "";
    return make_error("cannot run '" + argv[0] + "': " +
                      (what.empty() ? std::string() : what + ": ") + std::strerror(code[1]));
  }

  SubprocessResult result;
  std::size_t written = 0;
  if (stdin_text.empty()) close_fd(in[1]);
  else ::fcntl(in[1], F_SETFL, O_NONBLOCK);
  const auto deadline = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                      std::chrono::duration<double>(limits.timeout_s));
  bool killed = false;
  std::chrono::steady_clock::time_point kill_at{};
  while (out[0] >= 0 || err[0] >= 0) {
    pollfd fds[3];
    int n = 0;
    if (out[0] >= 0) fds[n++] = {out[0], POLLIN, 0};
    if (err[0] >= 0) fds[n++] = {err[0], POLLIN, 0};
    if (in[1] >= 0) fds[n++] = {in[1], POLLOUT, 0};
    const auto now = std::chrono::steady_clock::now();
    if (!killed && now >= deadline) {
      result.timed_out = true;
      killed = true;
      ::kill(-pid, SIGTERM);
      kill_at = now + std::chrono::milliseconds(200);
    }
    if (killed && now >= kill_at) ::kill(-pid, SIGKILL);
    const int wait_ms = killed ? 50 : static_cast<int>(std::clamp<long long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1, 1, 100));
    if (::poll(fds, n, wait_ms) < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in[1]) {
        const ssize_t w = ::write(in[1], stdin_text.data() + written, stdin_text.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        if (w < 0 && errno != EAGAIN) written = stdin_text.size();
        if (written >= stdin_text.size()) close_fd(in[1]);
        continue;
      }
      char buffer[65536];
      const ssize_t r = ::read(fds[i].fd, buffer, sizeof buffer);
      if (r <= 0) {
        if (r < 0 && errno == EINTR) continue;
        if (fds[i].fd == out[0]) close_fd(out[0]);
        else close_fd(err[0]);
        continue;
      }
      std::string& sink = fds[i].fd == out[0] ? result.stdout_text : result.stderr_text;
      const std::size_t room =
          limits.max_output_bytes > sink.size() ? limits.max_output_bytes - sink.size() : 0;
      if (static_cast<std::size_t>(r) > room) result.output_truncated = true;
      sink.append(buffer, std::min<std::size_t>(room, static_cast<std::size_t>(r)));
    }
  }
  close_fd(in[1]);
  int status = 0;
  // The pipes are closed: the child exited or closed them; wait for it within the deadline.
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    const auto now = std::chrono::steady_clock::now();
    if (!killed && now >= deadline) {
      result.timed_out = killed = true;
      ::kill(-pid, SIGTERM);
      kill_at = now + std::chrono::milliseconds(200);
    }
    if (killed && now >= kill_at) ::kill(-pid, SIGKILL);
    ::usleep(5000);
  }
  ::kill(-pid, SIGKILL);  // grandchildren left in the group
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
  return result;
}

}  // namespace cadre
