// CURVE keys, key files, allow lists, and secured RouterEndpoint / DealerEndpoint over
// tcp://127.0.0.1:* (and ipc:// in a temp dir). inproc:// cannot join two endpoints: each owns
// its own ZeroMQ context.
#include "cadre/transport/curve.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "cadre/transport/endpoint.h"

namespace cadre::transport {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// A fresh directory under the temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("cadre-curve-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// Sets the process umask for one scope.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : previous_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(previous_); }

 private:
  mode_t previous_;
};

void write_file(const std::string& path, const std::string& content, mode_t mode) {
  {
    std::ofstream out(path, std::ios::trunc);
    out << content;
  }
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

mode_t file_mode(const std::string& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

CurveKeyPair new_pair() {
  auto pair = generate_curve_key_pair();
  EXPECT_TRUE(pair.ok());
  return pair.ok() ? *pair : CurveKeyPair{};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Polls `condition` every 10 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

// ---------------------------------------------------------------------------------------------
// Keys and key files

TEST(CurveKeys, GeneratedPairsAreValidAndDistinct) {
  auto a = generate_curve_key_pair();
  auto b = generate_curve_key_pair();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->public_key.size(), 40u);
  EXPECT_EQ(a->secret_key.size(), 40u);
  EXPECT_TRUE(check_curve_key_pair(*a).ok());
  EXPECT_NE(a->public_key, b->public_key);
  EXPECT_NE(a->secret_key, b->secret_key);
}

TEST(CurveKeys, MalformedKeysAreRejected) {
  const auto pair = new_pair();
  EXPECT_TRUE(check_curve_key(pair.public_key).ok());
  EXPECT_FALSE(check_curve_key("").ok());
  EXPECT_FALSE(check_curve_key(pair.public_key.substr(1)).ok());
  EXPECT_FALSE(check_curve_key(pair.public_key + "x").ok());
  EXPECT_FALSE(check_curve_key(std::string(40, '~')).ok());  // not in the Z85 alphabet
  EXPECT_FALSE(check_curve_key(std::string(40, ' ')).ok());
  // No key can start with '#' (or '$'): the first group would exceed 32 bits. Comment lines in
  // key files and allow lists rely on it.
  EXPECT_FALSE(check_curve_key("#" + std::string(39, '0')).ok());
  EXPECT_FALSE(check_curve_key("$" + std::string(39, '0')).ok());

  const auto other = new_pair();
  auto mismatch = check_curve_key_pair({other.public_key, pair.secret_key});
  ASSERT_FALSE(mismatch.ok());
  EXPECT_TRUE(contains(mismatch.error().to_string(), "does not belong")) << mismatch.error().to_string();
  EXPECT_FALSE(contains(mismatch.error().to_string(), pair.secret_key));
}

TEST(CurveKeyFiles, WriteThenReadRoundTripsWithExactModes) {
  TempDir dir;
  {
    // A restrictive umask must not make the .pub unreadable, nor a permissive one the .key
    // readable.
    ScopedUmask mask(0077);
    ASSERT_TRUE(write_key_pair(dir.str(), "hub").ok());
  }
  {
    ScopedUmask mask(0);
    ASSERT_TRUE(write_key_pair(dir.str(), "agent").ok());
  }
  for (const std::string name : {"hub", "agent"}) {
    const std::string key_path = dir.file(name + ".key");
    const std::string pub_path = dir.file(name + ".pub");
    EXPECT_EQ(file_mode(key_path), 0600u) << key_path;
    EXPECT_EQ(file_mode(pub_path), 0644u) << pub_path;

    auto pair = read_secret_key_file(key_path);
    ASSERT_TRUE(pair.ok()) << pair.error().to_string();
    EXPECT_TRUE(check_curve_key_pair(*pair).ok());
    auto public_from_pub = read_public_key_file(pub_path);
    ASSERT_TRUE(public_from_pub.ok()) << public_from_pub.error().to_string();
    EXPECT_EQ(*public_from_pub, pair->public_key);
    auto public_from_key = read_public_key_file(key_path);
    ASSERT_TRUE(public_from_key.ok()) << public_from_key.error().to_string();
    EXPECT_EQ(*public_from_key, pair->public_key);

    std::ifstream pub(pub_path);
    const std::string pub_text((std::istreambuf_iterator<char>(pub)), {});
    EXPECT_FALSE(contains(pub_text, pair->secret_key)) << "the .pub file leaks the secret";
    EXPECT_TRUE(contains(pub_text, "public-key = " + pair->public_key)) << pub_text;
  }
  EXPECT_NE(*read_public_key_file(dir.file("hub.pub")),
            *read_public_key_file(dir.file("agent.pub")));
}

TEST(CurveKeyFiles, RefusesToOverwriteAndNamesTheFile) {
  TempDir dir;
  ASSERT_TRUE(write_key_pair(dir.str(), "hub").ok());
  const auto before = read_secret_key_file(dir.file("hub.key"));
  ASSERT_TRUE(before.ok());
  auto again = write_key_pair(dir.str(), "hub");
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(contains(again.error().to_string(), dir.file("hub.key"))) << again.error().to_string();
  EXPECT_EQ(read_secret_key_file(dir.file("hub.key"))->secret_key, before->secret_key);

  // A lone existing .pub blocks the pair, and no .key is left behind.
  write_file(dir.file("lonely.pub"), "public-key = x\n", 0644);
  auto blocked = write_key_pair(dir.str(), "lonely");
  ASSERT_FALSE(blocked.ok());
  EXPECT_TRUE(contains(blocked.error().to_string(), dir.file("lonely.pub")));
  EXPECT_FALSE(fs::exists(dir.file("lonely.key")));

  EXPECT_FALSE(write_key_pair(dir.str(), "../escape").ok());
  EXPECT_FALSE(write_key_pair(dir.str(), "").ok());
  EXPECT_FALSE(write_key_pair(dir.file("missing-dir"), "hub").ok());
}

TEST(CurveKeyFiles, SecretKeyFileReadableByOthersIsRefused) {
  TempDir dir;
  ASSERT_TRUE(write_key_pair(dir.str(), "hub").ok());
  const std::string path = dir.file("hub.key");
  for (const mode_t loose : {mode_t{0644}, mode_t{0640}, mode_t{0604}, mode_t{0660}}) {
    ASSERT_EQ(::chmod(path.c_str(), loose), 0);
    auto pair = read_secret_key_file(path);
    ASSERT_FALSE(pair.ok()) << std::oct << loose;
    const std::string message = pair.error().to_string();
    char mode_text[8];
    std::snprintf(mode_text, sizeof mode_text, "0%o", static_cast<unsigned>(loose));
    EXPECT_TRUE(contains(message, path)) << message;
    EXPECT_TRUE(contains(message, mode_text)) << message;
    EXPECT_TRUE(contains(message, "chmod 600 " + path)) << message;
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);  // stricter than 0600 is fine
  EXPECT_TRUE(read_secret_key_file(path).ok());
}

TEST(CurveKeyFiles, MalformedContentErrorsNameFileAndLine) {
  TempDir dir;
  const auto pair = new_pair();
  const auto other = new_pair();
  struct Case {
    std::string content;
    std::string expected_where;  // "" = the path without a line
    std::string expected_text;
  };
  const std::vector<Case> cases = {
      {"# comment\n\npublic-key = short\nsecret-key = " + pair.secret_key + "\n", ":3",
       "40 Z85"},
      {"public-key = " + pair.public_key + "\nprivate-key = " + pair.secret_key + "\n", ":2",
       "unknown field"},
      {"just some text\n", ":1", "expected"},
      {"public-key = " + pair.public_key + "\npublic-key = " + pair.public_key + "\n", ":2",
       "duplicate"},
      {"public-key = " + pair.public_key + "\nsecret-key = " + std::string(40, '~') + "\n", ":2",
       "Z85"},
      {"public-key = " + pair.public_key + "\n", "", "no secret-key"},
      {"secret-key = " + pair.secret_key + "\n", "", "no public-key"},
      {"public-key = " + other.public_key + "\nsecret-key = " + pair.secret_key + "\n", "",
       "does not belong"},
  };
  int index = 0;
  for (const auto& c : cases) {
    const std::string path = dir.file("bad" + std::to_string(index++) + ".key");
    write_file(path, c.content, 0600);
    auto read = read_secret_key_file(path);
    ASSERT_FALSE(read.ok()) << c.content;
    const std::string message = read.error().to_string();
    EXPECT_TRUE(contains(message, path + c.expected_where)) << message;
    EXPECT_TRUE(contains(message, c.expected_text)) << message;
    EXPECT_FALSE(contains(message, pair.secret_key)) << "error leaks the secret: " << message;
  }
  // Spaces around '=' are optional; CRLF line ends are fine.
  const std::string tight = dir.file("tight.key");
  write_file(tight, "public-key=" + pair.public_key + "\r\nsecret-key=" + pair.secret_key + "\r\n",
             0600);
  auto read = read_secret_key_file(tight);
  ASSERT_TRUE(read.ok()) << read.error().to_string();
  EXPECT_EQ(read->public_key, pair.public_key);

  auto missing = read_secret_key_file(dir.file("absent.key"));
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(contains(missing.error().to_string(), dir.file("absent.key")));
  auto missing_pub = read_public_key_file(dir.file("absent.pub"));
  ASSERT_FALSE(missing_pub.ok());
  EXPECT_TRUE(contains(missing_pub.error().to_string(), dir.file("absent.pub")));
}

// ---------------------------------------------------------------------------------------------
// Allow lists

TEST(CurveAllowList, FromDirectoryReadsEveryPubFileInNameOrder) {
  TempDir dir;
  ASSERT_TRUE(write_key_pair(dir.str(), "b-critic").ok());
  ASSERT_TRUE(write_key_pair(dir.str(), "a-coder").ok());
  write_file(dir.file("README"), "not a key\n", 0644);
  auto list = read_allow_list(dir.str());
  ASSERT_TRUE(list.ok()) << list.error().to_string();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0], *read_public_key_file(dir.file("a-coder.pub")));
  EXPECT_EQ((*list)[1], *read_public_key_file(dir.file("b-critic.pub")));

  write_file(dir.file("c-broken.pub"), "# fine\npublic-key = nope\n", 0644);
  auto broken = read_allow_list(dir.str());
  ASSERT_FALSE(broken.ok());
  EXPECT_TRUE(contains(broken.error().to_string(), dir.file("c-broken.pub") + ":2"))
      << broken.error().to_string();

  TempDir empty;
  auto none = read_allow_list(empty.str());
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(contains(none.error().to_string(), empty.str()));
}

