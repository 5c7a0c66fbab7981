#include "cadre/runtime/child_processes.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
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

namespace {

// What the child of spawn() needs, prepared by the parent: the child shares the parent's memory
// (CLONE_VM) and may not allocate.
struct SpawnRequest {
  char* const* argv;
  char* const* envp;
  const char* workdir;  // nullptr: stay in the parent's folder
  int log_fd;
  pid_t parent;
  sigset_t parent_mask;  // the signal mask to exec with: the parent's, from before the spawn
};

#if defined(__x86_64__) || defined(__aarch64__)
// The kernel's struct sigaction (rt_sigaction) on these architectures.
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  std::uint64_t mask;
};

// Sets every caught signal back to its default, with raw system calls.
__attribute__((no_sanitize("address"))) void default_caught_signals() {
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    KernelSigaction current {};
    if (::syscall(SYS_rt_sigaction, sig, nullptr, &current, sizeof current.mask) != 0) continue;
    if (current.handler == SIG_DFL || current.handler == SIG_IGN) continue;
    KernelSigaction default_action {};
    default_action.handler = SIG_DFL;
    (void)::syscall(SYS_rt_sigaction, sig, &default_action, nullptr, sizeof default_action.mask);
  }
}
#else
void default_caught_signals() {
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction current {};
    if (::sigaction(sig, nullptr, &current) != 0) continue;
    if (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN) continue;
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    ::sigaction(sig, &default_action, nullptr);
  }
}
#endif

// dup2 as a raw system call (dup3 where the descriptors differ; some architectures have no dup2).
__attribute__((no_sanitize("address"))) void move_fd(long from, int to) {
  if (from == to) (void)::syscall(SYS_fcntl, to, F_SETFD, 0);  // keep it across exec
  else (void)::syscall(SYS_dup3, from, to, 0);
}

__attribute__((no_sanitize("address"))) void child_say(const char* text) {
  std::size_t length = 0;
  while (text[length] != '\0') ++length;
  (void)::syscall(SYS_write, STDERR_FILENO, text, length);
}

// The child: from clone() to exec. It runs on its own small stack in the parent's address space
// while the parent waits (CLONE_VFORK), so, like the child of vfork, it touches nothing of the
// parent's but the request, allocates nothing and makes only system calls -- raw ones, so that no
// library wrapper (a sanitizer's interceptor, say) runs on the parent's memory. Not instrumented
// by AddressSanitizer: it never returns, and a frame's poisoned redzones would stay behind in the
// shadow of a stack the parent unmaps and may reuse.
__attribute__((no_sanitize("address"))) int spawn_child(void* raw) {
  const auto* request = static_cast<const SpawnRequest*>(raw);
  // A handler of the parent's would run here on the parent's memory: back to the default for
  // every caught signal while all are blocked (ignored ones stay ignored, as across any exec).
  default_caught_signals();
  (void)::syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  // The parent died before prctl took effect.
  if (::syscall(SYS_getppid) != request->parent) ::syscall(SYS_exit_group, 1);
  const long null_fd = ::syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd >= 0) move_fd(null_fd, STDIN_FILENO);
  move_fd(request->log_fd, STDOUT_FILENO);
  move_fd(request->log_fd, STDERR_FILENO);
  if (request->workdir != nullptr && ::syscall(SYS_chdir, request->workdir) != 0) {
    child_say("cadre: cannot enter the agent's working folder\n");
    ::syscall(SYS_exit_group, 127);
  }
  (void)::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &request->parent_mask, nullptr,
                  sizeof(std::uint64_t));
  // execvpe searches PATH with execve calls and nothing else (no allocation); what glibc's own
  // posix_spawnp runs in its child.
  ::execvpe(request->argv[0], request->argv, request->envp);
  child_say("cadre: exec failed: ");
  child_say(request->argv[0]);
  child_say("\n");
  ::syscall(SYS_exit_group, 127);
  return 127;
}

// The child's stack, beyond the argument vector that execvpe may copy onto it (to run a script
// through /bin/sh): glibc's posix_spawn allows 32 KiB, this twice as much.
constexpr std::size_t kChildStackBase = 64 * 1024;

}  // namespace

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
  // The environment is built before the child exists: the child may not allocate.
  std::vector<std::string> env_entries;
  std::vector<char*> envp;
  if (env.empty()) {
    for (char** entry = environ; *entry != nullptr; ++entry) envp.push_back(*entry);
  } else {
    for (char** entry = environ; *entry != nullptr; ++entry) {
      const char* eq = std::strchr(*entry, '=');
      const auto key_length = static_cast<std::size_t>(eq == nullptr ? 0 : eq - *entry);
      if (eq != nullptr && env.count(std::string(*entry, key_length))) continue;
      envp.push_back(*entry);
    }
    for (const auto& [key, value] : env) env_entries.push_back(key + "=" + value);
    for (auto& entry : env_entries) envp.push_back(entry.data());
  }
  envp.push_back(nullptr);

  // clone(CLONE_VM | CLONE_VFORK), as posix_spawn does, rather than fork(): the child borrows
  // the parent's memory until it execs instead of copying its page tables (a hub with hundreds
  // of connections maps tens of MiB), and the parent takes no copy-on-write faults afterwards.
  // posix_spawn itself cannot set PR_SET_PDEATHSIG. All signals are blocked around the clone so
  // that no handler of the parent's runs in the child before it has reset them.
  const std::size_t stack_size = kChildStackBase + args.size() * sizeof(char*);
  void* stack = ::mmap(nullptr, stack_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
  if (stack == MAP_FAILED) {
    const int error = errno;
    ::close(log_fd);
    return make_error(std::string("cannot make the child's stack: ") + std::strerror(error));
  }
  SpawnRequest request{args.data(), envp.data(), workdir.empty() ? nullptr : workdir.c_str(),
                       log_fd, ::getpid(), {}};
  sigset_t all;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &request.parent_mask);
  const int saved_errno = errno;
  const pid_t pid = ::clone(spawn_child, static_cast<char*>(stack) + stack_size,
                            CLONE_VM | CLONE_VFORK | SIGCHLD, &request);
  const int clone_errno = errno;
  errno = saved_errno;  // the child ran on this thread's errno
  ::pthread_sigmask(SIG_SETMASK, &request.parent_mask, nullptr);
  ::munmap(stack, stack_size);
  ::close(log_fd);
  if (pid < 0) return make_error(std::string("cannot start a process: ") + std::strerror(clone_errno));
  children_.push_back({name, pid});
  return pid;
}

std::vector<ChildExit> ChildProcesses::reap() {
  std::vector<ChildExit> exits;
  if (children_.empty()) return exits;
  // One look at whether any child at all has ended (WNOWAIT: none is reaped, so children of other
  // code, e.g. a verify command run_subprocess waits for, are left alone) before one waitpid per
  // child: `cadre run` calls this every turn of the hub's loop, with hundreds of agents.
  siginfo_t info {};
  if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0)
    return exits;
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
