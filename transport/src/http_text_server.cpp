// HttpTextServer: one thread, one poll() loop over a listening socket, a wake-up pipe and the
// open connections. Each connection goes reading -> writing -> draining -> closed:
//   reading:  collect the request head (bounded) until a blank line, then answer it;
//   writing:  send the response (non-blocking, MSG_NOSIGNAL);
//   draining: after shutdown(SHUT_WR), read and discard what the client still sends (a little,
//             briefly), so that closing with unread input does not reset the connection before
//             the client has read the response.
#include "cadre/transport/http_text_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

namespace cadre::transport {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kTextPlain = "text/plain; charset=utf-8";
// After a response, how long and how much a client may keep sending before the connection closes.
constexpr auto kDrainTime = std::chrono::milliseconds(1000);
constexpr std::size_t kDrainBytes = 64 * 1024;
// When accept() fails for want of descriptors or memory, how long to stop accepting.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
constexpr int kBacklog = 64;

struct Page {
  std::string body;
  std::string content_type;
};

enum class Phase { reading, writing, draining };

struct Connection {
  int fd = -1;
  Phase phase = Phase::reading;
  std::string in;
  std::string out;
  std::size_t sent = 0;
  std::size_t drained = 0;
  Clock::time_point accepted_at;
  Clock::time_point deadline;
};

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

std::string errno_text(int err) { return std::strerror(err); }

// A tchar of RFC 9110 (the characters of a method or a header name).
bool is_token_char(unsigned char c) {
  if (std::isalnum(c)) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}
bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
           return is_token_char(static_cast<unsigned char>(c));
         });
}
// Bytes that may not appear in a request line (controls other than the CR before LF, and DEL).
bool is_bad_line_byte(unsigned char c) { return (c < 0x20 && c != '\r') || c == 0x7f; }

const char* reason_of(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 505: return "HTTP Version Not Supported";
  }
  return "Error";
}

std::string response(int status, const std::string& content_type, const std::string& body,
                     bool head_only, const char* extra_headers = "") {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason_of(status) + "\r\n";
  out += "Content-Type: " + content_type + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += extra_headers;
  out += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
  if (!head_only) out += body;
  return out;
}

std::string error_response(int status, bool head_only, const char* extra_headers = "") {
  return response(status, kTextPlain, std::to_string(status) + " " + reason_of(status) + "\n",
                  head_only, extra_headers);
}

// "HOST:PORT" split; HOST may be "[v6]" (brackets removed) or empty.
Result<std::pair<std::string, std::string>> split_address(const std::string& address) {
  const auto bad = [&](const std::string& why) {
    return make_error("bad listen address '" + address + "': " + why + " (expected HOST:PORT)");
  };
  std::string host, port;
  if (!address.empty() && address[0] == '[') {
    const std::size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':')
      return bad("an IPv6 address in brackets must be followed by :PORT");
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
    if (host.empty()) return bad("empty IPv6 address");
  } else {
    const std::size_t colon = address.rfind(':');
    if (colon == std::string::npos) return bad("no port");
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find(':') != std::string::npos) return bad("put an IPv6 address in brackets");
  }
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoul(port) > 65535)
    return bad("the port must be a number from 0 to 65535");
  return std::make_pair(host, port);
}

// The numeric "HOST:PORT" of a bound socket.
std::string address_of(int fd, std::uint16_t& port) {
  sockaddr_storage storage{};
  socklen_t len = sizeof storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  if (storage.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&storage);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(&storage);
  ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
  port = ntohs(a->sin_port);
  return std::string(host) + ":" + std::to_string(port);
}

}  // namespace

struct HttpTextServer::Impl {
  HttpTextServerOptions options;
  int listen_fd = -1;
  int wake_read = -1;
  int wake_write = -1;
  std::string bound;
  std::uint16_t port = 0;

  mutable std::mutex pages_mutex;
  std::map<std::string, std::shared_ptr<const Page>> pages;  // guarded by pages_mutex

  std::atomic<std::uint64_t> served{0};
  std::atomic<bool> stopping{false};
  std::thread thread;

