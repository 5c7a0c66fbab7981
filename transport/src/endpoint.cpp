// RouterEndpoint and DealerEndpoint over cppzmq. Every ZeroMQ call that can throw is wrapped:
// failures become Error values or false/nullopt, never exceptions.
#include "cadre/transport/endpoint.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <zmq.hpp>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cadre/transport/envelope.h"

namespace cadre::transport {

namespace {

// Messages queued per peer, each way, before sends report "would block" and ZeroMQ stops reading
// from that peer. An agent has at most its capacity (<= 1024) of tasks in flight, so a
// well-behaved peer never comes near; a flooding or stalled one is held to this many messages,
// which bounds the memory it can make the hub spend (backpressure).
constexpr int kHighWaterMark = 4096;
// A peer whose frame exceeds this is disconnected by ZeroMQ before the frame is allocated.
constexpr std::int64_t kMaxMessageBytes = static_cast<std::int64_t>(kMaxFrameBytes);
constexpr int kReconnectIntervalMs = 100;
constexpr int kReconnectIntervalMaxMs = 1000;

Error zmq_error(const std::string& action, const std::string& endpoint, const std::exception& e) {
  return make_error(action + " " + endpoint + " failed: " + e.what());
}

// Reads every part of the next message, which must be ready. Returns an empty vector if nothing
// could be read (EAGAIN, EINTR).
std::vector<zmq::message_t> read_all_parts(zmq::socket_t& socket) {
  std::vector<zmq::message_t> parts;
  while (true) {
    zmq::message_t part;
    auto received = socket.recv(part, zmq::recv_flags::dontwait);
    if (!received) break;
    const bool more = part.more();
    parts.push_back(std::move(part));
    if (!more) break;
  }
  return parts;
}

// Waits until `socket` is readable or `timeout` passes. False on timeout, EINTR or error.
bool wait_readable(zmq::socket_t& socket, std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  if (timeout.count() < 0) timeout = std::chrono::milliseconds(0);
  int ready = zmq::poll(&item, 1, timeout);
  return ready > 0 && (item.revents & ZMQ_POLLIN) != 0;
}

// Checks a ServerSecurity before anything is opened; errors say which key is wrong, never its text.
Status check_server_security(const ServerSecurity& security) {
  if (auto valid = check_curve_key_pair(security.server); !valid) {
    return make_error("server CURVE key pair: " + valid.error().message);
  }
  if (security.allowed_clients.empty()) {
    return make_error("the client allow list is empty: no agent could connect");
  }
  for (std::size_t i = 0; i < security.allowed_clients.size(); ++i) {
    if (auto valid = check_curve_key(security.allowed_clients[i]); !valid) {
      return make_error("allowed client key #" + std::to_string(i + 1) + " " +
                        valid.error().message);
    }
  }
  return Status::Ok();
}

Status check_client_security(const ClientSecurity& security) {
  if (auto valid = check_curve_key_pair(security.client); !valid) {
    return make_error("client CURVE key pair: " + valid.error().message);
  }
  if (auto valid = check_curve_key(security.server_public_key); !valid) {
    return make_error("server public key " + valid.error().message);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Gatekeeper: the ZAP handler and handshake monitor of a secured RouterEndpoint.
//
// One helper thread serves three sockets of the router's context: the ZAP REP socket (RFC 27),
// the PAIR end of the router's socket monitor, and a control PAIR that tells it to stop.
//
// Each refused connection attempt is recorded once, from the monitor event that ends it:
//  - a CURVE client with an unlisted key reaches ZAP. The ZAP handler queues the refusal (address
//    from the ZAP request, reason naming the key) and the HANDSHAKE_FAILED_AUTH event that the
//    400 reply causes records it. ZAP replies reach their engines in the order they were sent, so
//    AUTH events come in the same order. A client that hangs up while its ZAP request is pending
//    gets no AUTH event, but a NO_DETAIL one (below): its queued refusal is dropped once stale.
//  - a client refused by the handshake itself (no CURVE, wrong server key) never reaches ZAP and
//    is recorded from HANDSHAKE_FAILED_PROTOCOL, or from HANDSHAKE_FAILED_NO_DETAIL if it hung up
//    first (a client without CURVE often sees the mismatch first; also: peers that give up or
//    time out). The monitor names only the router's own endpoint, so the peer address is read
//    with getpeername() from the fd of the ACCEPTED event and attached at the DISCONNECTED event
//    carrying that fd. This pairing relies on the context having one I/O thread: a failure event
//    and its engine's DISCONNECTED are emitted back to back by that thread.

using Clock = std::chrono::steady_clock;

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";  // fixed by RFC 27
constexpr const char* kMonitorEndpoint = "inproc://cadre-router-monitor";
constexpr const char* kControlEndpoint = "inproc://cadre-gatekeeper-control";
constexpr const char* kZapDomain = "cadre";
constexpr const char* kUnknownAddress = "unknown";
constexpr std::size_t kMaxKeptRefusals = 1024;
// A ZAP refusal normally meets its AUTH event within milliseconds; one this old never will.
constexpr auto kStaleZapRefusal = std::chrono::seconds(10);
constexpr int kMonitoredEvents = ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;

struct MonitorEvent {
  std::uint16_t event = 0;
  std::uint32_t value = 0;  // fd for ACCEPTED/DISCONNECTED, error code for failures
  std::string endpoint;     // the router's own endpoint, for a bound socket
};

std::string handshake_failure_reason(const MonitorEvent& event) {
  if (event.event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
    // A client without CURVE often ends up here: it sees the hub's CURVE greeting and hangs up
    // before the hub has read its own.
    return "handshake failed: connection closed during the handshake (peer gave up, timed out, "
           "or does not speak CURVE)";
  }
  switch (event.value) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
      return "handshake failed: peer does not speak CURVE";
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
      return "handshake failed: CURVE decryption failed (does the client have the wrong server "
             "public key?)";
    default: {
      char code[16];
      std::snprintf(code, sizeof code, "0x%08x", static_cast<unsigned>(event.value));
      return std::string("handshake failed: protocol error ") + code;
    }
  }
}

// The port (TCP) or path (ipc) at the end of a ZeroMQ endpoint, used to tell the router's own
// accepted sockets from any other descriptor that may have reused a number.
std::string endpoint_local_part(const std::string& endpoint) {
  if (endpoint.rfind("ipc://", 0) == 0) return endpoint.substr(6);
  const auto colon = endpoint.rfind(':');
  return colon == std::string::npos ? std::string() : endpoint.substr(colon + 1);
}

// The peer address of `fd`, if it still is a socket accepted on `local_endpoint`.
std::string accepted_peer_address(int fd, const std::string& local_endpoint) {
  sockaddr_storage local{};
  socklen_t local_size = sizeof local;
  sockaddr_storage peer{};
  socklen_t peer_size = sizeof peer;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_size) != 0 ||
      ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_size) != 0) {
    return kUnknownAddress;
  }
  const std::string expected_local = endpoint_local_part(local_endpoint);
  if (peer.ss_family == AF_INET || peer.ss_family == AF_INET6) {
    char host[NI_MAXHOST];
    char local_port[NI_MAXSERV];
    if (::getnameinfo(reinterpret_cast<sockaddr*>(&local), local_size, nullptr, 0, local_port,
                      sizeof local_port, NI_NUMERICSERV) != 0 ||
        expected_local != local_port ||
        ::getnameinfo(reinterpret_cast<sockaddr*>(&peer), peer_size, host, sizeof host, nullptr,
                      0, NI_NUMERICHOST) != 0) {
      return kUnknownAddress;
    }
    return host;
  }
  if (peer.ss_family == AF_UNIX) {
    const auto* local_unix = reinterpret_cast<const sockaddr_un*>(&local);
    ucred credentials{};
    socklen_t credentials_size = sizeof credentials;
    if (local.ss_family != AF_UNIX || expected_local != local_unix->sun_path ||
        ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &credentials_size) != 0) {
      return kUnknownAddress;
    }
    // The form ZeroMQ itself uses for ipc peers in ZAP requests.
    return ":" + std::to_string(credentials.uid) + ":" + std::to_string(credentials.gid) + ":" +
           std::to_string(credentials.pid);
  }
  return kUnknownAddress;
}

