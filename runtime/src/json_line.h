// JsonLine: builds one JSON object on one line, for journal records. A few dozen lines instead of
// a JSON library in the live hub's hot path and compile.
#pragma once

#include <cinttypes>
#include <cmath>
#include <cstdio>
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

// `text` as a JSON string literal, quotes included. Bytes that are not valid UTF-8 become
// U+FFFD, so a record is always valid JSON whatever a brain sent.
inline std::string json_quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  for (std::size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence_length(text, i);
      if (n == 0) {
        out += "\\ufffd";
      } else {
        out.append(text.substr(i, n));
        i += n - 1;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  return out;
}

class JsonLine {
 public:
  JsonLine& field(std::string_view key, std::string_view value) {
    return raw(key, json_quote(value));
  }
  JsonLine& field(std::string_view key, const char* value) {
    return field(key, std::string_view(value));
  }
  JsonLine& field(std::string_view key, const std::string& value) {
    return field(key, std::string_view(value));
  }
  JsonLine& field(std::string_view key, bool value) { return raw(key, value ? "true" : "false"); }
  JsonLine& field(std::string_view key, std::int64_t value) {
    return raw(key, std::to_string(value));
  }
  JsonLine& field(std::string_view key, std::uint64_t value) {
    return raw(key, std::to_string(value));
  }
  JsonLine& field(std::string_view key, std::uint32_t value) {
    return raw(key, std::to_string(value));
  }
  JsonLine& field(std::string_view key, double value) {
    if (!std::isfinite(value)) return raw(key, "null");
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    return raw(key, text);
  }
  // `json` must already be valid JSON (an object, array, number, ...).
  JsonLine& raw(std::string_view key, std::string_view json) {
    if (text_.size() > 1) text_.push_back(',');
    text_ += json_quote(key);
    text_.push_back(':');
    text_ += json;
    return *this;
  }
  std::string str() const { return text_ + "}"; }

 private:
  std::string text_ = "{";
};

}  // namespace cadre::runtime
