// The run's journal: an append-only file of every event the hub's core was fed, in order.
// Replaying it into a fresh core rebuilds the ledger (replay.h; `cadre run/hub --resume`).
//
// Format: one record per line, "<length> <crc32> <json>\n": <length> is the byte length of
// <json> in decimal, <crc32> the CRC-32 (IEEE, as in zlib) of those bytes as 8 lowercase hex
// digits, and <json> one JSON object on one line with at least "n" (record number from 0),
// "t_us" (the core's clock) and "ev" (event name). A record whose length, checksum or line end
// does not match is damaged: at the end of the file it is a torn tail (a write cut short by a
// crash), which resume reports and truncates; followed by an intact record it is corruption in
// the middle, which resume refuses.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cadre/result.h"

namespace cadre::runtime {

std::uint32_t crc32(std::string_view bytes);

// How records reach the disk (docs/scenarios.md, "durability").
enum class JournalSync {
  fsync,  // commit() writes and fsyncs
  batch,  // commit() writes; maybe_sync() has a background thread fsync once the batch window
          // has passed (the hub's loop never waits on the disk)
  none,   // commit() writes; never fsync
};

class Journal {
 public:
  // Creates (or truncates) the file at `path`.
  static Result<std::unique_ptr<Journal>> create(const std::string& path, JournalSync sync = JournalSync::batch,
                                                 int batch_window_ms = 50);
  // Opens an existing journal to continue it: cuts it to `keep_bytes` (dropping a torn tail) and
  // appends after it; record numbers continue from `next_record`.
  static Result<std::unique_ptr<Journal>> resume(const std::string& path, std::uint64_t keep_bytes,
                                                 std::uint64_t next_record,
                                                 JournalSync sync = JournalSync::batch,
                                                 int batch_window_ms = 50);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Buffers one record; `json_object` must be a single-line JSON object.
  void append(std::string_view json_object);
  // Hands buffered records to the OS (and, in fsync mode, to the disk). The hub calls it before
  // sending any message, so nothing it acknowledges can be lost by killing the hub. Fails with
  // the path and errno text.
  Status commit();
  // batch mode: once records were written and the batch window has passed since the last
  // fsync, asks the journal's sync thread to fsync them (the caller does not wait). Fails when an
  // earlier background fsync failed. Other modes: nothing. Call it every loop iteration.
  Status maybe_sync();
  // Everything to the disk now (the end of a run).
  Status sync_now();

  bool has_buffered() const { return !buffer_.empty(); }
  std::uint64_t records() const { return records_; }
  std::uint64_t syncs() const { return syncs_.load(); }
  const std::string& path() const { return path_; }

 private:
  Journal(std::string path, int fd, JournalSync sync, int batch_window_ms);
  Status write_buffer();
  Status sync_file();
  void sync_loop();
  void stop_syncer();
  std::string path_;
  int fd_;
  JournalSync sync_;
  int batch_window_ms_;
  std::string buffer_;
  std::uint64_t records_ = 0;
  std::atomic<std::uint64_t> syncs_{0};
  bool unsynced_ = false;
  std::int64_t last_sync_ms_ = 0;
  // batch mode's background fsync (started on first use).
  std::thread syncer_;
  std::mutex sync_mutex_;
  std::condition_variable sync_wake_;
  bool sync_wanted_ = false;
  bool syncer_stopping_ = false;
  std::string sync_error_;
};

// One record read back from a journal.
struct JournalRecord {
  std::string json;
};

// Every intact record of a journal, up to the first damaged one.
struct JournalContents {
  std::vector<JournalRecord> records;
  std::uint64_t valid_bytes = 0;  // the intact prefix: records end exactly here
  std::uint64_t file_bytes = 0;
  // Bytes after the intact prefix (file_bytes > valid_bytes).
  bool torn_tail = false;
  // Some intact record follows the damage: the file was corrupted in the middle, not cut short.
  // Then `corrupt_offset` is where the damaged record starts and `intact_after` is how many
  // intact records were found after it.
  bool corrupt_middle = false;
  std::uint64_t corrupt_offset = 0;
  std::uint64_t intact_after = 0;
};

// Reads a journal. Fails only when the file cannot be read.
Result<JournalContents> read_journal(const std::string& path);

// The record at the start of `text`, if it is intact: {json, bytes the record takes}.
std::optional<std::pair<std::string_view, std::size_t>> parse_journal_record(std::string_view text);

// The line for one record: "<length> <crc32> <json>\n".
std::string format_journal_record(std::string_view json_object);

}  // namespace cadre::runtime
