// RouterEndpoint / DealerEndpoint over real sockets: ipc:// in a temp dir and tcp://127.0.0.1:*.
// (inproc:// cannot join them: each endpoint owns its own ZeroMQ context.)
#include "cadre/transport/endpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

namespace cadre::transport {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A fresh ipc:// address in a per-process temp dir (removed at exit of the test).
class IpcAddress {
 public:
  IpcAddress() {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("cadre-ep-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir_);
  }
  ~IpcAddress() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::string endpoint() const { return "ipc://" + (dir_ / "hub.sock").string(); }

 private:
  std::filesystem::path dir_;
};

std::unique_ptr<RouterEndpoint> bind_or_die(const std::string& endpoint) {
  auto router = RouterEndpoint::bind(endpoint);
  EXPECT_TRUE(router.ok()) << (router.ok() ? "" : router.error().to_string());
  return router.ok() ? std::move(router).value() : nullptr;
}

std::unique_ptr<DealerEndpoint> connect_or_die(const std::string& endpoint,
                                               const std::string& identity) {
  auto dealer = DealerEndpoint::connect(endpoint, identity);
  EXPECT_TRUE(dealer.ok()) << (dealer.ok() ? "" : dealer.error().to_string());
  return dealer.ok() ? std::move(dealer).value() : nullptr;
}

// Dealer -> router -> dealer, checking the identity the router sees.
void expect_round_trip(RouterEndpoint& router, DealerEndpoint& dealer, const std::string& identity,
                       const std::string& payload) {
  ASSERT_TRUE(dealer.send(payload));
  auto in = router.receive(1500ms);
  ASSERT_TRUE(in.has_value()) << "router received nothing";
  EXPECT_EQ(in->peer, identity);
  EXPECT_EQ(in->frame, payload);
  ASSERT_TRUE(router.send(in->peer, "re:" + payload));
  auto reply = dealer.receive(1500ms);
  ASSERT_TRUE(reply.has_value()) << "dealer received no reply";
  EXPECT_EQ(*reply, "re:" + payload);
}

TEST(Endpoints, RoundTripOverIpc) {
  IpcAddress address;
  auto router = bind_or_die(address.endpoint());
  ASSERT_TRUE(router);
  EXPECT_EQ(router->bound_endpoint(), address.endpoint());
  auto dealer = connect_or_die(router->bound_endpoint(), "coder-1");
  ASSERT_TRUE(dealer);
  expect_round_trip(*router, *dealer, "coder-1", "hello");
  // Binary payloads with zero bytes pass untouched.
  expect_round_trip(*router, *dealer, "coder-1", std::string("\x95\x00\x01\x00\x80", 5));
}

TEST(Endpoints, RoundTripOverTcpWildcardPort) {
  auto router = bind_or_die("tcp://127.0.0.1:*");
  ASSERT_TRUE(router);
  const std::string& bound = router->bound_endpoint();
  EXPECT_EQ(bound.rfind("tcp://127.0.0.1:", 0), 0u) << bound;
  EXPECT_EQ(bound.find('*'), std::string::npos) << bound;
  auto a = connect_or_die(bound, "planner-1");
  auto b = connect_or_die(bound, "critic-1");
  ASSERT_TRUE(a && b);
  expect_round_trip(*router, *a, "planner-1", "from a");
  expect_round_trip(*router, *b, "critic-1", "from b");
}

TEST(Endpoints, SendToUnknownPeerFails) {
  auto router = bind_or_die("tcp://127.0.0.1:*");
  ASSERT_TRUE(router);
  EXPECT_FALSE(router->send("nobody", "frame"));
  EXPECT_FALSE(router->send("", "frame"));
}

TEST(Endpoints, ReceiveTimesOut) {
  auto router = bind_or_die("tcp://127.0.0.1:*");
  ASSERT_TRUE(router);
  auto start = Clock::now();
  EXPECT_FALSE(router->receive(60ms).has_value());
  auto waited = Clock::now() - start;
  EXPECT_GE(waited, 50ms);
  EXPECT_LT(waited, 1000ms);

  auto dealer = connect_or_die(router->bound_endpoint(), "idle");
  ASSERT_TRUE(dealer);
  start = Clock::now();
  EXPECT_FALSE(dealer->receive(60ms).has_value());
  waited = Clock::now() - start;
  EXPECT_GE(waited, 50ms);
  EXPECT_LT(waited, 1000ms);

  EXPECT_FALSE(router->receive(0ms).has_value());
}

TEST(Endpoints, BadBindAddressIsAnError) {
  for (const std::string endpoint : {"bogus://nowhere", "tcp://not an address",
                                     "tcp://127.0.0.1:notaport",
                                     "ipc:///nonexistent-cadre-dir/sub/hub.sock"}) {
    auto router = RouterEndpoint::bind(endpoint);
    ASSERT_FALSE(router.ok()) << endpoint;
    EXPECT_NE(router.error().to_string().find(endpoint), std::string::npos)
        << router.error().to_string();
  }
}

TEST(Endpoints, AddressInUseIsAnError) {
  auto first = bind_or_die("tcp://127.0.0.1:*");
  ASSERT_TRUE(first);
  auto second = RouterEndpoint::bind(first->bound_endpoint());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().to_string().find(first->bound_endpoint()), std::string::npos);
}

TEST(Endpoints, ConnectValidatesIdentityAndEndpoint) {
  EXPECT_FALSE(DealerEndpoint::connect("tcp://127.0.0.1:5555", "").ok());
  EXPECT_FALSE(DealerEndpoint::connect("tcp://127.0.0.1:5555", std::string("\0abc", 4)).ok());
  EXPECT_FALSE(DealerEndpoint::connect("tcp://127.0.0.1:5555", std::string(256, 'a')).ok());
  EXPECT_TRUE(DealerEndpoint::connect("tcp://127.0.0.1:5555", std::string(255, 'a')).ok());
  auto bad = DealerEndpoint::connect("bogus://x", "agent");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().to_string().find("bogus://x"), std::string::npos);
}

