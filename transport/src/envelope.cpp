// Envelope codec: [version, kind, msg_id, sender, body] as one msgpack array.
//
// Decoding never builds msgpack::object trees: each element is walked with a visitor that records
// only what it needs (its type, an integer, a string view into the frame), so a hostile frame
// cannot make us allocate (msgpack::unpack would reserve an array's slots from its header before
// the elements arrive). The same walk enforces the limits of envelope.h (container sizes on their
// headers, string sizes, object count, nesting), so a body that passes can be unpacked by the
// body decoders at a cost bounded by the limits. The body is returned as the raw bytes of the
// fifth element.
#include "cadre/transport/envelope.h"

#include <msgpack.hpp>

#include <cstring>
#include <limits>
#include <new>
#include <optional>

namespace cadre::transport {

namespace {

// What one msgpack element turned out to be, read without allocating.
struct ElementProbe {
  enum class Type { none, nil, boolean, uint, nint, floating, str, bin, ext, array, map };

  Type type = Type::none;  // type of the top-level object of the element
  std::uint64_t uint_value = 0;
  const char* str_data = nullptr;
  std::uint32_t str_size = 0;

  bool parse_error_seen = false;
  bool insufficient = false;
  bool too_deep = false;
  // Set when a limit other than nesting was passed: which one, the size seen, the limit.
  const char* over_limit = nullptr;
  std::uint64_t over_size = 0;
  const char* over_unit = "";
  std::size_t over_max = 0;

  std::size_t depth = 0;
  // Objects in the element known so far: itself, plus every item announced by a container
  // header (2 per map pair). Items are counted when announced, so a header that promises too
  // many is refused before any item is read; the final value is the element's object count.
  std::uint64_t objects = 1;

  void top(Type t) {
    if (depth == 0 && type == Type::none) type = t;
  }
  bool visit_nil() { top(Type::nil); return true; }
  bool visit_boolean(bool) { top(Type::boolean); return true; }
  bool visit_positive_integer(std::uint64_t v) {
    if (depth == 0 && type == Type::none) uint_value = v;
    top(Type::uint);
    return true;
  }
  bool visit_negative_integer(std::int64_t) { top(Type::nint); return true; }
  bool visit_float32(float) { top(Type::floating); return true; }
  bool visit_float64(double) { top(Type::floating); return true; }
  // Called only once the payload is in the buffer (a header alone reports insufficient bytes).
  bool visit_str(const char* v, std::uint32_t size) {
    if (depth == 0 && type == Type::none) {
      str_data = v;
      str_size = size;
    }
    top(Type::str);
    return payload("string of", size);
  }
  bool visit_bin(const char*, std::uint32_t size) { top(Type::bin); return payload("bin of", size); }
  bool visit_ext(const char*, std::uint32_t size) { top(Type::ext); return payload("ext of", size); }
  // Called on the header, before any item.
  bool start_array(std::uint32_t n) {
    top(Type::array);
    if (n > kMaxArrayItems) return refuse("array of", n, "items", kMaxArrayItems);
    return enter() && announce(n);
  }
  bool start_array_item() { return true; }
  bool end_array_item() { return true; }
  bool end_array() { --depth; return true; }
  bool start_map(std::uint32_t n) {
    top(Type::map);
    if (n > kMaxMapPairs) return refuse("map of", n, "pairs", kMaxMapPairs);
    return enter() && announce(2 * static_cast<std::uint64_t>(n));
  }
  bool start_map_key() { return true; }
  bool end_map_key() { return true; }
  bool start_map_value() { return true; }
  bool end_map_value() { return true; }
  bool end_map() { --depth; return true; }
  void parse_error(std::size_t, std::size_t) { parse_error_seen = true; }
  void insufficient_bytes(std::size_t, std::size_t) { insufficient = true; }

  // Each returns false to stop the parser.
  bool enter() {
    if (++depth > kMaxNestingDepth) {
      too_deep = true;
      return false;
    }
    return true;
  }
  bool announce(std::uint64_t items) {
    objects += items;
    return objects <= kMaxObjects || refuse("object tree of at least", objects, "objects", kMaxObjects);
  }
  bool payload(const char* what, std::uint32_t size) {
    return size <= kMaxStringBytes || refuse(what, size, "bytes", kMaxStringBytes);
  }
  bool refuse(const char* what, std::uint64_t size, const char* unit, std::size_t max) {
    over_limit = what;
    over_size = size;
    over_unit = unit;
    over_max = max;
    return false;
  }

