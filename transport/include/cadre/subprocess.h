// Running a child process with input, limits and a timeout, and collecting what it printed.
// Used by the exec brain (agents) and by verify commands (runtime); it lives in the lowest layer
// beside result.h because both need it.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cadre/result.h"

namespace cadre {

struct SubprocessLimits {
  double timeout_s = 60;        // wall time, then SIGTERM, 200 ms, SIGKILL; <= 0: none
  double cpu_s = 0;             // RLIMIT_CPU (SIGXCPU, then SIGKILL 1 s on); 0: none
  std::uint64_t memory_mb = 0;  // RLIMIT_AS; 0: none
  std::uint64_t max_output_bytes = 16 << 20;  // per stream; the rest is read and dropped
  // When set, polled at least every 50 ms while the child runs (it may be set from any thread):
  // once it reads true the whole group gets SIGTERM, then SIGKILL 200 ms later, and the call
  // returns as soon as the child is reaped, without draining its pipes further. Already true
  // before the call: nothing is started. Not owned; must outlive the call.
  const std::atomic<bool>* cancel = nullptr;
};

struct SubprocessResult {
  int exit_code = -1;   // when it exited
  int term_signal = 0;  // when a signal ended it
  bool timed_out = false;
  bool cancelled = false;  // stopped by limits.cancel (or never started: it was set already)
  bool output_truncated = false;
  std::string stdout_text;
  std::string stderr_text;
  double seconds = 0;
  // "exit 0", "exit 3", "killed by signal 9 (Killed)", "timed out after 2.2 s" (the time it
  // took, grace included), "cancelled after 0.3 s", "exceeded its CPU limit" (SIGXCPU).
  std::string describe() const;
};

// Runs argv (argv[0] looked up in PATH, the one in `env` if it sets one, as execvp does) in
// `workdir` (empty: the current folder) with `stdin_text` on its standard input and `env` added to
// (or replacing entries of) the inherited environment. stdout and stderr are collected up to
// max_output_bytes each (the rest is read and dropped, output_truncated set). The child gets its
// own process group, default signal dispositions and an empty signal mask, and dies with its
// parent (PR_SET_PDEATHSIG). On timeout or cancel (limits.cancel) the whole group gets SIGTERM,
// then SIGKILL 200 ms later; when the child exits, whatever it left running in its group is
// killed too. The child is always reaped before the call returns. A child that stops
// reading its stdin is not an error (SIGPIPE is blocked in the calling thread while it runs).
// Fails only when the process cannot be started: "cannot run 'foo': No such file or directory",
// "cannot run 'foo': cannot enter '/x': ..."; an exit code, a signal or a timeout is a successful
// Result describing it (if the process ignores SIGCHLD the kernel reaps the child and its status
// is lost: exit_code stays -1). Safe to call from several threads at once.
Result<SubprocessResult> run_subprocess(const std::vector<std::string>& argv,
                                        const std::string& stdin_text,
                                        const SubprocessLimits& limits,
                                        const std::string& workdir = {},
                                        const std::map<std::string, std::string>& env = {});

}  // namespace cadre
