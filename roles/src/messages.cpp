// msgpack codecs for the message bodies in messages.h.
//
// Encoding: each struct is one map keyed by its field names. Required fields and numbers are
// always written; empty optional strings, empty vectors and empty optionals are omitted. Maps
// nested in a body (a candidate, a plan's subtasks) are written in place into the body's one
// string, through msgpack-c's packer (so every integer and string takes the form it always did).
//
// Decoding: the bytes are first walked without allocating (transport::check_msgpack_map) to check
// they hold exactly one well-formed map within the protocol's limits (transport/envelope.h:
// container sizes, string sizes, object count, nesting); only then are the fields read, in place
// from the bytes (no msgpack::object tree): each value is typed as msgpack::unpack would type it
// (an int 8..64 that is not negative counts as an unsigned integer, as in msgpack-c).
// Unknown keys are ignored; nil counts as absent for optional fields.
#include "cadre/roles/messages.h"
#include "cadre/transport/big_endian.h"
#include "cadre/transport/envelope.h"

#include <msgpack.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <type_traits>
#include <utility>

namespace cadre::roles {

namespace {

// ---------------------------------------------------------------------------------------------
// Encoding

// A msgpack::packer stream that writes at the end of a caller's string: the string is grown
// ahead (doubling) and written through with memcpy, so the packer's many small writes are
// inlined copies rather than calls to std::string::append. The destructor cuts the string to
// what was written.
class BodyBuffer {
 public:
  BodyBuffer(std::string& out, std::size_t expected) : bytes_(out), used_(out.size()) {
    bytes_.resize(used_ + expected);
  }
  ~BodyBuffer() { bytes_.resize(used_); }
  BodyBuffer(const BodyBuffer&) = delete;
  BodyBuffer& operator=(const BodyBuffer&) = delete;
  void write(const char* data, std::size_t size) {
    if (bytes_.size() - used_ < size) grow(size);
    std::memcpy(bytes_.data() + used_, data, size);
    used_ += size;
  }
  void put(char byte) { write(&byte, 1); }
  // Where the next byte goes, as an index into the caller's string.
  std::size_t size() const { return used_; }
  char& operator[](std::size_t i) { return bytes_[i]; }
  // Replaces the byte at `at` with `with` (a map header that needs more than one byte).
  void widen(std::size_t at, std::string_view with) {
    bytes_.resize(used_);
    bytes_.replace(at, 1, with);
    used_ = bytes_.size();
  }

 private:
  [[gnu::noinline]] void grow(std::size_t size) {
    bytes_.resize(std::max(2 * bytes_.size(), used_ + size));
  }
  std::string& bytes_;
  std::size_t used_ = 0;
};

// A msgpack::packer stream that appends to a string (for a rare wide map header).
struct StringSink {
  std::string& out;
  void write(const char* data, std::size_t size) { out.append(data, size); }
};

// A field name: a string literal, whose length is known when compiling (every one is a fixstr).
struct Key {
  template <std::size_t N>
  constexpr Key(const char (&name)[N]) : data(name), size(N - 1) {  // NOLINT: implicit by design
    static_assert(N - 1 < 32, "a field name must fit a fixstr");
  }
  const char* data;
  std::size_t size;
};

// Writes one map into `out` at its end: a one-byte fixmap header, then the entries; finish()
// sets the header's count. (Bodies have at most 15 fields, which a fixmap holds; past that
// finish() widens the header, so the bytes are msgpack's shortest form either way.)
class MapWriter {
 public:
  explicit MapWriter(BodyBuffer& out) : out_(out), packer_(out), header_at_(out.size()) {
    out_.put(static_cast<char>(0x80));
  }
  MapWriter(const MapWriter&) = delete;
  MapWriter& operator=(const MapWriter&) = delete;

