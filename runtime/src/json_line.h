// JsonLine: builds one JSON object on one line, for journal records. A few dozen lines instead of
// a JSON library in the live hub's hot path and compile.
//
// Everything is appended in place into one string (nested objects and arrays too, through
// object() and array()); numbers are formatted with std::to_chars. The text is exactly what the
// earlier builder wrote (strings quoted by json_quote, doubles as printf's "%.17g", integers in
// decimal): journal records must not change by a byte.
#pragma once

#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace cadre::runtime {

// The length of the valid UTF-8 sequence at text[i], or 0 if none starts there.
inline std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  std::size_t n = 0;
  unsigned min = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  unsigned code = c & (0xFF >> (n + 1));
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i + k) & 0x3F);
  }
  if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return n;
}

// Appends `text` to `out` as a JSON string literal, quotes included. Bytes that are not valid
// UTF-8 become U+FFFD, so a record is always valid JSON whatever a brain sent. Runs of bytes
// that need no escape (printable ASCII but '"' and '\\', and valid UTF-8 sequences) are copied
// in one append each.
inline void json_quote_to(std::string& out, std::string_view text) {
  out.push_back('"');
  const char* const data = text.data();
  const std::size_t size = text.size();
  std::size_t run = 0;  // start of the bytes not yet copied
  std::size_t i = 0;
  while (i < size) {
    const unsigned char c = static_cast<unsigned char>(data[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence_length(text, i);
      if (n > 0) {
        i += n;  // valid UTF-8 stays in the run
        continue;
      }
    }
    out.append(data + run, i - run);
    switch (c) {
      case '"': out.append("\\\"", 2); break;
      case '\\': out.append("\\\\", 2); break;
      case '\n': out.append("\\n", 2); break;
      case '\r': out.append("\\r", 2); break;
      case '\t': out.append("\\t", 2); break;
      default:
        if (c >= 0x80) {
          out.append("\\ufffd", 6);
        } else {  // another control character: \u00XX, lowercase hex (as "%04x")
          const char escaped[6] = {'\\', 'u', '0', '0', "0123456789abcdef"[c >> 4],
                                   "0123456789abcdef"[c & 0xF]};
          out.append(escaped, sizeof escaped);
        }
    }
    run = ++i;
  }
  out.append(data + run, size - run);
  out.push_back('"');
}

// `text` as a JSON string literal, quotes included (json_quote_to).
inline std::string json_quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  json_quote_to(out, text);
  return out;
}

// Whether json_quote_to would copy `text` unchanged between its quotes: printable ASCII only,
// without '"' or '\\'.
inline bool json_plain(std::string_view text) {
  for (const char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return false;
  }
  return true;
}

class JsonObject;
class JsonArray;

// The member writers shared by JsonLine and JsonObject. `Self` provides begin(key), which writes
// what comes before a member's value and returns the string to append the value to, end(),
// which closes the member and returns *this, and member_space(n), which makes room for a whole
// member of n bytes (the separator and closing brace around it are its own business) and
// returns where to write it. Members whose key and text need no escaping (nearly all) are
// written with member_space: one resize and a few copies instead of a call per character.
template <typename Self>
class JsonMembers {
 public:
  Self& field(std::string_view key, std::string_view value) {
    if (json_plain(key) && json_plain(value)) {
      char* p = self().member_space(key.size() + value.size() + 5);
      p = put_key(p, key);
      *p++ = '"';
      p = put(p, value);
      *p = '"';
      return self();
    }
    json_quote_to(self().begin(key), value);
    return self().end();
  }
  Self& field(std::string_view key, const char* value) {
    return field(key, std::string_view(value));
  }
  Self& field(std::string_view key, const std::string& value) {
    return field(key, std::string_view(value));
  }
  Self& field(std::string_view key, bool value) { return raw(key, value ? "true" : "false"); }
  Self& field(std::string_view key, std::int64_t value) { return integer(key, value); }
  Self& field(std::string_view key, std::uint64_t value) { return integer(key, value); }
  Self& field(std::string_view key, std::uint32_t value) { return integer(key, value); }
  // As printf's "%.17g" (std::to_chars with a precision is specified to match it); null when
  // not finite.
  Self& field(std::string_view key, double value) {
    if (!std::isfinite(value)) return raw(key, "null");
    char text[32];
    const auto end = std::to_chars(text, text + sizeof text, value, std::chars_format::general, 17).ptr;
    return raw(key, std::string_view(text, static_cast<std::size_t>(end - text)));
  }
  // `json` must already be valid JSON (an object, array, number, ...).
  Self& raw(std::string_view key, std::string_view json) {
    if (json_plain(key)) {
      put(put_key(self().member_space(key.size() + json.size() + 3), key), json);
      return self();
    }
    self().begin(key).append(json);
    return self().end();
  }
  // A nested object, written in place by fill(JsonObject&).
  template <typename Fill>
  Self& object(std::string_view key, Fill fill);
  // A nested array, written in place by fill(JsonArray&).
  template <typename Fill>
  Self& array(std::string_view key, Fill fill);

