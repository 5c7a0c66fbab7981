// The run's journal: an append-only file of every event the hub's core was fed, in order.
// Replaying it into a fresh core rebuilds the ledger (recovery builds on this format).
//
// Format: one record per line, "<crc32> <json>\n", where <crc32> is the CRC-32 (IEEE, as in zlib)
// of the JSON bytes as 8 lowercase hex digits, and <json> is one JSON object on a single line with
// at least "n" (record number from 0), "t_us" (the core's clock) and "ev" (event name). A line that
// is cut short or whose checksum does not match is a torn or corrupt record.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cadre/result.h"

namespace cadre::runtime {

std::uint32_t crc32(std::string_view bytes);

class Journal {
 public:
  // Creates (or truncates) the file at `path`.
  static Result<std::unique_ptr<Journal>> create(const std::string& path);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Buffers one record; `json_object` must be a single-line JSON object. Records reach the file
  // on flush() (the live hub flushes once per loop iteration) and on destruction.
  void append(std::string_view json_object);
  // Writes buffered records to the OS. Fails with the path and errno text.
  Status flush();

  std::uint64_t records() const { return records_; }
  const std::string& path() const { return path_; }

 private:
  Journal(std::string path, std::FILE* file);
  std::string path_;
  std::FILE* file_;
  std::string buffer_;
  std::uint64_t records_ = 0;
};

// One record read back from a journal.
struct JournalRecord {
  std::string json;
};

// Reads every intact record of a journal. Stops at the first torn or corrupt line and reports
// how many bytes of the file were intact in `valid_bytes`.
struct JournalContents {
  std::vector<JournalRecord> records;
  std::uint64_t valid_bytes = 0;
  bool torn_tail = false;
};
Result<JournalContents> read_journal(const std::string& path);

}  // namespace cadre::runtime
