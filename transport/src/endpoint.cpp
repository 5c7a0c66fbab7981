// RouterEndpoint and DealerEndpoint over cppzmq. Every ZeroMQ call that can throw is wrapped:
// failures become Error values or false/nullopt, never exceptions.
#include "cadre/transport/endpoint.h"

#include <zmq.hpp>

#include <cerrno>
#include <vector>

#include "cadre/transport/envelope.h"

namespace cadre::transport {

namespace {

// Messages queued per peer before sends report "would block"; generous, frames are small.
constexpr int kHighWaterMark = 100000;
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

}  // namespace

// ---------------------------------------------------------------------------------------------
// RouterEndpoint

struct RouterEndpoint::Impl {
  zmq::context_t context;  // declared first: destroyed after the socket
  zmq::socket_t socket;
  std::string bound;
  std::uint64_t dropped = 0;

  Impl() : context(1), socket(context, zmq::socket_type::router) {}
};

RouterEndpoint::RouterEndpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RouterEndpoint::~RouterEndpoint() = default;

Result<std::unique_ptr<RouterEndpoint>> RouterEndpoint::bind(const std::string& endpoint) {
  try {
    auto impl = std::make_unique<Impl>();
    auto& s = impl->socket;
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

std::uint64_t RouterEndpoint::dropped_shape() const { return impl_->dropped; }

// ---------------------------------------------------------------------------------------------
// DealerEndpoint

struct DealerEndpoint::Impl {
  zmq::context_t context;  // declared first: destroyed after the socket
  std::optional<zmq::socket_t> socket;
  std::string endpoint;
  std::string identity;

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
    s.connect(endpoint);
    socket.emplace(std::move(s));
  }
};

DealerEndpoint::DealerEndpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DealerEndpoint::~DealerEndpoint() = default;

Result<std::unique_ptr<DealerEndpoint>> DealerEndpoint::connect(const std::string& endpoint,
                                                                const std::string& identity) {
  if (identity.empty() || identity.size() > 255) {
    return make_error("agent identity must be 1..255 bytes, got " +
                      std::to_string(identity.size()));
  }
  if (identity.front() == '\0') {
    return make_error("agent identity must not start with a zero byte");
  }
  try {
    auto impl = std::make_unique<Impl>();
    impl->endpoint = endpoint;
    impl->identity = identity;
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