class Gatekeeper {
 public:
  // Binds the ZAP handler and the control pipe, starts monitoring `router` and the helper thread.
  // Call before `router` binds, so that no client is ever seen without authentication. Throws
  // zmq::error_t on failure (the caller turns it into an Error).
  Gatekeeper(zmq::context_t& context, zmq::socket_t& router, std::vector<std::string> allowed)
      : context_(context),
        router_(router),
        allowed_(allowed.begin(), allowed.end()),
        zap_(context, zmq::socket_type::rep),
        monitor_(context, zmq::socket_type::pair),
        control_in_(context, zmq::socket_type::pair),
        control_out_(context, zmq::socket_type::pair) {
    for (auto* s : {&zap_, &monitor_, &control_in_, &control_out_}) s->set(zmq::sockopt::linger, 0);
    zap_.bind(kZapEndpoint);
    control_in_.bind(kControlEndpoint);
    control_out_.connect(kControlEndpoint);
    if (zmq_socket_monitor(router_.handle(), kMonitorEndpoint, kMonitoredEvents) != 0) {
      throw zmq::error_t();
    }
    monitoring_ = true;
    monitor_.connect(kMonitorEndpoint);
    // The sockets above move to the helper thread here; thread creation is the memory barrier
    // ZeroMQ asks for when a socket changes threads.
    thread_ = std::thread([this] { run(); });
  }

