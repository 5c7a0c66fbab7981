// run_subprocess: fork/exec with pipes, limits, a process-group timeout and no deadlock.
//
// Thread safety: every pipe is made with O_CLOEXEC (so a child forked by another thread never
// inherits our ends), and everything the child needs (argv, envp, the PATH candidates) is built
// before fork, so that between fork and exec the child only makes async-signal-safe calls.
#include "cadre/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

extern char** environ;

namespace cadre {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kTermGrace = std::chrono::milliseconds(200);
// After the child exits, how long its pipes may stay open (held by something that left its
// process group) before we stop reading them.
constexpr auto kDrainAfterExit = std::chrono::milliseconds(500);

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

void close_pipes(std::initializer_list<int*> pipes) {
  for (int* p : pipes) close_fd(p[0]), close_fd(p[1]);
}

// The files execvp would try for `program`, in order, looked up in `path` (the child's PATH).
std::vector<std::string> exec_candidates(const std::string& program, const char* path) {
  if (program.find('/') != std::string::npos) return {program};
  std::vector<std::string> candidates;
  const std::string dirs = path ? path : "/bin:/usr/bin";
  std::size_t start = 0;
  while (true) {
    const std::size_t colon = dirs.find(':', start);
    std::string dir = dirs.substr(start, colon == std::string::npos ? colon : colon - start);
    if (dir.empty()) dir = ".";  // an empty PATH entry means the current folder
    candidates.push_back(dir + "/" + program);
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return candidates;
}

// Moves `fd` above the standard descriptors (keeping it close-on-exec) so the dup2 calls that
// install stdin/stdout/stderr cannot clobber one another. Async-signal-safe.
int above_stdio(int fd) {
  if (fd > STDERR_FILENO) return fd;
  return ::fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
}

// The child, between fork and exec: async-signal-safe calls only. Never returns.
[[noreturn]] void run_child(pid_t parent, int stdin_fd, int stdout_fd, int stderr_fd, int status_fd,
                            const SubprocessLimits& limits, const char* workdir,
                            const std::vector<std::string>& candidates, char* const* argv,
                            char** sh_argv, char* const* envp) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect

  // Signal state survives exec for ignored signals and the mask: give the program defaults.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &default_action, nullptr);
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  int step = 0;  // what failed: 0 exec, 1 chdir, 2 setting up descriptors
  stdin_fd = above_stdio(stdin_fd);
  stdout_fd = above_stdio(stdout_fd);
  stderr_fd = above_stdio(stderr_fd);
  if (stdin_fd < 0 || stdout_fd < 0 || stderr_fd < 0 || ::dup2(stdin_fd, STDIN_FILENO) < 0 ||
      ::dup2(stdout_fd, STDOUT_FILENO) < 0 || ::dup2(stderr_fd, STDERR_FILENO) < 0) {
    step = 2;
  }
  if (step == 0 && limits.cpu_s > 0) {
    const rlim_t cpu = static_cast<rlim_t>(limits.cpu_s + 0.999);
    struct rlimit limit {
      cpu, cpu + 1
    };
    ::setrlimit(RLIMIT_CPU, &limit);
  }
  if (step == 0 && limits.memory_mb > 0) {
    const rlim_t bytes = static_cast<rlim_t>(limits.memory_mb) << 20;
    struct rlimit limit {
      bytes, bytes
    };
    ::setrlimit(RLIMIT_AS, &limit);
  }
  if (step == 0 && workdir[0] != '\0' && ::chdir(workdir) != 0) step = 1;
  int error = errno;
  if (step == 0) {
    // execvp's search, without its allocations: the first candidate that is not missing wins;
    // EACCES is remembered but the search goes on; a file that is not an executable format
    // runs under /bin/sh, as execvp does.
    bool denied = false;
    error = ENOENT;
    for (const auto& candidate : candidates) {
      ::execve(candidate.c_str(), argv, envp);
      if (errno == ENOEXEC) {
        sh_argv[1] = const_cast<char*>(candidate.c_str());
        ::execve("/bin/sh", sh_argv, envp);
        error = errno;
        break;
      }
      if (errno == EACCES) {
        denied = true;
        continue;
      }
      if (errno == ENOENT || errno == ENOTDIR || errno == ESTALE || errno == ENODEV ||
          errno == ETIMEDOUT) {
        continue;
      }
      error = errno;
      break;
    }
    if (error == ENOENT && denied) error = EACCES;
  }
  const int code[2] = {step, error};
  (void)!::write(status_fd, code, sizeof code);
  ::_exit(127);
}

// Blocks SIGPIPE in the calling thread for the lifetime of the object, so that writing to a
// child that stopped reading yields EPIPE instead of killing the whole process; on the way out a
// SIGPIPE raised meanwhile (and not pending before) is consumed, and the old mask restored.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    ::sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    ::pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlock() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      ::sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec zero{0, 0};
        while (::sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
        }
      }
    }
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool was_pending_ = false;
};

}  // namespace

