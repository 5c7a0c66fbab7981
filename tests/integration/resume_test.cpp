// A hub killed with SIGKILL mid-run continues with `cadre run --resume DIR`: its journal is
// replayed, finished work stays finished, work in flight is given out again, and every goal ends
// as in a clean run with the same seed, with the same tokens (no result accepted twice). A torn
// last record is dropped and said; damage in the middle, or a changed scenario, refuses.
#include <gtest/gtest.h>

#include <map>

#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;

struct GoalEnd {
  std::string outcome;
  std::uint64_t tokens_in = 0, tokens_out = 0;
  bool operator==(const GoalEnd&) const = default;
};

std::map<std::string, GoalEnd> goal_ends(const std::string& dir) {
  std::map<std::string, GoalEnd> ends;
  for (const auto& goal : read_jsonl(dir + "/goals.jsonl"))
    ends[goal["id"]] = {goal["outcome"], goal["tokens_in"], goal["tokens_out"]};
  return ends;
}

int count_events(const std::string& dir, const std::string& ev) {
  int n = 0;
  for (const auto& event : read_journal_events(dir)) n += event["ev"] == ev;
  return n;
}

class Resume : public ::testing::Test {
 protected:
  // A run of `scenario` killed with SIGKILL once its journal holds `results` results.
  std::string killed_run(const std::string& name, const std::string& scenario, int results = 25) {
    const std::string out = dir_.path() + "/" + name;
    ChildProcess run({cadre_binary(), "run", scenario, "--out", out, "-q"}, out + ".log");
    EXPECT_TRUE(eventually([&] { return count_events(out, "result") >= results; }, 60s))
        << read_file(out + ".log");
    run.signal(SIGKILL);
    run.wait_for(10s);
    EXPECT_FALSE(std::filesystem::exists(out + "/report.json")) << "the run ended before the kill";
    return out;
  }

  std::pair<int, std::string> resume(const std::string& out) {
    return run_to_end({cadre_binary(), "run", "--resume", out}, out + ".resume.log", 120s);
  }

  std::string clean_run(const std::string& scenario) {
    const std::string out = dir_.path() + "/clean";
    auto [code, output] =
        run_to_end({cadre_binary(), "run", scenario, "--out", out, "-q"}, out + ".log", 120s);
    EXPECT_EQ(code, 0) << output;
    return out;
  }

  TempDir dir_{"resume"};
};

TEST_F(Resume, AKilledRunResumesToTheOutcomesAndTokensOfACleanRun) {
  const std::string scenario = scenario_path("small-team.yaml");
  const std::string clean = clean_run(scenario);
  const std::string out = killed_run("killed", scenario);
  const int results_before = count_events(out, "result");

  auto [code, output] = resume(out);
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("resumed from"), std::string::npos) << output;
  EXPECT_EQ(count_events(out, "resume"), 1);
  EXPECT_GT(count_events(out, "result"), results_before);
  EXPECT_EQ(goal_ends(out), goal_ends(clean));
  const auto report = read_json(out + "/report.json");
  const auto clean_report = read_json(clean + "/report.json");
  EXPECT_EQ(report["goals"]["open"], 0);
  EXPECT_EQ(report["cost"]["tokens_in"], clean_report["cost"]["tokens_in"]);
  EXPECT_EQ(report["cost"]["tokens_out"], clean_report["cost"]["tokens_out"]);
  EXPECT_EQ(report["cost"]["usd"], clean_report["cost"]["usd"]);
  // The journal is one unbroken history: numbered without a gap across the restart.
  int n = 0;
  for (const auto& event : read_journal_events(out)) EXPECT_EQ(event["n"], n++);
}

TEST_F(Resume, ATornLastRecordIsDroppedSaidAndTheRunCompletes) {
  const std::string scenario = scenario_path("small-team.yaml");
  const std::string clean = clean_run(scenario);
  const std::string out = killed_run("torn", scenario);
  const auto intact = std::filesystem::file_size(out + "/journal.jsonl");
  {
    std::ofstream journal(out + "/journal.jsonl", std::ios::app);
    journal << R"(58 1c0ffee0 {"ev":"result","goal":"login-form","task":"s1","att)";
  }
  auto [code, output] = resume(out);
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("dropped a torn last record"), std::string::npos) << output;
  EXPECT_NE(output.find("at byte " + std::to_string(intact)), std::string::npos) << output;
  EXPECT_EQ(goal_ends(out), goal_ends(clean));
}

TEST_F(Resume, DamageInTheMiddleOfTheJournalRefusesToResume) {
  const std::string out = killed_run("corrupt", scenario_path("small-team.yaml"));
  const std::string journal = out + "/journal.jsonl";
  const auto size = std::filesystem::file_size(journal);
  {
    std::fstream file(journal, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(size / 2));
    const char flipped = 'X';
    file.write(&flipped, 1);
  }
  auto [code, output] = resume(out);
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("damaged in the middle"), std::string::npos) << output;
  EXPECT_NE(output.find(journal), std::string::npos) << output;
  EXPECT_EQ(std::filesystem::file_size(journal), size) << "a refused resume changed the journal";
  EXPECT_FALSE(std::filesystem::exists(out + "/report.json"));
}

TEST_F(Resume, AChangedScenarioFileRefusesToResume) {
  const std::string scenario = dir_.path() + "/team.yaml";
  std::filesystem::copy_file(scenario_path("small-team.yaml"), scenario);
  const std::string out = killed_run("changed", scenario);
  {
    std::ofstream append(scenario, std::ios::app);
    append << "# edited\n";
  }
  auto [code, output] = resume(out);
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("has changed since the run began"), std::string::npos) << output;
}

TEST_F(Resume, ResumeTakesNoScenarioOfItsOwn) {
  auto [code, output] = run_to_end({cadre_binary(), "run", scenario_path("small-team.yaml"),
                                    "--resume", dir_.path()},
                                   dir_.path() + "/both.log", 10s);
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("give --resume alone"), std::string::npos) << output;
  auto [missing, missing_output] =
      run_to_end({cadre_binary(), "run", "--resume", dir_.path() + "/nothing-here"},
                 dir_.path() + "/missing.log", 10s);
  EXPECT_EQ(missing, 2) << missing_output;
  EXPECT_NE(missing_output.find("no run.json"), std::string::npos) << missing_output;
}

}  // namespace
}  // namespace cadre::testing