  // Stops and joins the helper thread, then stops monitoring. Never throws.
  ~Gatekeeper() {
    bool told = false;
    try {
      told = control_out_.send(zmq::str_buffer("stop"), zmq::send_flags::dontwait).has_value();
    } catch (const std::exception&) {
    }
    // Fallback, so that join() cannot hang: shutting the context down ends the helper's poll with
    // ETERM (the endpoint is being destroyed anyway).
    if (!told) context_.shutdown();
    if (thread_.joinable()) thread_.join();
    if (monitoring_) zmq_socket_monitor(router_.handle(), nullptr, 0);
  }

  Gatekeeper(const Gatekeeper&) = delete;
  Gatekeeper& operator=(const Gatekeeper&) = delete;

  std::vector<Refusal> take_refusals() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<Refusal> taken(std::make_move_iterator(refusals_.begin()),
                               std::make_move_iterator(refusals_.end()));
    refusals_.clear();
    return taken;
  }

  std::uint64_t refused_count() const { return refused_.load(std::memory_order_relaxed); }

 private:
  // Helper thread entry point: serves until told to stop or the context terminates. Catches
  // everything: if it ever stopped early, ZAP requests would go unanswered and handshakes would
  // stall, which refuses everyone (fails closed).
  void run() {
    while (true) {
      try {
        zmq::pollitem_t items[] = {{control_in_.handle(), 0, ZMQ_POLLIN, 0},
                                   {monitor_.handle(), 0, ZMQ_POLLIN, 0},
                                   {zap_.handle(), 0, ZMQ_POLLIN, 0}};
        zmq::poll(items, 3, std::chrono::milliseconds(-1));
        if (items[0].revents & ZMQ_POLLIN) return;
        answer_zap_requests();
        read_monitor_events();
        process_monitor_events();
      } catch (const zmq::error_t& e) {
        if (e.num() == ETERM) return;
        // EINTR and transient errors: poll again.
      } catch (...) {
        // Out of memory and the like: keep serving.
      }
    }
  }

  void record(std::string address, std::string reason) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mutex_);
    if (refusals_.size() == kMaxKeptRefusals) refusals_.pop_front();
    refusals_.push_back(Refusal{std::move(address), std::move(reason)});
  }

  // Answers every pending ZAP request (RFC 27). The REP socket needs a reply to each request, so
  // malformed requests get a 400 as well.
  void answer_zap_requests() {
    while (true) {
      auto request = read_all_parts(zap_);
      if (request.empty()) return;
      // Frames: version, request id, domain, address, identity, mechanism, credentials...
      const std::string request_id = request.size() > 1 ? request[1].to_string() : std::string();
      const std::string address =
          request.size() > 3 ? request[3].to_string() : std::string(kUnknownAddress);
      std::string status = "400";
      std::string status_text;
      std::string user_id;
      if (request.size() != 7 || request[0].to_string_view() != "1.0" ||
          request[5].to_string_view() != "CURVE" || request[6].size() != 32) {
        status_text = "malformed ZAP request";
        await_auth(Refusal{address, "malformed ZAP request"});
      } else {
        char key[41];
        zmq_z85_encode(key, static_cast<const std::uint8_t*>(request[6].data()), 32);
        if (allowed_.count(key) != 0) {
          status = "200";
          status_text = "OK";
          user_id = key;  // becomes the messages' User-Id property
        } else {
          status_text = "client key not in the allow list";
          await_auth(
              Refusal{address, "client key " + std::string(key, 8) + "... not in the allow list"});
        }
      }
      zap_.send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
      zap_.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
      zap_.send(zmq::buffer(status), zmq::send_flags::sndmore);
      zap_.send(zmq::buffer(status_text), zmq::send_flags::sndmore);
      zap_.send(zmq::buffer(user_id), zmq::send_flags::sndmore);
      zap_.send(zmq::str_buffer(""), zmq::send_flags::none);  // no metadata
    }
  }

  void read_monitor_events() {
    while (true) {
      auto parts = read_all_parts(monitor_);
      if (parts.empty()) return;
      if (parts.size() != 2 || parts[0].size() != 6) continue;  // not a v1 monitor event
      MonitorEvent event;
      std::memcpy(&event.event, parts[0].data(), sizeof event.event);
      std::memcpy(&event.value, static_cast<const char*>(parts[0].data()) + 2,
                  sizeof event.value);
      event.endpoint = parts[1].to_string();
      events_.push_back(std::move(event));
    }
  }

  void process_monitor_events() {
    while (!events_.empty()) {
      MonitorEvent event = std::move(events_.front());
      events_.pop_front();
      switch (event.event) {
        case ZMQ_EVENT_ACCEPTED:
          remember_peer(event);
          break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
          record_zap_refusal(event.value);
          break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
          if (pending_failure_) record(kUnknownAddress, *pending_failure_);  // lost DISCONNECTED
          pending_failure_ = handshake_failure_reason(event);
          break;
        case ZMQ_EVENT_DISCONNECTED: {
          const int fd = static_cast<int>(event.value);
          std::string address = kUnknownAddress;
          if (auto found = peers_.find(fd); found != peers_.end()) {
            address = std::move(found->second);
            peers_.erase(found);
          }
          if (pending_failure_) {
            record(std::move(address), std::move(*pending_failure_));
            pending_failure_.reset();
          }
          break;
        }
        default:
          break;
      }
    }
  }

  // Queues a ZAP refusal until the AUTH event of its connection (called before the reply is sent,
  // so before that event can exist).
  void await_auth(Refusal refusal) {
    if (awaiting_auth_.size() == kMaxKeptRefusals) awaiting_auth_.pop_front();
    awaiting_auth_.push_back({std::move(refusal), Clock::now()});
  }

  // Records the oldest ZAP refusal still waiting for its AUTH event (`status`: the ZAP status).
  void record_zap_refusal(std::uint32_t status) {
    const auto now = Clock::now();
    while (!awaiting_auth_.empty() && now - awaiting_auth_.front().refused_at > kStaleZapRefusal) {
      awaiting_auth_.pop_front();  // its client hung up first and was recorded from NO_DETAIL
    }
    if (awaiting_auth_.empty()) {
      record(kUnknownAddress, "authentication refused (ZAP status " + std::to_string(status) + ")");
      return;
    }
    Refusal refusal = std::move(awaiting_auth_.front().refusal);
    awaiting_auth_.pop_front();
    record(std::move(refusal.address), std::move(refusal.reason));
  }

  // Reads the peer address of a just-accepted socket while its fd is (most likely) still open.
  void remember_peer(const MonitorEvent& accepted) {
    const int fd = static_cast<int>(accepted.value);
    std::string address = accepted_peer_address(fd, accepted.endpoint);
    // If this fd was accepted again since (a later ACCEPTED with the same number is already
    // queued), it may have been closed and reused before getpeername ran: don't guess.
    read_monitor_events();
    for (const auto& later : events_) {
      if (later.event == ZMQ_EVENT_ACCEPTED && static_cast<int>(later.value) == fd) {
        address = kUnknownAddress;
        break;
      }
    }
    peers_[fd] = std::move(address);
  }

  zmq::context_t& context_;
  zmq::socket_t& router_;
  const std::unordered_set<std::string> allowed_;
  zmq::socket_t zap_;
  zmq::socket_t monitor_;
  zmq::socket_t control_in_;   // helper thread's end
  zmq::socket_t control_out_;  // owner thread's end, used only by the destructor
  bool monitoring_ = false;

  // Helper-thread state.
  std::deque<MonitorEvent> events_;
  std::unordered_map<int, std::string> peers_;  // accepted fd -> peer address
  std::optional<std::string> pending_failure_;  // a handshake failure awaiting its DISCONNECTED
  struct AwaitingAuth {
    Refusal refusal;
    Clock::time_point refused_at;
  };
  std::deque<AwaitingAuth> awaiting_auth_;  // ZAP refusals, in reply order

  mutable std::mutex mutex_;
  std::deque<Refusal> refusals_;
  std::atomic<std::uint64_t> refused_{0};

  std::thread thread_;  // last: started once everything above exists
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// RouterEndpoint

