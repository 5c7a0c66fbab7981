// The agent process against a scripted hub: join, answer, heartbeats, cancel, reconnect with
// resend of unacknowledged results, and exit on BYE. The agent runs on a thread of the test.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
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

// ---- cancelling a blocking brain's call (an exec command) --------------------------------

// An agent with any options on a thread of the test; stopped (and waited for) when destroyed.
struct AgentThread {
  std::atomic<bool> stop{false};
  AgentOptions options;
  std::future<int> exit_code;

  explicit AgentThread(AgentOptions o) : options(std::move(o)) {
    options.stop_requested = [this] { return stop.load(); };
    exit_code = std::async(std::launch::async, [this] { return run_agent(options); });
  }
  ~AgentThread() {
    stop = true;
    if (exit_code.valid()) exit_code.wait();
  }
};

// A coder agent whose exec brain runs `script` (sh) in `dir`.
AgentOptions exec_agent(const std::string& hub, const std::filesystem::path& dir,
                        const std::string& script) {
  const auto path = dir / "brain.sh";
  std::ofstream(path) << script;
  AgentOptions options;
  options.hub = hub;
  options.agent_id = "coder-exec";
  options.role = "coder";
  options.brain = "exec";
  options.model = "tool";
  options.capacity = 2;
  options.brain_params = {{"command", "[\"sh\", \"" + path.string() + "\"]"},
                          {"timeout_s", "60"}};
  return options;
}

class AgentExecCancel : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cadre-agent-exec-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    // The first run records its pid and sleeps 30 s (exec: the pid stays the command's); any
    // later run answers at once.
    script_ = "if [ -e " + pid_file().string() + " ]; then\n"
              "  echo '{\"candidate\": {\"content\": \"second run\"}}'\n"
              "else\n"
              "  echo $$ > " + pid_file().string() + ".tmp\n"
              "  mv " + pid_file().string() + ".tmp " + pid_file().string() + "\n"
              "  exec sleep 30\n"
              "fi\n";
  }
  void TearDown() override {
    if (pid_ > 0 && ::kill(pid_, 0) == 0) ::kill(pid_, SIGKILL);  // its runner reaps it
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path pid_file() const { return dir_ / "pid"; }

  // Waits (heartbeating, and failing on any RESULT) until the first run has written its pid.
  pid_t wait_for_command(ScriptedHub& hub) {
    for (int i = 0; i < 200; ++i) {
      std::ifstream in(pid_file());
      pid_t pid = 0;
      if (in >> pid && pid > 0) return pid_ = pid;
      EXPECT_FALSE(hub.expect(MessageKind::result, 50ms)) << "answered before its command ended";
    }
    return 0;
  }

  // Waits (heartbeating, and failing on any RESULT) until `pid` no longer exists; returns how
  // long that took, or nothing.
  std::optional<double> wait_until_gone(ScriptedHub& hub, pid_t pid) {
    const auto started = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - started < 10s) {
      if (::kill(pid, 0) != 0 && errno == ESRCH)
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      EXPECT_FALSE(hub.expect(MessageKind::result, 10ms)) << "an unexpected RESULT";
    }
    return std::nullopt;
  }

  // The start every test here shares: an exec agent joined to a scripted hub, given one solve
  // task whose command is now running (`pid`, 0 if it never started).
  struct CommandRunning {
    CommandRunning(AgentExecCancel& test, const std::string& name)
        : endpoint(ipc_endpoint(name)),
          hub(endpoint, ScriptedHub::Mode::like_a_hub),
          agent(exec_agent(endpoint, test.dir_, test.script_)) {
      if (!hub.expect(MessageKind::hello, 5s)) {
        ADD_FAILURE() << "the agent never said HELLO";
        return;
      }
      hub.welcome(1000);
      hub.send(MessageKind::assign, roles::encode(solve_task(0)));
      pid = test.wait_for_command(hub);
    }
    std::string endpoint;
    ScriptedHub hub;
    AgentThread agent;
    pid_t pid = 0;
  };

  std::filesystem::path dir_;
  std::string script_;
  pid_t pid_ = 0;
};

TEST_F(AgentExecCancel, ACancelKillsTheTasksCommandAndNoResultIsSent) {
  CommandRunning running(*this, "exec-cancel");
  ScriptedHub& hub = running.hub;
  const pid_t pid = running.pid;
  ASSERT_GT(pid, 0) << "the command never started";

  hub.send(MessageKind::cancel,
           roles::encode(roles::Cancel{"g1", "s1", 0, "budget limit reached"}));
  const auto gone = wait_until_gone(hub, pid);
  ASSERT_TRUE(gone) << "the command of a cancelled task kept running";
  EXPECT_LT(*gone, 5.0);  // uncancelled, it would run 30 s
  std::printf("agent exec cancel: command gone %.0f ms after CANCEL was sent\n", *gone * 1000);
  EXPECT_FALSE(hub.expect(MessageKind::result, 1500ms)) << "the cancelled task was answered";
}

TEST_F(AgentExecCancel, ATaskGivenBackAfterItsCommandWasKilledRunsAgainAndIsAnsweredOnce) {
  CommandRunning running(*this, "exec-again");
  ScriptedHub& hub = running.hub;
  const pid_t pid = running.pid;
  ASSERT_GT(pid, 0);
  // Cancelled, then given back before the agent has even seen its command die: the killed call
  // cannot answer, so the task runs again, and is answered once, by the second run.
  hub.send(MessageKind::cancel, roles::encode(roles::Cancel{"g1", "s1", 0, "lease expired"}));
  hub.send(MessageKind::assign, roles::encode(solve_task(0)));
  auto result = hub.expect(MessageKind::result, 10s);
  ASSERT_TRUE(result);
  auto outcome = roles::decode_outcome(result->body);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->attempt, 0u);
  EXPECT_TRUE(outcome->ok) << outcome->error;
  ASSERT_TRUE(outcome->candidate.has_value());
  EXPECT_EQ(outcome->candidate->content, "second run");
  EXPECT_FALSE(hub.expect(MessageKind::result, 1s)) << "answered twice";
  EXPECT_TRUE(wait_until_gone(hub, pid)) << "the first run was not killed";
}

TEST_F(AgentExecCancel, AnAgentToldToStopKillsTheCommandsInFlightAndExitsPromptly) {
  CommandRunning running(*this, "exec-stop");
  AgentThread& agent = running.agent;
  const pid_t pid = running.pid;
  ASSERT_GT(pid, 0);
  agent.stop = true;
  ASSERT_EQ(agent.exit_code.wait_for(5s), std::future_status::ready)
      << "the agent waited for its command";
  EXPECT_EQ(agent.exit_code.get(), 0);
  errno = 0;
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
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