TEST(CurveAllowList, FromFileWithCommentsBlanksAndPubLines) {
  TempDir dir;
  const auto a = new_pair();
  const auto b = new_pair();
  const auto c = new_pair();
  const std::string path = dir.file("allowed");
  write_file(path,
             "# agents allowed on the hub\n"
             "\n" +
                 a.public_key + "\n  " + b.public_key + "  \n" +
                 "# concatenated .pub files work too:\n"
                 "public-key = " +
                 c.public_key + "\n" + a.public_key + "\n",  // duplicate dropped
             0644);
  auto list = read_allow_list(path);
  ASSERT_TRUE(list.ok()) << list.error().to_string();
  EXPECT_EQ(*list, (std::vector<std::string>{a.public_key, b.public_key, c.public_key}));

  const std::string bad = dir.file("bad-allowed");
  write_file(bad, "# ok\n" + a.public_key + "\n\nnot-a-key\n", 0644);
  auto error = read_allow_list(bad);
  ASSERT_FALSE(error.ok());
  EXPECT_TRUE(contains(error.error().to_string(), bad + ":4")) << error.error().to_string();

  const std::string secret = dir.file("secret-allowed");
  write_file(secret, "secret-key = " + a.secret_key + "\n", 0644);
  auto leaked = read_allow_list(secret);
  ASSERT_FALSE(leaked.ok());
  EXPECT_TRUE(contains(leaked.error().to_string(), secret + ":1"));
  EXPECT_FALSE(contains(leaked.error().to_string(), a.secret_key));

  const std::string comments_only = dir.file("comments-only");
  write_file(comments_only, "# nobody yet\n\n", 0644);
  EXPECT_FALSE(read_allow_list(comments_only).ok());

  auto absent = read_allow_list(dir.file("absent"));
  ASSERT_FALSE(absent.ok());
  EXPECT_TRUE(contains(absent.error().to_string(), dir.file("absent")));
}

