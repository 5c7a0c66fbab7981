// ZeroMQ endpoints behind plain C++ types: RouterEndpoint (the hub) and DealerEndpoint (an agent).
// No ZeroMQ header leaks out of this file; each endpoint owns its context and socket.
//
// Threading: an endpoint is used by one thread only (except where a method says otherwise).
//
// Security is optional: without it traffic is plain ZMTP (fine on loopback, see
// is_loopback_endpoint). With it, traffic is CURVE-encrypted and the hub admits only clients whose
// public key is on its allow list.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cadre/result.h"
#include "cadre/transport/curve.h"

namespace cadre::transport {

// One frame received by the hub, with the routing identity of the peer that sent it.
struct InboundFrame {
  std::string peer;   // routing identity (opaque bytes); pass back to send()
  std::string frame;  // the payload frame (an encoded Envelope, normally)
};

// One frame received by the hub, as views into storage the endpoint owns (see receive_view).
struct InboundView {
  std::string_view peer;
  std::string_view frame;
};

// Hub-side security: the hub's own key pair and the client public keys (Z85) it admits.
struct ServerSecurity {
  CurveKeyPair server;
  std::vector<std::string> allowed_clients;
};

// Agent-side security: the agent's key pair and the public key the hub must prove it holds.
struct ClientSecurity {
  CurveKeyPair client;
  std::string server_public_key;
};

// A connection attempt a secured hub turned away.
struct Refusal {
  // The peer's IP address as text ("127.0.0.1", "::1"); for ipc:// peers ":uid:gid:pid" as
  // ZeroMQ reports them; "unknown" if the connection was gone before its address could be read
  // (possible only for peers refused during the handshake, e.g. those not speaking CURVE).
  std::string address;
  std::string reason;  // e.g. "client key AbCdEfGh... not in the allow list"
};

// Hub side: a ROUTER socket bound to `endpoint` (tcp://..., ipc://..., inproc://...).
// ZMQ_ROUTER_HANDOVER is on, so an agent that reconnects with the same identity takes over its
// old route; ZMQ_ROUTER_MANDATORY is on, so sending to an unknown peer fails instead of vanishing.
class RouterEndpoint {
 public:
  // Binds. Fails with a readable error (address in use, bad endpoint, bad key) instead of
  // throwing.
  //
  // With `security` (copied; the pointer need not outlive the call) the socket is a CURVE server
  // and a helper thread owned by the endpoint authenticates clients over ZAP (RFC 27): only
  // clients whose public key is in `allowed_clients` get in; every other attempt is refused and
  // recorded (see take_refusals). That includes clients that do not speak CURVE, or that hold the
  // wrong server public key, which the handshake itself rejects.
  static Result<std::unique_ptr<RouterEndpoint>> bind(const std::string& endpoint,
                                                      const ServerSecurity* security = nullptr);
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

  // As receive(), without copying the frame: the views point into the message as ZeroMQ handed
  // it over and stay valid until the next receive or receive_view call (or the endpoint's end).
  std::optional<InboundView> receive_view(std::chrono::milliseconds timeout);

  std::uint64_t dropped_shape() const;

  // Refused connection attempts recorded since the last call, oldest first; each attempt appears
  // once. At most the 1024 most recent are kept between calls. Thread-safe. Always empty without
  // security.
  std::vector<Refusal> take_refusals();

  // Refused connection attempts since bind, including those no longer kept. Thread-safe.
  std::uint64_t refused_count() const;

 private:
  struct Impl;
  explicit RouterEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Agent side: a DEALER socket connected to the hub with a fixed routing identity.
class DealerEndpoint {
 public:
  // Connects (asynchronously, as ZeroMQ does). `identity` must be 1..255 bytes and not start with
  // a zero byte. Fails on a malformed endpoint or malformed keys.
  //
  // With `security` (copied) the connection is CURVE-encrypted and the hub must hold the secret
  // key for `server_public_key`. A hub that refuses us is not reported here: like an absent hub,
  // it just never answers.
  static Result<std::unique_ptr<DealerEndpoint>> connect(const std::string& endpoint,
                                                         const std::string& identity,
                                                         const ClientSecurity* security = nullptr);
  ~DealerEndpoint();
  DealerEndpoint(const DealerEndpoint&) = delete;
  DealerEndpoint& operator=(const DealerEndpoint&) = delete;

  // Sends one frame. Returns false if it would block (high-water mark); never throws.
  bool send(std::string_view frame);

  // Waits up to `timeout` for one frame; nullopt on timeout or interruption.
  std::optional<std::string> receive(std::chrono::milliseconds timeout);

  // Drops the connection and all queued messages, and connects again with the same identity and
  // the same security (the Paranoid Pirate reconnect). Returns false if the new socket cannot be
  // made.
  bool reconnect();

 private:
  struct Impl;
  explicit DealerEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cadre::transport
