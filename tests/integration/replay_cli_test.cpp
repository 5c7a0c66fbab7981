// `cadre replay DIR` end to end: a live run rebuilt from its journal alone matches its report; a
// tampered report is answered with every differing field and exit 1; --until shows goals open at
// an early record and ended at the last; bad input is said with the file and exit 2. And a sim
// run, which keeps no journal, is replayed by its seed: `cadre sim --seed` of the same scenario
// repeats it event for event.
#include <gtest/gtest.h>

#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// One live run of small-team per test process, shared by the tests run in it (ctest runs each
// test alone, so each makes its run: ~4 s); tests that change files work on a copy.
class ReplayCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("replay");
    auto [code, output] =
        run_to_end({cadre_binary(), "run", scenario_path("small-team.yaml"), "--out", run_dir(),
                    "-q"},
                   dir_->path() + "/run.log", 120s);
    ASSERT_EQ(code, 0) << output;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string run_dir() { return dir_->path() + "/live"; }

  // A copy of the run's folder to change.
  static std::string copy_of_run(const std::string& name) {
    const std::string copy = dir_->path() + "/" + name;
    std::filesystem::copy(run_dir(), copy, std::filesystem::copy_options::recursive);
    return copy;
  }

  static std::pair<int, std::string> replay(std::vector<std::string> args) {
    std::vector<std::string> argv = {cadre_binary(), "replay"};
    argv.insert(argv.end(), args.begin(), args.end());
    static int n = 0;
    return run_to_end(argv, dir_->path() + "/replay-" + std::to_string(n++) + ".log", 60s);
  }

  static TempDir* dir_;
};
TempDir* ReplayCli::dir_ = nullptr;

void expect_said_without_a_crash(const std::string& output) {
  EXPECT_NE(output.find("cadre: error: "), std::string::npos) << output;
  EXPECT_EQ(output.find("terminate"), std::string::npos) << output;
  EXPECT_EQ(output.find("what()"), std::string::npos) << output;
}

void replace_once(const std::string& path, const std::string& from, const std::string& to) {
  std::string text = read_file(path);
  const auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from << " not in " << path;
  text.replace(at, from.size(), to);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

TEST_F(ReplayCli, AReplayOfALiveRunMatchesItsReport) {
  auto [code, output] = replay({run_dir()});
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("replay matches report.json"), std::string::npos) << output;
  EXPECT_NE(output.find("cadre live run: small-team (seed 7)"), std::string::npos) << output;
  for (const auto& goal : read_jsonl(run_dir() + "/goals.jsonl"))
    EXPECT_NE(output.find(goal["id"].get<std::string>()), std::string::npos) << output;

  auto [json_code, json_output] = replay({run_dir(), "--json"});
  ASSERT_EQ(json_code, 0) << json_output;
  const json out = json::parse(json_output, nullptr, false);
  ASSERT_TRUE(out.is_object()) << json_output;
  EXPECT_EQ(out["matches"], true);
  EXPECT_TRUE(out["mismatches"].empty());
  EXPECT_EQ(out["not_compared"],
            json({"mode", "time.wall_s", "time.real_s", "messages", "agents[].restarts"}));
  const json report = read_json(run_dir() + "/report.json");
  EXPECT_EQ(out["summary"]["goals"], report["goals"]);
  EXPECT_EQ(out["summary"]["cost"], report["cost"]);
  EXPECT_EQ(out["journal_records"].get<std::size_t>(), read_journal_events(run_dir()).size());
  const auto goals = read_jsonl(run_dir() + "/goals.jsonl");
  ASSERT_EQ(out["goals"].size(), goals.size());
  for (std::size_t i = 0; i < goals.size(); ++i) EXPECT_EQ(out["goals"][i], goals[i]);
}