TEST(Endpoints, SendsQueueUntilTheHubAppears) {
  IpcAddress address;
  auto dealer = connect_or_die(address.endpoint(), "early-bird");
  ASSERT_TRUE(dealer);
  ASSERT_TRUE(dealer->send("queued before bind"));
  auto router = bind_or_die(address.endpoint());
  ASSERT_TRUE(router);
  auto in = router->receive(1500ms);  // reconnect interval is 100 ms
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->peer, "early-bird");
  EXPECT_EQ(in->frame, "queued before bind");
}

TEST(Endpoints, MessagesFlowAfterReconnect) {
  auto router = bind_or_die("tcp://127.0.0.1:*");
  ASSERT_TRUE(router);
  auto dealer = connect_or_die(router->bound_endpoint(), "coder-7");
  ASSERT_TRUE(dealer);
  expect_round_trip(*router, *dealer, "coder-7", "before");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(dealer->reconnect());
    expect_round_trip(*router, *dealer, "coder-7", "after " + std::to_string(i));
  }
}

TEST(Endpoints, ReconnectDropsQueuedInbound) {
  auto router = bind_or_die("tcp://127.0.0.1:*");
  ASSERT_TRUE(router);
  auto dealer = connect_or_die(router->bound_endpoint(), "coder-8");
  ASSERT_TRUE(dealer);
  expect_round_trip(*router, *dealer, "coder-8", "hi");
  ASSERT_TRUE(router->send("coder-8", "stale"));
  std::this_thread::sleep_for(50ms);  // let it reach the dealer's queue
  ASSERT_TRUE(dealer->reconnect());
  expect_round_trip(*router, *dealer, "coder-8", "fresh");  // "stale" is gone
  EXPECT_FALSE(dealer->receive(50ms).has_value());
}

// A raw DEALER named "raw", connected to `router`, to send frames of any shape.
zmq::socket_t raw_dealer(zmq::context_t& context, RouterEndpoint& router) {
  zmq::socket_t raw(context, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.set(zmq::sockopt::routing_id, "raw");
  raw.connect(router.bound_endpoint());
  return raw;
}

TEST(Endpoints, RouterDropsMessagesOfTheWrongShape) {
  auto router = bind_or_die("tcp://127.0.0.1:*");
  ASSERT_TRUE(router);
  // A raw DEALER that sends REQ-style [empty, payload]: the router sees three parts.
  zmq::context_t context;
  zmq::socket_t raw = raw_dealer(context, *router);
  raw.send(zmq::str_buffer(""), zmq::send_flags::sndmore);
  raw.send(zmq::str_buffer("three parts"), zmq::send_flags::none);
  raw.send(zmq::str_buffer("two parts"), zmq::send_flags::none);

  auto in = router->receive(1500ms);
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->peer, "raw");
  EXPECT_EQ(in->frame, "two parts");
  EXPECT_EQ(router->dropped_shape(), 1u);
}

TEST(Endpoints, ReceiveViewHandsOverFramesWithoutCopies) {
  auto router = bind_or_die("tcp://127.0.0.1:*");
  ASSERT_TRUE(router);
  auto dealer = connect_or_die(router->bound_endpoint(), "viewer");
  ASSERT_TRUE(dealer);
  const std::string big(100000, 'b');
  ASSERT_TRUE(dealer->send("first"));
  ASSERT_TRUE(dealer->send(big));
  auto first = router->receive_view(1500ms);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->peer, "viewer");
  EXPECT_EQ(first->frame, "first");
  ASSERT_TRUE(router->send(first->peer, "re:first"));
  auto second = router->receive_view(1500ms);  // the first view is spent now
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->peer, "viewer");
  EXPECT_EQ(second->frame, big);
  auto reply = dealer->receive(1500ms);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(*reply, "re:first");
  EXPECT_FALSE(router->receive_view(0ms).has_value());
  const auto start = Clock::now();
  EXPECT_FALSE(router->receive_view(50ms).has_value());
  EXPECT_GE(Clock::now() - start, 40ms);
}

TEST(Endpoints, ReceiveViewDropsMessagesOfTheWrongShape) {
  auto router = bind_or_die("tcp://127.0.0.1:*");
  ASSERT_TRUE(router);
  zmq::context_t context;
  zmq::socket_t raw = raw_dealer(context, *router);
  raw.send(zmq::str_buffer(""), zmq::send_flags::sndmore);
  raw.send(zmq::str_buffer("three parts"), zmq::send_flags::none);
  raw.send(zmq::str_buffer("a"), zmq::send_flags::sndmore);
  raw.send(zmq::str_buffer("b"), zmq::send_flags::sndmore);
  raw.send(zmq::str_buffer("four parts"), zmq::send_flags::none);
  raw.send(zmq::str_buffer("two parts"), zmq::send_flags::none);

  auto in = router->receive_view(1500ms);
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->peer, "raw");
  EXPECT_EQ(in->frame, "two parts");
  EXPECT_EQ(router->dropped_shape(), 2u);
}

}  // namespace
}  // namespace cadre::transport
