#include "cadre/runtime/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace cadre::runtime {
namespace {

// CRC-32 (IEEE, reflected) slicing-by-8: table[k][b] is the CRC of byte b followed by k zero
// bytes, so eight bytes are folded per step (the hub computes one per journal record). On x86-64
// with PCLMULQDQ, inputs of 64 bytes and more are folded by carry-less multiplication first.
using CrcTables = std::array<std::array<std::uint32_t, 256>, 8>;
CrcTables make_crc_tables() {
  CrcTables tables{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    tables[0][i] = c;
  }
  for (std::uint32_t i = 0; i < 256; ++i)
    for (std::size_t k = 1; k < 8; ++k)
      tables[k][i] = (tables[k - 1][i] >> 8) ^ tables[0][tables[k - 1][i] & 0xFF];
  return tables;
}

std::int64_t monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A record longer than this is damage, not a record (frames are at most 4 MiB; a record holds one).
constexpr std::size_t kMaxRecordBytes = 64u << 20;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

#if defined(__x86_64__)
// CRC-32 by carry-less multiplication (PCLMULQDQ), folding 64 then 16 bytes at a time, after
// Intel's "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ Instruction" (2009), in
// the bit-reflected form zlib uses; the constants are the paper's for the IEEE polynomial (as in
// Chromium's zlib, crc32_simd.c). `n` is a multiple of 16 and at least 64. Takes and returns the
// CRC register (not inverted).
#define CADRE_CRC_TARGET __attribute__((target("pclmul,sse4.1")))
CADRE_CRC_TARGET inline __m128i load(const unsigned char* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
// x folded 128 bits ahead by the constants k, and `next` added.
CADRE_CRC_TARGET inline __m128i fold(__m128i x, __m128i k, __m128i next) {
  const __m128i lo = _mm_clmulepi64_si128(x, k, 0x00);
  return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x11), next), lo);
}
CADRE_CRC_TARGET std::uint32_t crc32_folded(const unsigned char* buf, std::size_t n,
                                            std::uint32_t crc) {
  alignas(16) static const std::uint64_t k1k2[] = {0x0154442bd4, 0x01c6e41596};
  alignas(16) static const std::uint64_t k3k4[] = {0x01751997d0, 0x00ccaa009e};
  alignas(16) static const std::uint64_t k5k0[] = {0x0163cd6124, 0x0000000000};
  alignas(16) static const std::uint64_t poly[] = {0x01db710641, 0x01f7011641};
  __m128i x1 = load(buf + 0x00);
  __m128i x2 = load(buf + 0x10);
  __m128i x3 = load(buf + 0x20);
  __m128i x4 = load(buf + 0x30);
  x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128(static_cast<int>(crc)));
  __m128i x0 = _mm_load_si128(reinterpret_cast<const __m128i*>(k1k2));
  buf += 64;
  n -= 64;
  // Four lanes of 16 bytes folded 64 bytes ahead.
  while (n >= 64) {
    x1 = fold(x1, x0, load(buf + 0x00));
    x2 = fold(x2, x0, load(buf + 0x10));
    x3 = fold(x3, x0, load(buf + 0x20));
    x4 = fold(x4, x0, load(buf + 0x30));
    buf += 64;
    n -= 64;
  }
  // The four lanes into one.
  x0 = _mm_load_si128(reinterpret_cast<const __m128i*>(k3k4));
  x1 = fold(x1, x0, x2);
  x1 = fold(x1, x0, x3);
  x1 = fold(x1, x0, x4);
  for (; n >= 16; buf += 16, n -= 16) x1 = fold(x1, x0, load(buf));
  // 128 bits to 64, then Barrett reduction to 32.
  __m128i x2b = _mm_clmulepi64_si128(x1, x0, 0x10);
  const __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);
  x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2b);
  x0 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(k5k0));
  x2b = _mm_srli_si128(x1, 4);
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask32), x0, 0x00), x2b);
  x0 = _mm_load_si128(reinterpret_cast<const __m128i*>(poly));
  x2b = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), x0, 0x10);
  x2b = _mm_clmulepi64_si128(_mm_and_si128(x2b, mask32), x0, 0x00);
  x1 = _mm_xor_si128(x1, x2b);
  return static_cast<std::uint32_t>(_mm_extract_epi32(x1, 1));
}