TEST(CurveLoopback, EndpointTable) {
  const std::vector<std::pair<std::string, bool>> table = {
      {"ipc:///tmp/cadre/hub.sock", true},
      {"inproc://hub", true},
      {"tcp://127.0.0.1:5555", true},
      {"tcp://127.0.0.1:*", true},
      {"tcp://127.1.2.3:80", true},
      {"tcp://localhost:5555", true},
      {"tcp://LocalHost:5555", true},
      {"tcp://[::1]:5555", true},
      {"tcp://[::1]:*", true},
      {"tcp://0.0.0.0:5555", false},
      {"tcp://*:5555", false},
      {"tcp://*:*", false},
      {"tcp://[::]:5555", false},
      {"tcp://192.168.1.10:5555", false},
      {"tcp://10.0.0.1:5555", false},
      {"tcp://128.0.0.1:5555", false},
      {"tcp://example.com:5555", false},
      {"tcp://localhost.example.com:5555", false},
      {"tcp://eth0:5555", false},
      {"tcp://127.0.0.1", false},
      {"tcp://127.0.0.1:", false},
      {"tcp://10.0.0.1:5555;127.0.0.1:5555", false},
      {"tcp://[::1:5555", false},
      {"udp://127.0.0.1:5555", false},
      {"ws://127.0.0.1:5555", false},
      {"127.0.0.1:5555", false},
      {"", false},
  };
  for (const auto& [endpoint, loopback] : table) {
    EXPECT_EQ(is_loopback_endpoint(endpoint), loopback) << endpoint;
  }
}