  void str(Key key, const std::string& value) {
    this->key(key);
    packer_.pack(value);
  }
  void str_if_set(Key key, const std::string& value) {
    if (!value.empty()) str(key, value);
  }
  void uint(Key key, std::uint64_t value) {
    this->key(key);
    packer_.pack_uint64(value);
  }
  void sint(Key key, std::int64_t value) {
    this->key(key);
    packer_.pack_int64(value);
  }
  // Always a float64, even for integral values (msgpack-cxx's pack_double would write those as
  // integers); decoders accept either.
  void real(Key key, double value) {
    this->key(key);
    std::uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    char bytes[9];
    bytes[0] = static_cast<char>(0xcb);
    for (int i = 0; i < 8; ++i) bytes[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
    out_.write(bytes, sizeof bytes);
  }
  void boolean(Key key, bool value) {
    this->key(key);
    if (value) {
      packer_.pack_true();
    } else {
      packer_.pack_false();
    }
  }
  // A nested map, written by write(MapWriter&, const T&).
  template <typename T, typename WriteFn>
  void map(Key key, const T& value, WriteFn write) {
    this->key(key);
    MapWriter inner(out_);
    write(inner, value);
    inner.finish();
  }
  // An array of nested maps, each written by write(MapWriter&, const T&); omitted when empty.
  template <typename T, typename WriteFn>
  void map_array_if_set(Key key, const std::vector<T>& items, WriteFn write) {
    if (items.empty()) return;
    this->key(key);
    packer_.pack_array(static_cast<std::uint32_t>(items.size()));
    for (const auto& item : items) {
      MapWriter inner(out_);
      write(inner, item);
      inner.finish();
    }
  }
  void str_array_if_set(Key key, const std::vector<std::string>& items) {
    if (items.empty()) return;
    this->key(key);
    packer_.pack_array(static_cast<std::uint32_t>(items.size()));
    for (const auto& item : items) packer_.pack(item);
  }

  void finish() {
    if (count_ <= 15) {
      out_[header_at_] = static_cast<char>(0x80 | count_);
      return;
    }
    std::string header;
    StringSink header_sink{header};
    msgpack::packer<StringSink>(header_sink).pack_map(count_);
    out_.widen(header_at_, header);
  }

 private:
  // As msgpack-c packs a string shorter than 32 bytes: a fixstr.
  void key(Key name) {
    out_.put(static_cast<char>(0xa0 | name.size));
    out_.write(name.data, name.size);
    ++count_;
  }

  BodyBuffer& out_;
  msgpack::packer<BodyBuffer> packer_;
  std::size_t header_at_;
  std::uint32_t count_ = 0;
};

// Room for a body's usual size plus the text it carries, so that writing it rarely grows.
constexpr std::size_t body_room(std::size_t text_bytes) { return 160 + text_bytes; }

std::size_t text_bytes(const SubtaskPlan& s) {
  std::size_t n = s.id.size() + s.title.size() + s.instructions.size() + 48;
  for (const auto& id : s.depends_on) n += id.size() + 2;
  return n;
}
std::size_t text_bytes(const std::vector<FileEdit>& files) {
  std::size_t n = 0;
  for (const auto& f : files) n += f.path.size() + f.content.size() + 24;
  return n;
}
std::size_t text_bytes(const Candidate& c) { return c.content.size() + text_bytes(c.files) + 32; }

void write_subtask(MapWriter& w, const SubtaskPlan& s) {
  w.str("id", s.id);
  w.str_if_set("title", s.title);
  w.str_if_set("instructions", s.instructions);
  w.real("difficulty", s.difficulty);
  w.str_array_if_set("depends_on", s.depends_on);
}

// Path and content are always written (an empty file is still a file).
void write_file(MapWriter& w, const FileEdit& f) {
  w.str("path", f.path);
  w.str("content", f.content);
}

void write_candidate(MapWriter& w, const Candidate& c) {
  w.str("content", c.content);
  if (c.sim_correct) w.boolean("sim_correct", *c.sim_correct);
  w.map_array_if_set("files", c.files, write_file);
}

void write_verdict(MapWriter& w, const Verdict& v) {
  w.boolean("accept", v.accept);
  w.real("score", v.score);
  w.str_if_set("feedback", v.feedback);
}

// ---------------------------------------------------------------------------------------------
// Decoding

// Checks structure without allocating (transport's check): one complete map within the limits.
std::optional<Error> check_one_map(std::string_view bytes) {
  std::string why;
  switch (transport::check_msgpack_map(bytes, &why)) {
    case transport::MapCheck::ok: return std::nullopt;
    case transport::MapCheck::empty: return make_error("body is empty, expected a msgpack map");
    case transport::MapCheck::too_deep: return make_error("body is nested too deeply");
    case transport::MapCheck::not_msgpack: return make_error("body is not msgpack");
    case transport::MapCheck::truncated: return make_error("body is truncated");
    case transport::MapCheck::trailing_bytes:
      return make_error("body has trailing bytes after the map");
    case transport::MapCheck::not_a_map: return make_error("body is not a msgpack map");
    case transport::MapCheck::over_limit:
      return make_error("body exceeds decoder limits: " + why);
  }
  return make_error("body is not a msgpack map");
}

using msgpack::type::object_type;

// One msgpack object read in place. The bytes were checked by check_one_map first, so every
// header and payload read here is complete. `type` is what msgpack::unpack would make of it.
struct Value {
  object_type type = object_type::NIL;
  std::uint64_t u64 = 0;  // POSITIVE_INTEGER
  std::int64_t i64 = 0;   // NEGATIVE_INTEGER
  double f64 = 0;         // FLOAT32, FLOAT64
  bool boolean = false;   // BOOLEAN
  const char* data = nullptr;  // STR: the bytes; ARRAY, MAP: the first item
  std::uint32_t size = 0;      // STR: bytes; ARRAY: items; MAP: pairs
};

// A signed msgpack integer: negative ones are NEGATIVE_INTEGER, others POSITIVE_INTEGER.
void set_signed(Value& v, std::int64_t i) {
  if (i < 0) {
    v.type = object_type::NEGATIVE_INTEGER;
    v.i64 = i;
  } else {
    v.type = object_type::POSITIVE_INTEGER;
    v.u64 = static_cast<std::uint64_t>(i);
  }
}

// Reads the object at `p` into `v`; returns where the next object starts (for an array or map,
// its first item).
const char* read_value(const char* at, Value& v) {
  const auto* p = reinterpret_cast<const unsigned char*>(at);
  const unsigned char lead = *p++;
  std::uint64_t payload = 0;  // str/bin/ext bytes after the header
  if (lead <= 0x7f) {
    v.type = object_type::POSITIVE_INTEGER;
    v.u64 = lead;
  } else if (lead >= 0xe0) {
    v.type = object_type::NEGATIVE_INTEGER;
    v.i64 = static_cast<std::int8_t>(lead);
  } else if (lead <= 0x8f) {
    v.type = object_type::MAP;
    v.size = lead & 0x0f;
  } else if (lead <= 0x9f) {
    v.type = object_type::ARRAY;
    v.size = lead & 0x0f;
  } else if (lead <= 0xbf) {
    v.type = object_type::STR;
    payload = lead & 0x1f;
  } else {
    switch (lead) {
      case 0xc0: v.type = object_type::NIL; break;
      case 0xc2: case 0xc3:
        v.type = object_type::BOOLEAN;
        v.boolean = lead == 0xc3;
        break;
      case 0xc4: case 0xc5: case 0xc6: {
        const std::size_t width = std::size_t{1} << (lead - 0xc4);
        v.type = object_type::BIN;
        payload = transport::read_big_endian(p, width);
        p += width;
        break;
      }
      case 0xc7: case 0xc8: case 0xc9: {
        const std::size_t width = std::size_t{1} << (lead - 0xc7);
        v.type = object_type::EXT;
        payload = transport::read_big_endian(p, width) + 1;  // the type byte
        p += width;
        break;
      }
      case 0xca: {
        const auto bits = static_cast<std::uint32_t>(transport::read_big_endian(p, 4));
        float f = 0;
        std::memcpy(&f, &bits, sizeof f);
        v.type = object_type::FLOAT32;
        v.f64 = f;
        p += 4;
        break;
      }
      case 0xcb: {
        const std::uint64_t bits = transport::read_big_endian(p, 8);
        std::memcpy(&v.f64, &bits, sizeof bits);
        v.type = object_type::FLOAT64;
        p += 8;
        break;
      }
      case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        const std::size_t width = std::size_t{1} << (lead - 0xcc);
        v.type = object_type::POSITIVE_INTEGER;
        v.u64 = transport::read_big_endian(p, width);
        p += width;
        break;
      }
      case 0xd0: set_signed(v, static_cast<std::int8_t>(p[0])); p += 1; break;
      case 0xd1: set_signed(v, static_cast<std::int16_t>(transport::read_big_endian(p, 2))); p += 2; break;
      case 0xd2: set_signed(v, static_cast<std::int32_t>(transport::read_big_endian(p, 4))); p += 4; break;
      case 0xd3: set_signed(v, static_cast<std::int64_t>(transport::read_big_endian(p, 8))); p += 8; break;
      case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        v.type = object_type::EXT;
        payload = 1 + (std::uint64_t{1} << (lead - 0xd4));
        break;
      case 0xd9: case 0xda: case 0xdb: {
        const std::size_t width = std::size_t{1} << (lead - 0xd9);
        v.type = object_type::STR;
        payload = transport::read_big_endian(p, width);
        p += width;
        break;
      }
      case 0xdc: case 0xdd: {
        const std::size_t width = lead == 0xdc ? 2 : 4;
        v.type = object_type::ARRAY;
        v.size = static_cast<std::uint32_t>(transport::read_big_endian(p, width));
        p += width;
        break;
      }
      case 0xde: case 0xdf: {
        const std::size_t width = lead == 0xde ? 2 : 4;
        v.type = object_type::MAP;
        v.size = static_cast<std::uint32_t>(transport::read_big_endian(p, width));
        p += width;
        break;
      }
      default: break;  // 0xc1: refused by check_one_map, never read
    }
  }
  if (v.type == object_type::STR) v.size = static_cast<std::uint32_t>(payload);
  v.data = reinterpret_cast<const char*>(p);
  return reinterpret_cast<const char*>(p + payload);
}

// read_value with the kinds every body is mostly made of (fixstr, positive fixint, booleans,
// float64) read inline; the rest by read_value.
inline const char* read_value_fast(const char* at, Value& v) {
  const auto lead = static_cast<unsigned char>(*at);
  if ((lead & 0xe0) == 0xa0) {  // fixstr
    v.type = object_type::STR;
    v.size = lead & 0x1f;
    v.data = at + 1;
    return at + 1 + v.size;
  }
  if (lead <= 0x7f) {
    v.type = object_type::POSITIVE_INTEGER;
    v.u64 = lead;
    v.data = at + 1;
    return at + 1;
  }
  if (lead == 0xc2 || lead == 0xc3) {
    v.type = object_type::BOOLEAN;
    v.boolean = lead == 0xc3;
    v.data = at + 1;
    return at + 1;
  }
  if (lead == 0xcb) {
    const std::uint64_t bits =
        transport::read_big_endian(reinterpret_cast<const unsigned char*>(at + 1), 8);
    std::memcpy(&v.f64, &bits, sizeof bits);
    v.type = object_type::FLOAT64;
    v.data = at + 9;
    return at + 9;
  }
  return read_value(at, v);
}

// Where the object at `p` ends, items of containers included.
const char* skip_value(const char* p) {
  std::uint64_t pending = 1;
  while (pending > 0) {
    Value v;
    p = read_value(p, v);
    --pending;
    if (v.type == object_type::ARRAY) pending += v.size;
    if (v.type == object_type::MAP) pending += 2 * static_cast<std::uint64_t>(v.size);
  }
  return p;
}

// Whether a[0..n) == b[0..n): field names are short, so two overlapping loads of 8, 4 or 2 bytes
// (or one byte) compare them without a call.
bool same_bytes(const char* a, const char* b, std::size_t n) {
  const auto load = [](const char* p, auto word) {
    std::memcpy(&word, p, sizeof word);
    return word;
  };
  if (n >= 8) {
    for (std::size_t i = 0; i + 8 < n; i += 8)
      if (load(a + i, std::uint64_t{}) != load(b + i, std::uint64_t{})) return false;
    return load(a + n - 8, std::uint64_t{}) == load(b + n - 8, std::uint64_t{});
  }
  if (n >= 4)
    return load(a, std::uint32_t{}) == load(b, std::uint32_t{}) &&
           load(a + n - 4, std::uint32_t{}) == load(b + n - 4, std::uint32_t{});
  if (n >= 2)
    return load(a, std::uint16_t{}) == load(b, std::uint16_t{}) &&
           load(a + n - 2, std::uint16_t{}) == load(b + n - 2, std::uint16_t{});
  return n == 0 || a[0] == b[0];
}

// One pair of a map with a string key.
struct MapEntry {
  std::string_view key;
  Value value;
};

// The string-keyed pairs of one map: in place up to 16 (the fields of every body fit), on the
// heap past that (a map with many unknown keys).
class MapEntries {
 public:
  MapEntries() = default;
  MapEntries(const MapEntries&) = delete;
  MapEntries& operator=(const MapEntries&) = delete;

