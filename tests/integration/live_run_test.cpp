// End-to-end tests of `cadre run`: real hub, real agent processes, real sockets.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "cadre/roles/messages.h"
#include "cadre/transport/endpoint.h"
#include "cadre/transport/envelope.h"
#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::vector<std::string> run_argv(const std::string& scenario, const std::string& out,
                                  std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {cadre_binary(), "run", scenario_path(scenario), "--out", out};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

void expect_every_goal_accounted_for(const json& report, const std::string& out_dir) {
  const json& goals = report["goals"];
  EXPECT_EQ(goals["resolved"].get<int>() + goals["escalated"].get<int>() +
                goals["failed"].get<int>(),
            goals["total"].get<int>());
  EXPECT_EQ(goals["open"].get<int>(), 0);
  const auto lines = read_jsonl(out_dir + "/goals.jsonl");
  ASSERT_EQ(static_cast<int>(lines.size()), goals["total"].get<int>());
  std::set<std::string> outcomes{"resolved", "escalated", "failed"};
  for (const auto& line : lines) EXPECT_TRUE(outcomes.count(line["outcome"].get<std::string>()));
}

TEST(LiveRun, FinishesEveryGoalAndWritesTheReport) {
  TempDir dir("report");
  const std::string out = dir.path() + "/run";
  auto [code, output] = run_to_end(run_argv("small-team.yaml", out), dir.path() + "/log", 90s);
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("resolved by the team"), std::string::npos) << output;

  const json report = read_json(out + "/report.json");
  ASSERT_FALSE(report.is_discarded());
  EXPECT_EQ(report["mode"], "live");
  EXPECT_EQ(report["finish_reason"], "all goals ended");
  expect_every_goal_accounted_for(report, out);
  for (const char* key : {"dispatched", "completed", "requeued", "duplicates_ignored"})
    EXPECT_TRUE(report["tasks"].contains(key)) << key;
  EXPECT_GT(report["tasks"]["completed"].get<int>(), 0);
  EXPECT_GT(report["cost"]["tokens_in"].get<long>(), 0);
  EXPECT_GT(report["cost"]["usd"].get<double>(), 0.0);
  EXPECT_GT(report["time"]["wall_s"].get<double>(), 0.0);
  EXPECT_EQ(report["messages"]["malformed"].get<int>(), 0);

  // Every agent of the team registered, with its OS pid, and no process is left behind.
  std::set<std::string> roles;
  for (const auto& agent : report["agents"]) {
    roles.insert(agent["role"].get<std::string>());
    EXPECT_GT(agent["pid"].get<long>(), 0);
    EXPECT_FALSE(process_alive(static_cast<pid_t>(agent["pid"].get<long>())))
        << agent["id"] << " still running";
  }
  EXPECT_EQ(roles, (std::set<std::string>{"planner", "coder", "critic", "human"}));
}

TEST(LiveRun, TheSameSeedGivesTheSameOutcomesAndTokensGoalByGoal) {
  TempDir dir("determinism");
  std::map<std::string, std::string> first;
  for (int run = 0; run < 2; ++run) {
    const std::string out = dir.path() + "/run" + std::to_string(run);
    auto [code, output] = run_to_end(run_argv("small-team.yaml", out, {"--seed", "7", "-q"}),
                                     dir.path() + "/log" + std::to_string(run), 90s);
    ASSERT_EQ(code, 0) << output;
    for (const auto& goal : read_jsonl(out + "/goals.jsonl")) {
      const std::string fingerprint = goal["outcome"].get<std::string>() + " " +
                                      goal["tokens_in"].dump() + " " + goal["tokens_out"].dump() +
                                      " " + goal["attempts"].dump();
      const std::string id = goal["id"].get<std::string>();
      if (run == 0) first[id] = fingerprint;
      else EXPECT_EQ(first[id], fingerprint) << "goal " << id;
    }
  }
  EXPECT_FALSE(first.empty());
}

TEST(LiveRun, ACoderKilledMidRunHasItsTasksRequeuedAndTheRunStillFinishes) {
  TempDir dir("kill");
  const std::string out = dir.path() + "/run";
  // No restart (supervision_test.cpp covers those): the hub itself must notice coder-1 is gone.
  ChildProcess run(
      run_argv("small-team.yaml", out, {"-q", "--set", "supervision.max_restarts=0"}),
      dir.path() + "/log");

  // Wait until coder-1 holds a task it has not answered, then SIGKILL it.
  pid_t coder_pid = 0;
  const bool holding = eventually(
      [&] {
        std::set<std::string> open;
        for (const auto& event : read_journal_events(out)) {
          if (event["ev"] == "join" && event["agent"] == "coder-1")
            coder_pid = static_cast<pid_t>(event["pid"].get<long>());
          const std::string key = event.value("goal", "") + "/" + event.value("task", "") + "#" +
                                  std::to_string(event.value("attempt", 0));
          if (event["ev"] == "dispatch" && event["agent"] == "coder-1") open.insert(key);
          if (event["ev"] == "result" && event["agent"] == "coder-1") open.erase(key);
        }
        return coder_pid > 0 && !open.empty();
      },
      30s);
  ASSERT_TRUE(holding) << "coder-1 never held a task";
  ASSERT_EQ(::kill(coder_pid, SIGKILL), 0);

  auto status = run.wait_for(90s);
  ASSERT_TRUE(status.has_value()) << "run did not finish";
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0) << read_file(dir.path() + "/log");

  const json report = read_json(out + "/report.json");
  ASSERT_FALSE(report.is_discarded());
  expect_every_goal_accounted_for(report, out);
  EXPECT_GT(report["tasks"]["requeued"].get<int>(), 0);
  bool left = false;
  for (const auto& event : read_journal_events(out))
    if (event["ev"] == "leave" && event["agent"] == "coder-1") left = true;
  EXPECT_TRUE(left) << "the hub never declared coder-1 gone";
}

