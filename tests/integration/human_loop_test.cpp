// The human in the loop, end to end: `cadre run` with an inbox human, driven by `cadre inbox`
// and watched with `cadre status`, as a person would from another terminal.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "process_harness.h"

namespace cadre::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// `cadre ARGS...` to its end; {exit code, output}.
std::pair<int, std::string> cadre(const TempDir& dir, std::vector<std::string> args) {
  static int calls = 0;
  args.insert(args.begin(), cadre_binary());
  return run_to_end(args, dir.path() + "/tool-" + std::to_string(++calls) + ".log", 30s);
}

// The hub's view (status or inbox) as JSON; null while the hub is not answering yet.
json view(const TempDir& dir, const std::string& run_dir, const std::string& what) {
  auto [code, out] = cadre(dir, {what, "--hub", run_dir, "--json", "--timeout-s", "2"});
  if (code != 0) return json();
  return json::parse(out, nullptr, false);
}

std::vector<json> items_of_kind(const json& inbox, const std::string& kind) {
  std::vector<json> out;
  if (!inbox.is_object()) return out;
  for (const auto& item : inbox.at("items"))
    if (item.at("kind") == kind) out.push_back(item);
  return out;
}

std::vector<json> journal_results_by(const std::string& run_dir, const std::string& agent) {
  std::vector<json> out;
  for (const auto& record : read_journal_events(run_dir))
    if (record.value("ev", "") == "result" && record.value("agent", "") == agent)
      out.push_back(record);
  return out;
}

TEST(Copilot, GoalsWaitForApprovalAndFinishAfterTheInboxApprovesThem) {
  TempDir dir("copilot");
  const std::string run_dir = dir.path() + "/run";
  ChildProcess run({cadre_binary(), "run", scenario_path("copilot.yaml"), "--out", run_dir, "-q"},
                   dir.path() + "/run.log");

  // Every goal's work is done and waits for a person.
  json inbox;
  ASSERT_TRUE(eventually(
      [&] {
        inbox = view(dir, run_dir, "inbox");
        return items_of_kind(inbox, "approve").size() == 3;
      },
      60s))
      << read_file(dir.path() + "/run.log");
  EXPECT_TRUE(inbox.at("has_inbox").get<bool>());
  for (const auto& item : inbox.at("items")) {
    EXPECT_EQ(item.at("item"), "approve");
    ASSERT_EQ(item.at("candidates").size(), 1u);
    EXPECT_EQ(item.at("candidates")[0].at("id"), "team");
    EXPECT_NE(item.at("candidates")[0].at("content").get<std::string>().find("## s1"),
              std::string::npos);
  }

  // The team is idle, yet no goal is resolved: they wait for the person, not for work.
  json status = view(dir, run_dir, "status");
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status.at("goals").at("open"), 3);
  EXPECT_EQ(status.at("goals").at("resolved"), 0);
  EXPECT_EQ(status.at("goals").at("awaiting_approval"), 3);
  EXPECT_EQ(status.at("tasks").at("queued"), 0);
  for (const auto& agent : status.at("agents")) {
    if (agent.at("id") == "inbox") {
      EXPECT_EQ(agent.at("state"), "busy");
      EXPECT_EQ(agent.at("tasks").size(), 3u);
    } else {
      EXPECT_EQ(agent.at("state"), "idle") << agent.dump();
      EXPECT_FALSE(agent.at("heartbeat_age_s").is_null());
    }
  }
  EXPECT_FALSE(std::filesystem::exists(run_dir + "/report.json"));
  EXPECT_FALSE(run.wait_for(0ms).has_value());  // still running

  // Approve them one by one; each goal ends only when approved.
  std::set<std::string> goals;
  for (const auto& item : inbox.at("items")) goals.insert(item.at("goal").get<std::string>());
  std::size_t approved = 0;
  for (const auto& goal : goals) {
    auto [code, out] = cadre(dir, {"inbox", "--hub", run_dir, "--resolve", goal, "--accept", "team",
                                   "--by", "reviewer"});
    ASSERT_EQ(code, 0) << out;
    EXPECT_NE(out.find("the goal is now resolved"), std::string::npos) << out;
    ++approved;
    if (approved < goals.size()) {
      json now = view(dir, run_dir, "status");
      ASSERT_TRUE(now.is_object());
      EXPECT_EQ(now.at("goals").at("resolved"), approved);
      EXPECT_EQ(now.at("goals").at("awaiting_approval"), goals.size() - approved);
    }
  }

  auto status_code = run.wait_for(30s);
  ASSERT_TRUE(status_code.has_value());
  ASSERT_TRUE(WIFEXITED(*status_code));
  EXPECT_EQ(WEXITSTATUS(*status_code), 0) << read_file(dir.path() + "/run.log");
  json report = read_json(run_dir + "/report.json");
  EXPECT_EQ(report.at("goals").at("resolved"), 3);
  EXPECT_EQ(report.at("goals").at("open"), 0);
  // The decisions are in the journal as the inbox's results, with who made them.
  auto decisions = journal_results_by(run_dir, "inbox");
  ASSERT_EQ(decisions.size(), 3u);
  for (const auto& record : decisions) {
    EXPECT_EQ(record.at("task"), "approve");
    EXPECT_EQ(record.at("by"), "reviewer");
    EXPECT_TRUE(record.at("verdict").at("accept").get<bool>());
  }
  // Deciding after the end is refused with a reason.
  auto [late_code, late_out] =
      cadre(dir, {"inbox", "--hub", run_dir, "--resolve", *goals.begin(), "--accept", "team",
                  "--timeout-s", "0.5"});
  EXPECT_NE(late_code, 0);
}

