// Running a goal's verify command against a candidate: the real test that is the judge of record
// where a scenario sets one (docs/llm.md). Shared by the live hub (on worker threads) and the
// simulator (inline).
#pragma once

#include <cstdint>
#include <string>

#include "cadre/runtime/hub_core.h"
#include "cadre/worker_pool.h"

namespace cadre::runtime {

struct VerifyVerdict {
  std::string goal_id;
  std::string subtask_id;
  std::uint32_t attempt = 0;
  bool passed = false;
  std::string output;  // the last few KiB of stdout+stderr, and why it failed
};

// Writes the command's files into `scratch_dir` (created; must not exist or be empty), runs
// `/bin/sh -c COMMAND` there with the spec's timeout, and reports exit 0 as a pass. Never
// throws: a file that cannot be written, a command that cannot start, a timeout, all fail the
// candidate with the reason in `output`.
VerifyVerdict run_verification(const VerifyCommand& command, const std::string& scratch_dir);

// A verification job for a VerifierPool: the command and the folder to run it in.
struct VerifyJob {
  VerifyCommand command;
  std::string scratch_dir;
};

// Runs verifications on worker threads for the live hub, which polls take_finished().
class VerifierPool : public WorkerPool<VerifyJob, VerifyVerdict> {
 public:
  explicit VerifierPool(unsigned threads)
      : WorkerPool(threads, [](VerifyJob& job) {
          return run_verification(job.command, job.scratch_dir);
        }) {}
};

}  // namespace cadre::runtime
