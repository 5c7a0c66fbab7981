// Envelope codec: [version, kind, msg_id, sender, body] as one msgpack array.
//
// Decoding never builds msgpack::object trees: each element is walked by hand (probe_element),
// recording only what it needs (its type, an integer, a string view into the frame), so a hostile
// frame cannot make us allocate (msgpack::unpack would reserve an array's slots from its header before
// the elements arrive). The same walk enforces the limits of envelope.h (container sizes on their
// headers, string sizes, object count, nesting), so a body that passes can be unpacked by the
// body decoders at a cost bounded by the limits. The body is returned as the raw bytes of the
// fifth element (decode_envelope copies them, decode_envelope_view does not, and its CheckedMap
// tells the body decoders the walk was done).
//
// Encoding writes the head by hand in msgpack-c's shortest forms (tests compare it with
// msgpack-c's packer), so a frame is one buffer written once.
#include "cadre/transport/envelope.h"
#include "cadre/transport/big_endian.h"

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

// probe_element for the head's elements as a well-formed frame has them: an unsigned integer
// (fixint, uint 8..64) or a string (fixstr, str 8) that is complete and within the limits. Returns
// false, having read nothing, for anything else (probe_element then reads it and says what is
// wrong).
bool probe_scalar(std::string_view frame, std::size_t& offset, ElementProbe& probe) {
  if (offset >= frame.size()) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(frame.data()) + offset;
  const std::size_t left = frame.size() - offset;
  const unsigned char lead = p[0];
  if (lead <= 0x7f) {
    probe.type = ElementProbe::Type::uint;
    probe.uint_value = lead;
    offset += 1;
    return true;
  }
  if (lead >= 0xcc && lead <= 0xcf) {
    const std::size_t width = std::size_t{1} << (lead - 0xcc);
    if (left < 1 + width) return false;
    probe.type = ElementProbe::Type::uint;
    probe.uint_value = read_big_endian(p + 1, width);
    offset += 1 + width;
    return true;
  }
  std::size_t size = 0;
  std::size_t head = 1;
  if ((lead & 0xe0) == 0xa0) {
    size = lead & 0x1f;
  } else if (lead == 0xd9 && left >= 2) {
    size = p[1];
    head = 2;
  } else {
    return false;
  }
  if (left < head + size) return false;
  probe.type = ElementProbe::Type::str;
  probe.str_data = reinterpret_cast<const char*>(p + head);
  probe.str_size = static_cast<std::uint32_t>(size);
  offset += head + size;
  return true;
}

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


// What decode_unchecked found: a frame's parts as views into it, or why it is not a frame.
struct Decoded {
  bool ok = false;
  DecodeFailure failure{};
  std::uint32_t version = 0;
  MessageKind kind = MessageKind::heartbeat;
  std::uint64_t msg_id = 0;
  std::string_view sender;
  std::string_view body;
  Decoded(DecodeFailure f) : failure(std::move(f)) {}  // NOLINT
  Decoded() = default;
};

