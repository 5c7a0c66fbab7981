// ZeroMQ endpoints behind plain C++ types: RouterEndpoint (the hub) and DealerEndpoint (an agent).
// No ZeroMQ header leaks out of this file; each endpoint owns its context and socket.
//
// Threading: an endpoint is used by one thread only.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cadre/result.h"

namespace cadre::transport {

// One frame received by the hub, with the routing identity of the peer that sent it.
struct InboundFrame {
  std::string peer;   // routing identity (opaque bytes); pass back to send()
  std::string frame;  // the payload frame (an encoded Envelope, normally)
};

// Hub side: a ROUTER socket bound to `endpoint` (tcp://..., ipc://..., inproc://...).
// ZMQ_ROUTER_HANDOVER is on, so an agent that reconnects with the same identity takes over its
// old route; ZMQ_ROUTER_MANDATORY is on, so sending to an unknown peer fails instead of vanishing.
class RouterEndpoint {
 public:
  // Binds. Fails with a readable error (address in use, bad endpoint) instead of throwing.
  static Result<std::unique_ptr<RouterEndpoint>> bind(const std::string& endpoint);
  ~RouterEndpoint();
  RouterEndpoint(const RouterEndpoint&) = delete;
  RouterEndpoint& operator=(const RouterEndpoint&) = delete;

  // The endpoint actually bound (resolves tcp://127.0.0.1:* to the chosen port).
  const std::string& bound_endpoint() const;

  // Sends one frame to `peer`. Returns false if the peer is unknown or the send would block;
  // never throws.
  bool send(std::string_view peer, std::string_view frame);

  // Waits up to `timeout` for one frame. Returns nullopt on timeout or interruption (EINTR).
  // Messages with a number of frames other than [identity, payload] are dropped and counted in
  // dropped_shape().
  std::optional<InboundFrame> receive(std::chrono::milliseconds timeout);

  std::uint64_t dropped_shape() const;

 private:
  struct Impl;
  explicit RouterEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Agent side: a DEALER socket connected to the hub with a fixed routing identity.
class DealerEndpoint {
 public:
  // Connects (asynchronously, as ZeroMQ does). `identity` must be 1..255 bytes and not start with
  // a zero byte. Fails on a malformed endpoint.
  static Result<std::unique_ptr<DealerEndpoint>> connect(const std::string& endpoint,
                                                         const std::string& identity);
  ~DealerEndpoint();
  DealerEndpoint(const DealerEndpoint&) = delete;
  DealerEndpoint& operator=(const DealerEndpoint&) = delete;

  // Sends one frame. Returns false if it would block (high-water mark); never throws.
  bool send(std::string_view frame);

  // Waits up to `timeout` for one frame; nullopt on timeout or interruption.
  std::optional<std::string> receive(std::chrono::milliseconds timeout);

  // Drops the connection and all queued messages, and connects again with the same identity
  // (the Paranoid Pirate reconnect). Returns false if the new socket cannot be made.
  bool reconnect();

 private:
  struct Impl;
  explicit DealerEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cadre::transport
