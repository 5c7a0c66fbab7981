// `cadre launch slurm`: the job script (--dry-run, which needs no Slurm and touches nothing), a
// clear error where Slurm is missing, and, where a Slurm cluster answers (.ci/run starts one
// with ci/slurm-single-node.sh), real jobs: a scenario run to completion, the hub's exit code
// passed through the job, a cancelled job reported with its id and state, Ctrl-C cancelling the
// job. Without a cluster those skip, saying so (they fail instead under CADRE_REQUIRE_SLURM, as
// in .ci/run). Every job a test submits is cancelled at its end.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <map>
#include <regex>

#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;

std::string small_scenario() { return source_dir() + "/tests/cluster/slurm-small.yaml"; }

// slurm-small.yaml's team entries: role and count.
const std::vector<std::pair<std::string, int>> kTeam = {
    {"planner", 1}, {"coder", 2}, {"coder", 1}, {"critic", 1}, {"human", 1}};

// argv that runs `cadre ARGS...` with PATH holding no Slurm command.
std::vector<std::string> without_slurm(std::vector<std::string> args) {
  std::vector<std::string> argv = {"/usr/bin/env", "PATH=/nonexistent-cadre-test", cadre_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) lines.push_back(line);
  return lines;
}

std::string job_id_in(const std::string& output) {
  std::smatch match;
  return std::regex_search(output, match, std::regex("submitted job ([0-9]+)")) ? match[1].str() : "";
}

// Cancels, at the end of a test, the job a launch printed in `log_path` (harmless once ended).
class CancelJobAtExit {
 public:
  explicit CancelJobAtExit(std::string log_path) : log_path_(std::move(log_path)) {}
  ~CancelJobAtExit() {
    const std::string id = job_id_in(read_file(log_path_));
    if (!id.empty()) run_to_end({"/usr/bin/env", "scancel", id}, log_path_ + ".scancel", 20s);
  }

 private:
  std::string log_path_;
};

// Every test, with or without a cluster: a temp folder and the ways to drive a cluster.
class SlurmLaunch : public ::testing::Test {
 protected:
  // "" when a Slurm cluster answers here, else why not.
  std::string no_cluster_reason() {
    auto [code, nodes] = run_to_end({"/bin/sh", "-c", "command -v sbatch >/dev/null && sinfo -h -o %T"},
                                    dir_.path() + "/sinfo.log", 20s);
    if (code == 0 && nodes.find_first_of("abcdefghijklmnopqrstuvwxyz") != std::string::npos) return "";
    while (!nodes.empty() && std::isspace(static_cast<unsigned char>(nodes.back()))) nodes.pop_back();
    return "no Slurm cluster answers here (sinfo: " + (nodes.empty() ? std::string("no output") : nodes) +
           "); start one with ci/slurm-single-node.sh (as root)";
  }

