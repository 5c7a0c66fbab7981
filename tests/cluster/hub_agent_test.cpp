// `cadre hub` and `cadre agent` as separate processes over TCP, with CURVE keys from
// `cadre keys gen`: a secured team completes its run; agents without a key, with a key not on the
// allow list, or with a readable key file are refused and get no task; a plain-text listen beyond
// loopback is refused unless --insecure; a hub whose team does not come names what is missing.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;

const std::string kScenario = "small-team.yaml";
// planner, 2 coders, critic, human: the team small-team.yaml declares.
const std::vector<std::string> kTeamRoles = {"planner", "coder", "coder", "critic", "human"};

std::string wait_for_endpoint(const std::string& out_dir) {
  std::string endpoint;
  eventually([&] {
    endpoint = read_file(out_dir + "/hub.endpoint");
    return !endpoint.empty() && endpoint.back() == '\n';
  }, 10s);
  while (!endpoint.empty() && (endpoint.back() == '\n' || endpoint.back() == ' ')) endpoint.pop_back();
  return endpoint;
}

int exit_code(std::optional<int> status) {
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

class HubAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = dir_.path() + "/keys";
    auto [code, output] = run_to_end({cadre_binary(), "keys", "gen", keys_}, dir_.path() + "/keys.log", 10s);
    ASSERT_EQ(code, 0) << output;
  }

  std::unique_ptr<ChildProcess> start_hub(const std::string& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {cadre_binary(), "hub", scenario_path(kScenario), "--listen",
                                     "tcp://127.0.0.1:*", "--out", out, "--wait-s", "20"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<ChildProcess>(argv, out + ".log");
  }

  std::unique_ptr<ChildProcess> start_agent(const std::string& endpoint, const std::string& role,
                                            const std::string& id, std::vector<std::string> keys,
                                            const std::string& hub_timeout_s = "20") {
    std::vector<std::string> argv = {cadre_binary(), "agent", "--hub", endpoint, "--role", role,
                                     "--scenario", scenario_path(kScenario), "--id", id,
                                     "--hub-timeout", hub_timeout_s};
    argv.insert(argv.end(), keys.begin(), keys.end());
    return std::make_unique<ChildProcess>(argv, dir_.path() + "/" + id + ".log");
  }

  std::vector<std::unique_ptr<ChildProcess>> start_team(const std::string& endpoint) {
    std::vector<std::unique_ptr<ChildProcess>> team;
    int n = 0;
    for (const auto& role : kTeamRoles)
      team.push_back(start_agent(endpoint, role, role + "-" + std::to_string(++n), {"--keys", keys_}));
    return team;
  }

  TempDir dir_{"hub-agent"};
  std::string keys_;
};

