// Tests of the OpenAI-compatible chat client (docs/llm.md) against tests/llm/fake_openai_server.py:
// success and usage, the API key, retries on 429 (Retry-After), 5xx, dropped connections and
// timeouts, no retry on other 4xx, unusable 200s, unreachable endpoints, the exchange log (key
// redacted), concurrent calls, the server's rules mode, and cancelling a call (client, brain,
// agent).
#include "cadre/agents/llm_client.h"
#include "cadre/agents/llm_brain.h"
#include "cadre/agents/agent_process.h"
#include "scripted_hub.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace cadre::agents {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// A GET on 127.0.0.1:port, HTTP/1.0 so the server closes the connection; returns the body.
std::string http_get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    (void)!::write(fd, request.data(), request.size());
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) response.append(buf, n);
  }
  ::close(fd);
  const auto split = response.find("\r\n\r\n");
  return split == std::string::npos ? std::string() : response.substr(split + 4);
}

// A port nothing listens on: bound once by us, then closed.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const fs::path& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

class LlmClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/cadre-llm-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }

  void TearDown() override {
    stop_server();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Starts the fake server with `script` (JSON text) and extra arguments; sets port_.
  void start_server(const std::string& script, std::vector<std::string> extra = {}) {
    const fs::path script_path = dir_ / "script.json";
    std::ofstream(script_path) << script;
    const std::string server = std::string(CADRE_SOURCE_DIR) + "/tests/llm/fake_openai_server.py";
    std::vector<std::string> args = {"/usr/bin/python3", server,          "--port", "0",
                                     "--script",         script_path.string(), "--log",
                                     (dir_ / "server.log").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    int out[2];
    ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    const int rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ASSERT_EQ(rc, 0) << "cannot start " << server;
    stdout_fd_ = out[0];

    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{stdout_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      const ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, n);
    }
    ASSERT_EQ(line.rfind("PORT ", 0), 0u) << "fake server said: " << line;
    port_ = std::stoi(line.substr(5));
    ASSERT_GT(port_, 0);
  }

  void stop_server() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      bool reaped = false;
      for (int i = 0; i < 300 && !reaped; ++i) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) reaped = true;
        else std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (!reaped) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
      pid_ = -1;
    }
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
    stdout_fd_ = -1;
  }

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  std::string url() const { return base_url() + "/chat/completions"; }

  json stats() const {
    return json::parse(http_get(port_, "/stats"), nullptr, false);
  }
  int requests() const {
    const json s = stats();
    return s.is_object() ? s.value("requests", -1) : -1;
  }

  LlmEndpoint endpoint() const {
    LlmEndpoint e;
    e.base_url = base_url();
    e.model = "fake-model";
    e.timeout_s = 5;
    e.backoff_base_s = 0.5;
    e.backoff_max_s = 30;
    return e;
  }

  // A client whose sleeps are recorded, not slept.
  std::unique_ptr<LlmClient> client(LlmEndpoint e) {
    auto c = std::make_unique<LlmClient>(std::move(e));
    c->set_sleep([this](double s) {
      std::lock_guard<std::mutex> lock(sleeps_mutex_);
      sleeps_.push_back(s);
    });
    return c;
  }

  static std::vector<ChatMessage> hello() {
    return {{"system", "be brief"}, {"user", "say hello"}};
  }

  fs::path dir_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int port_ = 0;
  std::mutex sleeps_mutex_;
  std::vector<double> sleeps_;
};

