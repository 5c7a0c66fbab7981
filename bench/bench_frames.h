// Frames as an agent sends them, for the benchmarks that play agents (dispatch, codec).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "cadre/transport/envelope.h"

namespace cadre::bench {

// A whole frame (docs/protocol.md): the envelope of `kind` from `sender` around `body`.
inline std::string frame_of(transport::MessageKind kind, std::uint64_t msg_id,
                            const std::string& sender, std::string body) {
  transport::Envelope envelope;
  envelope.kind = kind;
  envelope.msg_id = msg_id;
  envelope.sender = sender;
  envelope.body = std::move(body);
  return transport::encode_envelope(envelope);
}

}  // namespace cadre::bench