  // E.g. "array of 70000 items exceeds the limit of 65536", for failure details.
  std::string limit_detail() const {
    return std::string(over_limit) + " " + std::to_string(over_size) + " " + over_unit +
           " exceeds the limit of " + std::to_string(over_max);
  }
};

DecodeFailure failure(DecodeFailure::Reason reason, std::string detail) {
  DecodeFailure f;
  f.reason = reason;
  f.detail = std::move(detail);
  return f;
}

// Walks one element starting at `offset`; on success advances `offset` past it. On failure
// returns the reason (truncated / not_msgpack / bad_shape for excessive nesting / too_large for
// any other limit, with probe.limit_detail() saying which).
std::optional<DecodeFailure::Reason> probe_element(std::string_view frame, std::size_t& offset,
                                                   ElementProbe& probe) {
  if (offset >= frame.size()) return DecodeFailure::Reason::truncated;
  std::size_t off = offset;
  bool ok = msgpack::parse(frame.data(), frame.size(), off, probe);
  if (probe.too_deep) return DecodeFailure::Reason::bad_shape;
  if (probe.over_limit != nullptr) return DecodeFailure::Reason::too_large;
  if (probe.parse_error_seen) return DecodeFailure::Reason::not_msgpack;
  if (!ok || probe.insufficient) return DecodeFailure::Reason::truncated;
  offset = off;
  return std::nullopt;
}

std::uint64_t read_big_endian(const unsigned char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

DecodeResult decode_unchecked(std::string_view frame) {
  using Reason = DecodeFailure::Reason;
  if (frame.size() > kMaxFrameBytes) {
    return failure(Reason::too_large, "frame of " + std::to_string(frame.size()) +
                                          " bytes exceeds the limit of " +
                                          std::to_string(kMaxFrameBytes));
  }
  if (frame.empty()) return failure(Reason::truncated, "empty frame");

  // The array header, read by hand so we know where the elements start.
  const auto* bytes = reinterpret_cast<const unsigned char*>(frame.data());
  std::uint64_t count = 0;
  std::size_t offset = 0;
  const unsigned char lead = bytes[0];
  if (lead >= 0x90 && lead <= 0x9f) {
    count = lead & 0x0f;
    offset = 1;
  } else if (lead == 0xdc || lead == 0xdd) {
    const std::size_t width = lead == 0xdc ? 2 : 4;
    if (frame.size() < 1 + width) return failure(Reason::truncated, "truncated array header");
    count = read_big_endian(bytes + 1, width);
    offset = 1 + width;
  } else {
    // Not an array: tell garbage from a well-formed object of the wrong type.
    ElementProbe probe;
    std::size_t off = 0;
    if (auto reason = probe_element(frame, off, probe)) {
      return failure(*reason, *reason == Reason::truncated   ? "truncated msgpack object"
                              : *reason == Reason::too_large ? probe.limit_detail()
                              : *reason == Reason::bad_shape ? "msgpack object nested too deeply"
                                                             : "not a msgpack object");
    }
    return failure(Reason::bad_shape, "frame is not a msgpack array");
  }
  if (count != 5) {
    return failure(Reason::bad_shape,
                   "envelope array has " + std::to_string(count) + " elements, expected 5");
  }

  static constexpr const char* kElementNames[5] = {"version", "kind", "msg_id", "sender", "body"};
  ElementProbe probes[5];
  std::size_t body_begin = 0;
  std::size_t body_end = 0;
  std::string sender;
  std::uint64_t msg_id = 0;
  auto fail = [&](Reason reason, std::string detail) {
    DecodeFailure f = failure(reason, std::move(detail));
    f.sender = sender;
    f.msg_id = msg_id;
    return f;
  };

  for (int i = 0; i < 5; ++i) {
    if (i == 4) body_begin = offset;
    if (auto reason = probe_element(frame, offset, probes[i])) {
      const std::string what = *reason == Reason::truncated   ? "is truncated"
                               : *reason == Reason::bad_shape ? "is nested too deeply"
                               : *reason == Reason::too_large ? "is too large: " + probes[i].limit_detail()
                                                              : "is not msgpack";
      return fail(*reason, std::string("element '") + kElementNames[i] + "' " + what);
    }
    const ElementProbe& p = probes[i];
    switch (i) {
      case 0:
      case 1:
      case 2:
        if (p.type != ElementProbe::Type::uint) {
          return fail(Reason::bad_shape,
                      std::string("element '") + kElementNames[i] + "' is not an unsigned integer");
        }
        if (i == 2) msg_id = p.uint_value;
        break;
      case 3:
        if (p.type != ElementProbe::Type::str) {
          return fail(Reason::bad_shape, "element 'sender' is not a string");
        }
        if (p.str_size > kMaxSenderBytes) {
          return fail(Reason::bad_shape, "sender of " + std::to_string(p.str_size) +
                                             " bytes exceeds the limit of " +
                                             std::to_string(kMaxSenderBytes));
        }
        sender.assign(p.str_data, p.str_size);
        break;
      case 4:
        if (p.type != ElementProbe::Type::map) {
          return fail(Reason::bad_shape, "element 'body' is not a map");
        }
        body_end = offset;
        break;
    }
  }
  if (offset != frame.size()) {
    return fail(Reason::bad_shape,
                std::to_string(frame.size() - offset) + " trailing bytes after the envelope");
  }

  const std::uint64_t version = probes[0].uint_value;
  if (version != kProtocolVersion) {
    return fail(Reason::bad_version, "protocol version " + std::to_string(version) +
                                         " is not supported (expected " +
                                         std::to_string(kProtocolVersion) + ")");
  }
  const std::uint64_t kind = probes[1].uint_value;
  if (kind < kMinKind || kind > kMaxKind) {
    return fail(Reason::unknown_kind, "unknown message kind " + std::to_string(kind));
  }

  Envelope envelope;
  envelope.version = static_cast<std::uint32_t>(version);
  envelope.kind = static_cast<MessageKind>(kind);
  envelope.msg_id = msg_id;
  envelope.sender = std::move(sender);
  envelope.body.assign(frame.data() + body_begin, body_end - body_begin);
  return envelope;
}

}  // namespace

MapCheck check_msgpack_map(std::string_view bytes, std::string* why) {
  if (bytes.empty()) return MapCheck::empty;
  ElementProbe probe;
  std::size_t offset = 0;
  if (auto reason = probe_element(bytes, offset, probe)) {
    if (*reason == DecodeFailure::Reason::bad_shape) return MapCheck::too_deep;
    if (*reason == DecodeFailure::Reason::too_large) {
      if (why != nullptr) *why = probe.limit_detail();
      return MapCheck::over_limit;
    }
    if (*reason == DecodeFailure::Reason::not_msgpack) return MapCheck::not_msgpack;
    return MapCheck::truncated;
  }
  if (offset != bytes.size()) return MapCheck::trailing_bytes;
  if (probe.type != ElementProbe::Type::map) return MapCheck::not_a_map;
  return MapCheck::ok;
}

const char* kind_name(MessageKind kind) {
  switch (kind) {
    case MessageKind::hello: return "HELLO";
    case MessageKind::welcome: return "WELCOME";
    case MessageKind::heartbeat: return "HEARTBEAT";
    case MessageKind::assign: return "ASSIGN";
    case MessageKind::result: return "RESULT";
    case MessageKind::ack: return "ACK";
    case MessageKind::error: return "ERROR";
    case MessageKind::bye: return "BYE";
    case MessageKind::cancel: return "CANCEL";
    case MessageKind::query: return "QUERY";
    case MessageKind::view: return "VIEW";
    case MessageKind::decide: return "DECIDE";
  }
  return "UNKNOWN";
}

const char* reason_name(DecodeFailure::Reason reason) {
  switch (reason) {
    case DecodeFailure::Reason::too_large: return "too_large";
    case DecodeFailure::Reason::truncated: return "truncated";
    case DecodeFailure::Reason::not_msgpack: return "not_msgpack";
    case DecodeFailure::Reason::bad_shape: return "bad_shape";
    case DecodeFailure::Reason::bad_version: return "bad_version";
    case DecodeFailure::Reason::unknown_kind: return "unknown_kind";
  }
  return "unknown";
}

std::string encode_envelope(const Envelope& envelope) {
  msgpack::sbuffer buffer(64 + envelope.sender.size() + envelope.body.size());
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_array(5);
  packer.pack_uint32(envelope.version);
  packer.pack_uint8(static_cast<std::uint8_t>(envelope.kind));
  packer.pack_uint64(envelope.msg_id);
  packer.pack(envelope.sender);
  if (envelope.body.empty()) {
    packer.pack_map(0);
  } else {
    buffer.write(envelope.body.data(), envelope.body.size());
  }
  return std::string(buffer.data(), buffer.size());
}

DecodeResult decode_envelope(std::string_view frame) {
  try {
    return decode_unchecked(frame);
  } catch (const std::bad_alloc&) {
    return failure(DecodeFailure::Reason::too_large, "out of memory while decoding");
  } catch (const std::exception& e) {
    return failure(DecodeFailure::Reason::not_msgpack, e.what());
  } catch (...) {
    return failure(DecodeFailure::Reason::not_msgpack, "unexpected error while decoding");
  }
}

}  // namespace cadre::transport
