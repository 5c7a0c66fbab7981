// Child processes started by `cadre run`: spawn, reap, and stop them all, by pid.
//
// Every child is started with PR_SET_PDEATHSIG = SIGKILL, so none outlives a `cadre run` that is
// killed outright; stop_all() is the orderly path (SIGTERM, a grace period, then SIGKILL).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "cadre/result.h"

namespace cadre::runtime {

struct ChildExit {
  std::string name;
  pid_t pid = 0;
  int status = 0;  // as from waitpid
  std::string describe() const;  // "exited with code 1", "killed by signal 9 (Killed)"
};

class ChildProcesses {
 public:
  ChildProcesses() = default;
  ~ChildProcesses();  // stop_all() with a short grace period
  ChildProcesses(const ChildProcesses&) = delete;
  ChildProcesses& operator=(const ChildProcesses&) = delete;

  // Starts argv[0] (a path, or a name looked up in PATH) with argv, stdout and stderr appended
  // to `log_path`, stdin from /dev/null, `env` added to the environment and `workdir` (if not
  // empty) as its working folder. Fails with the reason when the process or the log file cannot
  // be made; an exec failure shows as an exit with code 127 and a line in the log.
  //
  // Cheap for a big parent: the child is made like posix_spawn's (clone with CLONE_VM |
  // CLONE_VFORK: no copy of the parent's page tables; the calling thread waits the few hundred
  // microseconds until the child has exec'd), so `cadre run` can start hundreds in a row.
  Result<pid_t> spawn(const std::string& name, const std::vector<std::string>& argv,
                      const std::string& log_path,
                      const std::map<std::string, std::string>& env = {},
                      const std::string& workdir = {});

  // Collects children that have ended since the last call (non-blocking; one system call when
  // none has).
  std::vector<ChildExit> reap();

  // SIGTERM to every live child, wait up to `grace`, then SIGKILL and reap the rest.
  std::vector<ChildExit> stop_all(std::chrono::milliseconds grace);

  // Children not yet reaped.
  std::size_t running() const { return children_.size(); }

 private:
  struct Child {
    std::string name;
    pid_t pid;
  };
  std::vector<Child> children_;
};

}  // namespace cadre::runtime