TEST(Inbox, EscalatedSubtasksAreListedWithCandidatesAndFeedbackAndSettledByAPerson) {
  TempDir dir("inbox");
  const std::string run_dir = dir.path() + "/run";
  // Autopilot, a coder that is always wrong and a critic that sees it: every subtask escalates.
  ChildProcess run({cadre_binary(), "run", scenario_path("copilot.yaml"), "--out", run_dir, "-q",
                    "--set", "workflow.approval=auto", "--set", "team[1].brain.skill=-50",
                    "--set", "team[2].brain.fpr=0"},
                   dir.path() + "/run.log");
  json inbox;
  ASSERT_TRUE(eventually(
      [&] {
        inbox = view(dir, run_dir, "inbox");
        return items_of_kind(inbox, "resolve").size() == 4;  // 2 + 1 + 1 subtasks
      },
      60s))
      << read_file(dir.path() + "/run.log");
  std::string typo_candidate;
  for (const auto& item : inbox.at("items")) {
    EXPECT_EQ(item.at("subtask").at("rounds"), 2);
    EXPECT_FALSE(item.at("feedback").empty()) << item.dump();  // what the critics said
    ASSERT_FALSE(item.at("candidates").empty());
    for (const auto& candidate : item.at("candidates")) {
      EXPECT_FALSE(candidate.at("critic").at("accept").get<bool>());
      EXPECT_EQ(candidate.at("id").get<std::string>().rfind(
                    item.at("subtask").at("id").get<std::string>() + "/", 0),
                0u);
    }
    if (item.at("goal") == "fix-typo") typo_candidate = item.at("candidates")[0].at("id");
  }
  ASSERT_FALSE(typo_candidate.empty());

  // A goal with two waiting items needs --item; a wrong candidate is refused with the valid ones.
  auto [ambiguous, ambiguous_out] =
      cadre(dir, {"inbox", "--hub", run_dir, "--resolve", "login-form", "--answer", "x"});
  EXPECT_EQ(ambiguous, 2);
  EXPECT_NE(ambiguous_out.find("--item"), std::string::npos) << ambiguous_out;
  auto [wrong, wrong_out] =
      cadre(dir, {"inbox", "--hub", run_dir, "--resolve", "fix-typo", "--accept", "s1/99"});
  EXPECT_EQ(wrong, 2);
  EXPECT_NE(wrong_out.find(typo_candidate), std::string::npos) << wrong_out;
  auto [no_action, no_action_out] = cadre(dir, {"inbox", "--hub", run_dir, "--resolve", "fix-typo"});
  EXPECT_EQ(no_action, 2) << no_action_out;

  // Accept a candidate, answer, reject.
  EXPECT_EQ(cadre(dir, {"inbox", "--hub", run_dir, "--resolve", "fix-typo", "--accept",
                        typo_candidate}).first, 0);
  for (const char* item : {"s1/resolve", "s2/resolve"})
    EXPECT_EQ(cadre(dir, {"inbox", "--hub", run_dir, "--resolve", "login-form", "--item", item,
                          "--answer", "done by hand"}).first, 0);
  EXPECT_EQ(cadre(dir, {"inbox", "--hub", run_dir, "--resolve", "csv-export", "--reject",
                        "not worth it"}).first, 0);

  auto status_code = run.wait_for(30s);
  ASSERT_TRUE(status_code.has_value());
  EXPECT_EQ(WEXITSTATUS(*status_code), 0) << read_file(dir.path() + "/run.log");
  std::map<std::string, std::string> outcomes;
  for (const auto& line : read_jsonl(run_dir + "/goals.jsonl"))
    outcomes[line.at("id")] = line.at("outcome");
  EXPECT_EQ(outcomes["fix-typo"], "escalated");
  EXPECT_EQ(outcomes["login-form"], "escalated");
  EXPECT_EQ(outcomes["csv-export"], "failed");
  // The accepted candidate is the one the coder wrote, carried whole into the journal.
  bool found = false;
  for (const auto& record : journal_results_by(run_dir, "inbox"))
    if (record.at("goal") == "fix-typo")
      found = record.at("candidate").at("content").get<std::string>().find("fix-typo/s1") !=
              std::string::npos;
  EXPECT_TRUE(found);
}