#undef CADRE_CRC_TARGET

bool cpu_folds_crc() {
  static const bool yes = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  return yes;
}
#endif

}  // namespace

std::uint32_t crc32(std::string_view bytes) {
  static const CrcTables t = make_crc_tables();
  std::uint32_t c = 0xFFFFFFFFu;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t n = bytes.size();
#if defined(__x86_64__)
  // Records are mostly 100-300 bytes: folded in 16-byte blocks (several times faster than the
  // tables), the last few bytes by the tables.
  if (n >= 64 && cpu_folds_crc()) {
    const std::size_t folded = n & ~std::size_t{15};
    c = crc32_folded(p, folded, c);
    p += folded;
    n -= folded;
  }
#endif
  for (; n >= 8; p += 8, n -= 8) {
    const std::uint32_t lo = c ^ (std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 |
                                  std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24);
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
        t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
  }
  for (; n > 0; ++p, --n) c = t[0][(c ^ *p) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

namespace {

// Appends the line for one record to `out`: "<length> <crc32> <json>\n", the CRC as 8 lowercase
// hex digits (as "%zu %08x ").
void append_journal_record(std::string& out, std::string_view json_object) {
  char head[32];
  char* p = std::to_chars(head, head + 20, json_object.size()).ptr;
  *p++ = ' ';
  const std::uint32_t crc = crc32(json_object);
  for (int shift = 28; shift >= 0; shift -= 4) *p++ = "0123456789abcdef"[(crc >> shift) & 0xF];
  *p++ = ' ';
  const auto head_size = static_cast<std::size_t>(p - head);
  out.reserve(out.size() + head_size + json_object.size() + 1);
  out.append(head, head_size);
  out.append(json_object);
  out.push_back('\n');
}

}  // namespace

std::string format_journal_record(std::string_view json_object) {
  std::string line;
  append_journal_record(line, json_object);
  return line;
}

std::optional<std::pair<std::string_view, std::size_t>> parse_journal_record(std::string_view text) {
  std::size_t pos = 0;
  std::size_t length = 0;
  while (pos < text.size() && pos < 12 && text[pos] >= '0' && text[pos] <= '9')
    length = length * 10 + static_cast<std::size_t>(text[pos++] - '0');
  if (pos == 0 || pos >= text.size() || text[pos] != ' ' || length > kMaxRecordBytes)
    return std::nullopt;
  ++pos;
  if (text.size() < pos + 9 || text[pos + 8] != ' ') return std::nullopt;
  std::uint32_t crc = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    const int v = hex_value(text[pos + i]);
    if (v < 0) return std::nullopt;
    crc = (crc << 4) | static_cast<std::uint32_t>(v);
  }
  pos += 9;
  if (text.size() < pos + length + 1 || text[pos + length] != '\n') return std::nullopt;
  const std::string_view json = text.substr(pos, length);
  if (crc32(json) != crc) return std::nullopt;
  return std::make_pair(json, pos + length + 1);
}

Result<std::unique_ptr<Journal>> Journal::create(const std::string& path, JournalSync sync,
                                                 int batch_window_ms) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(std::string("cannot create journal: ") + std::strerror(errno), path);
  return std::unique_ptr<Journal>(new Journal(path, fd, sync, batch_window_ms));
}

Result<std::unique_ptr<Journal>> Journal::resume(const std::string& path, std::uint64_t keep_bytes,
                                                 std::uint64_t next_record, JournalSync sync,
                                                 int batch_window_ms) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return make_error(std::string("cannot open journal: ") + std::strerror(errno), path);
  if (::ftruncate(fd, static_cast<off_t>(keep_bytes)) != 0 ||
      ::lseek(fd, static_cast<off_t>(keep_bytes), SEEK_SET) < 0 || ::fsync(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return make_error("cannot truncate journal to " + std::to_string(keep_bytes) + " bytes: " + why,
                      path);
  }
  std::unique_ptr<Journal> journal(new Journal(path, fd, sync, batch_window_ms));
  journal->records_ = next_record;
  return journal;
}

Journal::Journal(std::string path, int fd, JournalSync sync, int batch_window_ms)
    : path_(std::move(path)), fd_(fd), sync_(sync), batch_window_ms_(batch_window_ms),
      last_sync_ms_(monotonic_ms()) {}