  // Call once, before any push_back, with an upper bound on the pairs.
  void reserve(std::size_t n) {
    on_heap_ = n > kInPlace;
    if (on_heap_) heap_.reserve(n);
  }
  void push_back(const MapEntry& e) {
    if (on_heap_) {
      heap_.push_back(e);
    } else {
      new (&in_place_[size_ * sizeof(MapEntry)]) MapEntry(e);
    }
    ++size_;
  }
  std::size_t size() const { return size_; }
  const MapEntry& operator[](std::size_t i) const {
    return on_heap_ ? heap_[i] : *std::launder(reinterpret_cast<const MapEntry*>(&in_place_[i * sizeof(MapEntry)]));
  }

 private:
  static constexpr std::size_t kInPlace = 16;
  static_assert(std::is_trivially_copyable_v<MapEntry> && std::is_trivially_destructible_v<MapEntry>);
  alignas(MapEntry) unsigned char in_place_[kInPlace * sizeof(MapEntry)];
  std::vector<MapEntry> heap_;
  std::size_t size_ = 0;
  bool on_heap_ = false;
};

// Items of an array reserved at once when it is read (more grow as usual).
constexpr std::size_t kReserveItems = 16;

// Reads the fields of one map. Errors name the field by its path, e.g. "goal_subtasks[1].id".
class MapReader {
 public:
  // The root map of a body.
  explicit MapReader(const Value& map) { index(map); }
  // A map nested under `key` of `parent` (and, within an array, at `item`).
  MapReader(const Value& map, const MapReader& parent, std::string_view key, long item = -1)
      : parent_(&parent), key_(key), item_(item) {
    index(map);
  }
  MapReader(const MapReader&) = delete;
  MapReader& operator=(const MapReader&) = delete;

