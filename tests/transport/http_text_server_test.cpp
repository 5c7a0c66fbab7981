// HttpTextServer over real sockets on 127.0.0.1: pages, status codes, hostile and slow clients.
// Every wait is bounded by a deadline; nothing sleeps to synchronise.
#include "cadre/transport/http_text_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace cadre::transport {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kWait = 5s;  // the most any single exchange may take in these tests

std::unique_ptr<HttpTextServer> start_server(const HttpTextServerOptions& options = {}) {
  auto server = HttpTextServer::start("127.0.0.1:0", options);
  if (!server) {
    ADD_FAILURE() << server.error().to_string();
    return nullptr;
  }
  return std::move(server.value());
}

// A client socket connected to 127.0.0.1:port, or -1.
int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class Socket {
 public:
  explicit Socket(std::uint16_t port) : fd_(connect_to(port)) { EXPECT_GE(fd_, 0); }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

  bool send_all(const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Everything the server sends until it closes; nullopt if that takes longer than `limit`.
  std::optional<std::string> read_to_eof(std::chrono::milliseconds limit = kWait) {
    std::string out;
    const auto deadline = Clock::now() + limit;
    while (true) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[65536];
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n == 0) return out;
      if (n < 0) return errno == ECONNRESET ? std::optional<std::string>(out) : std::nullopt;
      out.append(buffer, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
};

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

std::optional<Response> parse_response(const std::string& raw) {
  const std::size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.rfind("HTTP/1.1 ", 0) != 0) return std::nullopt;
  Response r;
  r.status = std::stoi(raw.substr(9, 3));
  std::size_t pos = raw.find("\r\n") + 2;
  while (pos < head_end) {
    const std::size_t end = raw.find("\r\n", pos);
    const std::string line = raw.substr(pos, end - pos);
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) return std::nullopt;
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    pos = end + 2;
  }
  r.body = raw.substr(head_end + 4);
  return r;
}

// Sends `request` as is and reads the whole answer.
Response ask(std::uint16_t port, const std::string& request) {
  Socket s(port);
  EXPECT_TRUE(s.send_all(request));
  auto raw = s.read_to_eof();
  if (!raw) {
    ADD_FAILURE() << "no answer in time to " << request.substr(0, 60);
    return {};
  }
  auto response = parse_response(*raw);
  if (!response) {
    ADD_FAILURE() << "not an HTTP response: " << raw->substr(0, 200);
    return {};
  }
  return *response;
}

Response get(std::uint16_t port, const std::string& path) {
  return ask(port, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n");
}

// Waits (bounded) until `fd` is closed by the peer: true when recv() reports EOF or a reset.
bool closed_by_peer(int fd, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left, 1))) <= 0) continue;
    char c;
    const ssize_t n = ::recv(fd, &c, 1, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
  }
  return false;
}

constexpr const char* kPromType = "text/plain; version=0.0.4; charset=utf-8";

// ---------------------------------------------------------------------------------------------
// Pages

TEST(HttpTextServer, GetServesThePublishedBodyWithItsContentType) {
  auto server = start_server();
  ASSERT_TRUE(server);
  server->publish("/metrics", "cadre_up 1\n", kPromType);
  Response r = get(server->port(), "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "cadre_up 1\n");
  EXPECT_EQ(r.headers["content-type"], kPromType);
  EXPECT_EQ(r.headers["content-length"], "11");
  EXPECT_EQ(r.headers["connection"], "close");
}

TEST(HttpTextServer, RepublishingReplacesTheBody) {
  auto server = start_server();
  ASSERT_TRUE(server);
  server->publish("/metrics", "a 1\n", kPromType);
  EXPECT_EQ(get(server->port(), "/metrics").body, "a 1\n");
  server->publish("/metrics", "a 2\nb 3\n", kPromType);
  EXPECT_EQ(get(server->port(), "/metrics").body, "a 2\nb 3\n");
  server->publish("/other", "x", "text/plain");
  EXPECT_EQ(get(server->port(), "/other").body, "x");
  EXPECT_EQ(get(server->port(), "/metrics").body, "a 2\nb 3\n");
}

TEST(HttpTextServer, HeadAnswersWithTheHeadersOnly) {
  auto server = start_server();
  ASSERT_TRUE(server);
  server->publish("/metrics", "0123456789", kPromType);
  Response r = ask(server->port(), "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-length"], "10");
  EXPECT_EQ(r.body, "");
}

