// The agent process against a scripted hub: join, answer, heartbeats, cancel, reconnect with
// resend of unacknowledged results, and exit on BYE. The agent runs on a thread of the test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include "cadre/agents/agent_process.h"
#include "cadre/roles/messages.h"
#include "cadre/transport/endpoint.h"
#include "cadre/transport/envelope.h"
#include "scripted_hub.h"

namespace cadre::agents {
namespace {

using namespace std::chrono_literals;
using transport::MessageKind;

std::string ipc_endpoint(const std::string& tag) {
  static int n = 0;
  return "ipc://" + (std::filesystem::temp_directory_path() /
                     ("cadre-agent-" + tag + "-" + std::to_string(::getpid()) + "-" +
                      std::to_string(n++) + ".sock"))
                        .string();
}

using testing::ScriptedHub;

roles::TaskAssignment solve_task(std::uint32_t attempt) {
  roles::TaskAssignment task;
  task.goal_id = "g1";
  task.task_id = "s1";
  task.attempt = attempt;
  task.kind = roles::TaskKind::solve;
  task.role = "coder";
  task.seed = 5;
  task.difficulty = 0.3;
  task.lease_ms = 10000;
  return task;
}

struct RunningAgent {
  std::atomic<bool> stop{false};
  std::future<int> exit_code;
  AgentOptions options;

  RunningAgent(const std::string& hub, double time_scale) {
    options.hub = hub;
    options.agent_id = "coder-1";
    options.role = "coder";
    options.brain = "sim";
    options.model = "sim-small";
    options.capacity = 2;
    options.brain_params = {{"time_scale", std::to_string(time_scale)}};
    options.stop_requested = [this] { return stop.load(); };
    exit_code = std::async(std::launch::async, [this] { return run_agent(options); });
  }
  ~RunningAgent() {
    stop = true;
    if (exit_code.valid()) exit_code.wait();
  }
};

TEST(AgentProcess, JoinsAnswersAnAssignmentHeartbeatsAndExitsOnBye) {
  const std::string endpoint = ipc_endpoint("basic");
  ScriptedHub hub(endpoint);
  RunningAgent agent(endpoint, 0.001);

  auto hello = hub.expect(MessageKind::hello, 5s);
  ASSERT_TRUE(hello);
  auto body = roles::decode_hello(hello->body);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->agent_id, "coder-1");
  EXPECT_EQ(body->role, "coder");
  EXPECT_EQ(body->capacity, 2u);
  EXPECT_EQ(body->protocol, transport::kProtocolVersion);
  EXPECT_EQ(body->pid, ::getpid());

  hub.welcome(300);  // the agent tolerates 3 x 300 ms of hub silence
  hub.send(MessageKind::assign, roles::encode(solve_task(0)));
  auto result = hub.expect(MessageKind::result, 5s);
  ASSERT_TRUE(result);
  auto outcome = roles::decode_outcome(result->body);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->goal_id, "g1");
  EXPECT_EQ(outcome->task_id, "s1");
  EXPECT_EQ(outcome->attempt, 0u);
  EXPECT_TRUE(outcome->candidate.has_value());
  EXPECT_GT(outcome->tokens_out, 0u);
  hub.send(MessageKind::ack, roles::encode(roles::Ack{"g1", "s1", 0, true}));