  // The value under `key` (the last one if repeated), or nullptr. Non-string keys are ignored.
  //
  // Fields are read in the order encoders write them, so when no key can be repeated the search
  // starts after the previous match and usually succeeds at once; a key whose bit is not in
  // `present_` is absent without a search.
  const Value* find(std::string_view key) {
    const std::uint64_t bit = key_bit(key);
    if ((present_ & bit) == 0) return nullptr;
    const std::size_t n = entries_.size();
    if (!may_repeat_) {
      for (std::size_t k = 0, i = next_; k < n; ++k, i = i + 1 == n ? 0 : i + 1) {
        if (matches(entries_[i], key)) {
          next_ = i + 1 == n ? 0 : i + 1;
          return &entries_[i].value;
        }
      }
      return nullptr;
    }
    for (std::size_t i = n; i-- > 0;)
      if (matches(entries_[i], key)) return &entries_[i].value;
    return nullptr;
  }

  // This map's path: "" for the root, else e.g. "candidate" or "plan[1]".
  std::string path() const {
    if (parent_ == nullptr) return {};
    std::string p = parent_->name(key_);
    if (item_ >= 0) p += "[" + std::to_string(item_) + "]";
    return p;
  }
  std::string name(std::string_view key) const {
    std::string path = this->path();
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }
  [[gnu::cold, gnu::noinline]] Error wrong(std::string_view key, const char* expected) const {
    return make_error("field '" + name(key) + "': expected " + expected);
  }
  [[gnu::cold, gnu::noinline]] Error missing(std::string_view key) const {
    return make_error("field '" + name(key) + "' is missing");
  }

  // Returns the value to read, nullptr if absent (and not required), or an error if required
  // and absent. nil counts as absent only for optional fields.
  const Value* lookup(std::string_view key, bool required, std::optional<Error>& err) {
    const Value* v = find(key);
    if (v == nullptr) {
      if (required) err = missing(key);
      return nullptr;
    }
    if (v->type == object_type::NIL && !required) return nullptr;
    return v;
  }

  std::optional<Error> str(std::string_view key, std::string& out, bool required = false) {
    std::optional<Error> err;
    const auto* v = lookup(key, required, err);
    if (!v) return err;
    if (v->type != object_type::STR) return wrong(key, "string");
    out.assign(v->data, v->size);
    return std::nullopt;
  }

  template <typename U>
  std::optional<Error> uint(std::string_view key, U& out, bool required = false) {
    std::optional<Error> err;
    const auto* v = lookup(key, required, err);
    if (!v) return err;
    if (v->type != object_type::POSITIVE_INTEGER) return wrong(key, "unsigned integer");
    if (v->u64 > std::numeric_limits<U>::max()) {
      return make_error("field '" + name(key) + "': value " + std::to_string(v->u64) +
                        " out of range");
    }
    out = static_cast<U>(v->u64);
    return std::nullopt;
  }

  std::optional<Error> sint(std::string_view key, std::int64_t& out, bool required = false) {
    std::optional<Error> err;
    const auto* v = lookup(key, required, err);
    if (!v) return err;
    if (v->type == object_type::NEGATIVE_INTEGER) {
      out = v->i64;
    } else if (v->type == object_type::POSITIVE_INTEGER) {
      if (v->u64 > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return make_error("field '" + name(key) + "': value out of range");
      }
      out = static_cast<std::int64_t>(v->u64);
    } else {
      return wrong(key, "integer");
    }
    return std::nullopt;
  }

  std::optional<Error> real(std::string_view key, double& out, bool required = false) {
    std::optional<Error> err;
    const auto* v = lookup(key, required, err);
    if (!v) return err;
    switch (v->type) {
      case object_type::POSITIVE_INTEGER: out = static_cast<double>(v->u64); break;
      case object_type::NEGATIVE_INTEGER: out = static_cast<double>(v->i64); break;
      case object_type::FLOAT32:
      case object_type::FLOAT64: out = v->f64; break;
      default: return wrong(key, "number");
    }
    return std::nullopt;
  }