std::string SubprocessResult::describe() const {
  char text[128];
  if (cancelled) {
    std::snprintf(text, sizeof text, "cancelled after %.1f s", seconds);
  } else if (timed_out) {
    std::snprintf(text, sizeof text, "timed out after %.1f s", seconds);
  } else if (term_signal == SIGXCPU) {
    return "exceeded its CPU limit";
  } else if (term_signal != 0) {
    const char* name = ::sigdescr_np(term_signal);  // thread-safe, unlike strsignal
    std::snprintf(text, sizeof text, "killed by signal %d (%s)", term_signal,
                  name ? name : "unknown signal");
  } else {
    std::snprintf(text, sizeof text, "exit %d", exit_code);
  }
  return text;
}

Result<SubprocessResult> run_subprocess(const std::vector<std::string>& argv,
                                        const std::string& stdin_text,
                                        const SubprocessLimits& limits, const std::string& workdir,
                                        const std::map<std::string, std::string>& env) {
  if (argv.empty() || argv[0].empty()) return make_error("nothing to run (an empty command)");
  const std::string& program = argv[0];
  const auto cancel_requested = [&limits] {
    return limits.cancel != nullptr && limits.cancel->load(std::memory_order_relaxed);
  };
  if (cancel_requested()) {
    SubprocessResult never;
    never.cancelled = true;
    return never;
  }

  // Everything the child needs is prepared before fork.
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  std::string sh = "sh";
  std::vector<char*> sh_args{sh.data(), nullptr};  // [1] is the script, set in the child
  for (std::size_t i = 1; i < argv.size(); ++i) sh_args.push_back(args[i]);
  sh_args.push_back(nullptr);

  std::vector<std::string> env_entries;
  std::vector<char*> envp;
  const char* path = ::getenv("PATH");
  if (auto it = env.find("PATH"); it != env.end()) path = it->second.c_str();
  {
    std::set<std::string> overridden;
    for (const auto& [key, value] : env) overridden.insert(key);
    for (char** entry = environ; entry && *entry; ++entry) {
      const char* eq = std::strchr(*entry, '=');
      const std::string key =
          eq ? std::string(*entry, static_cast<std::size_t>(eq - *entry)) : std::string(*entry);
      if (!overridden.count(key)) envp.push_back(*entry);
    }
    env_entries.reserve(env.size());
    for (const auto& [key, value] : env) env_entries.push_back(key + "=" + value);
    for (auto& entry : env_entries) envp.push_back(entry.data());
    envp.push_back(nullptr);
  }
  const std::vector<std::string> candidates = exec_candidates(program, path);

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, status_pipe[2] = {-1, -1};
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC) ||
      ::pipe2(status_pipe, O_CLOEXEC)) {
    const std::string reason = std::strerror(errno);
    close_pipes({in, out, err, status_pipe});
    return make_error("cannot run '" + program + "': pipe: " + reason);
  }

  SigpipeBlock no_sigpipe;
  const pid_t parent = ::getpid();
  const auto started = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const std::string reason = std::strerror(errno);
    close_pipes({in, out, err, status_pipe});
    return make_error("cannot run '" + program + "': fork: " + reason);
  }
  if (pid == 0) {
    run_child(parent, in[0], out[1], err[1], status_pipe[1], limits, workdir.c_str(), candidates,
              args.data(), sh_args.data(), envp.data());
  }
  ::setpgid(pid, pid);  // also from the parent, so a timeout can reach the group at once
  close_fd(in[0]);
  close_fd(out[1]);
  close_fd(err[1]);
  close_fd(status_pipe[1]);

  // Did exec work? The status pipe closes on exec (CLOEXEC) or carries the step and errno.
  int code[2] = {0, 0};
  ssize_t got;
  do {
    got = ::read(status_pipe[0], code, sizeof code);
  } while (got < 0 && errno == EINTR);
  close_fd(status_pipe[0]);
  if (got == static_cast<ssize_t>(sizeof code)) {
    close_pipes({in, out, err});
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    std::string what;
    if (code[0] == 1) what = "cannot enter '" + workdir + "': ";
    if (code[0] == 2) what = "cannot set up its standard streams: ";
    return make_error("cannot run '" + program + "': " + what + std::strerror(code[1]));
  }

  SubprocessResult result;
  std::size_t written = 0;
  if (stdin_text.empty())
    close_fd(in[1]);
  else
    ::fcntl(in[1], F_SETFL, O_NONBLOCK);

  const bool has_deadline = limits.timeout_s > 0;
  const auto deadline =
      started + std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double>(has_deadline ? limits.timeout_s : 0));
  bool terminating = false;  // SIGTERM sent after the deadline or a cancel
  Clock::time_point kill_at{};
  bool exited = false;  // the child has exited (not reaped yet: its pid still names the group)
  Clock::time_point exited_at{};
  siginfo_t exit_info{};
  char buffer[65536];

  while (true) {
    const auto now = Clock::now();
    if (!exited) {
      siginfo_t info{};
      const int w = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
      if (w == 0 && info.si_pid == pid) {
        exited = true;
        exit_info = info;
        ::kill(-pid, SIGKILL);  // whatever it left behind in its group
      } else if (w < 0 && errno == ECHILD) {
        exited = true;  // reaped behind our back (SIGCHLD ignored): its status is lost
      }
      if (exited) {
        exited_at = now;
        close_fd(in[1]);
      }
    }
    if (!result.cancelled && cancel_requested()) {
      result.cancelled = true;  // its output no longer matters: stop it, reap it, return
      if (!exited && !terminating) {
        terminating = true;
        ::kill(-pid, SIGTERM);
        kill_at = now + kTermGrace;
      }
    }
    if (exited && (result.cancelled || (out[0] < 0 && err[0] < 0) ||
                   now - exited_at >= kDrainAfterExit)) {
      break;
    }
    if (!exited && has_deadline && !terminating && now >= deadline) {
      result.timed_out = true;
      terminating = true;
      ::kill(-pid, SIGTERM);
      kill_at = now + kTermGrace;
    }
    if (!exited && terminating && now >= kill_at) ::kill(-pid, SIGKILL);

    // Sleep until there is I/O, or the next thing to check: the deadline, the SIGKILL, the
    // cancel flag (every 50 ms at most), or (when nothing is left to read) whether the child has
    // exited.
    long long wait_ms = (out[0] < 0 && err[0] < 0) ? 5 : 50;
    if (!exited && has_deadline && !terminating) {
      wait_ms = std::min<long long>(
          wait_ms,
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1);
    }
    if (!exited && terminating && now < kill_at) {
      wait_ms = std::min<long long>(
          wait_ms,
          std::chrono::duration_cast<std::chrono::milliseconds>(kill_at - now).count() + 1);
    }
    pollfd fds[3];
    int n = 0;
    if (out[0] >= 0) fds[n++] = {out[0], POLLIN, 0};
    if (err[0] >= 0) fds[n++] = {err[0], POLLIN, 0};
    if (in[1] >= 0) fds[n++] = {in[1], POLLOUT, 0};
    const int ready = ::poll(fds, static_cast<nfds_t>(n), static_cast<int>(std::max(1LL, wait_ms)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      ::kill(-pid, SIGKILL);  // cannot watch it any more: stop it rather than hang
      exited = true;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in[1]) {
        const ssize_t w = ::write(in[1], stdin_text.data() + written, stdin_text.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) written = stdin_text.size();  // EPIPE
        if (written >= stdin_text.size()) close_fd(in[1]);
        continue;
      }
      const ssize_t r = ::read(fds[i].fd, buffer, sizeof buffer);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r <= 0) {
        if (fds[i].fd == out[0])
          close_fd(out[0]);
        else
          close_fd(err[0]);
        continue;
      }
      std::string& sink = fds[i].fd == out[0] ? result.stdout_text : result.stderr_text;
      const std::size_t room =
          limits.max_output_bytes > sink.size() ? limits.max_output_bytes - sink.size() : 0;
      if (static_cast<std::size_t>(r) > room) result.output_truncated = true;
      sink.append(buffer, std::min<std::size_t>(room, static_cast<std::size_t>(r)));
    }
  }
  close_pipes({in, out, err});
  int status = 0;
  pid_t reaped;
  while ((reaped = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (reaped == pid) {
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
  } else if (exit_info.si_pid == pid) {  // reaped elsewhere after we saw it exit
    if (exit_info.si_code == CLD_EXITED)
      result.exit_code = exit_info.si_status;
    else
      result.term_signal = exit_info.si_status;
  }
  return result;
}

}  // namespace cadre
