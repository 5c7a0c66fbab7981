#include "cadre/runtime/journal.h"

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace cadre::runtime {
namespace {

std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}

}  // namespace

std::uint32_t crc32(std::string_view bytes) {
  static const std::array<std::uint32_t, 256> table = make_crc_table();
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) c = table[(c ^ byte) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

Result<std::unique_ptr<Journal>> Journal::create(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr)
    return make_error(std::string("cannot create journal: ") + std::strerror(errno), path);
  return std::unique_ptr<Journal>(new Journal(path, file));
}

Journal::Journal(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}

Journal::~Journal() {
  (void)flush();
  std::fclose(file_);
}

void Journal::append(std::string_view json_object) {
  char crc_text[10];
  std::snprintf(crc_text, sizeof crc_text, "%08x ", crc32(json_object));
  buffer_.append(crc_text, 9);
  buffer_.append(json_object);
  buffer_.push_back('\n');
  ++records_;
}

Status Journal::flush() {
  if (buffer_.empty()) return Status::Ok();
  const std::size_t written = std::fwrite(buffer_.data(), 1, buffer_.size(), file_);
  const bool failed = written != buffer_.size() || std::fflush(file_) != 0;
  buffer_.clear();
  if (failed) return make_error(std::string("journal write failed: ") + std::strerror(errno), path_);
  return Status::Ok();
}

Result<JournalContents> read_journal(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(std::string("cannot read journal: ") + std::strerror(errno), path);
  std::stringstream whole;
  whole << in.rdbuf();
  const std::string text = whole.str();
  JournalContents contents;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) {
      contents.torn_tail = true;
      break;
    }
    const std::string_view line(text.data() + pos, end - pos);
    if (line.size() < 10 || line[8] != ' ') {
      contents.torn_tail = true;
      break;
    }
    const std::string_view json = line.substr(9);
    char expected[9];
    std::snprintf(expected, sizeof expected, "%08x", crc32(json));
    if (line.substr(0, 8) != std::string_view(expected, 8)) {
      contents.torn_tail = true;
      break;
    }
    contents.records.push_back({std::string(json)});
    pos = end + 1;
    contents.valid_bytes = pos;
  }
  return contents;
}

}  // namespace cadre::runtime