Journal::~Journal() {
  (void)sync_now();
  stop_syncer();
  ::close(fd_);
}

void Journal::stop_syncer() {
  if (!syncer_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(sync_mutex_);
    syncer_stopping_ = true;
  }
  sync_wake_.notify_one();
  syncer_.join();
}

void Journal::sync_loop() {
  std::unique_lock<std::mutex> lock(sync_mutex_);
  while (true) {
    sync_wake_.wait(lock, [this] { return sync_wanted_ || syncer_stopping_; });
    if (!sync_wanted_) return;
    sync_wanted_ = false;
    lock.unlock();
    // write() and fdatasync() on one descriptor may overlap: what was written before this call
    // reaches the disk; what the hub writes meanwhile goes with the next one.
    const bool failed = ::fdatasync(fd_) != 0;
    const std::string why = failed ? std::strerror(errno) : std::string();
    lock.lock();
    if (failed && sync_error_.empty()) sync_error_ = "journal fsync failed: " + why;
    if (!failed) ++syncs_;
  }
}

void Journal::append(std::string_view json_object) {
  append_journal_record(buffer_, json_object);  // formatted in place, no string per record
  ++records_;
}

Status Journal::write_buffer() {
  std::size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      buffer_.erase(0, done);
      return make_error("journal write failed: " + why, path_);
    }
    done += static_cast<std::size_t>(n);
  }
  if (done > 0) unsynced_ = true;
  buffer_.clear();
  return Status::Ok();
}

Status Journal::sync_file() {
  if (!unsynced_) return Status::Ok();
  if (::fdatasync(fd_) != 0) return make_error(std::string("journal fsync failed: ") + std::strerror(errno), path_);
  unsynced_ = false;
  ++syncs_;
  last_sync_ms_ = monotonic_ms();
  return Status::Ok();
}

Status Journal::commit() {
  if (auto written = write_buffer(); !written.ok()) return written;
  return sync_ == JournalSync::fsync ? sync_file() : Status::Ok();
}

Status Journal::maybe_sync() {
  if (auto written = commit(); !written.ok()) return written;
  if (sync_ != JournalSync::batch) return Status::Ok();
  {
    std::lock_guard<std::mutex> lock(sync_mutex_);
    if (!sync_error_.empty()) return make_error(sync_error_, path_);
  }
  if (!unsynced_ || monotonic_ms() - last_sync_ms_ < batch_window_ms_) return Status::Ok();
  if (!syncer_.joinable()) syncer_ = std::thread([this] { sync_loop(); });
  {
    std::lock_guard<std::mutex> lock(sync_mutex_);
    sync_wanted_ = true;
  }
  sync_wake_.notify_one();
  unsynced_ = false;
  last_sync_ms_ = monotonic_ms();
  return Status::Ok();
}

Status Journal::sync_now() {
  if (auto written = write_buffer(); !written.ok()) return written;
  return sync_ == JournalSync::none ? Status::Ok() : sync_file();
}

Result<JournalContents> read_journal(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(std::string("cannot read journal: ") + std::strerror(errno), path);
  std::stringstream whole;
  whole << in.rdbuf();
  const std::string text = whole.str();
  const std::string_view all(text);
  JournalContents contents;
  contents.file_bytes = text.size();
  std::size_t pos = 0;
  while (pos < all.size()) {
    auto record = parse_journal_record(all.substr(pos));
    if (!record) break;
    contents.records.push_back({std::string(record->first)});
    pos += record->second;
  }
  contents.valid_bytes = pos;
  if (pos == all.size()) return contents;
  contents.torn_tail = true;
  // Is there an intact record after the damage? Records start after a newline.
  for (std::size_t line = all.find('\n', pos); line != std::string_view::npos;
       line = all.find('\n', line + 1)) {
    std::size_t at = line + 1;
    while (at < all.size()) {
      auto record = parse_journal_record(all.substr(at));
      if (!record) break;
      ++contents.intact_after;
      at += record->second;
    }
    if (contents.intact_after > 0) {
      contents.corrupt_middle = true;
      contents.corrupt_offset = pos;
      break;
    }
  }
  return contents;
}

}  // namespace cadre::runtime
