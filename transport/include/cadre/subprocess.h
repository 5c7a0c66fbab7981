// Running a child process with input, limits and a timeout, and collecting what it printed.
// Used by the exec brain (agents) and by verify commands (runtime); it lives in the lowest layer
// beside result.h because both need it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cadre/result.h"

namespace cadre {

struct SubprocessLimits {
  double timeout_s = 60;                           // wall time; then SIGTERM, 200 ms, SIGKILL
  double cpu_s = 0;                                // RLIMIT_CPU; 0: none
  std::uint64_t memory_mb = 0;                     // RLIMIT_AS; 0: none
  std::uint64_t max_output_bytes = 16 << 20;       // per stream; the rest is dropped
};

struct SubprocessResult {
  int exit_code = -1;    // when it exited
  int term_signal = 0;   // when a signal ended it
  bool timed_out = false;
  bool output_truncated = false;
  std::string stdout_text;
  std::string stderr_text;
  double seconds = 0;
  // "exit 0", "exit 3", "killed by signal 9 (Killed)", "timed out after 2.0 s", ...
  std::string describe() const;
};

// Runs argv (argv[0] looked up in PATH) in `workdir` (empty: the current folder) with
// `stdin_text` on its standard input and `env` added to the inherited environment. The child gets
// its own process group (a timeout kills grandchildren too) and dies with its parent. Fails only
// when the process cannot be started (the Error names the program and the reason); an exit code,
// a signal or a timeout is a successful Result describing it. Safe to call from several threads.
Result<SubprocessResult> run_subprocess(const std::vector<std::string>& argv,
                                        const std::string& stdin_text,
                                        const SubprocessLimits& limits,
                                        const std::string& workdir = {},
                                        const std::map<std::string, std::string>& env = {});

}  // namespace cadre
