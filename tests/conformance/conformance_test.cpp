// Protocol conformance: a scripted hub drives an agent executable through the sequences of
// docs/protocol.md — handshake, heartbeats, a task, a malformed ASSIGN, a wrong protocol version,
// a hub restart, BYE. Every agent implementation must pass: the C++ agent and the Python SDK's.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <thread>

#include "cadre/roles/messages.h"
#include "cadre/transport/endpoint.h"
#include "cadre/transport/envelope.h"
#include "scripted_hub.h"

namespace cadre::conformance {
namespace {

using namespace std::chrono_literals;
using transport::MessageKind;

// The agent under test, started by pid and killed by pid.
class AgentUnderTest {
 public:
  AgentUnderTest(const std::vector<std::string>& argv,
                 const std::vector<std::pair<std::string, std::string>>& env,
                 const std::string& log) {
    pid_ = ::fork();
    if (pid_ == 0) {
      for (const auto& [key, value] : env) ::setenv(key.c_str(), value.c_str(), 1);
      FILE* out = std::fopen(log.c_str(), "w");
      if (out) ::dup2(fileno(out), STDERR_FILENO), ::dup2(fileno(out), STDOUT_FILENO);
      std::vector<char*> args;
      for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  ~AgentUnderTest() {
    if (!exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  // The exit code within `timeout`, or nullopt.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
};

// The hub side of every sequence: heartbeats and not_registered as a real hub.
class ScriptedHub : public testing::ScriptedHub {
 public:
  explicit ScriptedHub(const std::string& endpoint)
      : testing::ScriptedHub(endpoint, Mode::like_a_hub) {}
};

roles::TaskAssignment solve(std::uint32_t attempt) {
  roles::TaskAssignment task;
  task.goal_id = "g1";
  task.task_id = "s1";
  task.attempt = attempt;
  task.kind = roles::TaskKind::solve;
  task.role = "coder";
  task.seed = 3;
  task.difficulty = 0.2;
  task.goal_title = "conformance";
  task.instructions = "answer";
  task.lease_ms = 10000;
  return task;
}

void welcome(ScriptedHub& hub) { hub.welcome(/*heartbeat_ms=*/100, /*liveness=*/5); }

void expect_task_answered(ScriptedHub& hub, std::uint32_t attempt) {
  hub.send(MessageKind::assign, roles::encode(solve(attempt)));
  auto result = hub.expect(MessageKind::result, 10s);
  ASSERT_TRUE(result) << "no RESULT for attempt " << attempt;
  auto outcome = roles::decode_outcome(result->body);
  ASSERT_TRUE(outcome.ok()) << outcome.error().to_string();
  EXPECT_EQ(outcome->goal_id, "g1");
  EXPECT_EQ(outcome->task_id, "s1");
  EXPECT_EQ(outcome->attempt, attempt);
  EXPECT_TRUE(outcome->ok) << outcome->error;
  EXPECT_TRUE(outcome->candidate.has_value());
  hub.send(MessageKind::ack, roles::encode(roles::Ack{"g1", "s1", attempt, true}));
}

struct Implementation {
  const char* name;
  std::vector<std::string> (*argv)(const std::string& endpoint, const std::string& id);
  bool uses_env;
};

std::vector<std::string> cpp_agent(const std::string& endpoint, const std::string& id) {
  return {CADRE_BINARY, "agent", "--hub", endpoint, "--id", id, "--role", "coder", "--model",
          "m", "--brain-param", "time_scale=0.001", "--hub-timeout", "30"};
}
std::vector<std::string> python_agent(const std::string&, const std::string&) {
  return {"/usr/bin/python3", std::string(CADRE_SOURCE_DIR) + "/examples/agents/echo_coder.py"};
}

class Conformance : public ::testing::TestWithParam<Implementation> {};

TEST_P(Conformance, FollowsTheProtocolThroughAHubRestart) {
  const auto dir = std::filesystem::temp_directory_path();
  const std::string tag = std::string(GetParam().name) + "-" + std::to_string(::getpid());
  const std::string endpoint = "ipc://" + (dir / ("cadre-conf-" + tag + ".sock")).string();
  const std::string id = "conf-" + std::string(GetParam().name);
  const std::string log = (dir / ("cadre-conf-" + tag + ".log")).string();

  auto hub = std::make_unique<ScriptedHub>(endpoint);
  AgentUnderTest agent(GetParam().argv(endpoint, id),
                       {{"CADRE_HUB", endpoint}, {"CADRE_AGENT_ID", id}, {"CADRE_ROLE", "coder"},
                        {"CADRE_MODEL", "m"}, {"CADRE_CAPACITY", "1"}},
                       log);

  // Handshake.
  auto hello = hub->expect(MessageKind::hello, 15s);
  ASSERT_TRUE(hello) << "no HELLO";
  auto body = roles::decode_hello(hello->body);
  ASSERT_TRUE(body.ok()) << body.error().to_string();
  EXPECT_EQ(body->agent_id, id);
  EXPECT_EQ(body->role, "coder");
  EXPECT_EQ(body->protocol, 1u);
  EXPECT_GE(body->capacity, 1u);
  EXPECT_GT(body->pid, 0);
  welcome(*hub);

  // Heartbeats at the WELCOME's interval.
  hub->expect(MessageKind::bye, 1000ms);  // nothing comes but heartbeats, every 100 ms
  EXPECT_GE(hub->heartbeats(), 5);

  // A task, answered under its key.
  expect_task_answered(*hub, 0);

  // A malformed ASSIGN is refused with ERROR bad_body, and the agent goes on.
  hub->send(MessageKind::assign, std::string("\x81\xa7goal_id\xa2g1", 12));
  const std::uint64_t malformed_id = hub->last_msg_id();
  auto error = hub->expect(MessageKind::error, 5s);
  ASSERT_TRUE(error) << "no ERROR for a malformed ASSIGN";
  auto refusal = roles::decode_error(error->body);
  ASSERT_TRUE(refusal.ok());
  EXPECT_EQ(refusal->code, "bad_body");
  EXPECT_EQ(refusal->ref_msg_id, malformed_id);

  // A frame of another protocol version is dropped; the agent still works.
  hub->send(MessageKind::assign, roles::encode(solve(7)), /*version=*/2);
  EXPECT_FALSE(hub->expect(MessageKind::result, 700ms)) << "answered a version-2 ASSIGN";
  expect_task_answered(*hub, 1);

  // The hub restarts: the agent joins the new one and works again.
  hub.reset();
  std::this_thread::sleep_for(300ms);
  hub = std::make_unique<ScriptedHub>(endpoint);
  ASSERT_TRUE(hub->expect(MessageKind::hello, 15s)) << "did not come back after a hub restart";
  welcome(*hub);
  expect_task_answered(*hub, 2);

  // BYE ends the agent cleanly.
  hub->send(MessageKind::bye, roles::encode(roles::Bye{"done"}));
  auto code = agent.wait_exit(10s);
  ASSERT_TRUE(code.has_value()) << "the agent did not exit on BYE";
  EXPECT_EQ(*code, 0);
  std::filesystem::remove(log);
}

INSTANTIATE_TEST_SUITE_P(Agents, Conformance,
                         ::testing::Values(Implementation{"cpp", cpp_agent, false},
                                           Implementation{"python", python_agent, true}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace cadre::conformance