  std::optional<Error> boolean(std::string_view key, bool& out, bool required = false) {
    std::optional<Error> err;
    const auto* v = lookup(key, required, err);
    if (!v) return err;
    if (v->type != object_type::BOOLEAN) return wrong(key, "boolean");
    out = v->boolean;
    return std::nullopt;
  }

  std::optional<Error> optional_uint(std::string_view key, std::optional<std::uint64_t>& out) {
    std::optional<Error> err;
    const auto* v = lookup(key, false, err);
    if (!v) return err;
    if (v->type != object_type::POSITIVE_INTEGER) return wrong(key, "unsigned integer");
    out = v->u64;
    return std::nullopt;
  }

  std::optional<Error> optional_boolean(std::string_view key, std::optional<bool>& out) {
    std::optional<Error> err;
    const auto* v = lookup(key, false, err);
    if (!v) return err;
    if (v->type != object_type::BOOLEAN) return wrong(key, "boolean");
    out = v->boolean;
    return std::nullopt;
  }

  std::optional<Error> task_kind(std::string_view key, TaskKind& out, bool required = false) {
    std::uint64_t raw = 0;
    std::optional<Error> err;
    const auto* v = lookup(key, required, err);
    if (!v) return err;
    if (v->type != object_type::POSITIVE_INTEGER) return wrong(key, "unsigned integer");
    raw = v->u64;
    if (raw < 1 || raw > 5) {
      return make_error("field '" + name(key) + "': unknown task kind " + std::to_string(raw));
    }
    out = static_cast<TaskKind>(raw);
    return std::nullopt;
  }

  std::optional<Error> str_array(std::string_view key, std::vector<std::string>& out) {
    std::optional<Error> err;
    const auto* v = lookup(key, false, err);
    if (!v) return err;
    if (v->type != object_type::ARRAY) return wrong(key, "array of strings");
    out.clear();
    out.reserve(std::min<std::size_t>(v->size, kReserveItems));
    const char* p = v->data;
    for (std::uint32_t i = 0; i < v->size; ++i) {
      Value item;
      const char* next = read_value(p, item);
      if (item.type != object_type::STR) {
        return make_error("field '" + name(key) + "[" + std::to_string(i) + "]': expected string");
      }
      out.emplace_back(item.data, item.size);
      p = next;
    }
    return std::nullopt;
  }

  // A nested map read by `read(MapReader&, T&)`; absent leaves `out` untouched.
  template <typename T, typename ReadFn>
  std::optional<Error> nested(std::string_view key, std::optional<T>& out, ReadFn read) {
    std::optional<Error> err;
    const auto* v = lookup(key, false, err);
    if (!v) return err;
    if (v->type != object_type::MAP) return wrong(key, "map");
    MapReader inner(*v, *this, key);
    T value{};
    if (auto e = read(inner, value)) return e;
    out = std::move(value);
    return std::nullopt;
  }

  template <typename T, typename ReadFn>
  std::optional<Error> nested_array(std::string_view key, std::vector<T>& out, ReadFn read) {
    std::optional<Error> err;
    const auto* v = lookup(key, false, err);
    if (!v) return err;
    if (v->type != object_type::ARRAY) return wrong(key, "array of maps");
    out.clear();
    // Room for the usual few at once; never an allocation sized by the header alone.
    out.reserve(std::min<std::size_t>(v->size, kReserveItems));
    const char* p = v->data;
    for (std::uint32_t i = 0; i < v->size; ++i) {
      Value item;
      read_value(p, item);
      if (item.type != object_type::MAP) {
        return make_error("field '" + name(key) + "[" + std::to_string(i) + "]': expected map");
      }
      MapReader inner(item, *this, key, static_cast<long>(i));
      T value{};
      if (auto e = read(inner, value)) return e;
      out.push_back(std::move(value));
      p = inner.end();
    }
    return std::nullopt;
  }

  // Where the map's bytes end (the next object starts).
  const char* end() const { return end_; }

 private:
  // One pass over the map's pairs: string keys and their values, in order.
  void index(const Value& map) {
    entries_.reserve(map.size);
    const char* p = map.data;
    for (std::uint32_t i = 0; i < map.size; ++i) {
      Value key;
      p = past_items(read_value_fast(p, key), key);
      Value value;
      const char* after = past_items(read_value_fast(p, value), value);
      if (key.type == object_type::STR) {
        const std::string_view name(key.data, key.size);
        const std::uint64_t bit = key_bit(name);
        if ((present_ & bit) != 0 && !may_repeat_) {  // a repeat, or two keys sharing a bit
          for (std::size_t k = 0; k < entries_.size() && !may_repeat_; ++k)
            may_repeat_ = matches(entries_[k], name);
        }
        present_ |= bit;
        entries_.push_back({name, value});
      }
      p = after;
    }
    end_ = p;
  }
  // One of 64 bits for a key, from its length and its first and last bytes (cheap; keys that
  // share a bit only cost a longer search).
  static std::uint64_t key_bit(std::string_view key) {
    std::uint64_t h = key.size();
    if (!key.empty())
      h = h * 0x100 * 0x100 + static_cast<unsigned char>(key.front()) * 0x100u +
          static_cast<unsigned char>(key.back());
    return std::uint64_t{1} << ((h * 0x9E3779B97F4A7C15ull) >> 58);
  }
  static bool matches(const MapEntry& e, std::string_view key) {
    return e.key.size() == key.size() && same_bytes(e.key.data(), key.data(), key.size());
  }
  // Where the object `v` ends, given where read_value left off (for a container, its first item).
  static const char* past_items(const char* p, const Value& v) {
    if (v.type != object_type::ARRAY && v.type != object_type::MAP) return p;
    const std::uint64_t items = v.type == object_type::MAP ? 2 * std::uint64_t{v.size} : v.size;
    for (std::uint64_t i = 0; i < items; ++i) p = skip_value(p);
    return p;
  }

