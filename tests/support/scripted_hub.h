// ScriptedHub: a hub under a test's control, speaking to one agent over a real ROUTER socket.
// Quiet by default (it sends only what the test sends); `Mode::like_a_hub` makes it heartbeat
// every 100 ms once the agent said HELLO and answer anything before HELLO with ERROR
// not_registered, as the real hub does.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "cadre/roles/messages.h"
#include "cadre/transport/endpoint.h"
#include "cadre/transport/envelope.h"

namespace cadre::testing {

class ScriptedHub {
 public:
  enum class Mode { quiet, like_a_hub };

  explicit ScriptedHub(const std::string& endpoint, Mode mode = Mode::quiet) : mode_(mode) {
    auto router = transport::RouterEndpoint::bind(endpoint);
    EXPECT_TRUE(router.ok()) << (router.ok() ? "" : router.error().to_string());
    if (router.ok()) router_ = std::move(router.value());
  }

  // Waits up to `timeout` for the next message of `kind` from the agent; others are counted
  // (heartbeats) and skipped.
  std::optional<transport::Envelope> expect(transport::MessageKind kind,
                                            std::chrono::milliseconds timeout) {
    using namespace std::chrono_literals;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto next_beat = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < deadline) {
      if (mode_ == Mode::like_a_hub && registered_ &&
          std::chrono::steady_clock::now() >= next_beat) {
        send(transport::MessageKind::heartbeat, roles::encode_empty());
        next_beat += 100ms;
      }
      auto inbound = router_->receive(20ms);
      if (!inbound) continue;
      peer_ = inbound->peer;
      auto decoded = transport::decode_envelope(inbound->frame);
      if (!decoded.ok()) continue;
      const transport::MessageKind arrived = decoded.envelope().kind;
      if (arrived == transport::MessageKind::hello) registered_ = true;
      if (mode_ == Mode::like_a_hub && !registered_) {
        send(transport::MessageKind::error,
             roles::encode(roles::ErrorReply{"not_registered", "send HELLO first",
                                             decoded.envelope().msg_id}));
        continue;
      }
      if (arrived == transport::MessageKind::heartbeat) ++heartbeats_;
      if (arrived == kind) return decoded.envelope();
    }
    return std::nullopt;
  }

  // Sends one message to the agent (the peer last heard from), in protocol `version`.
  void send(transport::MessageKind kind, std::string body, std::uint32_t version = 1) {
    transport::Envelope envelope;
    envelope.version = version;
    envelope.kind = kind;
    envelope.msg_id = ++msg_id_;
    envelope.sender = "scripted-hub";
    envelope.body = std::move(body);
    EXPECT_TRUE(router_->send(peer_, transport::encode_envelope(envelope)));
  }

  void welcome(std::uint32_t heartbeat_ms, std::uint32_t liveness = 3) {
    roles::Welcome welcome;
    welcome.hub_id = "scripted-hub";
    welcome.heartbeat_ms = heartbeat_ms;
    welcome.liveness = liveness;
    send(transport::MessageKind::welcome, roles::encode(welcome));
  }

  std::uint64_t last_msg_id() const { return msg_id_; }
  int heartbeats() const { return heartbeats_; }

 private:
  Mode mode_;
  std::unique_ptr<transport::RouterEndpoint> router_;
  std::string peer_;
  std::uint64_t msg_id_ = 0;
  int heartbeats_ = 0;
  bool registered_ = false;
};

}  // namespace cadre::testing