  ASSERT_TRUE(hub.expect(MessageKind::heartbeat, 2s)) << "no heartbeat after WELCOME";
  hub.send(MessageKind::bye, roles::encode(roles::Bye{"done"}));
  ASSERT_EQ(agent.exit_code.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(agent.exit_code.get(), 0);
}

TEST(AgentProcess, AHubThatFallsSilentMakesTheAgentReconnectAndJoinAgain) {
  const std::string endpoint = ipc_endpoint("silent");
  ScriptedHub hub(endpoint);
  RunningAgent agent(endpoint, 0.001);
  ASSERT_TRUE(hub.expect(MessageKind::hello, 5s));
  hub.welcome(50);
  // No heartbeats from this hub: after 3 x 50 ms the agent starts over with a new HELLO.
  ASSERT_TRUE(hub.expect(MessageKind::hello, 3s));
}

TEST(AgentProcess, ACancelledTaskIsNeverAnswered) {
  const std::string endpoint = ipc_endpoint("cancel");
  ScriptedHub hub(endpoint);
  RunningAgent agent(endpoint, 0.02);  // a solve takes a few hundred ms
  ASSERT_TRUE(hub.expect(MessageKind::hello, 5s));
  hub.welcome(500);
  hub.send(MessageKind::assign, roles::encode(solve_task(0)));
  hub.send(MessageKind::cancel, roles::encode(roles::Cancel{"g1", "s1", 0, "lease expired"}));
  hub.send(MessageKind::assign, roles::encode(solve_task(1)));
  auto result = hub.expect(MessageKind::result, 10s);
  ASSERT_TRUE(result);
  EXPECT_EQ(roles::decode_outcome(result->body)->attempt, 1u);
  EXPECT_FALSE(hub.expect(MessageKind::result, 1500ms)) << "the cancelled attempt was answered";
}

TEST(AgentProcess, ATaskGivenBackAfterItsCancelIsFinishedOnceNotStartedOver) {
  const std::string endpoint = ipc_endpoint("reassign");
  ScriptedHub hub(endpoint);
  RunningAgent agent(endpoint, 0.02);
  ASSERT_TRUE(hub.expect(MessageKind::hello, 5s));
  hub.welcome(1000);
  hub.send(MessageKind::assign, roles::encode(solve_task(0)));
  hub.send(MessageKind::cancel, roles::encode(roles::Cancel{"g1", "s1", 0, "lease expired"}));
  hub.send(MessageKind::assign, roles::encode(solve_task(0)));
  auto result = hub.expect(MessageKind::result, 10s);
  ASSERT_TRUE(result);
  EXPECT_EQ(roles::decode_outcome(result->body)->attempt, 0u);
  EXPECT_FALSE(hub.expect(MessageKind::result, 1s)) << "answered twice";
}

TEST(AgentProcess, ReconnectsToARestartedHubAndResendsTheResultItNeverSawAcknowledged) {
  const std::string endpoint = ipc_endpoint("restart");
  auto agent = std::make_unique<RunningAgent>(endpoint, 0.001);
  {
    ScriptedHub first(endpoint);
    ASSERT_TRUE(first.expect(MessageKind::hello, 5s));
    first.welcome(50);
    first.send(MessageKind::assign, roles::encode(solve_task(3)));
    ASSERT_TRUE(first.expect(MessageKind::result, 5s));
    // The hub dies before it can ACK.
  }
  ScriptedHub second(endpoint);
  auto hello = second.expect(MessageKind::hello, 10s);
  ASSERT_TRUE(hello) << "the agent did not come back";
  second.welcome(50);
  auto resent = second.expect(MessageKind::result, 5s);
  ASSERT_TRUE(resent) << "the unacknowledged result was not resent";
  auto outcome = roles::decode_outcome(resent->body);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->attempt, 3u);
  second.send(MessageKind::ack, roles::encode(roles::Ack{"g1", "s1", 3, true}));
  second.send(MessageKind::bye, roles::encode(roles::Bye{"done"}));
  ASSERT_EQ(agent->exit_code.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(agent->exit_code.get(), 0);
}

TEST(AgentProcess, AnAgentWhoseHubNeverAnswersGivesUpAfterItsTimeout) {
  AgentOptions options;
  options.hub = ipc_endpoint("nobody");
  options.agent_id = "coder-9";
  options.role = "coder";
  options.model = "sim-small";
  options.hub_timeout_s = 0.3;
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(run_agent(options), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST(AgentProcess, BadBrainParametersExitWithCode2) {
  AgentOptions options;
  options.hub = ipc_endpoint("bad");
  options.agent_id = "coder-9";
  options.role = "coder";
  options.model = "sim-small";
  options.brain_params = {{"skil", "1"}};
  std::string logged;
  options.log = [&](const std::string& line) { logged += line; };
  EXPECT_EQ(run_agent(options), 2);
  EXPECT_NE(logged.find("skil"), std::string::npos) << logged;
}

}  // namespace
}  // namespace cadre::agents