struct RouterEndpoint::Impl {
  // Destroyed in reverse order: the gatekeeper's thread stops first, then the socket closes,
  // then the context terminates (which waits for every socket of it to be closed).
  zmq::context_t context;
  zmq::socket_t socket;
  std::unique_ptr<Gatekeeper> gatekeeper;  // only with security
  std::string bound;
  std::uint64_t dropped = 0;
  // The last message receive_view handed out: [identity, payload].
  zmq::message_t identity;
  zmq::message_t payload;

  Impl() : context(1), socket(context, zmq::socket_type::router) {}
};

RouterEndpoint::RouterEndpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RouterEndpoint::~RouterEndpoint() = default;

Result<std::unique_ptr<RouterEndpoint>> RouterEndpoint::bind(const std::string& endpoint,
                                                            const ServerSecurity* security) {
  if (security != nullptr) {
    if (auto valid = check_server_security(*security); !valid) {
      return make_error("binding ROUTER to " + endpoint + " failed: " + valid.error().message);
    }
  }
  try {
    auto impl = std::make_unique<Impl>();
    auto& s = impl->socket;
    if (security != nullptr) {
      impl->gatekeeper =
          std::make_unique<Gatekeeper>(impl->context, s, security->allowed_clients);
      s.set(zmq::sockopt::curve_server, 1);
      s.set(zmq::sockopt::curve_secretkey, security->server.secret_key);
      s.set(zmq::sockopt::zap_domain, kZapDomain);
    }
    s.set(zmq::sockopt::router_handover, 1);
    s.set(zmq::sockopt::router_mandatory, 1);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::sndhwm, kHighWaterMark);
    s.set(zmq::sockopt::rcvhwm, kHighWaterMark);
    s.set(zmq::sockopt::maxmsgsize, kMaxMessageBytes);
    s.bind(endpoint);
    impl->bound = s.get(zmq::sockopt::last_endpoint);
    return std::unique_ptr<RouterEndpoint>(new RouterEndpoint(std::move(impl)));
  } catch (const std::exception& e) {
    return zmq_error("binding ROUTER to", endpoint, e);
  }
}