TEST(HttpTextServer, Http10BareNewlinesAndQueryStringsAreAccepted) {
  auto server = start_server();
  ASSERT_TRUE(server);
  server->publish("/metrics", "m 1\n", kPromType);
  EXPECT_EQ(ask(server->port(), "GET /metrics HTTP/1.0\r\n\r\n").body, "m 1\n");
  EXPECT_EQ(ask(server->port(), "GET /metrics HTTP/1.0\n\n").body, "m 1\n");
  EXPECT_EQ(get(server->port(), "/metrics?name[]=x").body, "m 1\n");
}

TEST(HttpTextServer, TheRootPointsAtThePublishedPages) {
  auto server = start_server();
  ASSERT_TRUE(server);
  server->publish("/metrics", "m 1\n", kPromType);
  Response r = get(server->port(), "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("/metrics"), std::string::npos) << r.body;
  EXPECT_EQ(r.headers["content-type"].rfind("text/plain", 0), 0u);
}

TEST(HttpTextServer, AContentTypeCannotInjectHeaders) {
  auto server = start_server();
  ASSERT_TRUE(server);
  server->publish("/x", "b", "text/plain\r\nSet-Cookie: evil=1");
  Response r = get(server->port(), "/x");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.count("set-cookie"), 0u);
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST(HttpTextServer, AnUnknownPathIs404) {
  auto server = start_server();
  ASSERT_TRUE(server);
  server->publish("/metrics", "m 1\n", kPromType);
  EXPECT_EQ(get(server->port(), "/nope").status, 404);
  EXPECT_EQ(get(server->port(), "/metrics/").status, 404);
  EXPECT_EQ(get(server->port(), "/metricsx").status, 404);
}

TEST(HttpTextServer, OtherMethodsAre405WithAnAllowHeader) {
  auto server = start_server();
  ASSERT_TRUE(server);
  server->publish("/metrics", "m 1\n", kPromType);
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "BREW"}) {
    Response r = ask(server->port(), std::string(method) +
                                                    " /metrics HTTP/1.1\r\nHost: x\r\n"
                                                    "Content-Length: 5\r\n\r\nhello");
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(r.headers["allow"], "GET, HEAD") << method;
  }
}

TEST(HttpTextServer, GarbageIs400) {
  auto server = start_server();
  ASSERT_TRUE(server);
  const std::vector<std::string> garbage = {
      "HELLO\r\n\r\n",
      "GET /metrics\r\n\r\n",                                 // HTTP/0.9
      "GET  /metrics HTTP/1.1\r\n\r\n",                       // two spaces
      "GET metrics HTTP/1.1\r\n\r\n",                         // not an origin-form target
      "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",       // a header without a name
      "GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n",
      "GET /metrics FTP/1.0\r\n\r\n",
      "G(T /metrics HTTP/1.1\r\n\r\n",                        // not a token
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),  // a TLS ClientHello
      std::string("GET /\0 HTTP/1.1\r\n\r\n", 19),
  };
  for (const std::string& request : garbage) {
    Response r = ask(server->port(), request);
    EXPECT_EQ(r.status, 400) << request;
  }
  EXPECT_EQ(ask(server->port(), "GET /metrics HTTP/2.0\r\n\r\n").status, 505);
}

TEST(HttpTextServer, AnOversizedRequestIsRefused) {
  auto server = start_server();
  ASSERT_TRUE(server);
  server->publish("/metrics", "m 1\n", kPromType);
  std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
  while (request.size() < 20 * 1024) request += "X-Filler: " + std::string(100, 'f') + "\r\n";
  request += "\r\n";
  EXPECT_EQ(ask(server->port(), request).status, 431);

  // A request line that never ends is refused too, and the server still serves others.
  Socket endless(server->port());
  ASSERT_TRUE(endless.send_all("GET /" + std::string(9000, 'a')));
  auto raw = endless.read_to_eof();
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(raw->rfind("HTTP/1.1 431 ", 0), 0u) << raw->substr(0, 100);
  EXPECT_EQ(get(server->port(), "/metrics").status, 200);
}