  const MapReader* parent_ = nullptr;
  std::string_view key_;
  long item_ = -1;
  MapEntries entries_;
  std::uint64_t present_ = 0;  // key_bit of every key
  bool may_repeat_ = false;    // some key may appear twice: find() must take the last
  const char* end_ = nullptr;  // where the map's bytes end
  std::size_t next_ = 0;       // where find() starts when no key repeats
};

// Reads a sequence of fields, stopping at the first error.
#define CADRE_READ(expr)            \
  do {                              \
    if (auto e_ = (expr)) return e_; \
  } while (0)

std::optional<Error> read_subtask(MapReader& r, SubtaskPlan& s) {
  CADRE_READ(r.str("id", s.id));
  CADRE_READ(r.str("title", s.title));
  CADRE_READ(r.str("instructions", s.instructions));
  CADRE_READ(r.real("difficulty", s.difficulty));
  CADRE_READ(r.str_array("depends_on", s.depends_on));
  return std::nullopt;
}

std::optional<Error> read_file_edit(MapReader& r, FileEdit& f) {
  CADRE_READ(r.str("path", f.path, true));
  CADRE_READ(r.str("content", f.content));
  return std::nullopt;
}

std::optional<Error> read_candidate(MapReader& r, Candidate& c) {
  CADRE_READ(r.str("content", c.content));
  CADRE_READ(r.optional_boolean("sim_correct", c.sim_correct));
  CADRE_READ(r.nested_array("files", c.files, read_file_edit));
  return std::nullopt;
}

std::optional<Error> read_verdict(MapReader& r, Verdict& v) {
  CADRE_READ(r.boolean("accept", v.accept));
  CADRE_READ(r.real("score", v.score));
  CADRE_READ(r.str("feedback", v.feedback));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, Hello& b) {
  CADRE_READ(r.str("agent_id", b.agent_id, true));
  CADRE_READ(r.str("role", b.role, true));
  CADRE_READ(r.str("brain", b.brain));
  CADRE_READ(r.str("model", b.model));
  CADRE_READ(r.uint("capacity", b.capacity, true));
  CADRE_READ(r.uint("protocol", b.protocol, true));
  CADRE_READ(r.sint("pid", b.pid));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, Welcome& b) {
  CADRE_READ(r.str("hub_id", b.hub_id));
  CADRE_READ(r.uint("heartbeat_ms", b.heartbeat_ms));
  CADRE_READ(r.uint("liveness", b.liveness));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, TaskAssignment& b) {
  CADRE_READ(r.str("goal_id", b.goal_id, true));
  CADRE_READ(r.str("task_id", b.task_id, true));
  CADRE_READ(r.uint("attempt", b.attempt, true));
  CADRE_READ(r.task_kind("kind", b.kind, true));
  CADRE_READ(r.str("role", b.role));
  CADRE_READ(r.uint("seed", b.seed));
  CADRE_READ(r.uint("revision", b.revision));
  CADRE_READ(r.real("difficulty", b.difficulty));
  CADRE_READ(r.str("goal_title", b.goal_title));
  CADRE_READ(r.str("instructions", b.instructions));
  CADRE_READ(r.nested_array("goal_subtasks", b.goal_subtasks, read_subtask));
  CADRE_READ(r.nested("candidate", b.candidate, read_candidate));
  CADRE_READ(r.str_array("feedback", b.feedback));
  CADRE_READ(r.uint("lease_ms", b.lease_ms));
  CADRE_READ(r.nested_array("workspace_files", b.workspace_files, read_file_edit));
  CADRE_READ(r.optional_uint("ref", b.ref));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, TaskOutcome& b) {
  CADRE_READ(r.str("goal_id", b.goal_id, true));
  CADRE_READ(r.str("task_id", b.task_id, true));
  CADRE_READ(r.uint("attempt", b.attempt, true));
  CADRE_READ(r.boolean("ok", b.ok));
  CADRE_READ(r.str("error", b.error));
  CADRE_READ(r.uint("tokens_in", b.tokens_in));
  CADRE_READ(r.uint("tokens_out", b.tokens_out));
  CADRE_READ(r.str("model", b.model));
  CADRE_READ(r.real("brain_s", b.brain_s));
  CADRE_READ(r.nested_array("plan", b.plan, read_subtask));
  CADRE_READ(r.nested("candidate", b.candidate, read_candidate));
  CADRE_READ(r.nested("verdict", b.verdict, read_verdict));
  CADRE_READ(r.optional_uint("ref", b.ref));
  CADRE_READ(r.boolean("rate_limited", b.rate_limited));
  double retry_after_s = -1;
  CADRE_READ(r.real("retry_after_s", retry_after_s));
  if (retry_after_s >= 0) b.retry_after_s = retry_after_s;
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, Ack& b) {
  CADRE_READ(r.str("goal_id", b.goal_id, true));
  CADRE_READ(r.str("task_id", b.task_id, true));
  CADRE_READ(r.uint("attempt", b.attempt, true));
  CADRE_READ(r.boolean("accepted", b.accepted));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, ErrorReply& b) {
  CADRE_READ(r.str("code", b.code, true));
  CADRE_READ(r.str("message", b.message));
  CADRE_READ(r.uint("ref_msg_id", b.ref_msg_id));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, Bye& b) {
  CADRE_READ(r.str("reason", b.reason));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, Cancel& b) {
  CADRE_READ(r.str("goal_id", b.goal_id, true));
  CADRE_READ(r.str("task_id", b.task_id, true));
  CADRE_READ(r.uint("attempt", b.attempt, true));
  CADRE_READ(r.str("reason", b.reason));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, Query& b) {
  CADRE_READ(r.str("what", b.what, true));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, View& b) {
  CADRE_READ(r.str("what", b.what, true));
  CADRE_READ(r.str("json", b.json, true));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, Decision& b) {
  CADRE_READ(r.str("goal_id", b.goal_id, true));
  CADRE_READ(r.str("item", b.item));
  CADRE_READ(r.str("action", b.action, true));
  CADRE_READ(r.str("candidate", b.candidate));
  CADRE_READ(r.str("answer", b.answer));
  CADRE_READ(r.str("reason", b.reason));
  CADRE_READ(r.str("by", b.by));
  return std::nullopt;
}

#undef CADRE_READ

// Decodes a body; `checked`: its bytes already passed check_one_map's walk (a CheckedMap), so it
// is not walked again.
template <typename T>
Result<T> decode_body(std::string_view bytes, const char* what, bool checked = false) {
  auto fail = [what](Error e) {
    e.where = what;
    return e;
  };
  try {
    // After this check every header and payload is complete and within the limits, so the
    // reader below walks the bytes without bounds checks.
    if (!checked) {
      if (auto e = check_one_map(bytes)) return fail(*e);
    }
    Value root;
    read_value(bytes.data(), root);
    MapReader reader(root);
    T body{};
    if (auto e = read_fields(reader, body)) return fail(*e);
    return body;
  } catch (const std::bad_alloc&) {
    return fail(make_error("body too large to decode"));
  } catch (const std::exception& e) {
    return fail(make_error(std::string("body does not decode: ") + e.what()));
  } catch (...) {
    return fail(make_error("body does not decode"));
  }
}

}  // namespace

const char* task_kind_name(TaskKind kind) {
  switch (kind) {
    case TaskKind::plan: return "plan";
    case TaskKind::solve: return "solve";
    case TaskKind::review: return "review";
    case TaskKind::resolve: return "resolve";
    case TaskKind::approve: return "approve";
  }
  return "unknown";
}

void encode_to(std::string& dest, const Hello& b) {
  BodyBuffer out(dest,
                 body_room(b.agent_id.size() + b.role.size() + b.brain.size() + b.model.size()));
  MapWriter w(out);
  w.str("agent_id", b.agent_id);
  w.str("role", b.role);
  w.str_if_set("brain", b.brain);
  w.str_if_set("model", b.model);
  w.uint("capacity", b.capacity);
  w.uint("protocol", b.protocol);
  w.sint("pid", b.pid);
  w.finish();
}

void encode_to(std::string& dest, const Welcome& b) {
  BodyBuffer out(dest, body_room(b.hub_id.size()));
  MapWriter w(out);
  w.str("hub_id", b.hub_id);
  w.uint("heartbeat_ms", b.heartbeat_ms);
  w.uint("liveness", b.liveness);
  w.finish();
}

void encode_to(std::string& dest, const TaskAssignment& b) { encode_to(dest, b, b.ref); }

void encode_to(std::string& dest, const TaskAssignment& b, std::optional<std::uint64_t> ref) {
  std::size_t text = b.goal_id.size() + b.task_id.size() + b.role.size() + b.goal_title.size() +
                     b.instructions.size() + text_bytes(b.workspace_files);
  for (const auto& s : b.goal_subtasks) text += text_bytes(s);
  if (b.candidate) text += text_bytes(*b.candidate);
  for (const auto& f : b.feedback) text += f.size() + 5;
  BodyBuffer out(dest, body_room(text));
  MapWriter w(out);
  w.str("goal_id", b.goal_id);
  w.str("task_id", b.task_id);
  w.uint("attempt", b.attempt);
  w.uint("kind", static_cast<std::uint8_t>(b.kind));
  w.str_if_set("role", b.role);
  w.uint("seed", b.seed);
  w.uint("revision", b.revision);
  w.real("difficulty", b.difficulty);
  w.str_if_set("goal_title", b.goal_title);
  w.str_if_set("instructions", b.instructions);
  w.map_array_if_set("goal_subtasks", b.goal_subtasks, write_subtask);
  if (b.candidate) w.map("candidate", *b.candidate, write_candidate);
  w.str_array_if_set("feedback", b.feedback);
  w.uint("lease_ms", b.lease_ms);
  w.map_array_if_set("workspace_files", b.workspace_files, write_file);
  if (ref) w.uint("ref", *ref);
  w.finish();
}

void encode_to(std::string& dest, const TaskOutcome& b) {
  std::size_t text = b.goal_id.size() + b.task_id.size() + b.error.size() + b.model.size();
  for (const auto& s : b.plan) text += text_bytes(s);
  if (b.candidate) text += text_bytes(*b.candidate);
  if (b.verdict) text += b.verdict->feedback.size() + 48;
  if (b.rate_limited) text += 40;
  BodyBuffer out(dest, body_room(text));
  MapWriter w(out);
  w.str("goal_id", b.goal_id);
  w.str("task_id", b.task_id);
  w.uint("attempt", b.attempt);
  w.boolean("ok", b.ok);
  w.str_if_set("error", b.error);
  w.uint("tokens_in", b.tokens_in);
  w.uint("tokens_out", b.tokens_out);
  w.str_if_set("model", b.model);
  w.real("brain_s", b.brain_s);
  w.map_array_if_set("plan", b.plan, write_subtask);
  if (b.candidate) w.map("candidate", *b.candidate, write_candidate);
  if (b.verdict) w.map("verdict", *b.verdict, write_verdict);
  if (b.ref) w.uint("ref", *b.ref);
  if (b.rate_limited) w.boolean("rate_limited", true);
  if (b.retry_after_s) w.real("retry_after_s", *b.retry_after_s);
  w.finish();
}

void encode_to(std::string& dest, const Ack& b) {
  BodyBuffer out(dest, body_room(b.goal_id.size() + b.task_id.size()));
  MapWriter w(out);
  w.str("goal_id", b.goal_id);
  w.str("task_id", b.task_id);
  w.uint("attempt", b.attempt);
  w.boolean("accepted", b.accepted);
  w.finish();
}

void encode_to(std::string& dest, const ErrorReply& b) {
  BodyBuffer out(dest, body_room(b.code.size() + b.message.size()));
  MapWriter w(out);
  w.str("code", b.code);
  w.str_if_set("message", b.message);
  w.uint("ref_msg_id", b.ref_msg_id);
  w.finish();
}

void encode_to(std::string& dest, const Bye& b) {
  BodyBuffer out(dest, body_room(b.reason.size()));
  MapWriter w(out);
  w.str_if_set("reason", b.reason);
  w.finish();
}

void encode_to(std::string& dest, const Cancel& b) {
  BodyBuffer out(dest, body_room(b.goal_id.size() + b.task_id.size() + b.reason.size()));
  MapWriter w(out);
  w.str("goal_id", b.goal_id);
  w.str("task_id", b.task_id);
  w.uint("attempt", b.attempt);
  w.str_if_set("reason", b.reason);
  w.finish();
}

void encode_to(std::string& dest, const Query& b) {
  BodyBuffer out(dest, body_room(b.what.size()));
  MapWriter w(out);
  w.str("what", b.what);
  w.finish();
}

void encode_to(std::string& dest, const View& b) {
  BodyBuffer out(dest, body_room(b.what.size() + b.json.size()));
  MapWriter w(out);
  w.str("what", b.what);
  w.str("json", b.json);
  w.finish();
}

void encode_to(std::string& dest, const Decision& b) {
  BodyBuffer out(dest, body_room(b.goal_id.size() + b.item.size() + b.action.size() + b.candidate.size() + b.answer.size() + b.reason.size() + b.by.size()));
  MapWriter w(out);
  w.str("goal_id", b.goal_id);
  w.str_if_set("item", b.item);
  w.str("action", b.action);
  w.str_if_set("candidate", b.candidate);
  w.str_if_set("answer", b.answer);
  w.str_if_set("reason", b.reason);
  w.str_if_set("by", b.by);
  w.finish();
}

std::string encode(const Hello& b) {
  std::string s;
  encode_to(s, b);
  return s;
}
std::string encode(const Welcome& b) {
  std::string s;
  encode_to(s, b);
  return s;
}
std::string encode(const TaskAssignment& b) {
  std::string s;
  encode_to(s, b);
  return s;
}
std::string encode(const TaskOutcome& b) {
  std::string s;
  encode_to(s, b);
  return s;
}
std::string encode(const Ack& b) {
  std::string s;
  encode_to(s, b);
  return s;
}
std::string encode(const ErrorReply& b) {
  std::string s;
  encode_to(s, b);
  return s;
}
std::string encode(const Bye& b) {
  std::string s;
  encode_to(s, b);
  return s;
}
std::string encode(const Cancel& b) {
  std::string s;
  encode_to(s, b);
  return s;
}
std::string encode(const Query& b) {
  std::string s;
  encode_to(s, b);
  return s;
}
std::string encode(const View& b) {
  std::string s;
  encode_to(s, b);
  return s;
}
std::string encode(const Decision& b) {
  std::string s;
  encode_to(s, b);
  return s;
}

std::string encode_empty() { return std::string(1, '\x80'); }

Result<Hello> decode_hello(std::string_view bytes) { return decode_body<Hello>(bytes, "HELLO"); }
Result<Welcome> decode_welcome(std::string_view bytes) {
  return decode_body<Welcome>(bytes, "WELCOME");
}
Result<TaskAssignment> decode_assignment(std::string_view bytes) {
  return decode_body<TaskAssignment>(bytes, "ASSIGN");
}
Result<TaskOutcome> decode_outcome(std::string_view bytes) {
  return decode_body<TaskOutcome>(bytes, "RESULT");
}
Result<TaskOutcome> decode_checked_outcome(transport::CheckedMap body) {
  return decode_body<TaskOutcome>(body.bytes(), "RESULT", true);
}
Result<TaskAssignment> decode_checked_assignment(transport::CheckedMap body) {
  return decode_body<TaskAssignment>(body.bytes(), "ASSIGN", true);
}
Result<Ack> decode_ack(std::string_view bytes) { return decode_body<Ack>(bytes, "ACK"); }
Result<ErrorReply> decode_error(std::string_view bytes) {
  return decode_body<ErrorReply>(bytes, "ERROR");
}
Result<Bye> decode_bye(std::string_view bytes) { return decode_body<Bye>(bytes, "BYE"); }
Result<Cancel> decode_cancel(std::string_view bytes) {
  return decode_body<Cancel>(bytes, "CANCEL");
}

Result<Query> decode_query(std::string_view bytes) { return decode_body<Query>(bytes, "QUERY"); }
Result<View> decode_view(std::string_view bytes) { return decode_body<View>(bytes, "VIEW"); }
Result<Decision> decode_decision(std::string_view bytes) {
  return decode_body<Decision>(bytes, "DECIDE");
}

TaskOutcome outcome_for(const TaskAssignment& task, const std::string& model) {
  TaskOutcome outcome;
  outcome.goal_id = task.goal_id;
  outcome.task_id = task.task_id;
  outcome.attempt = task.attempt;
  outcome.model = model;
  outcome.ref = task.ref;
  return outcome;
}

}  // namespace cadre::roles