// ---------------------------------------------------------------------------------------------
// Secured endpoints

struct SecuredHub {
  CurveKeyPair server = new_pair();
  CurveKeyPair allowed = new_pair();
  std::unique_ptr<RouterEndpoint> router;

  explicit SecuredHub(const std::string& endpoint = "tcp://127.0.0.1:*") {
    ServerSecurity security{server, {allowed.public_key}};
    auto bound = RouterEndpoint::bind(endpoint, &security);
    EXPECT_TRUE(bound.ok()) << (bound.ok() ? "" : bound.error().to_string());
    if (bound.ok()) router = std::move(bound).value();
  }

  ClientSecurity allowed_client() const { return {allowed, server.public_key}; }

  std::unique_ptr<DealerEndpoint> connect(const std::string& identity,
                                          const ClientSecurity* security) const {
    auto dealer = DealerEndpoint::connect(router->bound_endpoint(), identity, security);
    EXPECT_TRUE(dealer.ok()) << (dealer.ok() ? "" : dealer.error().to_string());
    return dealer.ok() ? std::move(dealer).value() : nullptr;
  }

  // Makes `client` try again and again (a client refused during the handshake may give up for
  // good, as libzmq does on a protocol error) until a refusal matching `match` is recorded, or
  // `timeout` passes. Checks that the hub receives nothing meanwhile. Returns every refusal taken.
  std::vector<Refusal> attempt_until_refused(DealerEndpoint& client,
                                             const std::function<bool(const Refusal&)>& match,
                                             std::chrono::milliseconds timeout) {
    std::vector<Refusal> all;
    const auto deadline = Clock::now() + timeout;
    while (true) {
      // May fail: a client that saw the mismatch itself has dropped its connection for good.
      (void)client.send("let me in");
      EXPECT_FALSE(router->receive(50ms).has_value()) << "a refused client got a frame through";
      for (auto& r : router->take_refusals()) all.push_back(std::move(r));
      if (std::any_of(all.begin(), all.end(), match) || Clock::now() >= deadline) return all;
      EXPECT_TRUE(client.reconnect());
    }
  }