TEST_F(ReplayCli, ATamperedReportIsAnsweredWithEveryDifferingFieldAndExitOne) {
  const std::string dir = copy_of_run("tampered");
  const json report = read_json(dir + "/report.json");
  const std::string usd = report["cost"]["usd"].dump();
  replace_once(dir + "/report.json", "\"usd\": " + usd, "\"usd\": 1234.5");
  replace_once(dir + "/report.json", "\"state\":\"done\"", "\"state\":\"cancelled\"");
  const auto goals = read_jsonl(dir + "/goals.jsonl");
  const std::string first_goal = goals.at(0)["id"];
  const std::string outcome = goals.at(0)["outcome"];
  const std::string changed = outcome == "failed" ? "resolved" : "failed";
  replace_once(dir + "/goals.jsonl", "\"outcome\":\"" + outcome + "\"",
               "\"outcome\":\"" + changed + "\"");

  auto [code, output] = replay({dir});
  EXPECT_EQ(code, 1) << output;
  expect_said_without_a_crash(output);
  EXPECT_NE(output.find("replay does NOT match: 3 fields differ"), std::string::npos) << output;
  EXPECT_NE(output.find("cost.usd"), std::string::npos) << output;
  EXPECT_NE(output.find("1234.5"), std::string::npos) << output;
  EXPECT_NE(output.find(usd), std::string::npos) << output;
  EXPECT_NE(output.find("goals.jsonl[" + first_goal + "].outcome"), std::string::npos) << output;
  EXPECT_EQ(output.find("replay matches"), std::string::npos) << output;

  auto [json_code, json_output] = replay({dir, "--json"});
  EXPECT_EQ(json_code, 1);
  const auto start = json_output.find('{');
  ASSERT_NE(start, std::string::npos) << json_output;
  const json out = json::parse(json_output.substr(start, json_output.rfind('}') - start + 1),
                               nullptr, false);
  ASSERT_TRUE(out.is_object()) << json_output;
  EXPECT_EQ(out["matches"], false);
  std::map<std::string, json> by_field;
  for (const auto& m : out["mismatches"]) by_field[m["field"]] = m;
  ASSERT_EQ(by_field.size(), 3u) << out["mismatches"].dump();
  EXPECT_EQ(by_field["cost.usd"]["report"], "1234.5");
  EXPECT_EQ(by_field["cost.usd"]["replay"], usd);
  EXPECT_EQ(by_field["goals.jsonl[" + first_goal + "].outcome"]["replay"], "\"" + outcome + "\"");
  bool attempt_listed = false;
  for (const auto& [field, m] : by_field)
    attempt_listed |= field.rfind("task_attempts[", 0) == 0 && m["report"] == "\"cancelled\"" &&
                      m["replay"] == "\"done\"";
  EXPECT_TRUE(attempt_listed) << out["mismatches"].dump();
}

TEST_F(ReplayCli, UntilShowsGoalsOpenAtAnEarlyRecordAndEndedAtTheLast) {
  const std::size_t total = read_journal_events(run_dir()).size();
  auto [early_code, early_output] = replay({run_dir(), "--until", "12", "--json"});
  ASSERT_EQ(early_code, 0) << early_output;
  const json early = json::parse(early_output, nullptr, false);
  ASSERT_TRUE(early.is_object()) << early_output;
  EXPECT_EQ(early["records"], 12);
  EXPECT_EQ(early["journal_records"], total);
  EXPECT_EQ(early["finished"], false);
  ASSERT_EQ(early["goals"].size(), 6u);
  for (const auto& goal : early["goals"]) EXPECT_EQ(goal["outcome"], "open") << goal.dump();

  auto [end_code, end_output] = replay({run_dir(), "--until", std::to_string(total), "--json"});
  ASSERT_EQ(end_code, 0) << end_output;
  const json end = json::parse(end_output, nullptr, false);
  ASSERT_TRUE(end.is_object()) << end_output;
  EXPECT_EQ(end["finished"], true);
  EXPECT_EQ(end["finish_reason"], "all goals ended");
  const auto goals = read_jsonl(run_dir() + "/goals.jsonl");
  ASSERT_EQ(end["goals"].size(), goals.size());
  for (std::size_t i = 0; i < goals.size(); ++i) {
    const json& goal = end["goals"][i];
    EXPECT_EQ(goal["id"], goals[i]["id"]);
    EXPECT_EQ(goal["outcome"], goals[i]["outcome"]);
    EXPECT_EQ(goal["results"], goals[i]["results"]);
    EXPECT_EQ(goal["subtasks"].size(), goals[i]["subtasks"].get<std::size_t>());
    std::uint64_t attempts = 0;
    for (const auto& subtask : goal["subtasks"]) {
      EXPECT_NE(subtask["state"], "solving") << goal.dump();
      attempts += subtask["attempts"].get<std::uint64_t>();
    }
    EXPECT_EQ(attempts, goals[i]["attempts"].get<std::uint64_t>());
  }

  auto [text_code, text] = replay({run_dir(), "--until", "12"});
  ASSERT_EQ(text_code, 0) << text;
  EXPECT_NE(text.find("state after journal record 12 of " + std::to_string(total)),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("6 open, 0 resolved"), std::string::npos) << text;
  EXPECT_EQ(text.find("replay matches"), std::string::npos) << text;
}