const std::string& RouterEndpoint::bound_endpoint() const { return impl_->bound; }

bool RouterEndpoint::send(std::string_view peer, std::string_view frame) {
  try {
    auto first = impl_->socket.send(zmq::buffer(peer.data(), peer.size()),
                                    zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    if (!first) return false;  // EAGAIN
    auto second = impl_->socket.send(zmq::buffer(frame.data(), frame.size()),
                                     zmq::send_flags::dontwait);
    return second.has_value();
  } catch (const zmq::error_t&) {
    return false;  // EHOSTUNREACH (unknown peer) and anything else
  } catch (const std::exception&) {
    return false;
  }
}

std::optional<InboundFrame> RouterEndpoint::receive(std::chrono::milliseconds timeout) {
  try {
    // A frame already queued is taken without a poll: under load most are (one syscall fewer
    // per message).
    if (auto parts = read_all_parts(impl_->socket); parts.size() == 2)
      return InboundFrame{parts[0].to_string(), parts[1].to_string()};
    else if (!parts.empty())
      ++impl_->dropped;
    if (timeout.count() <= 0) return std::nullopt;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (!wait_readable(impl_->socket, left)) return std::nullopt;
      auto parts = read_all_parts(impl_->socket);
      if (parts.empty()) continue;
      if (parts.size() != 2) {
        ++impl_->dropped;  // not [identity, payload]: a misbehaving peer
        continue;
      }
      return InboundFrame{parts[0].to_string(), parts[1].to_string()};
    }
  } catch (const std::exception&) {
    return std::nullopt;  // EINTR and friends
  }
}