  // Owned by the thread.
  std::vector<Connection> connections;
  Clock::time_point accept_paused_until{};

  ~Impl() {
    for (Connection& c : connections) close_fd(c.fd);
    close_fd(listen_fd);
    close_fd(wake_read);
    close_fd(wake_write);
  }

  void run();
  void serve_once();
  void accept_new(Clock::time_point now);
  void on_readable(Connection& c, Clock::time_point now);
  void on_writable(Connection& c, Clock::time_point now);
  void drain(Connection& c);
  // Parses c.in; when the request head is complete (or hopeless) queues the response.
  void try_answer(Connection& c, Clock::time_point now);
  void answer(Connection& c, std::string out, Clock::time_point now);
  std::string page_response(const std::string& path, bool head_only) const;
};

void HttpTextServer::Impl::run() {
  while (!stopping.load()) {
    try {
      serve_once();
    } catch (...) {
      // Out of memory or the like: drop every connection (freeing what they hold) and go on.
      for (Connection& c : connections) close_fd(c.fd);
      connections.clear();
    }
  }
}

void HttpTextServer::Impl::serve_once() {
  Clock::time_point now = Clock::now();
  for (Connection& c : connections)
    if (now >= c.deadline) close_fd(c.fd);
  std::erase_if(connections, [](const Connection& c) { return c.fd < 0; });

  std::vector<pollfd> fds;
  fds.reserve(connections.size() + 2);
  fds.push_back({wake_read, POLLIN, 0});
  const bool accepting = now >= accept_paused_until;
  fds.push_back({accepting ? listen_fd : -1, POLLIN, 0});
  Clock::time_point wake_at = accepting ? Clock::time_point::max() : accept_paused_until;
  for (const Connection& c : connections) {
    fds.push_back({c.fd, static_cast<short>(c.phase == Phase::writing ? POLLOUT : POLLIN), 0});
    wake_at = std::min(wake_at, c.deadline);
  }
  int timeout_ms = -1;
  if (wake_at != Clock::time_point::max()) {
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake_at - now).count();
    timeout_ms = static_cast<int>(std::clamp<std::int64_t>(wait, 0, 60'000));
  }
  const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
  if (ready < 0) return;  // EINTR (or ENOMEM): look again
  if (ready == 0) return;
  if (fds[0].revents != 0) {
    char scratch[64];
    while (::read(wake_read, scratch, sizeof scratch) > 0) {
    }
    if (stopping.load()) return;
  }
  now = Clock::now();
  for (std::size_t i = 0; i < connections.size(); ++i) {
    const short revents = fds[i + 2].revents;
    if (revents == 0) continue;
    Connection& c = connections[i];
    if (c.phase == Phase::writing) {
      if (revents & (POLLERR | POLLHUP | POLLNVAL)) close_fd(c.fd);
      else on_writable(c, now);
    } else {
      on_readable(c, now);  // errors and hang-ups show up as recv() results
    }
  }
  std::erase_if(connections, [](const Connection& c) { return c.fd < 0; });
  if (fds[1].revents != 0) accept_new(now);
}

void HttpTextServer::Impl::accept_new(Clock::time_point now) {
  for (int i = 0; i < kBacklog; ++i) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        accept_paused_until = now + kAcceptPause;
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      return;  // EAGAIN: nothing more to accept
    }
    if (connections.size() >= std::max<std::size_t>(options.max_connections, 1)) {
      // Full: make room by dropping the oldest connection that has not been answered (or is
      // only being drained); when every one is taking its response, turn the newcomer away.
      auto victim = connections.end();
      for (auto it = connections.begin(); it != connections.end(); ++it)
        if (it->phase != Phase::writing &&
            (victim == connections.end() || it->accepted_at < victim->accepted_at))
          victim = it;
      if (victim == connections.end()) {
        int refused = fd;
        close_fd(refused);
        continue;
      }
      close_fd(victim->fd);
      connections.erase(victim);
    }
    Connection c;
    c.fd = fd;
    c.accepted_at = now;
    c.deadline = now + options.io_timeout;
    connections.push_back(std::move(c));
  }
}

