// JsonLine: builds one JSON object on one line, for journal records. A few dozen lines instead of
// a JSON library in the live hub's hot path and compile.
#pragma once

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

namespace cadre::runtime {

// `text` as a JSON string literal, quotes included.
inline std::string json_quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  for (unsigned char c : text) {
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