TEST_F(LlmClientTest, SuccessParsesContentAndUsage) {
  start_server(R"([{"content": "hello there world"}])");
  auto c = client(endpoint());
  auto reply = c->chat(hello());
  ASSERT_TRUE(reply.ok()) << reply.error().to_string();
  EXPECT_EQ(reply->content, "hello there world");
  EXPECT_EQ(reply->prompt_tokens, 4u);  // "be brief say hello"
  EXPECT_EQ(reply->completion_tokens, 3u);
  EXPECT_EQ(reply->attempts, 1u);
  EXPECT_GT(reply->seconds, 0.0);
  EXPECT_TRUE(sleeps_.empty());

  // The request body the server saw.
  const auto lines = lines_of(dir_ / "server.log");
  ASSERT_EQ(lines.size(), 1u);
  const json logged = json::parse(lines[0]);
  EXPECT_EQ(logged["path"], "/v1/chat/completions");
  EXPECT_FALSE(logged["auth"].get<bool>());
  const json& body = logged["body"];
  EXPECT_EQ(body["model"], "fake-model");
  EXPECT_DOUBLE_EQ(body["temperature"].get<double>(), 0.2);
  EXPECT_EQ(body["max_tokens"], 2048);
  ASSERT_EQ(body["messages"].size(), 2u);
  EXPECT_EQ(body["messages"][0]["role"], "system");
  EXPECT_EQ(body["messages"][1]["content"], "say hello");
}

TEST_F(LlmClientTest, MissingUsageCountsZeroAndTrailingSlashIsFine) {
  start_server(R"([{"body": {"choices": [{"message": {"role": "assistant", "content": "hi"}}]}}])");
  LlmEndpoint e = endpoint();
  e.base_url += "/";
  auto c = client(e);
  EXPECT_EQ(c->url(), url());
  auto reply = c->chat(hello());
  ASSERT_TRUE(reply.ok()) << reply.error().to_string();
  EXPECT_EQ(reply->content, "hi");
  EXPECT_EQ(reply->prompt_tokens, 0u);
  EXPECT_EQ(reply->completion_tokens, 0u);
}

TEST_F(LlmClientTest, SendsTheApiKeyAndAWrongKeyFailsAtOnce) {
  start_server(R"([{"content": "ok"}])", {"--require-key", "sk-right-key"});
  LlmEndpoint e = endpoint();
  e.api_key = "sk-right-key";
  auto good = client(e);
  auto reply = good->chat(hello());
  ASSERT_TRUE(reply.ok()) << reply.error().to_string();
  EXPECT_EQ(reply->content, "ok");
  EXPECT_EQ(requests(), 1);

  e.api_key = "sk-wrong-key";
  auto bad = client(e);
  auto denied = bad->chat(hello());
  ASSERT_FALSE(denied.ok());
  const std::string message = denied.error().to_string();
  EXPECT_NE(message.find("HTTP 401 from " + url()), std::string::npos) << message;
  EXPECT_NE(message.find("invalid or missing API key"), std::string::npos) << message;
  EXPECT_EQ(requests(), 2);  // no retry

  e.api_key.clear();
  auto none = client(e);
  auto missing = none->chat(hello());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("HTTP 401"), std::string::npos);
  EXPECT_EQ(requests(), 3);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(LlmClientTest, HonoursRetryAfterOn429) {
  start_server(R"([{"status": 429, "retry_after": 0.2, "times": 1}, {"content": "after the wait"}])");
  auto c = client(endpoint());
  auto reply = c->chat(hello());
  ASSERT_TRUE(reply.ok()) << reply.error().to_string();
  EXPECT_EQ(reply->content, "after the wait");
  EXPECT_EQ(reply->attempts, 2u);
  ASSERT_EQ(sleeps_.size(), 1u);
  EXPECT_NEAR(sleeps_[0], 0.2, 1e-9);
  EXPECT_EQ(requests(), 2);
}

TEST_F(LlmClientTest, RetryAfterIsCappedAtBackoffMax) {
  start_server(R"([{"status": 503, "retry_after": 100, "times": 1}, {"content": "ok"}])");
  LlmEndpoint e = endpoint();
  e.backoff_max_s = 0.75;
  auto c = client(e);
  auto reply = c->chat(hello());
  ASSERT_TRUE(reply.ok()) << reply.error().to_string();
  ASSERT_EQ(sleeps_.size(), 1u);
  EXPECT_NEAR(sleeps_[0], 0.75, 1e-9);
}