  // Waits until a refusal matching `match` is recorded; returns every refusal taken meanwhile.
  std::vector<Refusal> wait_for_refusal(const std::function<bool(const Refusal&)>& match,
                                        std::chrono::milliseconds timeout) {
    std::vector<Refusal> all;
    eventually(
        [&] {
          for (auto& r : router->take_refusals()) all.push_back(std::move(r));
          return std::any_of(all.begin(), all.end(), match);
        },
        timeout);
    return all;
  }
};

std::string describe(const std::vector<Refusal>& refusals) {
  std::string text;
  for (const auto& r : refusals) text += "[" + r.address + ": " + r.reason + "] ";
  return text.empty() ? "(none)" : text;
}

TEST(CurveEndpoints, AllowedClientExchangesFramesBothWays) {
  SecuredHub hub;
  ASSERT_TRUE(hub.router);
  const auto security = hub.allowed_client();
  auto dealer = hub.connect("coder-1", &security);
  ASSERT_TRUE(dealer);
  ASSERT_TRUE(dealer->send("hello over curve"));
  auto in = hub.router->receive(1500ms);
  ASSERT_TRUE(in.has_value()) << describe(hub.router->take_refusals());
  EXPECT_EQ(in->peer, "coder-1");
  EXPECT_EQ(in->frame, "hello over curve");
  const std::string binary("\x95\x00\x01\x00\x80", 5);
  ASSERT_TRUE(hub.router->send(in->peer, binary));
  auto reply = dealer->receive(1500ms);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(*reply, binary);

  // reconnect() keeps CURVE: the new connection is admitted too.
  ASSERT_TRUE(dealer->reconnect());
  ASSERT_TRUE(dealer->send("after reconnect"));
  in = hub.router->receive(1500ms);
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->frame, "after reconnect");
  EXPECT_TRUE(hub.router->send(in->peer, "still here"));
  EXPECT_EQ(dealer->receive(1500ms).value_or(""), "still here");

  EXPECT_EQ(hub.router->refused_count(), 0u);
  EXPECT_TRUE(hub.router->take_refusals().empty());
}

TEST(CurveEndpoints, AllowedClientOverIpc) {
  TempDir dir;
  SecuredHub hub("ipc://" + dir.file("hub.sock"));
  ASSERT_TRUE(hub.router);
  const auto security = hub.allowed_client();
  auto dealer = hub.connect("ipc-agent", &security);
  ASSERT_TRUE(dealer);
  ASSERT_TRUE(dealer->send("ping"));
  auto in = hub.router->receive(1500ms);
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->frame, "ping");

  // A plain ipc client is refused; its address is the ZeroMQ ":uid:gid:pid" form.
  auto plain = hub.connect("plain-ipc", nullptr);
  ASSERT_TRUE(plain);
  const std::string me = ":" + std::to_string(::getuid()) + ":";
  auto refusals = hub.attempt_until_refused(
      *plain, [&](const Refusal& r) { return r.address.rfind(me, 0) == 0; }, 1500ms);
  EXPECT_TRUE(std::any_of(refusals.begin(), refusals.end(),
                          [&](const Refusal& r) { return r.address.rfind(me, 0) == 0; }))
      << describe(refusals);
  for (const auto& r : refusals) {
    EXPECT_TRUE(r.address == "unknown" || r.address.rfind(me, 0) == 0) << describe(refusals);
    EXPECT_TRUE(contains(r.reason, "does not speak CURVE")) << describe(refusals);
  }
}

