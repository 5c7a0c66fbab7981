// libFuzzer target: the journal reader on arbitrary file contents.
//
// read_journal takes a path, so each input is written to one temporary file per process (the
// fuzzer runs inputs one after another) and read back; parse_journal_record, the in-memory record
// parser under it, also gets the input directly. Checks the reader's contract (journal.h): it
// never crashes or throws; the intact prefix holds exactly the records returned, in order;
// torn_tail is set exactly when bytes follow that prefix; corruption in the middle is only
// reported past a damaged record, with the intact records after it counted.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cadre/runtime/journal.h"

namespace {

using namespace cadre;

[[noreturn]] void broken() { __builtin_trap(); }

// The per-process file, removed at exit.
struct TempFile {
  std::string path;
  TempFile() {
    const char* dir = std::getenv("TMPDIR");
    path = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/cadre-fuzz-journal-" +
           std::to_string(::getpid());
  }
  ~TempFile() { std::remove(path.c_str()); }
};

TempFile& temp_file() {
  static TempFile file;
  return file;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // The record parser alone: what it takes lies within the input, and a record it returns
  // formats to a line it parses back to the same JSON.
  if (auto record = runtime::parse_journal_record(input)) {
    const auto [json, taken] = *record;
    if (taken > size || json.data() < input.data() ||
        json.data() + json.size() > input.data() + size) {
      broken();
    }
    const std::string line = runtime::format_journal_record(json);
    auto again = runtime::parse_journal_record(line);
    if (!again || again->first != json || again->second != line.size()) broken();
  }

  const std::string& path = temp_file().path;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;  // nothing to read: not the reader's fault
  const bool written = std::fwrite(data, 1, size, f) == size;
  if (std::fclose(f) != 0 || !written) return 0;

  auto contents = runtime::read_journal(path);
  if (!contents.ok()) return 0;  // e.g. the file vanished; an error value is fine

  if (contents->file_bytes != size || contents->valid_bytes > size) broken();
  if (contents->torn_tail != (contents->valid_bytes < size)) broken();
  if (contents->corrupt_middle &&
      (!contents->torn_tail || contents->intact_after == 0 ||
       contents->corrupt_offset != contents->valid_bytes)) {
    broken();
  }
  // The records are the intact prefix, parsed one after another.
  std::size_t pos = 0;
  for (const auto& record : contents->records) {
    auto parsed = runtime::parse_journal_record(input.substr(pos));
    if (!parsed || parsed->first != record.json) broken();
    pos += parsed->second;
  }
  if (pos != contents->valid_bytes) broken();
  return 0;
}