void HttpTextServer::Impl::on_readable(Connection& c, Clock::time_point now) {
  if (c.phase == Phase::draining) return drain(c);
  const std::size_t room =
      options.max_request_bytes - std::min(c.in.size(), options.max_request_bytes);
  if (room == 0) return try_answer(c, now);  // cannot happen: a full head was answered
  char buffer[4096];
  const ssize_t n = ::recv(c.fd, buffer, std::min(room, sizeof buffer), MSG_DONTWAIT);
  if (n == 0) return close_fd(c.fd);  // the client went away before finishing its request
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) close_fd(c.fd);
    return;
  }
  c.in.append(buffer, static_cast<std::size_t>(n));
  try_answer(c, now);
}

void HttpTextServer::Impl::try_answer(Connection& c, Clock::time_point now) {
  const std::string_view in = c.in;
  const std::size_t line_end = in.find('\n');
  if (line_end == std::string_view::npos) {
    // Not even a request line yet: refuse early what can never become one.
    if (std::any_of(in.begin(), in.end(),
                    [](char ch) { return is_bad_line_byte(static_cast<unsigned char>(ch)); }))
      return answer(c, error_response(400, false), now);
    if (in.size() >= options.max_request_bytes) return answer(c, error_response(431, false), now);
    return;
  }

  // The request line: METHOD SP TARGET SP HTTP/x.y
  std::string_view line = in.substr(0, line_end);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos ||
      std::any_of(line.begin(), line.end(),
                  [](char ch) { return is_bad_line_byte(static_cast<unsigned char>(ch)); }))
    return answer(c, error_response(400, false), now);
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method) || target.empty()) return answer(c, error_response(400, false), now);
  const bool is_http_version = version.size() == 8 && version.substr(0, 5) == "HTTP/" &&
                               std::isdigit(static_cast<unsigned char>(version[5])) &&
                               version[6] == '.' &&
                               std::isdigit(static_cast<unsigned char>(version[7]));
  if (!is_http_version) return answer(c, error_response(400, false), now);
  if (version != "HTTP/1.0" && version != "HTTP/1.1")
    return answer(c, error_response(505, false), now);

  // The rest of the head: header lines up to a blank line.
  std::size_t pos = line_end + 1;
  while (true) {
    const std::size_t end = in.find('\n', pos);
    if (end == std::string_view::npos) {
      if (in.size() >= options.max_request_bytes) return answer(c, error_response(431, false), now);
      return;  // wait for more
    }
    std::string_view header = in.substr(pos, end - pos);
    if (!header.empty() && header.back() == '\r') header.remove_suffix(1);
    pos = end + 1;
    if (header.empty()) break;
    const std::size_t colon = header.find(':');
    if (colon == std::string_view::npos || !is_token(header.substr(0, colon)) ||
        std::any_of(header.begin(), header.end(), [](char ch) {
          const auto u = static_cast<unsigned char>(ch);
          return (u < 0x20 && u != '\t') || u == 0x7f;
        }))
      return answer(c, error_response(400, false), now);
  }

  const bool head_only = method == "HEAD";
  if (method != "GET" && !head_only)
    return answer(c, error_response(405, false, "Allow: GET, HEAD\r\n"), now);
  if (target.front() != '/') return answer(c, error_response(400, head_only), now);
  target = target.substr(0, target.find_first_of("?#"));
  answer(c, page_response(std::string(target), head_only), now);
}

std::string HttpTextServer::Impl::page_response(const std::string& path, bool head_only) const {
  std::shared_ptr<const Page> page;
  std::vector<std::string> paths;
  {
    std::lock_guard<std::mutex> lock(pages_mutex);
    auto it = pages.find(path);
    if (it != pages.end()) page = it->second;
    else if (path == "/")
      for (const auto& [p, unused] : pages) paths.push_back(p);
  }
  if (page) return response(200, page->content_type, page->body, head_only);
  if (path != "/") return error_response(404, head_only);
  std::string index = "cadre hub\n";
  if (paths.empty()) index += "nothing published yet\n";
  for (const std::string& p : paths) index += p + "\n";
  return response(200, kTextPlain, index, head_only);
}

