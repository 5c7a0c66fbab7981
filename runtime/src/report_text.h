// Text helpers shared by the report writers (report.json's task_attempts, trace.json,
// report.html): appending numbers and escaped strings to a buffer without a JSON library, and a
// buffer that flushes to a stream in large chunks, so a run of a million dispatches is written in
// well under a second and never held whole in memory.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "json_line.h"

namespace cadre::runtime::report_text {

inline void append_int(std::string& out, std::int64_t value) {
  char text[24];
  auto [end, ec] = std::to_chars(text, text + sizeof text, value);
  out.append(text, end);
}

// The shortest text that reads back as `value`; 0 for NaN and infinities (JSON has neither).
inline void append_double(std::string& out, double value) {
  if (!std::isfinite(value)) value = 0.0;
  char text[32];
  auto [end, ec] = std::to_chars(text, text + sizeof text, value);
  out.append(text, end);
}

// `value` rounded to microseconds (as report.json's other times are), shortest form.
inline void append_seconds(std::string& out, double value) {
  append_double(out, std::round(value * 1e6) / 1e6);
}

// `text` as a JSON string literal with quotes; invalid UTF-8 becomes U+FFFD (json_line.h).
inline void append_json_string(std::string& out, std::string_view text) {
  bool plain = true;
  for (unsigned char c : text)
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') {
      plain = false;
      break;
    }
  if (plain) {
    out.push_back('"');
    out.append(text);
    out.push_back('"');
  } else {
    out += json_quote(text);
  }
}

// `text` escaped for HTML text and attribute values (& < > " ').
inline void append_html(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
}

// Appends to a string and hands it to `out` whenever it passes 1 MiB (and at flush()).
class ChunkedWriter {
 public:
  explicit ChunkedWriter(std::ostream& out) : out_(out) { buffer_.reserve(kChunk + 4096); }
  ~ChunkedWriter() { flush(); }
  ChunkedWriter(const ChunkedWriter&) = delete;
  ChunkedWriter& operator=(const ChunkedWriter&) = delete;

  std::string& buffer() { return buffer_; }
  // Call after each record: writes the buffer out once it is large.
  void maybe_flush() {
    if (buffer_.size() >= kChunk) flush();
  }
  void flush() {
    if (buffer_.empty()) return;
    out_.write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    buffer_.clear();
  }

 private:
  static constexpr std::size_t kChunk = 1 << 20;
  std::ostream& out_;
  std::string buffer_;
};

}  // namespace cadre::runtime::report_text
