// Envelope codec: [version, kind, msg_id, sender, body] as one msgpack array.
//
// Decoding never builds msgpack::object trees: each element is walked by hand (probe_element),
// recording only what it needs (its type, an integer, a string view into the frame), so a hostile
// frame cannot make us allocate (msgpack::unpack would reserve an array's slots from its header before
// the elements arrive). The same walk enforces the limits of envelope.h (container sizes on their
// headers, string sizes, object count, nesting), so a body that passes can be unpacked by the
// body decoders at a cost bounded by the limits. The body is returned as the raw bytes of the
// fifth element.
#include "cadre/transport/envelope.h"
#include "cadre/transport/big_endian.h"

#include <msgpack.hpp>

#include <algorithm>
#include <bit>
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

  // Set when a limit other than nesting was passed: which one, the size seen, the limit.
  const char* over_limit = nullptr;
  std::uint64_t over_size = 0;
  const char* over_unit = "";
  std::size_t over_max = 0;

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

// A msgpack::packer stream that writes into a string sized ahead for everything written, so
// each of the packer's small writes is an inlined copy (not a call to std::string::append).
struct FrameSink {
  std::string& out;
  std::size_t used = 0;
  void write(const char* data, std::size_t size) {
    if (out.size() - used < size) out.resize(std::max(2 * out.size(), used + size));
    std::memcpy(out.data() + used, data, size);
    used += size;
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
//
// One pass over the bytes with a fixed stack of open containers: no allocation. It reports
// exactly what msgpack-c's parser (msgpack::parse with a counting visitor, which this replaced)
// reported, in the same order: the bytes are read front to back and the first problem found
// stops the walk. A container's limits are checked on its header, before its items, in the
// order items/pairs, nesting, object count; a str/bin/ext payload must be complete before its
// size is held against kMaxStringBytes; an ext's size counts its type byte (so an ext 32 of
// 0xffffffff bytes needs 2^32 more: truncated, as msgpack-c says on 64-bit hosts). 0xc1 is the
// one byte that is not msgpack.
std::optional<DecodeFailure::Reason> probe_element(std::string_view frame, std::size_t& offset,
                                                   ElementProbe& probe) {
  using Reason = DecodeFailure::Reason;
  using Type = ElementProbe::Type;
  if (offset >= frame.size()) return Reason::truncated;
  const auto* const begin = reinterpret_cast<const unsigned char*>(frame.data());
  const unsigned char* p = begin + offset;
  const unsigned char* const end = begin + frame.size();
  // Objects still to read in each open container (a map's pairs count twice).
  std::uint32_t rest[kMaxNestingDepth];
  std::size_t depth = 0;
  // Objects in the element known so far: itself, plus every item announced by a container
  // header (2 per map pair). Items are counted when announced, so a header that promises too
  // many is refused before any item is read.
  std::uint64_t objects = 1;
  bool at_top = true;  // the next object read is the element itself

  while (true) {
    const bool is_top = at_top;
    at_top = false;
    const unsigned char lead = *p++;
    Type type = Type::none;
    std::uint64_t payload = 0;   // str/bin/ext bytes that follow the header
    std::uint64_t items = 0;     // array items or map pairs
    std::size_t width = 0;       // header bytes after the lead byte
    if (lead <= 0x7f) {
      type = Type::uint;
      if (is_top) probe.uint_value = lead;
    } else if (lead >= 0xe0) {
      type = Type::nint;
    } else if (lead <= 0x8f) {
      type = Type::map;
      items = lead & 0x0f;
    } else if (lead <= 0x9f) {
      type = Type::array;
      items = lead & 0x0f;
    } else if (lead <= 0xbf) {
      type = Type::str;
      payload = lead & 0x1f;
    } else {
      switch (lead) {
        case 0xc0: type = Type::nil; break;
        case 0xc2: case 0xc3: type = Type::boolean; break;
        case 0xc4: case 0xc5: case 0xc6: type = Type::bin; width = std::size_t{1} << (lead - 0xc4); break;
        case 0xc7: case 0xc8: case 0xc9: type = Type::ext; width = std::size_t{1} << (lead - 0xc7); break;
        case 0xca: type = Type::floating; width = 4; break;
        case 0xcb: type = Type::floating; width = 8; break;
        case 0xcc: case 0xcd: case 0xce: case 0xcf: type = Type::uint; width = std::size_t{1} << (lead - 0xcc); break;
        case 0xd0: case 0xd1: case 0xd2: case 0xd3: type = Type::nint; width = std::size_t{1} << (lead - 0xd0); break;
        // fixext 1..16: the type byte and the data, which count as the ext's size.
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
          type = Type::ext;
          payload = 1 + (std::uint64_t{1} << (lead - 0xd4));
          break;
        case 0xd9: case 0xda: case 0xdb: type = Type::str; width = std::size_t{1} << (lead - 0xd9); break;
        case 0xdc: case 0xdd: type = Type::array; width = lead == 0xdc ? 2 : 4; break;
        case 0xde: case 0xdf: type = Type::map; width = lead == 0xde ? 2 : 4; break;
        default: return Reason::not_msgpack;  // 0xc1
      }
    }
    if (width > 0) {
      if (static_cast<std::size_t>(end - p) < width) return Reason::truncated;
      const std::uint64_t value = read_big_endian(p, width);
      p += width;
      switch (type) {
        case Type::uint:
          if (is_top) probe.uint_value = value;
          break;
        case Type::nint:
        case Type::floating: break;
        case Type::str:
        case Type::bin: payload = value; break;
        case Type::ext: payload = value + 1; break;  // the type byte
        default: items = value; break;  // array, map
      }
    }
    if (is_top) probe.type = type;
    if (type == Type::str || type == Type::bin || type == Type::ext) {
      if (static_cast<std::uint64_t>(end - p) < payload) return Reason::truncated;
      if (is_top && type == Type::str) {
        probe.str_data = reinterpret_cast<const char*>(p);
        probe.str_size = static_cast<std::uint32_t>(payload);
      }
      if (payload > kMaxStringBytes) {
        probe.refuse(type == Type::str ? "string of" : type == Type::bin ? "bin of" : "ext of",
                     payload, "bytes", kMaxStringBytes);
        return Reason::too_large;
      }
      p += payload;
    } else if (type == Type::array || type == Type::map) {
      const bool is_map = type == Type::map;
      if (is_map ? items > kMaxMapPairs : items > kMaxArrayItems) {
        probe.refuse(is_map ? "map of" : "array of", items, is_map ? "pairs" : "items",
                     is_map ? kMaxMapPairs : kMaxArrayItems);
        return Reason::too_large;
      }
      if (depth == kMaxNestingDepth) return Reason::bad_shape;
      objects += is_map ? 2 * items : items;
      if (objects > kMaxObjects) {
        probe.refuse("object tree of at least", objects, "objects", kMaxObjects);
        return Reason::too_large;
      }
      if (items > 0) {
        rest[depth++] = static_cast<std::uint32_t>(is_map ? 2 * items : items);
        if (p == end) return Reason::truncated;
        continue;
      }
      // An empty container is complete at once.
    }
    // One object complete: close every container it completes.
    while (depth > 0 && --rest[depth - 1] == 0) --depth;
    if (depth == 0) break;
    if (p == end) return Reason::truncated;
  }
  offset = static_cast<std::size_t>(p - begin);
  return std::nullopt;
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
  // The array header, version, kind, msg_id and the sender's str header take at most 23 bytes.
  std::string frame(24 + envelope.sender.size() + std::max<std::size_t>(1, envelope.body.size()), '\0');
  FrameSink sink{frame};
  msgpack::packer<FrameSink> packer(sink);
  packer.pack_array(5);
  packer.pack_uint32(envelope.version);
  packer.pack_uint8(static_cast<std::uint8_t>(envelope.kind));
  packer.pack_uint64(envelope.msg_id);
  packer.pack(envelope.sender);
  if (envelope.body.empty()) {
    packer.pack_map(0);
  } else {
    sink.write(envelope.body.data(), envelope.body.size());
  }
  frame.resize(sink.used);
  return frame;
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
