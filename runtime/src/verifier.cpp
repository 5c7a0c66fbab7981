#include "cadre/runtime/verifier.h"

#include <filesystem>

#include "cadre/roles/workspace.h"
#include "cadre/subprocess.h"

namespace cadre::runtime {
namespace {

constexpr std::size_t kOutputTail = 4096;

std::string tail(const std::string& text, std::size_t bytes) {
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

}  // namespace

VerifyVerdict run_verification(const VerifyCommand& command, const std::string& scratch_dir) {
  VerifyVerdict verdict{command.goal_id, command.subtask_id, command.attempt, false, {}};
  std::error_code error;
  std::filesystem::remove_all(scratch_dir, error);
  auto workspace = roles::Workspace::open(scratch_dir);
  if (!workspace.ok()) {
    verdict.output = "cannot prepare the workspace: " + workspace.error().to_string();
    return verdict;
  }
  if (auto written = workspace->write_files(command.files); !written.ok()) {
    verdict.output = "cannot write the candidate's files: " + written.error().to_string();
    return verdict;
  }
  SubprocessLimits limits;
  limits.timeout_s = command.spec.timeout_s;
  auto run = run_subprocess({"/bin/sh", "-c", command.spec.command}, "", limits, scratch_dir);
  if (!run.ok()) {
    verdict.output = "cannot run the verify command: " + run.error().to_string();
    return verdict;
  }
  verdict.passed = !run->timed_out && run->term_signal == 0 && run->exit_code == 0;
  verdict.output = tail(run->stdout_text + run->stderr_text, kOutputTail);
  if (!verdict.passed) verdict.output = run->describe() + ": " + verdict.output;
  return verdict;
}

}  // namespace cadre::runtime
