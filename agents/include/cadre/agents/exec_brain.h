// The exec brain: a command run once per task, in any language. It reads the task as one JSON
// object on stdin and prints one JSON answer on stdout (the contract: docs/exec-brain.md).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cadre/agents/brain.h"
#include "cadre/result.h"
#include "cadre/roles/messages.h"

namespace cadre::agents {

struct ExecBrainParams {
  std::vector<std::string> command;  // program and arguments; the program is looked up in PATH
  double timeout_s = 60;             // wall time per task
  double cpu_s = 0;                  // CPU seconds per task; 0: no limit
  std::uint64_t memory_mb = 0;       // address space per task; 0: no limit
};

// Reads the scenario's brain parameters (strings): command (a JSON array of strings, e.g.
// ["python3","agent.py"], or one string split on whitespace; required, non-empty), timeout_s
// (> 0), cpu_s (>= 0), memory_mb (a whole number >= 0). Fails naming an unknown key (listing the
// known ones), a missing or empty command, or a value that is not a number of the right kind.
Result<ExecBrainParams> parse_exec_params(const std::map<std::string, std::string>& params);

// The task as the program reads it on stdin: one JSON object with the TaskAssignment's fields
// (docs/protocol.md), plus "kind" as a name ("plan", "solve", "review", "resolve", "approve") and "kind_id"
// as its number. Invalid UTF-8 in any string is replaced (U+FFFD), never an error.
std::string exec_task_json(const roles::TaskAssignment& task);

// Reads the program's stdout as its answer to `task` into `outcome` (ok, error, tokens_in,
// tokens_out, and plan / candidate / verdict as the task's kind requires). The text must be one
// JSON object, whitespace around it allowed. Fails with the reason (e.g. "stdout is not valid
// JSON: ...", "the answer to a review task has no \"verdict\"") — `outcome` may then hold the
// token counts already read. An answer with "ok": false is not a failure of this call: it sets
// outcome.ok = false and outcome.error from the answer's "error".
Status read_exec_answer(const roles::TaskAssignment& task, std::string_view text,
                        roles::TaskOutcome& outcome);

class ExecBrain final : public Brain {
 public:
  ExecBrain(std::string role, std::string model, ExecBrainParams params);
  // parse_exec_params, then the brain.
  static Result<std::unique_ptr<ExecBrain>> create(
      const std::string& role, const std::string& model,
      const std::map<std::string, std::string>& params);

  // Runs the command once for the task (stdin: exec_task_json; environment: CADRE_ROLE and
  // CADRE_MODEL added) under the configured limits, and reads its answer. A program that cannot
  // start, exits non-zero, is killed (timeout, CPU or memory limit) or prints no valid answer
  // gives ok = false with an error naming the command, saying what happened and quoting the end
  // of its stderr. Key fields are copied from the task, model is the configured model, brain_s
  // the elapsed time; delay_s is 0. Never throws; safe to call from several threads at once.
  BrainAnswer answer(const roles::TaskAssignment& task) override;
  // The same, stopped by `cancelled`: checked at least every 50 ms while the command runs; once
  // it is true the command's process group gets SIGTERM, then SIGKILL 200 ms later, the command
  // is reaped and the answer is cancelled_answer() (ok = false, error "cancelled"), whatever it
  // printed. Set before the call, nothing is started.
  BrainAnswer answer(const roles::TaskAssignment& task,
                     const std::atomic<bool>& cancelled) override;
  const std::string& model() const override { return model_; }
  bool blocking() const override { return true; }
  // Each task is its own process: the agent's capacity is the only cap.
  std::uint32_t concurrency() const override { return 1024; }

  const ExecBrainParams& params() const { return params_; }

 private:
  std::string role_;
  std::string model_;
  ExecBrainParams params_;
  std::string label_;  // the command as shown in errors
};

}  // namespace cadre::agents