TEST(Copilot, AHubKilledWhileGoalsAwaitApprovalResumesWithTheSameInbox) {
  TempDir dir("copilot-resume");
  const std::string run_dir = dir.path() + "/run";
  std::set<std::string> waiting;
  {
    ChildProcess run({cadre_binary(), "run", scenario_path("copilot.yaml"), "--out", run_dir, "-q"},
                     dir.path() + "/run.log");
    ASSERT_TRUE(eventually(
        [&] { return items_of_kind(view(dir, run_dir, "inbox"), "approve").size() == 3; }, 60s));
    // One approval goes in before the crash; two are still waiting.
    ASSERT_EQ(cadre(dir, {"inbox", "--hub", run_dir, "--resolve", "fix-typo", "--accept", "team"})
                  .first,
              0);
    ::kill(run.pid(), SIGKILL);
    run.wait_for(10s);
  }
  ChildProcess resumed({cadre_binary(), "run", "--resume", run_dir, "-q"},
                       dir.path() + "/resume.log");
  json inbox;
  ASSERT_TRUE(eventually(
      [&] {
        inbox = view(dir, run_dir, "inbox");
        return items_of_kind(inbox, "approve").size() == 2;
      },
      60s))
      << read_file(dir.path() + "/resume.log");
  for (const auto& item : inbox.at("items")) {
    EXPECT_NE(item.at("goal"), "fix-typo");
    EXPECT_EQ(cadre(dir, {"inbox", "--hub", run_dir, "--resolve", item.at("goal"), "--accept",
                          "team"}).first,
              0);
  }
  auto status_code = resumed.wait_for(30s);
  ASSERT_TRUE(status_code.has_value());
  EXPECT_EQ(WEXITSTATUS(*status_code), 0) << read_file(dir.path() + "/resume.log");
  EXPECT_EQ(read_json(run_dir + "/report.json").at("goals").at("resolved"), 3);
}

TEST(CopilotSim, ASimulatedPersonCatchesTheFalseAcceptsAutopilotLetsThrough) {
  TempDir dir("copilot-sim");
  // A credulous critic lets wrong work through; only the person at approval can stop it.
  auto run_sim = [&](const std::string& approval) {
    const std::string out = dir.path() + "/" + approval;
    auto [code, log] = cadre(dir, {"sim", scenario_path("feature-team.yaml"), "--out", out, "-q",
                                   "--set", "workflow.approval=" + approval, "--set",
                                   "team.critic.brain.fpr=0.7", "--set", "work.generate.count=60",
                                   "--set", "pricing.human_per_approval=1"});
    EXPECT_EQ(code, 0) << log;
    return read_json(out + "/report.json");
  };
  const json autopilot = run_sim("auto");
  const json copilot = run_sim("human");
  EXPECT_GT(autopilot.at("quality").at("false_accepts").get<int>(), 0);
  EXPECT_EQ(copilot.at("quality").at("false_accepts").get<int>(), 0);
  // What the person refused fails instead; approvals cost their price on top.
  EXPECT_GT(copilot.at("goals").at("failed").get<int>(), autopilot.at("goals").at("failed").get<int>());
  EXPECT_GT(copilot.at("cost").at("usd").get<double>(), autopilot.at("cost").at("usd").get<double>());
  EXPECT_EQ(copilot.at("goals").at("open"), 0);
}

TEST(HubTools, BadAddressesAndAbsentHubsAreClearErrors) {
  TempDir dir("hub-tools");
  auto [absent, absent_out] =
      cadre(dir, {"status", "--hub", "ipc://" + dir.path() + "/nobody", "--timeout-s", "0.3"});
  EXPECT_EQ(absent, 1);
  EXPECT_NE(absent_out.find("no answer from the hub"), std::string::npos) << absent_out;
  auto [not_a_folder, folder_out] = cadre(dir, {"inbox", "--hub", dir.path() + "/missing"});
  EXPECT_EQ(not_a_folder, 2);
  EXPECT_NE(folder_out.find("not an endpoint"), std::string::npos) << folder_out;
  auto [empty_folder, empty_out] = cadre(dir, {"inbox", "--hub", dir.path()});
  EXPECT_EQ(empty_folder, 2);
  EXPECT_NE(empty_out.find("hub.endpoint"), std::string::npos) << empty_out;
  auto [stray, stray_out] = cadre(dir, {"inbox", "--hub", dir.path(), "--accept", "team"});
  EXPECT_EQ(stray, 2);
  EXPECT_NE(stray_out.find("--resolve"), std::string::npos) << stray_out;
}

}  // namespace
}  // namespace cadre::testing