  std::vector<std::string> launch(const std::string& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {cadre_binary(), "launch", "slurm", small_scenario(), "--out", out,
                                     "--poll-s", "0.5"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  // Starts a launch of a run long enough to interfere with; returns once the job runs.
  std::unique_ptr<ChildProcess> start_long_run(const std::string& out, const std::string& log,
                                                std::string& job_id) {
    auto child = std::make_unique<ChildProcess>(
        launch(out, {"--set", "workflow.time_scale=2", "--set", "limits.wall_s=0"}), log);
    EXPECT_TRUE(eventually([&] { return read_file(log).find(" RUNNING on ") != std::string::npos; }, 60s))
        << read_file(log);
    job_id = job_id_in(read_file(log));
    EXPECT_FALSE(job_id.empty()) << read_file(log);
    return child;
  }

  std::string job_state(const std::string& job_id) {
    auto [code, shown] = run_to_end({"/usr/bin/env", "scontrol", "show", "job", "-o", job_id},
                                    dir_.path() + "/scontrol.log", 20s);
    std::smatch match;
    return std::regex_search(shown, match, std::regex("JobState=([A-Z_]+)")) ? match[1].str() : "";
  }

  TempDir dir_{"slurm"};
};

// Skips a test that needs a cluster where none answers; fails instead under CADRE_REQUIRE_SLURM
// (.ci/run starts a cluster and sets it: there, skipping would hide a failure).
#define REQUIRE_SLURM_CLUSTER()                                          \
  if (const std::string why = no_cluster_reason(); !why.empty()) {       \
    if (std::getenv("CADRE_REQUIRE_SLURM") != nullptr) FAIL() << why;     \
    GTEST_SKIP() << why;                                                 \
  }

int exit_code(std::optional<int> status) {
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

// ---- without a cluster ---------------------------------------------------------------------

TEST_F(SlurmLaunch, DryRunPrintsTheJobScriptAndCreatesOrSubmitsNothing) {
  const std::string out = dir_.path() + "/my job";  // a space: every path must be quoted
  // PATH without sbatch: a dry run must not need Slurm at all (and so cannot submit).
  auto [code, script] = run_to_end(
      without_slurm({"launch", "slurm", small_scenario(), "--dry-run", "--out", out, "--nodes",
                     "2", "--partition", "debug", "--time", "0:30:00", "--account", "lab",
                     "--set", "workflow.samples=3", "--seed", "5"}),
      dir_.path() + "/dry.log", 20s);
  ASSERT_EQ(code, 0) << script;
  EXPECT_FALSE(std::filesystem::exists(out)) << "a dry run created the job's folder";

  EXPECT_EQ(script.rfind("#!/bin/bash\n", 0), 0u) << script;
  for (const std::string& line : std::vector<std::string>{
       "#SBATCH --job-name=cadre-slurm-small", "#SBATCH --nodes=2",
        "#SBATCH --output=\"" + out + "/slurm-%j.out\"", "#SBATCH --partition=debug",
        "#SBATCH --time=0:30:00", "#SBATCH --account=lab", "set -euo pipefail",
        "out='" + out + "'", "hub_options=(--seed 5 --set workflow.samples=3)",
        "agent_options=(--set workflow.samples=3)"})
    EXPECT_NE(script.find("\n" + line + "\n"), std::string::npos) << "missing: " << line << "\n" << script;
  EXPECT_NE(script.find("\"$cadre\" keys gen \"$keys\""), std::string::npos) << script;
  EXPECT_NE(script.find("srun --job-name=cadre-hub --nodes=1 --ntasks=1 --relative=0"), std::string::npos)
      << script;
  EXPECT_NE(script.find("\"$cadre\" hub \"$scenario\" --listen 'tcp://0.0.0.0:*' --out \"$out\" --keys \"$keys\""),
            std::string::npos) << script;
  EXPECT_NE(script.find("--distribution=cyclic"), std::string::npos) << script;

  // One agent step per team entry: "start_agents ENTRY ROLE FIRST COUNT NODES RELATIVE".
  const auto steps = lines_starting(script, "start_agents ");
  ASSERT_EQ(steps.size(), kTeam.size()) << script;
  std::map<std::string, int> first;  // agents numbered per role across entries
  for (std::size_t i = 0; i < steps.size(); ++i) {
    std::istringstream words(steps[i].substr(std::string("start_agents ").size()));
    std::size_t entry = 99;
    std::string role;
    int first_n = 0, count = 0, nodes = 0, relative = -1;
    words >> entry >> role >> first_n >> count >> nodes >> relative;
    EXPECT_EQ(entry, i) << steps[i];
    EXPECT_EQ(role, kTeam[i].first) << steps[i];
    EXPECT_EQ(count, kTeam[i].second) << steps[i];
    EXPECT_EQ(first_n, first[role] + 1) << steps[i];
    first[role] += count;
    EXPECT_EQ(nodes, std::min(count, 2)) << steps[i];
    EXPECT_GE(relative, 0) << steps[i];
    EXPECT_LE(relative + nodes, 2) << steps[i];
  }

  // The script is valid bash.
  const std::string script_path = dir_.path() + "/job.sh";
  std::ofstream(script_path) << script;
  auto [syntax, errors] = run_to_end({"/bin/bash", "-n", script_path}, dir_.path() + "/bash-n.log", 10s);
  EXPECT_EQ(syntax, 0) << errors;
}

TEST_F(SlurmLaunch, DryRunDefaultFolderIsAbsoluteUnderTheCurrentFolder) {
  auto [code, script] = run_to_end(
      {"/usr/bin/env", "-C", dir_.path(), "PATH=/nonexistent-cadre-test", cadre_binary(), "launch",
       "slurm", small_scenario(), "--dry-run"},
      dir_.path() + "/dry.log", 20s);
  ASSERT_EQ(code, 0) << script;
  EXPECT_NE(script.find("\nout=" + dir_.path() + "/runs/slurm-small-slurm-"), std::string::npos) << script;
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/runs"));
}

TEST_F(SlurmLaunch, BadInputIsExitTwo) {
  auto [missing, output] = run_to_end(
      without_slurm({"launch", "slurm", dir_.path() + "/no-such.yaml", "--dry-run"}),
      dir_.path() + "/missing.log", 20s);
  EXPECT_EQ(missing, 2) << output;
  auto [quote, quote_output] = run_to_end(
      without_slurm({"launch", "slurm", small_scenario(), "--dry-run", "--out", dir_.path() + "/a\"b"}),
      dir_.path() + "/quote.log", 20s);
  EXPECT_EQ(quote, 2) << quote_output;
}

TEST_F(SlurmLaunch, WithoutSbatchItSaysSlurmIsNotInstalled) {
  const std::string out = dir_.path() + "/job";
  auto [code, output] = run_to_end(without_slurm({"launch", "slurm", small_scenario(), "--out", out}),
                                   dir_.path() + "/launch.log", 20s);
  EXPECT_EQ(code, 1) << output;
  EXPECT_NE(output.find("Slurm is not installed here (no sbatch in PATH)"), std::string::npos) << output;
  EXPECT_FALSE(std::filesystem::exists(out));
}

// ---- against a running cluster ------------------------------------------------------------

TEST_F(SlurmLaunch, RunsTheScenarioToCompletionAndPrintsTheReport) {
  REQUIRE_SLURM_CLUSTER();
  const std::string out = dir_.path() + "/job";
  const std::string log = dir_.path() + "/launch.log";
  CancelJobAtExit cancel(log);
  auto [code, output] = run_to_end(launch(out), log, 240s);
  ASSERT_EQ(code, 0) << output << "\njob output:\n" << read_file(out + "/slurm-" + job_id_in(output) + ".out");
  EXPECT_FALSE(job_id_in(output).empty()) << output;
  EXPECT_NE(output.find(out + "/report.json"), std::string::npos) << output;
  EXPECT_NE(output.find("cadre live run: slurm-small"), std::string::npos) << output;

  const auto report = read_json(out + "/report.json");
  ASSERT_FALSE(report.is_discarded()) << read_file(out + "/report.json");
  EXPECT_EQ(report["goals"]["open"], 0);
  EXPECT_EQ(report["goals"]["total"], 4);
  // Every agent of every team entry joined under its own name, and the second coder entry's
  // agent ran that entry's brain (--entry), not the first coder entry's.
  std::map<std::string, std::string> models;
  for (const auto& agent : report["agents"]) models[agent["id"].get<std::string>()] = agent["model"].get<std::string>();
  EXPECT_EQ(models.size(), 6u) << report["agents"].dump(1);
  EXPECT_EQ(models["coder-1"], "sim-small");
  EXPECT_EQ(models["coder-2"], "sim-small");
  EXPECT_EQ(models["coder-3"], "sim-large");
  for (const auto& id : {"planner-1", "coder-1", "coder-2", "coder-3", "critic-1", "human-1"})
    EXPECT_TRUE(std::filesystem::exists(out + "/agents/" + id + ".log")) << id;
  // Keys made for the job, secret kept private; the hub listened with them.
  EXPECT_TRUE(std::filesystem::exists(out + "/keys/hub.key"));
  EXPECT_NE(read_file(out + "/hub.log").find("(CURVE)"), std::string::npos) << read_file(out + "/hub.log");
  EXPECT_EQ(job_state(job_id_in(output)), "COMPLETED");
}

TEST_F(SlurmLaunch, TheHubsExitCodeComesThroughTheJob) {
  REQUIRE_SLURM_CLUSTER();
  // Stopped by the scenario's wall-time limit: the hub writes its report and exits 3.
  const std::string out = dir_.path() + "/job";
  const std::string log = dir_.path() + "/launch.log";
  CancelJobAtExit cancel(log);
  auto [code, output] = run_to_end(
      launch(out, {"--set", "workflow.time_scale=1", "--set", "limits.wall_s=1"}), log, 240s);
  EXPECT_EQ(code, 3) << output;
  EXPECT_NE(output.find("the hub exited with code 3"), std::string::npos) << output;
  EXPECT_NE(output.find(out + "/report.json"), std::string::npos) << output;
  EXPECT_TRUE(std::filesystem::exists(out + "/report.json"));
}

TEST_F(SlurmLaunch, ACancelledJobIsReportedWithItsIdAndState) {
  REQUIRE_SLURM_CLUSTER();
  const std::string out = dir_.path() + "/job";
  const std::string log = dir_.path() + "/launch.log";
  CancelJobAtExit cancel(log);
  std::string job_id;
  auto launcher = start_long_run(out, log, job_id);
  ASSERT_FALSE(job_id.empty());
  auto [scancel, scancel_output] = run_to_end({"/usr/bin/env", "scancel", job_id}, dir_.path() + "/scancel.log", 20s);
  ASSERT_EQ(scancel, 0) << scancel_output;
  EXPECT_EQ(exit_code(launcher->wait_for(60s)), 1) << read_file(log);
  EXPECT_NE(read_file(log).find("job " + job_id + " CANCELLED: "), std::string::npos) << read_file(log);
}

TEST_F(SlurmLaunch, CtrlCWhileFollowingCancelsTheJob) {
  REQUIRE_SLURM_CLUSTER();
  const std::string out = dir_.path() + "/job";
  const std::string log = dir_.path() + "/launch.log";
  CancelJobAtExit cancel(log);
  std::string job_id;
  auto launcher = start_long_run(out, log, job_id);
  ASSERT_FALSE(job_id.empty());
  launcher->signal(SIGINT);
  EXPECT_EQ(exit_code(launcher->wait_for(30s)), 130) << read_file(log);
  EXPECT_NE(read_file(log).find("cancelled job " + job_id), std::string::npos) << read_file(log);
  std::string state;
  EXPECT_TRUE(eventually([&] { return (state = job_state(job_id)) == "CANCELLED"; }, 20s)) << state;
}

// About a minute: Slurm enforces time limits in whole minutes. Run with CADRE_SLURM_SLOW_TESTS=1.
TEST_F(SlurmLaunch, AJobPastItsTimeLimitIsReportedWithSlurmsReason) {
  if (std::getenv("CADRE_SLURM_SLOW_TESTS") == nullptr)
    GTEST_SKIP() << "takes over a minute; set CADRE_SLURM_SLOW_TESTS=1 to run it";
  REQUIRE_SLURM_CLUSTER();
  const std::string out = dir_.path() + "/job";
  const std::string log = dir_.path() + "/launch.log";
  CancelJobAtExit cancel(log);
  auto [code, output] = run_to_end(
      launch(out, {"--time", "1", "--set", "workflow.time_scale=5", "--set", "limits.wall_s=0"}), log,
      240s);
  EXPECT_EQ(code, 1) << output;
  const std::string id = job_id_in(output);
  EXPECT_NE(output.find("job " + id + " TIMEOUT: TimeLimit"), std::string::npos) << output;
}

}  // namespace
}  // namespace cadre::testing