namespace {

// Reads the next message of `socket` if one is queued, into `identity` and `payload`. Returns
// false when none is (EAGAIN). A message of another shape than [identity, payload] is read
// whole, counted in `dropped`, and reported as read with `shaped` false. Throws zmq::error_t
// (EINTR and the like).
bool read_pair(zmq::socket_t& socket, zmq::message_t& identity, zmq::message_t& payload,
               std::uint64_t& dropped, bool& shaped) {
  if (!socket.recv(identity, zmq::recv_flags::dontwait)) return false;
  shaped = false;
  if (!identity.more()) {
    ++dropped;
    return true;
  }
  // The parts of a message arrive together: the rest are there.
  (void)socket.recv(payload, zmq::recv_flags::dontwait);
  if (!payload.more()) {
    shaped = true;
    return true;
  }
  for (bool more = true; more;) {
    zmq::message_t rest;
    if (!socket.recv(rest, zmq::recv_flags::dontwait)) break;
    more = rest.more();
  }
  ++dropped;
  return true;
}

}  // namespace

std::optional<InboundView> RouterEndpoint::receive_view(std::chrono::milliseconds timeout) {
  Impl& impl = *impl_;
  try {
    bool shaped = false;
    // A frame already queued is taken without a poll (see receive).
    while (read_pair(impl.socket, impl.identity, impl.payload, impl.dropped, shaped)) {
      if (shaped) return InboundView{impl.identity.to_string_view(), impl.payload.to_string_view()};
    }
    if (timeout.count() <= 0) return std::nullopt;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (!wait_readable(impl.socket, left)) return std::nullopt;
      while (read_pair(impl.socket, impl.identity, impl.payload, impl.dropped, shaped)) {
        if (shaped)
          return InboundView{impl.identity.to_string_view(), impl.payload.to_string_view()};
      }
    }
  } catch (const std::exception&) {
    return std::nullopt;  // EINTR and friends
  }
}