TEST(CurveEndpoints, UnlistedClientKeyIsRefusedWithItsAddress) {
  SecuredHub hub;
  ASSERT_TRUE(hub.router);
  const ClientSecurity stranger{new_pair(), hub.server.public_key};
  auto dealer = hub.connect("stranger", &stranger);
  ASSERT_TRUE(dealer);
  ASSERT_TRUE(dealer->send("let me in"));
  EXPECT_FALSE(hub.router->receive(1000ms).has_value());
  EXPECT_FALSE(hub.router->send("stranger", "hello?"));
  EXPECT_FALSE(dealer->receive(0ms).has_value());

  const std::string expected_reason =
      "client key " + stranger.client.public_key.substr(0, 8) + "... not in the allow list";
  auto refusals = hub.wait_for_refusal(
      [&](const Refusal& r) { return r.address == "127.0.0.1" && r.reason == expected_reason; },
      1000ms);
  ASSERT_FALSE(refusals.empty());
  EXPECT_EQ(refusals.front().address, "127.0.0.1") << describe(refusals);
  EXPECT_EQ(refusals.front().reason, expected_reason) << describe(refusals);
  EXPECT_GE(hub.router->refused_count(), refusals.size());
}

TEST(CurveEndpoints, PlainClientIsRefusedWithItsAddress) {
  SecuredHub hub;
  ASSERT_TRUE(hub.router);
  auto dealer = hub.connect("plain", nullptr);
  ASSERT_TRUE(dealer);
  ASSERT_TRUE(dealer->send("no curve here"));
  EXPECT_FALSE(hub.router->receive(500ms).has_value());
  EXPECT_FALSE(hub.router->send("plain", "hello?"));

  // The address of an attempt refused during the handshake is read from its socket once the
  // monitor reports it accepted: "unknown" if the connection was already gone, so this may take
  // more than one attempt. Which side notices the mechanism mismatch first varies: if the client
  // hangs up first, the hub sees only the connection close, and says so.
  auto refusals = hub.attempt_until_refused(
      *dealer, [](const Refusal& r) { return r.address == "127.0.0.1"; }, 1000ms);
  EXPECT_TRUE(std::any_of(refusals.begin(), refusals.end(),
                          [](const Refusal& r) { return r.address == "127.0.0.1"; }))
      << describe(refusals);
  for (const auto& r : refusals) {
    EXPECT_TRUE(r.address == "127.0.0.1" || r.address == "unknown") << describe(refusals);
    EXPECT_TRUE(contains(r.reason, "does not speak CURVE")) << describe(refusals);
  }
}

TEST(CurveEndpoints, WrongServerKeyGetsNothingThrough) {
  SecuredHub hub;
  ASSERT_TRUE(hub.router);
  // The right (listed) client key, but the public key of some other server.
  const ClientSecurity misdirected{hub.allowed, new_pair().public_key};
  auto dealer = hub.connect("misdirected", &misdirected);
  ASSERT_TRUE(dealer);
  ASSERT_TRUE(dealer->send("secret plans"));
  EXPECT_FALSE(hub.router->receive(1000ms).has_value());
  EXPECT_FALSE(hub.router->send("misdirected", "hello?"));
  EXPECT_FALSE(dealer->receive(0ms).has_value());
  auto refusals = hub.wait_for_refusal(
      [](const Refusal& r) { return contains(r.reason, "wrong server public key"); }, 1000ms);
  EXPECT_TRUE(std::any_of(refusals.begin(), refusals.end(), [](const Refusal& r) {
    return contains(r.reason, "wrong server public key");
  })) << describe(refusals);
}