void HttpTextServer::Impl::answer(Connection& c, std::string out, Clock::time_point now) {
  served.fetch_add(1);
  c.phase = Phase::writing;
  c.out = std::move(out);
  c.sent = 0;
  c.in.clear();
  c.in.shrink_to_fit();
  c.deadline = now + options.io_timeout;
  on_writable(c, now);  // most responses fit the socket buffer at once
}

void HttpTextServer::Impl::on_writable(Connection& c, Clock::time_point now) {
  while (c.sent < c.out.size()) {
    const ssize_t n =
        ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) close_fd(c.fd);
      return;
    }
    c.sent += static_cast<std::size_t>(n);
  }
  c.out.clear();
  c.out.shrink_to_fit();
  ::shutdown(c.fd, SHUT_WR);
  c.phase = Phase::draining;
  c.deadline = std::min(c.deadline, now + kDrainTime);
}

void HttpTextServer::Impl::drain(Connection& c) {
  char buffer[4096];
  const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) return close_fd(c.fd);  // the client closed (or failed): done
  c.drained += static_cast<std::size_t>(n);
  if (c.drained > kDrainBytes) close_fd(c.fd);
}

// ---------------------------------------------------------------------------------------------

HttpTextServer::HttpTextServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpTextServer::~HttpTextServer() {
  impl_->stopping.store(true);
  const char byte = 'x';
  while (::write(impl_->wake_write, &byte, 1) < 0 && errno == EINTR) {
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

Result<std::unique_ptr<HttpTextServer>> HttpTextServer::start(
    const std::string& address, const HttpTextServerOptions& options) {
  auto parts = split_address(address);
  if (!parts) return parts.error();
  std::string host = parts->first;
  const std::string& port = parts->second;
  if (host.empty()) host = "0.0.0.0";

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int gai = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
  if (gai != 0)
    return make_error("cannot listen on '" + address + "': " +
                      (gai == EAI_SYSTEM ? errno_text(errno) : std::string(gai_strerror(gai))));

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  std::string failure = "no usable address";
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                      ai->ai_protocol);
    if (fd < 0) {
      failure = errno_text(errno);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, kBacklog) != 0) {
      failure = errno_text(errno);
      close_fd(fd);
      continue;
    }
    impl->listen_fd = fd;
    break;
  }
  ::freeaddrinfo(found);
  if (impl->listen_fd < 0) return make_error("cannot listen on '" + address + "': " + failure);
  impl->bound = address_of(impl->listen_fd, impl->port);

  int wake[2];
  if (::pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0)
    return make_error("cannot listen on '" + address + "': pipe: " + errno_text(errno));
  impl->wake_read = wake[0];
  impl->wake_write = wake[1];

  // The thread blocks every signal, so that signals meant for the process (SIGINT, SIGTERM) reach
  // a thread that handles them instead of merely interrupting our poll().
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  try {
    impl->thread = std::thread([raw = impl.get()] { raw->run(); });
  } catch (const std::exception& e) {
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    return make_error("cannot listen on '" + address + "': cannot start a thread: " + e.what());
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return std::unique_ptr<HttpTextServer>(new HttpTextServer(std::move(impl)));
}

std::string HttpTextServer::bound_address() const { return impl_->bound; }
std::uint16_t HttpTextServer::port() const { return impl_->port; }

void HttpTextServer::publish(const std::string& path, std::string body, std::string content_type) {
  // A content type cannot break out of its header line.
  std::erase_if(content_type, [](char c) { return c == '\r' || c == '\n'; });
  auto page = std::make_shared<const Page>(Page{std::move(body), std::move(content_type)});
  std::shared_ptr<const Page> old;  // freed outside the lock
  std::lock_guard<std::mutex> lock(impl_->pages_mutex);
  auto& slot = impl_->pages[path];
  old = std::move(slot);
  slot = std::move(page);
}

std::uint64_t HttpTextServer::requests_served() const { return impl_->served.load(); }

}  // namespace cadre::transport