TEST_F(LlmClientTest, ServerErrorsAreRetriedWithExponentialBackoff) {
  start_server(R"([{"status": 500, "times": 2}, {"content": "third time lucky"}])");
  auto c = client(endpoint());
  c->set_random([] { return 0.5; });
  auto reply = c->chat(hello());
  ASSERT_TRUE(reply.ok()) << reply.error().to_string();
  EXPECT_EQ(reply->content, "third time lucky");
  EXPECT_EQ(reply->attempts, 3u);
  ASSERT_EQ(sleeps_.size(), 2u);
  EXPECT_NEAR(sleeps_[0], 0.25, 1e-9);  // 0.5 * uniform(0, 0.5 * 2^0)
  EXPECT_NEAR(sleeps_[1], 0.5, 1e-9);   // 0.5 * uniform(0, 0.5 * 2^1)
  EXPECT_EQ(requests(), 3);
}

TEST_F(LlmClientTest, BackoffStaysUnderItsCeiling) {
  start_server(R"([{"status": 502}])");
  LlmEndpoint e = endpoint();
  e.max_retries = 4;
  e.backoff_base_s = 0.5;
  e.backoff_max_s = 1.5;
  auto c = client(e);  // the default random source
  auto reply = c->chat(hello());
  ASSERT_FALSE(reply.ok());
  const std::string message = reply.error().message;
  EXPECT_NE(message.find(url()), std::string::npos) << message;
  EXPECT_NE(message.find("after 5 attempts"), std::string::npos) << message;
  EXPECT_NE(message.find("HTTP 502"), std::string::npos) << message;
  ASSERT_EQ(sleeps_.size(), 4u);
  const double ceilings[] = {0.5, 1.0, 1.5, 1.5};
  for (std::size_t k = 0; k < sleeps_.size(); ++k) {
    EXPECT_GE(sleeps_[k], 0.0);
    EXPECT_LE(sleeps_[k], ceilings[k]);
  }
  EXPECT_EQ(requests(), 5);
}

TEST_F(LlmClientTest, BadRequestFailsAtOnce) {
  start_server(R"([{"status": 400, "body": "{\"error\": {\"message\": \"context too long\"}}"}])");
  auto c = client(endpoint());
  auto reply = c->chat(hello());
  ASSERT_FALSE(reply.ok());
  const std::string message = reply.error().message;
  EXPECT_EQ(message.rfind("HTTP 400 from " + url() + ": ", 0), 0u) << message;
  EXPECT_NE(message.find("context too long"), std::string::npos) << message;
  EXPECT_EQ(requests(), 1);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(LlmClientTest, StallLongerThanTheTimeoutFailsAfterRetries) {
  start_server(R"([{"stall_s": 5, "content": "too late"}])");
  LlmEndpoint e = endpoint();
  e.timeout_s = 0.3;
  e.max_retries = 1;
  auto c = client(e);
  const auto started = std::chrono::steady_clock::now();
  auto reply = c->chat(hello());
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_FALSE(reply.ok());
  const std::string message = reply.error().message;
  EXPECT_NE(message.find("cannot reach " + url() + " after 2 attempts"), std::string::npos)
      << message;
  EXPECT_NE(message.find("Timeout"), std::string::npos) << message;
  EXPECT_LT(elapsed, 2.5);
  EXPECT_GE(elapsed, 0.55);
  EXPECT_EQ(sleeps_.size(), 1u);
  EXPECT_EQ(requests(), 2);
}

TEST_F(LlmClientTest, DroppedConnectionIsRetried) {
  start_server(R"([{"drop": true, "times": 1}, {"content": "back again"}])");
  auto c = client(endpoint());
  auto reply = c->chat(hello());
  ASSERT_TRUE(reply.ok()) << reply.error().to_string();
  EXPECT_EQ(reply->content, "back again");
  EXPECT_EQ(reply->attempts, 2u);
  EXPECT_EQ(stats()["by_status"]["drop"], 1);
}