TEST(HttpTextServer, AHeadOfExactlyTheLimitIsAccepted) {
  HttpTextServerOptions options;
  options.max_request_bytes = 256;
  auto server = start_server(options);
  ASSERT_TRUE(server);
  server->publish("/m", "ok", "text/plain");
  std::string request = "GET /m HTTP/1.1\r\nX-Pad: ";
  request += std::string(256 - request.size() - 4, 'p') + "\r\n\r\n";
  ASSERT_EQ(request.size(), 256u);
  EXPECT_EQ(ask(server->port(), request).status, 200);
  EXPECT_EQ(ask(server->port(), "GET /m HTTP/1.1\r\nX-Pad: p" + request.substr(24)).status,
            431);
}

// ---------------------------------------------------------------------------------------------
// Slow, silent and rude clients

TEST(HttpTextServer, SilentAndSlowClientsDoNotBlockOthers) {
  auto server = start_server();  // default 5 s per connection: far longer than this test takes
  ASSERT_TRUE(server);
  server->publish("/metrics", "m 1\n", kPromType);
  Socket silent(server->port());
  Socket slow(server->port());
  ASSERT_TRUE(slow.send_all("GET /metr"));
  const auto begin = Clock::now();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(get(server->port(), "/metrics").status, 200);
  EXPECT_LT(Clock::now() - begin, 2s);

  // The slow one finishes later and is answered as well.
  ASSERT_TRUE(slow.send_all("ics HTTP/1.1\r\n\r\n"));
  auto raw = slow.read_to_eof();
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(parse_response(*raw)->body, "m 1\n");
}

TEST(HttpTextServer, AClientThatSendsNothingIsClosedAtItsDeadline) {
  HttpTextServerOptions options;
  options.io_timeout = 200ms;
  auto server = start_server(options);
  ASSERT_TRUE(server);
  Socket silent(server->port());
  Socket trickle(server->port());
  ASSERT_TRUE(trickle.send_all("GET / HTTP/1.1\r\n"));  // never finishes its head
  const auto begin = Clock::now();
  EXPECT_TRUE(closed_by_peer(silent.fd(), kWait));
  EXPECT_TRUE(closed_by_peer(trickle.fd(), kWait));
  EXPECT_GE(Clock::now() - begin, 150ms);
  EXPECT_EQ(server->requests_served(), 0u);
}

TEST(HttpTextServer, WhenFullTheOldestUnansweredConnectionMakesRoom) {
  HttpTextServerOptions options;
  options.max_connections = 4;
  auto server = start_server(options);
  ASSERT_TRUE(server);
  server->publish("/metrics", "m 1\n", kPromType);
  std::vector<std::unique_ptr<Socket>> idle;
  for (int i = 0; i < 10; ++i) idle.push_back(std::make_unique<Socket>(server->port()));
  EXPECT_EQ(get(server->port(), "/metrics").status, 200);
  // The first idle connections were dropped to make room.
  EXPECT_TRUE(closed_by_peer(idle.front()->fd(), kWait));
}