std::uint64_t RouterEndpoint::dropped_shape() const { return impl_->dropped; }

std::vector<Refusal> RouterEndpoint::take_refusals() {
  if (!impl_->gatekeeper) return {};
  return impl_->gatekeeper->take_refusals();
}

std::uint64_t RouterEndpoint::refused_count() const {
  return impl_->gatekeeper ? impl_->gatekeeper->refused_count() : 0;
}

// ---------------------------------------------------------------------------------------------
// DealerEndpoint

struct DealerEndpoint::Impl {
  zmq::context_t context;  // declared first: destroyed after the socket
  std::optional<zmq::socket_t> socket;
  std::string endpoint;
  std::string identity;
  std::optional<ClientSecurity> security;  // kept so that reconnect() uses CURVE too

  Impl() : context(1) {}

  // Replaces the socket with a freshly connected one. Throws zmq::error_t on failure.
  void open() {
    socket.reset();  // linger 0: queued messages are dropped
    zmq::socket_t s(context, zmq::socket_type::dealer);
    s.set(zmq::sockopt::routing_id, zmq::buffer(identity.data(), identity.size()));
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::sndhwm, kHighWaterMark);
    s.set(zmq::sockopt::rcvhwm, kHighWaterMark);
    s.set(zmq::sockopt::maxmsgsize, kMaxMessageBytes);
    s.set(zmq::sockopt::reconnect_ivl, kReconnectIntervalMs);
    s.set(zmq::sockopt::reconnect_ivl_max, kReconnectIntervalMaxMs);
    if (security) {
      s.set(zmq::sockopt::curve_serverkey, security->server_public_key);
      s.set(zmq::sockopt::curve_publickey, security->client.public_key);
      s.set(zmq::sockopt::curve_secretkey, security->client.secret_key);
    }
    s.connect(endpoint);
    socket.emplace(std::move(s));
  }
};

DealerEndpoint::DealerEndpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DealerEndpoint::~DealerEndpoint() = default;

Result<std::unique_ptr<DealerEndpoint>> DealerEndpoint::connect(const std::string& endpoint,
                                                                const std::string& identity,
                                                                const ClientSecurity* security) {
  if (identity.empty() || identity.size() > 255) {
    return make_error("agent identity must be 1..255 bytes, got " +
                      std::to_string(identity.size()));
  }
  if (identity.front() == '\0') {
    return make_error("agent identity must not start with a zero byte");
  }
  if (security != nullptr) {
    if (auto valid = check_client_security(*security); !valid) {
      return make_error("connecting DEALER to " + endpoint + " failed: " + valid.error().message);
    }
  }
  try {
    auto impl = std::make_unique<Impl>();
    impl->endpoint = endpoint;
    impl->identity = identity;
    if (security != nullptr) impl->security = *security;
    impl->open();
    return std::unique_ptr<DealerEndpoint>(new DealerEndpoint(std::move(impl)));
  } catch (const std::exception& e) {
    return zmq_error("connecting DEALER to", endpoint, e);
  }
}

bool DealerEndpoint::send(std::string_view frame) {
  if (!impl_->socket) return false;
  try {
    auto sent = impl_->socket->send(zmq::buffer(frame.data(), frame.size()),
                                    zmq::send_flags::dontwait);
    return sent.has_value();
  } catch (const std::exception&) {
    return false;
  }
}

std::optional<std::string> DealerEndpoint::receive(std::chrono::milliseconds timeout) {
  if (!impl_->socket) return std::nullopt;
  try {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (!wait_readable(*impl_->socket, left)) return std::nullopt;
      auto parts = read_all_parts(*impl_->socket);
      if (parts.size() != 1) continue;  // nothing read, or not one frame: dropped
      return parts[0].to_string();
    }
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

bool DealerEndpoint::reconnect() {
  try {
    impl_->open();
    return true;
  } catch (const std::exception&) {
    impl_->socket.reset();
    return false;
  }
}

}  // namespace cadre::transport