TEST(LiveRun, GarbageTruncatedAndWrongVersionFramesAreCountedAndTheHubKeepsServing) {
  TempDir dir("garbage");
  const std::string out = dir.path() + "/run";
  ChildProcess run(run_argv("small-team.yaml", out, {"-q"}), dir.path() + "/log");
  ASSERT_TRUE(eventually([&] { return !read_file(out + "/hub.endpoint").empty(); }, 30s));
  std::string endpoint = read_file(out + "/hub.endpoint");
  endpoint.erase(endpoint.find_last_not_of("\n") + 1);

  auto intruder = transport::DealerEndpoint::connect(endpoint, "intruder");
  ASSERT_TRUE(intruder.ok()) << intruder.error().to_string();
  transport::Envelope hello;
  hello.kind = transport::MessageKind::hello;
  hello.msg_id = 41;
  hello.sender = "intruder";
  hello.body = roles::encode(roles::Hello{"intruder", "coder", "sim", "sim-small", 1, 1, 0});
  const std::string valid = transport::encode_envelope(hello);

  transport::Envelope wrong_version = hello;
  wrong_version.version = 99;
  wrong_version.msg_id = 42;

  const std::vector<std::string> bad_frames = {
      "this is not msgpack at all",                   // garbage
      valid.substr(0, valid.size() / 2),              // truncated msgpack
      std::string("\x95\xff\xff", 3),                 // an envelope that stops after two fields
      transport::encode_envelope(wrong_version),      // a protocol version the hub does not speak
  };
  for (const auto& frame : bad_frames) ASSERT_TRUE((*intruder)->send(frame));
  const int sent = static_cast<int>(bad_frames.size());

  // Where the frame names its sender, the hub answers ERROR: "malformed" for the truncated HELLO
  // (msg 41), "bad_version" for the wrong version (msg 42). Garbage with no sender gets nothing.
  std::map<std::uint64_t, std::string> errors;
  for (int i = 0; i < 50 && errors.size() < 2; ++i) {
    auto reply = (*intruder)->receive(100ms);
    if (!reply) continue;
    auto envelope = transport::decode_envelope(*reply);
    ASSERT_TRUE(envelope.ok());
    if (envelope.envelope().kind != transport::MessageKind::error) continue;
    auto error = roles::decode_error(envelope.envelope().body);
    ASSERT_TRUE(error.ok());
    errors[error->ref_msg_id] = error->code;
  }
  EXPECT_EQ(errors[41], "malformed");
  EXPECT_EQ(errors[42], "bad_version");

  auto status = run.wait_for(90s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 0) << read_file(dir.path() + "/log");
  const json report = read_json(out + "/report.json");
  ASSERT_FALSE(report.is_discarded());
  EXPECT_GE(report["messages"]["malformed"].get<int>(), sent);
  expect_every_goal_accounted_for(report, out);
}

TEST(LiveRun, CtrlCStopsTheRunReapsEveryAgentAndWritesAPartialReport) {
  TempDir dir("interrupt");
  const std::string out = dir.path() + "/run";
  ChildProcess run(run_argv("feature-team.yaml", out, {"-q"}), dir.path() + "/log");
  std::vector<pid_t> agent_pids;
  ASSERT_TRUE(eventually(
      [&] {
        agent_pids.clear();
        bool dispatched = false;
        for (const auto& event : read_journal_events(out)) {
          if (event["ev"] == "join") agent_pids.push_back(static_cast<pid_t>(event["pid"].get<long>()));
          if (event["ev"] == "dispatch") dispatched = true;
        }
        return dispatched && agent_pids.size() >= 8;
      },
      30s));
  run.signal(SIGINT);
  auto status = run.wait_for(30s);
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 130);
  const json report = read_json(out + "/report.json");
  ASSERT_FALSE(report.is_discarded());
  EXPECT_TRUE(report["interrupted"].get<bool>());
  EXPECT_EQ(report["goals"]["open"].get<int>(), 0);
  for (pid_t pid : agent_pids) EXPECT_FALSE(process_alive(pid)) << "agent pid " << pid;
}

}  // namespace
}  // namespace cadre::testing