TEST_F(ReplayCli, UntilNeedsNoReportSoItLooksIntoARunThatWasCutShort) {
  const std::string dir = copy_of_run("no-report");
  std::filesystem::remove(dir + "/report.json");
  auto [code, output] = replay({dir});
  EXPECT_EQ(code, 2) << output;
  expect_said_without_a_crash(output);
  EXPECT_NE(output.find(dir + "/report.json: cannot read: no such file"), std::string::npos)
      << output;
  EXPECT_NE(output.find("--until"), std::string::npos) << output;
  auto [until_code, until_output] = replay({dir, "--until", "20"});
  EXPECT_EQ(until_code, 0) << until_output;
}

TEST_F(ReplayCli, BadInputIsSaidWithTheFileAndExitTwo) {
  {
    auto [code, output] = replay({dir_->path() + "/nowhere"});
    EXPECT_EQ(code, 2) << output;
    expect_said_without_a_crash(output);
    EXPECT_NE(output.find("nowhere: not a folder"), std::string::npos) << output;
  }
  {
    const std::string dir = copy_of_run("no-journal");
    std::filesystem::remove(dir + "/journal.jsonl");
    auto [code, output] = replay({dir});
    EXPECT_EQ(code, 2) << output;
    expect_said_without_a_crash(output);
    EXPECT_NE(output.find(dir + ": no journal.jsonl here"), std::string::npos) << output;
  }
  {
    const std::string dir = copy_of_run("damaged");
    const std::string journal = dir + "/journal.jsonl";
    const auto size = std::filesystem::file_size(journal);
    std::fstream file(journal, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(size / 2));
    file.put('X');
    file.close();
    auto [code, output] = replay({dir});
    EXPECT_EQ(code, 2) << output;
    expect_said_without_a_crash(output);
    EXPECT_NE(output.find(journal + ": the journal is damaged in the middle"), std::string::npos)
        << output;
  }
  {
    const std::string dir = copy_of_run("no-run-json");
    std::filesystem::remove(dir + "/run.json");
    auto [code, output] = replay({dir});
    EXPECT_EQ(code, 2) << output;
    expect_said_without_a_crash(output);
    EXPECT_NE(output.find("no run.json here"), std::string::npos) << output;
  }
  {
    const std::string dir = copy_of_run("garbled-report");
    std::ofstream(dir + "/report.json", std::ios::trunc) << "{\"goals\": ";
    auto [code, output] = replay({dir});
    EXPECT_EQ(code, 2) << output;
    expect_said_without_a_crash(output);
    EXPECT_NE(output.find(dir + "/report.json: not a JSON report"), std::string::npos) << output;
  }
  {
    auto [code, output] = replay({run_dir(), "--until", "100000"});
    EXPECT_EQ(code, 2) << output;
    EXPECT_NE(output.find("has only"), std::string::npos) << output;
    auto [negative_code, negative_output] = replay({run_dir(), "--until", "-1"});
    EXPECT_EQ(negative_code, 2) << negative_output;
  }
}