TEST_F(LlmClientTest, AlwaysDroppedConnectionGivesUp) {
  start_server(R"([{"drop": true}])");
  LlmEndpoint e = endpoint();
  e.max_retries = 2;
  auto c = client(e);
  auto reply = c->chat(hello());
  ASSERT_FALSE(reply.ok());
  const std::string message = reply.error().message;
  EXPECT_NE(message.find("cannot reach " + url() + " after 3 attempts"), std::string::npos)
      << message;
  EXPECT_EQ(requests(), 3);
}

TEST_F(LlmClientTest, InvalidJsonIsAnErrorNotRetried) {
  start_server(R"([{"invalid_json": true}])");
  auto c = client(endpoint());
  auto reply = c->chat(hello());
  ASSERT_FALSE(reply.ok());
  const std::string message = reply.error().message;
  EXPECT_NE(message.find("not JSON"), std::string::npos) << message;
  EXPECT_NE(message.find(url()), std::string::npos) << message;
  EXPECT_EQ(requests(), 1);
}

TEST_F(LlmClientTest, ReplyWithoutContentIsAnError) {
  start_server(R"([{"body": {"error": {"message": "model overloaded"}, "choices": []}}])");
  auto c = client(endpoint());
  auto reply = c->chat(hello());
  ASSERT_FALSE(reply.ok());
  const std::string message = reply.error().message;
  EXPECT_NE(message.find("no choices[0].message.content"), std::string::npos) << message;
  EXPECT_NE(message.find("model overloaded"), std::string::npos) << message;
  EXPECT_EQ(requests(), 1);
}

TEST_F(LlmClientTest, UnreachableEndpointNamesUrlAndAttempts) {
  LlmEndpoint e = endpoint();
  const std::string closed = "http://127.0.0.1:" + std::to_string(closed_port()) + "/v1";
  e.base_url = closed;
  auto c = client(e);
  auto reply = c->chat(hello());
  ASSERT_FALSE(reply.ok());
  const std::string message = reply.error().message;
  EXPECT_EQ(message.rfind("cannot reach " + closed + "/chat/completions after 4 attempts: ", 0),
            0u)
      << message;
  EXPECT_NE(message.find("Couldn't connect to server"), std::string::npos) << message;
  EXPECT_EQ(sleeps_.size(), 3u);
}

TEST_F(LlmClientTest, LogHasOneLinePerExchangeAndNeverTheKey) {
  const std::string key = "sk-secret-0123456789";
  start_server(R"([{"status": 500, "times": 1}, {"content": "fine"}])", {"--require-key", key});
  LlmEndpoint e = endpoint();
  e.api_key = key;
  e.log_path = (dir_ / "client.log").string();
  auto c = client(e);
  // The key also turns up in a message: it must be redacted there too.
  auto reply = c->chat({{"user", "my key is " + key + ", please keep it"}});
  ASSERT_TRUE(reply.ok()) << reply.error().to_string();
  EXPECT_EQ(reply->attempts, 2u);

  const std::string text = read_file(e.log_path);
  EXPECT_EQ(text.find(key), std::string::npos) << text;
  const auto lines = lines_of(e.log_path);
  ASSERT_EQ(lines.size(), 2u);
  const json first = json::parse(lines[0]);
  const json second = json::parse(lines[1]);
  EXPECT_EQ(first["attempt"], 1);
  EXPECT_EQ(first["status"], 500);
  EXPECT_EQ(first["url"], url());
  EXPECT_EQ(second["attempt"], 2);
  EXPECT_EQ(second["status"], 200);
  EXPECT_NE(second["response"].get<std::string>().find("fine"), std::string::npos);
  EXPECT_EQ(second["request"]["model"], "fake-model");
  EXPECT_NE(second["request"]["messages"][0]["content"].get<std::string>().find("[REDACTED]"),
            std::string::npos);
  EXPECT_TRUE(second["seconds"].is_number());

  // A failed connection is logged too, with its error.
  LlmEndpoint gone = e;
  gone.base_url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/v1";
  gone.max_retries = 0;
  auto unreachable = client(gone);
  auto failed = unreachable->chat(hello());
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("after 1 attempt:"), std::string::npos)
      << failed.error().message;
  const auto all = lines_of(e.log_path);
  ASSERT_EQ(all.size(), 3u);
  const json third = json::parse(all[2]);
  EXPECT_TRUE(third["status"].is_null());
  EXPECT_NE(third["error"].get<std::string>().find("Couldn't connect"), std::string::npos);
  EXPECT_EQ(read_file(e.log_path).find(key), std::string::npos);
}