// Allocates only to describe a failure.
Decoded decode_unchecked(std::string_view frame) {
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
  std::string_view sender;
  std::uint64_t msg_id = 0;
  auto fail = [&](Reason reason, std::string detail) {
    DecodeFailure f = failure(reason, std::move(detail));
    f.sender = std::string(sender);
    f.msg_id = msg_id;
    return Decoded(std::move(f));
  };

  for (int i = 0; i < 5; ++i) {
    if (i == 4) body_begin = offset;
    if (i < 4 && probe_scalar(frame, offset, probes[i])) {
      // A complete unsigned integer or short string: what probe_element would have found.
    } else if (auto reason = probe_element(frame, offset, probes[i])) {
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
        sender = std::string_view(p.str_data, p.str_size);
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

  Decoded decoded;
  decoded.ok = true;
  decoded.version = static_cast<std::uint32_t>(version);
  decoded.kind = static_cast<MessageKind>(kind);
  decoded.msg_id = msg_id;
  decoded.sender = sender;
  decoded.body = frame.substr(body_begin, body_end - body_begin);
  return decoded;
}

Decoded decode_caught(std::string_view frame) {
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

// The head of a frame, as msgpack-c packs it: fixarray 5, version, kind, msg_id and sender each in
// their shortest form. At most 1 + 5 + 2 + 9 + 5 bytes before the sender's.
char* put_head(char* p, std::uint32_t version, MessageKind kind, std::uint64_t msg_id,
               std::string_view sender) {
  auto put_uint = [&p](std::uint64_t v) {
    if (v < 0x80) {
      *p++ = static_cast<char>(v);
      return;
    }
    std::size_t width;
    if (v <= 0xff) {
      *p++ = static_cast<char>(0xcc);
      width = 1;
    } else if (v <= 0xffff) {
      *p++ = static_cast<char>(0xcd);
      width = 2;
    } else if (v <= 0xffffffffu) {
      *p++ = static_cast<char>(0xce);
      width = 4;
    } else {
      *p++ = static_cast<char>(0xcf);
      width = 8;
    }
    for (std::size_t i = width; i-- > 0;) *p++ = static_cast<char>(v >> (8 * i));
  };
  *p++ = static_cast<char>(0x95);
  put_uint(version);
  put_uint(static_cast<std::uint8_t>(kind));
  put_uint(msg_id);
  const std::size_t n = sender.size();
  if (n < 32) {
    *p++ = static_cast<char>(0xa0 | n);
  } else if (n <= 0xff) {
    *p++ = static_cast<char>(0xd9);
    *p++ = static_cast<char>(n);
  } else if (n <= 0xffff) {
    *p++ = static_cast<char>(0xda);
    *p++ = static_cast<char>(n >> 8);
    *p++ = static_cast<char>(n);
  } else {
    *p++ = static_cast<char>(0xdb);
    for (int i = 3; i >= 0; --i) *p++ = static_cast<char>(n >> (8 * i));
  }
  if (n > 0) std::memcpy(p, sender.data(), n);
  return p + n;
}
constexpr std::size_t kMaxHeadBytes = 24;  // without the sender's bytes

}  // namespace

struct CheckedMapMaker {
  static CheckedMap make(std::string_view bytes) { return CheckedMap(bytes); }
};

namespace {

}  // namespace

std::optional<CheckedMap> check_map(std::string_view bytes) {
  if (check_msgpack_map(bytes) != MapCheck::ok) return std::nullopt;
  return CheckedMapMaker::make(bytes);
}

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

void append_envelope_head(std::string& out, MessageKind kind, std::uint64_t msg_id,
                          std::string_view sender) {
  const std::size_t at = out.size();
  out.resize(at + kMaxHeadBytes + sender.size());
  char* const begin = out.data() + at;
  const char* const end = put_head(begin, kProtocolVersion, kind, msg_id, sender);
  out.resize(at + static_cast<std::size_t>(end - begin));
}

std::string encode_envelope(const Envelope& envelope) {
  const std::size_t body = std::max<std::size_t>(1, envelope.body.size());
  std::string frame(kMaxHeadBytes + envelope.sender.size() + body, '\0');
  char* p =
      put_head(frame.data(), envelope.version, envelope.kind, envelope.msg_id, envelope.sender);
  if (envelope.body.empty()) {
    *p++ = static_cast<char>(0x80);  // an empty map
  } else {
    std::memcpy(p, envelope.body.data(), envelope.body.size());
    p += envelope.body.size();
  }
  frame.resize(static_cast<std::size_t>(p - frame.data()));
  return frame;
}

DecodeResult decode_envelope(std::string_view frame) {
  Decoded d = decode_caught(frame);
  if (!d.ok) return std::move(d.failure);
  try {
    Envelope envelope;
    envelope.version = d.version;
    envelope.kind = d.kind;
    envelope.msg_id = d.msg_id;
    envelope.sender.assign(d.sender);
    envelope.body.assign(d.body);
    return envelope;
  } catch (const std::bad_alloc&) {
    return failure(DecodeFailure::Reason::too_large, "out of memory while decoding");
  }
}

DecodeViewResult decode_envelope_view(std::string_view frame) {
  Decoded d = decode_caught(frame);
  if (!d.ok) return std::move(d.failure);
  EnvelopeView view{d.version, d.kind, d.msg_id, d.sender, CheckedMapMaker::make(d.body)};
  return view;
}

}  // namespace cadre::transport