 private:
  template <typename Int>
  Self& integer(std::string_view key, Int value) {
    char text[24];
    const auto end = std::to_chars(text, text + sizeof text, value).ptr;
    return raw(key, std::string_view(text, static_cast<std::size_t>(end - text)));
  }
  Self& self() { return static_cast<Self&>(*this); }
  static char* put(char* p, std::string_view text) {
    if (!text.empty()) std::memcpy(p, text.data(), text.size());
    return p + text.size();
  }
  // "key": (the key needs no escaping)
  static char* put_key(char* p, std::string_view key) {
    *p++ = '"';
    p = put(p, key);
    *p++ = '"';
    *p++ = ':';
    return p;
  }
};

// The members of an object nested in a record, written into the record's string (see
// JsonMembers::object). The object is closed by whoever opened it.
class JsonObject : public JsonMembers<JsonObject> {
 public:
  explicit JsonObject(std::string& out) : out_(out) { out_.push_back('{'); }
  JsonObject(const JsonObject&) = delete;
  JsonObject& operator=(const JsonObject&) = delete;
  void close() { out_.push_back('}'); }

 private:
  friend class JsonMembers<JsonObject>;
  std::string& begin(std::string_view key) {
    if (!empty_) out_.push_back(',');
    empty_ = false;
    json_quote_to(out_, key);
    out_.push_back(':');
    return out_;
  }
  JsonObject& end() { return *this; }
  char* member_space(std::size_t n) {
    const std::size_t at = out_.size();
    const std::size_t separator = empty_ ? 0 : 1;
    out_.resize(at + separator + n);
    char* p = out_.data() + at;
    if (!empty_) *p++ = ',';
    empty_ = false;
    return p;
  }

  std::string& out_;
  bool empty_ = true;
};

// The items of an array nested in a record, written into the record's string.
class JsonArray {
 public:
  explicit JsonArray(std::string& out) : out_(out) { out_.push_back('['); }
  JsonArray(const JsonArray&) = delete;
  JsonArray& operator=(const JsonArray&) = delete;
  void close() { out_.push_back(']'); }

  JsonArray& string(std::string_view value) {
    next();
    json_quote_to(out_, value);
    return *this;
  }
  // An object item, written by fill(JsonObject&).
  template <typename Fill>
  JsonArray& object(Fill fill) {
    next();
    JsonObject item(out_);
    fill(item);
    item.close();
    return *this;
  }

 private:
  void next() {
    if (!empty_) out_.push_back(',');
    empty_ = false;
  }
  std::string& out_;
  bool empty_ = true;
};

template <typename Self>
template <typename Fill>
Self& JsonMembers<Self>::object(std::string_view key, Fill fill) {
  JsonObject inner(self().begin(key));
  fill(inner);
  inner.close();
  return self().end();
}

template <typename Self>
template <typename Fill>
Self& JsonMembers<Self>::array(std::string_view key, Fill fill) {
  JsonArray inner(self().begin(key));
  fill(inner);
  inner.close();
  return self().end();
}

// One JSON object on one line. The text is kept closed ("{...}") at all times, so view() needs
// no copy.
class JsonLine : public JsonMembers<JsonLine> {
 public:
  // Room for a typical journal record, so that building one rarely reallocates.
  static constexpr std::size_t kTypicalBytes = 192;

  JsonLine() : JsonLine(kTypicalBytes) {}
  // Writes into the storage last given to recycle() on this thread, if any.
  explicit JsonLine(std::size_t expected_bytes) {
    text_.swap(spare());
    text_.reserve(expected_bytes);
    text_.assign("{}", 2);
  }
  // The line's storage; the line is left empty ("").
  std::string release() { return std::move(text_); }
  // Keeps `storage` (a released line's) for the next JsonLine made on this thread: the hub makes
  // a record per event, each then without an allocation of its own. Large ones are let go.
  static void recycle(std::string&& storage) {
    if (storage.capacity() <= kRecycledBytes) spare() = std::move(storage);
  }

  std::string str() const { return text_; }
  // The object's text, valid until the line changes or goes away.
  std::string_view view() const { return text_; }

 private:
  friend class JsonMembers<JsonLine>;
  // Opens the object again (drops the closing brace) and writes the key.
  std::string& begin(std::string_view key) {
    text_.pop_back();
    if (text_.size() > 1) text_.push_back(',');
    json_quote_to(text_, key);
    text_.push_back(':');
    return text_;
  }
  JsonLine& end() {
    text_.push_back('}');
    return *this;
  }
  // Room for a member in place of the closing brace, which moves after it.
  char* member_space(std::size_t n) {
    const std::size_t at = text_.size() - 1;  // the closing brace
    const bool first = at == 1;
    text_.resize(at + (first ? 0 : 1) + n + 1);
    char* p = text_.data() + at;
    if (!first) *p++ = ',';
    text_.back() = '}';
    return p;
  }

  static constexpr std::size_t kRecycledBytes = 64 * 1024;
  static std::string& spare() {
    thread_local std::string storage;
    return storage;
  }

  std::string text_;
};

}  // namespace cadre::runtime