TEST_F(LlmClientTest, ConcurrentCallsAreIndependent) {
  start_server(R"([{"echo": true}])");
  LlmEndpoint e = endpoint();
  e.log_path = (dir_ / "client.log").string();
  auto c = client(e);
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        const std::string text = "thread " + std::to_string(t) + " call " + std::to_string(i);
        auto reply = c->chat({{"user", text}});
        if (reply.ok() && reply->content == text) ++good;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(good.load(), 20);
  EXPECT_EQ(requests(), 20);
  const auto lines = lines_of(e.log_path);
  ASSERT_EQ(lines.size(), 20u);
  for (const auto& line : lines) EXPECT_FALSE(json::parse(line, nullptr, false).is_discarded());
}

TEST_F(LlmClientTest, ServerRulesRouteByRole) {
  start_server(R"({
    "rules": [
      {"match": "PLANNER", "content": {"subtasks": [{"id": "s1"}]}},
      {"match": "CODER", "responses": [{"status": 500, "times": 1}, {"content": "patch"}]},
      {"match": "You are the critic", "where": "system", "content": "verdict: pass"},
      {"match": "ONCE", "content": "first", "times": 1}
    ],
    "default": {"content": "default answer"}
  })");
  auto c = client(endpoint());
  auto plan = c->chat({{"user", "PLANNER: split the goal"}});
  ASSERT_TRUE(plan.ok()) << plan.error().to_string();
  EXPECT_EQ(json::parse(plan->content)["subtasks"][0]["id"], "s1");

  auto code = c->chat({{"user", "CODER: write it"}});
  ASSERT_TRUE(code.ok()) << code.error().to_string();
  EXPECT_EQ(code->content, "patch");
  EXPECT_EQ(code->attempts, 2u);

  auto verdict = c->chat({{"system", "You are the critic."}, {"user", "review this"}});
  ASSERT_TRUE(verdict.ok());
  EXPECT_EQ(verdict->content, "verdict: pass");

  auto once = c->chat({{"user", "ONCE"}});
  ASSERT_TRUE(once.ok());
  EXPECT_EQ(once->content, "first");
  auto again = c->chat({{"user", "ONCE"}});  // the rule is used up: the default answers
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->content, "default answer");

  const json s = stats();
  EXPECT_EQ(s["requests"], 6);
  EXPECT_EQ(s["by_status"]["500"], 1);
  EXPECT_EQ(s["by_rule"]["CODER"], 2);
  EXPECT_EQ(s["by_rule"]["default"], 1);
}

// ---- cancellation ---------------------------------------------------------------------------

