// The envelope every cadre message travels in, and its codec.
//
// Wire form (see docs/protocol.md): one ZeroMQ frame holding a msgpack array of exactly five
// elements: [version:uint, kind:uint, msg_id:uint, sender:str, body:map]. The body is one msgpack
// object whose fields depend on `kind`; this layer carries it as raw bytes and never looks inside.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cadre/result.h"

namespace cadre::transport {

inline constexpr std::uint32_t kProtocolVersion = 1;

// Hard limits on what a peer may send (docs/protocol.md, "Limits"). Decoders check them while
// walking the bytes, before anything is allocated for the content; past them a frame or body is
// refused (an error value, never an exception or an allocation sized by a hostile header).
inline constexpr std::size_t kMaxFrameBytes = 4 * 1024 * 1024;
inline constexpr std::size_t kMaxSenderBytes = 256;
// Per container: pairs of one map, items of one array (checked on the header, before the items).
inline constexpr std::size_t kMaxMapPairs = 4096;
inline constexpr std::size_t kMaxArrayItems = 65536;
// Per str, bin or ext payload. As large as a frame: one file of a workspace or a candidate may
// fill most of it (roles::kMaxAnswerFileBytes is 3 MiB), so within a frame the frame limit binds;
// the limit matters for a body decoded on its own.
inline constexpr std::size_t kMaxStringBytes = kMaxFrameBytes;
// msgpack objects in one body, counting every key, value and item (containers included): bounds
// the object tree a body decoder builds (~24 bytes each) whatever the mix of small containers.
// (decode_envelope counts each element on its own; all but the body are scalars.)
inline constexpr std::size_t kMaxObjects = 262144;
// Containers nested inside one another (a body map holding an array of maps is depth 3).
inline constexpr std::size_t kMaxNestingDepth = 32;

// Fixed numeric ids; never renumber, only append.
enum class MessageKind : std::uint8_t {
  hello = 1,      // agent -> hub: join the team
  welcome = 2,    // hub -> agent: joined; heartbeat settings
  heartbeat = 3,  // both ways
  assign = 4,     // hub -> agent: run a task (a lease)
  result = 5,     // agent -> hub: a task's outcome
  ack = 6,        // hub -> agent: result received (accepted or ignored)
  error = 7,      // either way: the previous message was refused
  bye = 8,        // either way: leaving / please leave
  cancel = 9,     // hub -> agent: drop a task you hold
  query = 10,     // tool -> hub: ask for a view (status, inbox); no HELLO needed
  view = 11,      // hub -> tool: the view asked for, as a JSON document
  decide = 12,    // tool -> hub: a person's decision on an inbox item
};

// Lowest and highest valid kind ids.
inline constexpr std::uint8_t kMinKind = 1;
inline constexpr std::uint8_t kMaxKind = 12;

const char* kind_name(MessageKind kind);

struct Envelope {
  std::uint32_t version = kProtocolVersion;
  MessageKind kind = MessageKind::heartbeat;
  std::uint64_t msg_id = 0;
  std::string sender;
  std::string body;  // exactly one encoded msgpack object; an empty map (0x80) when no fields
};

// Why a frame could not be decoded. `sender` and `msg_id` are filled when they could be read, so
// the receiver can answer with ERROR even for a wrong version or unknown kind.
struct DecodeFailure {
  enum class Reason { too_large, truncated, not_msgpack, bad_shape, bad_version, unknown_kind };
  Reason reason;
  std::string detail;
  std::string sender;
  std::uint64_t msg_id = 0;
};

const char* reason_name(DecodeFailure::Reason reason);

// Encodes an envelope into one frame. `body` must already be one msgpack object; an empty body
// is sent as an empty map.
std::string encode_envelope(const Envelope& envelope);

// Appends the head of a frame to `out`: everything encode_envelope writes before the body (the
// array header, version, kind, msg_id and sender). Appending one encoded body after it gives the
// bytes encode_envelope gives for the same envelope, without building the body apart first (see
// roles::encode_to).
void append_envelope_head(std::string& out, MessageKind kind, std::uint64_t msg_id,
                          std::string_view sender);

// Decodes one frame. Never throws, never allocates more than the frame's size. Fails when the
// frame exceeds kMaxFrameBytes or any other limit above (too_large; nesting: bad_shape), is not
// one msgpack array of five elements with the types above, has a version other than
// kProtocolVersion, or a kind outside [kMinKind, kMaxKind].
class DecodeResult {
 public:
  DecodeResult(Envelope envelope) : ok_(true), envelope_(std::move(envelope)) {}      // NOLINT
  DecodeResult(DecodeFailure failure) : ok_(false), failure_(std::move(failure)) {}  // NOLINT
  bool ok() const { return ok_; }
  Envelope& envelope() { return envelope_; }
  const DecodeFailure& failure() const { return failure_; }

 private:
  bool ok_;
  Envelope envelope_;
  DecodeFailure failure_{};
};

DecodeResult decode_envelope(std::string_view frame);

// Why some bytes are not exactly one msgpack map within the limits above: too_deep past
// kMaxNestingDepth, over_limit past kMaxMapPairs, kMaxArrayItems, kMaxStringBytes or kMaxObjects.
enum class MapCheck {
  ok, empty, not_msgpack, truncated, too_deep, trailing_bytes, not_a_map, over_limit
};

// Checks, without allocating, that `bytes` hold exactly one msgpack map within the limits. Bodies
// are checked with this before anything unpacks them, so hostile size headers cost nothing. On
// over_limit, `why` (when given) says which limit, e.g. "map of 5000 pairs exceeds the limit of
// 4096".
MapCheck check_msgpack_map(std::string_view bytes, std::string* why = nullptr);

// Bytes known to hold exactly one msgpack map within the limits above: what check_msgpack_map
// accepts. Only check_map and decode_envelope_view make one, so a decoder handed one (e.g.
// roles::decode_checked_outcome) need not walk the bytes again. It views the bytes it was made from and
// is valid as long as they are.
class CheckedMap {
 public:
  std::string_view bytes() const { return bytes_; }

 private:
  friend struct CheckedMapMaker;  // defined in envelope.cpp only
  explicit CheckedMap(std::string_view bytes) : bytes_(bytes) {}
  std::string_view bytes_;
};

// `bytes` as a CheckedMap when check_msgpack_map says ok; nullopt otherwise (check_msgpack_map
// says why).
std::optional<CheckedMap> check_map(std::string_view bytes);

// A decoded frame that points into the frame's bytes instead of copying them: valid as long as
// they are. The body was checked while the frame was walked.
struct EnvelopeView {
  std::uint32_t version = kProtocolVersion;
  MessageKind kind = MessageKind::heartbeat;
  std::uint64_t msg_id = 0;
  std::string_view sender;
  CheckedMap body;
};

class DecodeViewResult {
 public:
  DecodeViewResult(EnvelopeView envelope) : envelope_(envelope) {}                // NOLINT
  DecodeViewResult(DecodeFailure failure) : failure_(std::move(failure)) {}      // NOLINT
  bool ok() const { return envelope_.has_value(); }
  const EnvelopeView& envelope() const { return *envelope_; }
  const DecodeFailure& failure() const { return failure_; }

 private:
  std::optional<EnvelopeView> envelope_;
  DecodeFailure failure_{};
};

// decode_envelope without copies: the same checks and the same failures, and on success the
// sender and body as views into `frame` (no allocation on success).
DecodeViewResult decode_envelope_view(std::string_view frame);

}  // namespace cadre::transport