TEST(HttpTextServer, AClientThatResetsMidResponseDoesNotHurtTheServer) {
  auto server = start_server();
  ASSERT_TRUE(server);
  server->publish("/big", std::string(8 << 20, 'b'), "text/plain");  // far beyond socket buffers
  for (int i = 0; i < 3; ++i) {
    Socket rude(server->port());
    ASSERT_TRUE(rude.send_all("GET /big HTTP/1.1\r\n\r\n"));
    char some[1024];
    pollfd p{rude.fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
    ASSERT_GT(::recv(rude.fd(), some, sizeof some, 0), 0);
    linger reset{1, 0};  // close with RST while the server is still writing
    ::setsockopt(rude.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  }
  server->publish("/metrics", "m 1\n", kPromType);
  EXPECT_EQ(get(server->port(), "/metrics").status, 200);
  const Response big = get(server->port(), "/big");
  EXPECT_EQ(big.body.size(), std::size_t{8} << 20);
}

TEST(HttpTextServer, PublishingWhileServingAlwaysServesAWholeVersion) {
  auto server = start_server();
  ASSERT_TRUE(server);
  const auto version = [](int i) {
    return std::string(1000 + i % 7, static_cast<char>('a' + i % 26));
  };
  server->publish("/metrics", version(0), kPromType);
  std::atomic<bool> done{false};
  std::thread publisher([&] {
    for (int i = 1; !done.load(); ++i) server->publish("/metrics", version(i), kPromType);
  });
  for (int i = 0; i < 50; ++i) {
    const std::string body = get(server->port(), "/metrics").body;
    ASSERT_FALSE(body.empty());
    EXPECT_EQ(body, std::string(body.size(), body[0]));
    EXPECT_GE(body.size(), 1000u);
    EXPECT_LE(body.size(), 1006u);
  }
  done.store(true);
  publisher.join();
}

TEST(HttpTextServer, RequestsServedCountsEveryAnswer) {
  auto server = start_server();
  ASSERT_TRUE(server);
  server->publish("/metrics", "m 1\n", kPromType);
  EXPECT_EQ(server->requests_served(), 0u);
  get(server->port(), "/metrics");
  get(server->port(), "/nope");
  ask(server->port(), "POST /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(server->requests_served(), 3u);
}

// ---------------------------------------------------------------------------------------------
// Addresses and lifetime

TEST(HttpTextServer, PortZeroResolvesToTheBoundPort) {
  auto server = start_server();
  ASSERT_TRUE(server);
  EXPECT_NE(server->port(), 0);
  EXPECT_EQ(server->bound_address(), "127.0.0.1:" + std::to_string(server->port()));

  auto by_name = HttpTextServer::start("localhost:0");
  ASSERT_TRUE(by_name) << by_name.error().to_string();
  EXPECT_NE((*by_name)->port(), 0);
  (*by_name)->publish("/metrics", "n 1\n", kPromType);
  if ((*by_name)->bound_address().rfind("127.", 0) == 0) {
    EXPECT_EQ(get((*by_name)->port(), "/metrics").body, "n 1\n");
  }
}

TEST(HttpTextServer, AnIpv6LiteralInBracketsIsAccepted) {
  auto server = HttpTextServer::start("[::1]:0");
  if (!server) GTEST_SKIP() << "no IPv6 loopback here: " << server.error().to_string();
  EXPECT_EQ((*server)->bound_address(), "[::1]:" + std::to_string((*server)->port()));
}

TEST(HttpTextServer, ABadAddressFailsNamingIt) {
  for (const std::string address :
       {"nonsense", "127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:65536",
        "127.0.0.1:-1", "::1:9100", "[::1", "[]:80", "203.0.113.7:0"}) {
    auto server = HttpTextServer::start(address);
    ASSERT_FALSE(server) << address;
    EXPECT_NE(server.error().to_string().find("'" + address + "'"), std::string::npos)
        << server.error().to_string();
  }
}

TEST(HttpTextServer, APortInUseFailsNamingTheAddress) {
  auto first = start_server();
  ASSERT_TRUE(first);
  const std::string address = first->bound_address();
  auto second = HttpTextServer::start(address);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().to_string().find(address), std::string::npos)
      << second.error().to_string();
  EXPECT_NE(second.error().to_string().find("in use"), std::string::npos)
      << second.error().to_string();
}

TEST(HttpTextServer, TheDestructorReturnsPromptlyWhateverClientsDo) {
  auto server = start_server();
  ASSERT_TRUE(server);
  server->publish("/big", std::string(8 << 20, 'b'), "text/plain");
  Socket silent(server->port());
  Socket half(server->port());
  ASSERT_TRUE(half.send_all("GET /big HTTP/1.1\r\n"));
  Socket reader(server->port());  // asks for a big page and never reads it
  ASSERT_TRUE(reader.send_all("GET /big HTTP/1.1\r\n\r\n"));
  const auto begin = Clock::now();
  server.reset();
  EXPECT_LT(Clock::now() - begin, 1s);
  EXPECT_TRUE(closed_by_peer(silent.fd(), kWait));
}

}  // namespace
}  // namespace cadre::transport