// Waits up to 10 s for the fake server to have received `n` chat requests.
bool wait_for_requests(const std::function<int()>& requests, int n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (requests() >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST_F(LlmClientTest, ACancelAbortsARequestInProgressAndStartsNoRetry) {
  start_server(R"([{"stall_s": 30}])");  // holds every response for 30 s
  LlmEndpoint e = endpoint();
  e.timeout_s = 60;
  e.max_retries = 3;
  auto c = client(e);
  std::atomic<bool> cancelled{false};
  auto call = std::async(std::launch::async, [&] { return c->chat(hello(), cancelled); });
  ASSERT_TRUE(wait_for_requests([this] { return requests(); }, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // well inside the transfer
  const auto set_at = std::chrono::steady_clock::now();
  cancelled = true;
  ASSERT_EQ(call.wait_for(std::chrono::seconds(5)), std::future_status::ready)
      << "the request outlived its cancel";
  const double latency = seconds_since(set_at);
  auto reply = call.get();
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().to_string(), "request to " + url() + " cancelled");
  EXPECT_LT(latency, 2.0);
  std::printf("llm request cancel latency: %.0f ms\n", latency * 1000);
  EXPECT_TRUE(sleeps_.empty()) << "a cancelled call waits for no retry";
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(requests(), 1) << "a cancelled call tried again";
  // A flag already set: no request at all.
  EXPECT_FALSE(c->chat(hello(), cancelled).ok());
  EXPECT_EQ(requests(), 1);
}

TEST_F(LlmClientTest, ACancelCutsTheBackoffWaitShortAndStartsNoOtherTry) {
  start_server(R"([{"status": 503}])");
  LlmEndpoint e = endpoint();
  e.max_retries = 3;
  e.backoff_base_s = 20;  // the first wait: 20 s * 0.99
  LlmClient c(e);         // the real, cancellable sleep
  c.set_random([] { return 0.99; });
  std::atomic<bool> cancelled{false};
  auto call = std::async(std::launch::async, [&] { return c.chat(hello(), cancelled); });
  ASSERT_TRUE(wait_for_requests([this] { return requests(); }, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // into the wait
  const auto set_at = std::chrono::steady_clock::now();
  cancelled = true;
  ASSERT_EQ(call.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_LT(seconds_since(set_at), 2.0);
  auto reply = call.get();
  ASSERT_FALSE(reply.ok());
  EXPECT_NE(reply.error().to_string().find("cancelled"), std::string::npos)
      << reply.error().to_string();
  EXPECT_EQ(requests(), 1);
}

TEST_F(LlmClientTest, ACallThatIsNotCancelledIsUnchangedByTheFlag) {
  start_server(R"([{"status": 500, "times": 1}, {"content": "hello there"}])");
  auto c = client(endpoint());
  std::atomic<bool> cancelled{false};
  auto reply = c->chat(hello(), cancelled);
  ASSERT_TRUE(reply.ok()) << reply.error().to_string();
  EXPECT_EQ(reply->content, "hello there");
  EXPECT_EQ(reply->attempts, 2u);
}

// ---- the llm brain on top of the client ----------------------------------------------------

roles::TaskAssignment review_task() {
  roles::TaskAssignment task;
  task.goal_id = "g1";
  task.task_id = "s1/review";
  task.attempt = 2;
  task.kind = roles::TaskKind::review;
  task.role = "critic";
  task.goal_title = "a goal";
  task.instructions = "check it";
  task.candidate = roles::Candidate{"some code", std::nullopt};
  return task;
}

TEST_F(LlmClientTest, BrainSendsAnUnusableReplyBackOnceAndUsesTheSecond) {
  start_server(R"([{"content": "I think it is fine!", "times": 1},
                   {"content": {"accept": true, "score": 0.75, "feedback": "good"}}])");
  auto brain = LlmBrain::create("critic", "fake-model", {{"base_url", base_url()}});
  ASSERT_TRUE(brain.ok()) << brain.error().to_string();
  const BrainAnswer answer = (*brain)->answer(review_task());
  ASSERT_TRUE(answer.outcome.ok) << answer.outcome.error;
  ASSERT_TRUE(answer.outcome.verdict.has_value());
  EXPECT_TRUE(answer.outcome.verdict->accept);
  EXPECT_DOUBLE_EQ(answer.outcome.verdict->score, 0.75);
  EXPECT_EQ(answer.outcome.goal_id, "g1");
  EXPECT_EQ(answer.outcome.attempt, 2u);
  EXPECT_EQ(answer.outcome.model, "fake-model");
  EXPECT_EQ(stats()["requests"], 2);
  // Tokens of both calls are counted; the second prompt carried the first reply and the reason.
  EXPECT_GT(answer.outcome.tokens_in, 0u);
  const auto log = lines_of(dir_ / "server.log");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_NE(log[1].find("could not be used"), std::string::npos);
}

TEST_F(LlmClientTest, BrainFailsTheAttemptWhenTheSecondReplyIsUnusableToo) {
  start_server(R"([{"content": "no json here"}])");
  auto brain = LlmBrain::create("critic", "fake-model", {{"base_url", base_url()}});
  ASSERT_TRUE(brain.ok());
  const BrainAnswer answer = (*brain)->answer(review_task());
  EXPECT_FALSE(answer.outcome.ok);
  EXPECT_NE(answer.outcome.error.find("unusable twice"), std::string::npos)
      << answer.outcome.error;
  EXPECT_EQ(stats()["requests"], 2);
}

TEST_F(LlmClientTest, BrainReportsAnHttpFailureAsAFailedAttemptWithTheReason) {
  start_server(R"([{"status": 400, "body": "model not found"}])");
  auto brain = LlmBrain::create("critic", "fake-model", {{"base_url", base_url()}});
  ASSERT_TRUE(brain.ok());
  const BrainAnswer answer = (*brain)->answer(review_task());
  EXPECT_FALSE(answer.outcome.ok);
  EXPECT_NE(answer.outcome.error.find("HTTP 400"), std::string::npos) << answer.outcome.error;
  EXPECT_NE(answer.outcome.error.find("model not found"), std::string::npos);
}

TEST_F(LlmClientTest, ACancelledBrainCallStopsItsRequestAndAnswersCancelled) {
  start_server(R"([{"stall_s": 30}])");
  auto brain = LlmBrain::create("critic", "fake-model",
                                {{"base_url", base_url()}, {"timeout_s", "60"}});
  ASSERT_TRUE(brain.ok()) << brain.error().to_string();
  std::atomic<bool> cancelled{false};
  auto call = std::async(std::launch::async,
                         [&] { return (*brain)->answer(review_task(), cancelled); });
  ASSERT_TRUE(wait_for_requests([this] { return requests(); }, 1));
  const auto set_at = std::chrono::steady_clock::now();
  cancelled = true;
  ASSERT_EQ(call.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  const double latency = seconds_since(set_at);
  const BrainAnswer answer = call.get();
  EXPECT_FALSE(answer.outcome.ok);
  EXPECT_EQ(answer.outcome.error, "cancelled");
  EXPECT_EQ(answer.outcome.task_id, "s1/review");
  EXPECT_LT(latency, 2.0);
  std::printf("llm brain cancel latency: %.0f ms\n", latency * 1000);
  EXPECT_EQ(requests(), 1);
}

// An agent process (on a thread) with an llm brain, driven by a scripted hub: a CANCEL aborts the
// request in progress -- its only worker thread is free for the next task long before the
// server's 30 s stall ends -- and the cancelled task is never answered.
TEST_F(LlmClientTest, AnAgentAbortsTheRequestOfACancelledTaskAndNeverAnswersIt) {
  using namespace std::chrono_literals;
  using transport::MessageKind;
  start_server(R"([{"stall_s": 30, "times": 1},
                   {"content": {"accept": true, "score": 0.75, "feedback": "good"}}])");
  const std::string endpoint = "ipc://" + (dir_ / "hub.sock").string();
  testing::ScriptedHub hub(endpoint, testing::ScriptedHub::Mode::like_a_hub);
  std::atomic<bool> stop{false};
  AgentOptions options;
  options.hub = endpoint;
  options.agent_id = "critic-llm";
  options.role = "critic";
  options.brain = "llm";
  options.model = "fake-model";
  options.capacity = 1;
  options.brain_params = {{"base_url", base_url()}, {"timeout_s", "60"}, {"concurrency", "1"}};
  options.stop_requested = [&] { return stop.load(); };
  auto agent = std::async(std::launch::async, [&] { return run_agent(options); });
  struct StopAgent {
    std::atomic<bool>& stop;
    std::future<int>& agent;
    ~StopAgent() {
      stop = true;
      agent.wait();
    }
  } stop_agent{stop, agent};

  ASSERT_TRUE(hub.expect(MessageKind::hello, 5s));
  hub.welcome(1000);
  roles::TaskAssignment first = review_task();  // attempt 2
  hub.send(MessageKind::assign, roles::encode(first));
  for (int i = 0; i < 200 && requests() < 1; ++i)
    EXPECT_FALSE(hub.expect(MessageKind::result, 50ms));
  ASSERT_EQ(requests(), 1) << "the first task's request never arrived";

  const auto cancelled_at = std::chrono::steady_clock::now();
  hub.send(MessageKind::cancel,
           roles::encode(
               roles::Cancel{first.goal_id, first.task_id, first.attempt, "budget limit reached"}));
  roles::TaskAssignment second = review_task();
  second.attempt = 3;
  hub.send(MessageKind::assign, roles::encode(second));
  // One worker: the second request can only start once the first call has stopped. (Its
  // answer is immediate, so its RESULT may come while we wait.)
  std::optional<transport::Envelope> result;
  for (int i = 0; i < 500 && requests() < 2; ++i) {
    auto early = hub.expect(MessageKind::result, 10ms);
    if (early) {
      EXPECT_FALSE(result) << "two results";
      result = early;
    }
  }
  ASSERT_EQ(requests(), 2) << "the cancelled request kept the agent's only worker";
  const double freed = seconds_since(cancelled_at);
  EXPECT_LT(freed, 5.0);  // uncancelled, 30 s
  std::printf("agent llm cancel: next request %.0f ms after CANCEL was sent\n", freed * 1000);

  if (!result) result = hub.expect(MessageKind::result, 10s);
  ASSERT_TRUE(result);
  auto outcome = roles::decode_outcome(result->body);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->attempt, 3u);
  EXPECT_TRUE(outcome->ok) << outcome->error;
  EXPECT_FALSE(hub.expect(MessageKind::result, 1500ms)) << "the cancelled task was answered";
}

TEST(LlmBrain, RefusesAnUnsetKeyVariableAndUnknownParameters) {
  ::unsetenv("CADRE_TEST_NO_SUCH_KEY");
  auto no_key = LlmBrain::create("coder", "m", {{"base_url", "http://127.0.0.1:1/v1"},
                                               {"api_key_env", "CADRE_TEST_NO_SUCH_KEY"}});
  ASSERT_FALSE(no_key.ok());
  EXPECT_NE(no_key.error().message.find("CADRE_TEST_NO_SUCH_KEY"), std::string::npos);
  auto unknown = LlmBrain::create("coder", "m", {{"base_url", "http://x/v1"}, {"skill", "1"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("skill"), std::string::npos);
  auto no_url = LlmBrain::create("coder", "m", {});
  EXPECT_FALSE(no_url.ok());
  auto bad_prompt = LlmBrain::create("coder", "m", {{"base_url", "http://x/v1"},
                                                   {"prompt", "/no/such/prompt.md"}});
  ASSERT_FALSE(bad_prompt.ok());
  EXPECT_NE(bad_prompt.error().to_string().find("/no/such/prompt.md"), std::string::npos);
}

}  // namespace
}  // namespace cadre::agents