TEST_F(HubAgent, KeysGenMakesPrivateSecretsAndIsSafeToRepeat) {
  struct stat st {};
  ASSERT_EQ(::stat((keys_ + "/hub.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((keys_ + "/agents/agent.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((keys_ + "/hub.pub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  ASSERT_EQ(::stat(keys_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  const std::string before = read_file(keys_ + "/hub.key");
  auto [code, output] = run_to_end({cadre_binary(), "keys", "gen", keys_, "--agent", "coder-a"},
                                   dir_.path() + "/again.log", 10s);
  EXPECT_EQ(code, 0) << output;
  EXPECT_EQ(read_file(keys_ + "/hub.key"), before) << "an existing key pair was replaced";
  EXPECT_TRUE(std::filesystem::exists(keys_ + "/agents/coder-a.pub"));
}

TEST_F(HubAgent, ASecuredTeamRunsAcrossSeparateProcesses) {
  const std::string out = dir_.path() + "/run";
  auto hub = start_hub(out, {"--keys", keys_});
  const std::string endpoint = wait_for_endpoint(out);
  ASSERT_FALSE(endpoint.empty()) << read_file(out + ".log");
  auto team = start_team(endpoint);
  const int code = exit_code(hub->wait_for(90s));
  ASSERT_EQ(code, 0) << read_file(out + ".log");
  EXPECT_NE(read_file(out + ".log").find("(CURVE)"), std::string::npos);
  const auto report = read_json(out + "/report.json");
  EXPECT_EQ(report["goals"]["open"], 0);
  EXPECT_EQ(report["messages"]["refused"], 0);
  // BYE: every agent leaves on its own, with exit code 0.
  for (auto& agent : team) EXPECT_EQ(exit_code(agent->wait_for(10s)), 0);
}

TEST_F(HubAgent, APythonSdkAgentJoinsASecuredHubWithItsKey) {
  const std::string out = dir_.path() + "/run";
  auto hub = start_hub(out, {"--keys", keys_});
  const std::string endpoint = wait_for_endpoint(out);
  ASSERT_FALSE(endpoint.empty());
  std::vector<std::unique_ptr<ChildProcess>> team;
  int n = 0;
  for (const auto& role : kTeamRoles)
    if (role != "critic")
      team.push_back(start_agent(endpoint, role, role + "-" + std::to_string(++n), {"--keys", keys_}));
  ChildProcess critic({"/usr/bin/env", "CADRE_HUB=" + endpoint, "CADRE_AGENT_ID=py-critic",
                       "CADRE_ROLE=critic", "CADRE_MODEL=sim-large",
                       "CADRE_KEY_FILE=" + keys_ + "/agents/agent.key",
                       "CADRE_HUB_KEY_FILE=" + keys_ + "/hub.pub", "/usr/bin/python3",
                       source_dir() + "/examples/agents/perfect_critic.py"},
                      dir_.path() + "/py-critic.log");
  ASSERT_EQ(exit_code(hub->wait_for(90s)), 0) << read_file(out + ".log") << read_file(dir_.path() + "/py-critic.log");
  int reviews = 0;
  for (const auto& event : read_journal_events(out))
    if (event["ev"] == "result" && event["agent"] == "py-critic") ++reviews;
  EXPECT_GT(reviews, 0);
  EXPECT_EQ(exit_code(critic.wait_for(10s)), 0) << read_file(dir_.path() + "/py-critic.log");
}

TEST_F(HubAgent, AKilledHubResumesAndItsAgentsComeBackByThemselves) {
  const std::string out = dir_.path() + "/run";
  auto hub = start_hub(out, {"--keys", keys_, "--set", "workflow.time_scale=0.05"});
  const std::string endpoint = wait_for_endpoint(out);
  ASSERT_FALSE(endpoint.empty());
  auto team = start_team(endpoint);
  ASSERT_TRUE(eventually([&] {
    int results = 0;
    for (const auto& event : read_journal_events(out)) results += event["ev"] == "result";
    return results >= 20;
  }, 60s)) << read_file(out + ".log");
  hub->signal(SIGKILL);
  hub->wait_for(10s);
  // The same address: the agents keep trying it. --resume takes scenario, keys are given again.
  const std::string port = endpoint.substr(endpoint.rfind(':') + 1);
  ChildProcess resumed({cadre_binary(), "hub", "--resume", out, "--listen",
                        "tcp://127.0.0.1:" + port, "--keys", keys_, "--wait-s", "30"},
                       out + ".resumed.log");
  const auto status = resumed.wait_for(90s);
  ASSERT_TRUE(status && WIFEXITED(*status)) << read_file(out + ".resumed.log");
  ASSERT_EQ(WEXITSTATUS(*status), 0) << read_file(out + ".resumed.log");
  EXPECT_NE(read_file(out + ".resumed.log").find("resumed from"), std::string::npos);
  EXPECT_EQ(read_json(out + "/report.json")["goals"]["open"], 0);
  // Every agent process of the first hub served the second and left on its BYE.
  for (auto& agent : team) EXPECT_EQ(exit_code(agent->wait_for(10s)), 0);
}

TEST_F(HubAgent, AgentsWithoutAKeyOrWithAKeyNotOnTheListAreRefusedAndGetNoTask) {
  const std::string others = dir_.path() + "/other-keys";
  ASSERT_EQ(run_to_end({cadre_binary(), "keys", "gen", others}, dir_.path() + "/k2.log", 10s).first, 0);
  const std::string out = dir_.path() + "/run";
  auto hub = start_hub(out, {"--keys", keys_});
  const std::string endpoint = wait_for_endpoint(out);
  ASSERT_FALSE(endpoint.empty());
  // An agent with its own valid key pair, not in the hub's allow list...
  auto stranger = start_agent(endpoint, "coder", "stranger", {"--key", others + "/agents/agent.key",
                                                              "--hub-key", keys_ + "/hub.pub"},
                              "4");
  // ...and one with no key at all.
  auto plain = start_agent(endpoint, "coder", "plain", {}, "4");
  ASSERT_TRUE(eventually([&] {
    const std::string log = read_file(out + ".log");
    // A key not on the list is refused by ZAP, which always knows the address; a peer without
    // CURVE fails the handshake, where the address may be gone before it can be read.
    return log.find("refused a connection from 127.0.0.1: client key") != std::string::npos &&
           log.find("not in the allow list") != std::string::npos &&
           log.find("handshake failed") != std::string::npos;
  }, 15s)) << read_file(out + ".log");

  auto team = start_team(endpoint);
  ASSERT_EQ(exit_code(hub->wait_for(90s)), 0) << read_file(out + ".log");
  const auto report = read_json(out + "/report.json");
  EXPECT_EQ(report["goals"]["open"], 0);
  EXPECT_GE(report["messages"]["refused"].get<int>(), 2);
  int refused = 0;
  for (const auto& event : read_journal_events(out)) {
    if (event["ev"] == "refused") {
      ++refused;
      EXPECT_TRUE(event["address"] == "127.0.0.1" || event["address"] == "unknown") << event.dump();
    }
    if (event.contains("agent")) {
      EXPECT_NE(event["agent"], "stranger");
      EXPECT_NE(event["agent"], "plain");
    }
  }
  EXPECT_GE(refused, 2);
  // Refused agents never heard from the hub: they give up on their own.
  EXPECT_EQ(exit_code(stranger->wait_for(30s)), 1);
  EXPECT_EQ(exit_code(plain->wait_for(30s)), 1);
}

TEST_F(HubAgent, ToolsNeedAKeyOnTheAllowListOfASecuredHub) {
  const std::string out = dir_.path() + "/tools";
  auto hub = start_hub(out, {"--keys", keys_});
  const std::string endpoint = wait_for_endpoint(out);
  ASSERT_FALSE(endpoint.empty()) << read_file(out + ".log");
  // While the hub waits for its team, an operator with a key on the list sees it.
  auto [code, output] = run_to_end({cadre_binary(), "status", "--hub", endpoint, "--keys", keys_,
                                    "--json"},
                                   dir_.path() + "/status.log", 20s);
  ASSERT_EQ(code, 0) << output;
  const auto view = nlohmann::json::parse(output, nullptr, false);
  ASSERT_TRUE(view.is_object()) << output;
  EXPECT_GT(view["goals"]["total"].get<int>(), 0);
  EXPECT_EQ(view["goals"]["open"], view["goals"]["total"]);
  // Without a key the encrypted hub never answers; the tool says so and exits 1.
  auto [refused, refused_output] =
      run_to_end({cadre_binary(), "status", "--hub", endpoint, "--timeout-s", "1"},
                 dir_.path() + "/status-nokey.log", 20s);
  EXPECT_EQ(refused, 1);
  EXPECT_NE(refused_output.find("allow list"), std::string::npos) << refused_output;
}

TEST_F(HubAgent, KeyFilesReadableByOthersAreRefused) {
  ASSERT_EQ(::chmod((keys_ + "/agents/agent.key").c_str(), 0644), 0);
  auto [agent_code, agent_output] =
      run_to_end({cadre_binary(), "agent", "--hub", "tcp://127.0.0.1:9", "--role", "coder",
                  "--model", "m", "--keys", keys_},
                 dir_.path() + "/agent.log", 10s);
  EXPECT_EQ(agent_code, 2) << agent_output;
  EXPECT_NE(agent_output.find(keys_ + "/agents/agent.key"), std::string::npos) << agent_output;
  EXPECT_NE(agent_output.find("chmod 600"), std::string::npos) << agent_output;

  ASSERT_EQ(::chmod((keys_ + "/hub.key").c_str(), 0640), 0);
  auto [hub_code, hub_output] =
      run_to_end({cadre_binary(), "hub", scenario_path(kScenario), "--listen", "tcp://127.0.0.1:*",
                  "--keys", keys_, "--out", dir_.path() + "/never"},
                 dir_.path() + "/hub.log", 10s);
  EXPECT_EQ(hub_code, 2) << hub_output;
  EXPECT_NE(hub_output.find(keys_ + "/hub.key"), std::string::npos) << hub_output;
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/never"));
}

TEST_F(HubAgent, APlainTextListenBeyondLoopbackNeedsInsecure) {
  auto [code, output] =
      run_to_end({cadre_binary(), "hub", scenario_path(kScenario), "--listen", "tcp://0.0.0.0:*",
                  "--out", dir_.path() + "/never"},
                 dir_.path() + "/hub.log", 10s);
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("refusing to listen on tcp://0.0.0.0:* without keys"), std::string::npos)
      << output;
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/never"));

  // With --insecure it listens; nobody comes, so it says which roles are missing.
  auto [insecure_code, insecure_output] =
      run_to_end({cadre_binary(), "hub", scenario_path(kScenario), "--listen", "tcp://0.0.0.0:*",
                  "--insecure", "--wait-s", "0.5", "--out", dir_.path() + "/insecure"},
                 dir_.path() + "/insecure.log", 10s);
  EXPECT_EQ(insecure_code, 1) << insecure_output;
  EXPECT_NE(insecure_output.find("(plain text)"), std::string::npos) << insecure_output;
  EXPECT_NE(insecure_output.find("missing: coder 0 of 2, critic 0 of 1, human 0 of 1, planner 0 of 1"),
            std::string::npos)
      << insecure_output;
}

}  // namespace
}  // namespace cadre::testing