// A raw DEALER that connects once (no reconnect) and counts the connections it really made.
class CountingClient {
 public:
  CountingClient(const std::string& endpoint, const ClientSecurity* security)
      : socket_(context_, zmq::socket_type::dealer), monitor_(context_, zmq::socket_type::pair) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::reconnect_ivl, -1);
    if (security) {
      socket_.set(zmq::sockopt::curve_serverkey, security->server_public_key);
      socket_.set(zmq::sockopt::curve_publickey, security->client.public_key);
      socket_.set(zmq::sockopt::curve_secretkey, security->client.secret_key);
    }
    EXPECT_EQ(zmq_socket_monitor(socket_.handle(), "inproc://counting-client", ZMQ_EVENT_CONNECTED),
              0);
    monitor_.connect("inproc://counting-client");
    socket_.connect(endpoint);
  }

  // Closes the client and returns how many TCP connections it made.
  int close_and_count() {
    zmq_socket_monitor(socket_.handle(), nullptr, 0);
    socket_.close();
    int connected = 0;
    while (true) {
      zmq::message_t event;
      if (!monitor_.recv(event, zmq::recv_flags::dontwait)) break;
      if (!event.more()) continue;
      std::uint16_t id = 0;
      std::memcpy(&id, event.data(), sizeof id);
      zmq::message_t address;
      (void)monitor_.recv(address, zmq::recv_flags::dontwait);
      if (id == ZMQ_EVENT_CONNECTED) ++connected;
    }
    monitor_.close();
    return connected;
  }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
  zmq::socket_t monitor_;
};

TEST(CurveEndpoints, EachRefusedConnectionIsRecordedOnce) {
  SecuredHub hub;
  ASSERT_TRUE(hub.router);
  const std::string& endpoint = hub.router->bound_endpoint();
  const ClientSecurity allowed = hub.allowed_client();
  const ClientSecurity misdirected{hub.allowed, new_pair().public_key};
  std::vector<ClientSecurity> strangers;
  for (int i = 0; i < 3; ++i) strangers.push_back({new_pair(), hub.server.public_key});

  // Three of each kind of refused client, all at once, plus an admitted one.
  std::vector<std::unique_ptr<CountingClient>> refused;
  for (int i = 0; i < 3; ++i) {
    refused.push_back(std::make_unique<CountingClient>(endpoint, nullptr));
    refused.push_back(std::make_unique<CountingClient>(endpoint, &strangers[i]));
    refused.push_back(std::make_unique<CountingClient>(endpoint, &misdirected));
  }
  CountingClient good(endpoint, &allowed);
  const auto expected = static_cast<std::uint64_t>(refused.size());
  EXPECT_TRUE(eventually([&] { return hub.router->refused_count() >= expected; }, 1500ms))
      << hub.router->refused_count() << " refusals for " << expected << " clients";
  std::this_thread::sleep_for(100ms);  // a double count would show up by now
  EXPECT_EQ(good.close_and_count(), 1);
  for (auto& client : refused) EXPECT_EQ(client->close_and_count(), 1);

  auto refusals = hub.router->take_refusals();
  EXPECT_EQ(hub.router->refused_count(), expected) << describe(refusals);
  ASSERT_EQ(refusals.size(), expected) << describe(refusals);
  const auto count = [&](const std::function<bool(const Refusal&)>& match) {
    return std::count_if(refusals.begin(), refusals.end(), match);
  };
  for (const auto& stranger : strangers) {
    const std::string reason =
        "client key " + stranger.client.public_key.substr(0, 8) + "... not in the allow list";
    EXPECT_EQ(count([&](const Refusal& r) { return r.reason == reason; }), 1)
        << describe(refusals);
  }
  EXPECT_EQ(count([](const Refusal& r) { return contains(r.reason, "does not speak CURVE"); }), 3)
      << describe(refusals);
  EXPECT_EQ(count([](const Refusal& r) { return contains(r.reason, "wrong server public key"); }),
            3)
      << describe(refusals);
  EXPECT_EQ(count([](const Refusal& r) { return contains(r.address, "127.0.0.1"); }) +
                count([](const Refusal& r) { return r.address == "unknown"; }),
            static_cast<long>(expected))
      << describe(refusals);
}