// ---------------------------------------------------------------------------------------------
// A sim run is replayed by its seed.

// Faults make the order of events matter: lost and delayed messages, crashed agents.
const std::vector<std::string> kFaultySim = {
    "--set", "faults.message_loss=0.02",        "--set", "faults.message_delay=0.05",
    "--set", "faults.message_duplication=0.02", "--set", "faults.agent_crash=0.02"};

std::pair<int, std::string> sim_run(const TempDir& dir, const std::string& name,
                                    const std::string& seed) {
  std::vector<std::string> argv = {cadre_binary(), "sim", scenario_path("small-team.yaml"),
                                   "--seed", seed, "--out", dir.path() + "/" + name, "-q"};
  argv.insert(argv.end(), kFaultySim.begin(), kFaultySim.end());
  return run_to_end(argv, dir.path() + "/" + name + ".log", 60s);
}

// report.json without its one wall-clock field (docs/simulation.md).
json report_but_real_time(const std::string& dir) {
  json report = read_json(dir + "/report.json");
  EXPECT_TRUE(report.is_object()) << dir;
  if (report.is_object()) report["time"].erase("real_s");
  return report;
}

TEST(ReplaySim, TheSameSeedRepeatsASimRunEventForEvent) {
  TempDir dir("replay-sim");
  for (const char* run : {"a", "b"}) {
    auto [code, output] = sim_run(dir, run, "11");
    ASSERT_EQ(code, 0) << output;
  }
  const std::string a = dir.path() + "/a", b = dir.path() + "/b";
  // trace.json holds every dispatch — agent, start, duration, how it ended, verdict, tokens —
  // in dispatch order, and no wall-clock field: byte for byte the same.
  const std::string trace = read_file(a + "/trace.json");
  ASSERT_NE(trace.find("\"ph\":\"X\""), std::string::npos);
  EXPECT_EQ(trace, read_file(b + "/trace.json"));
  const json report_a = report_but_real_time(a);
  EXPECT_FALSE(report_a["task_attempts"].empty());
  EXPECT_GT(report_a["tasks"]["requeued"].get<int>(), 0) << "no fault changed the run's course";
  EXPECT_EQ(report_a.dump(), report_but_real_time(b).dump());
  EXPECT_EQ(read_file(a + "/goals.jsonl"), read_file(b + "/goals.jsonl"));
}

TEST(ReplaySim, ADifferentSeedIsADifferentRun) {
  TempDir dir("replay-sim-seeds");
  for (const auto& [run, seed] : {std::pair{"a", "11"}, std::pair{"b", "12"}}) {
    auto [code, output] = sim_run(dir, run, seed);
    ASSERT_EQ(code, 0) << output;
  }
  EXPECT_NE(read_json(dir.path() + "/a/report.json")["task_attempts"],
            read_json(dir.path() + "/b/report.json")["task_attempts"]);
  EXPECT_NE(read_file(dir.path() + "/a/trace.json"), read_file(dir.path() + "/b/trace.json"));
}

TEST(ReplaySim, ReplayOfASimRunSaysItsSeedReplaysIt) {
  TempDir dir("replay-sim-dir");
  auto [sim_code, sim_output] = sim_run(dir, "a", "11");
  ASSERT_EQ(sim_code, 0) << sim_output;
  auto [code, output] = run_to_end({cadre_binary(), "replay", dir.path() + "/a"},
                                   dir.path() + "/replay.log", 30s);
  EXPECT_EQ(code, 2) << output;
  expect_said_without_a_crash(output);
  EXPECT_NE(output.find("a `cadre sim` run keeps no journal"), std::string::npos) << output;
  EXPECT_NE(output.find("--seed"), std::string::npos) << output;
}

}  // namespace
}  // namespace cadre::testing