TEST(CurveEndpoints, BadKeysAreErrorsThatNeverShowTheSecret) {
  const auto server = new_pair();
  const auto client = new_pair();
  const std::string endpoint = "tcp://127.0.0.1:*";

  ServerSecurity mismatched{{client.public_key, server.secret_key}, {client.public_key}};
  auto bound = RouterEndpoint::bind(endpoint, &mismatched);
  ASSERT_FALSE(bound.ok());
  EXPECT_FALSE(contains(bound.error().to_string(), server.secret_key));

  ServerSecurity short_secret{{server.public_key, "tooshort"}, {client.public_key}};
  EXPECT_FALSE(RouterEndpoint::bind(endpoint, &short_secret).ok());

  ServerSecurity nobody{server, {}};
  auto empty = RouterEndpoint::bind(endpoint, &nobody);
  ASSERT_FALSE(empty.ok());
  EXPECT_TRUE(contains(empty.error().to_string(), "allow list")) << empty.error().to_string();

  ServerSecurity bad_entry{server, {client.public_key, "not a key"}};
  auto entry = RouterEndpoint::bind(endpoint, &bad_entry);
  ASSERT_FALSE(entry.ok());
  EXPECT_TRUE(contains(entry.error().to_string(), "#2")) << entry.error().to_string();

  ServerSecurity good{server, {client.public_key}};
  auto bad_endpoint = RouterEndpoint::bind("bogus://nowhere", &good);
  ASSERT_FALSE(bad_endpoint.ok());
  EXPECT_TRUE(contains(bad_endpoint.error().to_string(), "bogus://nowhere"));

  ClientSecurity bad_client{{client.public_key, server.secret_key}, server.public_key};
  auto dealer = DealerEndpoint::connect("tcp://127.0.0.1:5555", "agent", &bad_client);
  ASSERT_FALSE(dealer.ok());
  EXPECT_FALSE(contains(dealer.error().to_string(), server.secret_key));
  ClientSecurity bad_server_key{client, "short"};
  EXPECT_FALSE(DealerEndpoint::connect("tcp://127.0.0.1:5555", "agent", &bad_server_key).ok());
  ClientSecurity fine{client, server.public_key};
  EXPECT_TRUE(DealerEndpoint::connect("tcp://127.0.0.1:5555", "agent", &fine).ok());
}

TEST(CurveEndpoints, SecuredRoutersStartAndStopQuickly) {
  const auto start = Clock::now();
  for (int i = 0; i < 20; ++i) {
    SecuredHub hub;
    ASSERT_TRUE(hub.router);
    if (i % 5 == 0) {
      // Tear down with an admitted client and a refused one still connected.
      const auto security = hub.allowed_client();
      auto dealer = hub.connect("agent", &security);
      auto plain = hub.connect("plain", nullptr);
      ASSERT_TRUE(dealer && plain);
      ASSERT_TRUE(dealer->send("hi"));
      ASSERT_TRUE(hub.router->receive(1500ms).has_value());
    }
  }
  EXPECT_LT(Clock::now() - start, 1500ms);
}

TEST(CurveEndpoints, UnsecuredRouterRecordsNoRefusals) {
  auto router = RouterEndpoint::bind("tcp://127.0.0.1:*");
  ASSERT_TRUE(router.ok());
  EXPECT_TRUE((*router)->take_refusals().empty());
  EXPECT_EQ((*router)->refused_count(), 0u);
}

}  // namespace
}  // namespace cadre::transport
