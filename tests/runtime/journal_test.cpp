// The journal's record format: length and checksum per record, torn tails told from corruption
// in the middle, resume after a tail, and the durability modes.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "cadre/runtime/journal.h"

namespace cadre::runtime {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("cadre-journal-" + std::to_string(::getpid()) + "-" + name))
      .string();
}

TEST(Journal, Crc32IsTheIeeeChecksumOfZlib) {
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc32(""), 0u);
  // Every length around the 8-byte steps agrees with the bytewise definition.
  auto bytewise = [](std::string_view bytes) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (unsigned char byte : bytes) {
      c ^= byte;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
  };
  std::string text;
  for (int n = 0; n < 70; ++n) {
    EXPECT_EQ(crc32(text), bytewise(text)) << "length " << n;
    text.push_back(static_cast<char>(n * 37 + 11));
  }
}

TEST(Journal, RecordsReadBackInOrderWithTheirLengthsAndChecksums) {
  const std::string path = temp_path("roundtrip");
  {
    auto journal = Journal::create(path);
    ASSERT_TRUE(journal.ok()) << journal.error().to_string();
    (*journal)->append(R"({"n":0,"ev":"start"})");
    (*journal)->append(R"({"n":1,"ev":"join","agent":"coder-1"})");
    ASSERT_TRUE((*journal)->commit().ok());
    EXPECT_EQ((*journal)->records(), 2u);
  }
  auto contents = read_journal(path);
  ASSERT_TRUE(contents.ok());
  ASSERT_EQ(contents->records.size(), 2u);
  EXPECT_EQ(contents->records[1].json, R"({"n":1,"ev":"join","agent":"coder-1"})");
  EXPECT_FALSE(contents->torn_tail);
  EXPECT_FALSE(contents->corrupt_middle);
  EXPECT_EQ(contents->valid_bytes, std::filesystem::file_size(path));
  EXPECT_EQ(format_journal_record(R"({"n":0,"ev":"start"})"), "20 " + [] {
    char crc[9];
    std::snprintf(crc, sizeof crc, "%08x", crc32(R"({"n":0,"ev":"start"})"));
    return std::string(crc);
  }() + R"( {"n":0,"ev":"start"})" "\n");
  std::filesystem::remove(path);
}

// Three records; returns the byte offsets where each starts, and the file size.
std::vector<std::uint64_t> write_three(const std::string& path) {
  auto journal = Journal::create(path);
  EXPECT_TRUE(journal.ok());
  std::vector<std::uint64_t> starts;
  std::uint64_t at = 0;
  for (const char* json : {R"({"n":0})", R"({"n":1,"x":"abc"})", R"({"n":2})"}) {
    starts.push_back(at);
    at += format_journal_record(json).size();
    (*journal)->append(json);
  }
  starts.push_back(at);
  return starts;
}

TEST(Journal, ACutOrCorruptLastRecordIsATornTail) {
  const std::string path = temp_path("torn");
  auto starts = write_three(path);
  {
    std::ofstream out(path, std::ios::app);
    out << "7 0badc0de {\"n\":3}\n";  // wrong checksum, at the end
  }
  auto contents = read_journal(path);
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(contents->records.size(), 3u);
  EXPECT_TRUE(contents->torn_tail);
  EXPECT_FALSE(contents->corrupt_middle);
  EXPECT_EQ(contents->valid_bytes, starts[3]);

  for (std::uint64_t cut : {starts[3] - 1, starts[2] + 3, starts[2] + 1}) {
    std::filesystem::resize_file(path, cut);  // a write cut short inside the last record
    contents = read_journal(path);
    ASSERT_TRUE(contents.ok());
    EXPECT_EQ(contents->records.size(), 2u) << cut;
    EXPECT_TRUE(contents->torn_tail);
    EXPECT_FALSE(contents->corrupt_middle);
    EXPECT_EQ(contents->valid_bytes, starts[2]);
  }
  std::filesystem::remove(path);
}

TEST(Journal, DamageFollowedByAnIntactRecordIsCorruptionInTheMiddle) {
  const std::string path = temp_path("middle");
  auto starts = write_three(path);
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(starts[1] + 16));  // inside record 1's JSON
    file.put('Z');
  }
  auto contents = read_journal(path);
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(contents->records.size(), 1u);
  EXPECT_TRUE(contents->corrupt_middle);
  EXPECT_EQ(contents->corrupt_offset, starts[1]);
  EXPECT_EQ(contents->intact_after, 1u);
  std::filesystem::remove(path);
}

TEST(Journal, ResumeCutsTheTornTailAndAppendsAfterTheIntactRecords) {
  const std::string path = temp_path("resume");
  auto starts = write_three(path);
  {
    std::ofstream out(path, std::ios::app);
    out << "12 deadbeef {\"n";  // torn
  }
  {
    auto journal = Journal::resume(path, starts[3], 3);
    ASSERT_TRUE(journal.ok()) << journal.error().to_string();
    EXPECT_EQ((*journal)->records(), 3u);
    (*journal)->append(R"({"n":3})");
  }
  auto contents = read_journal(path);
  ASSERT_TRUE(contents.ok());
  ASSERT_EQ(contents->records.size(), 4u);
  EXPECT_EQ(contents->records[3].json, R"({"n":3})");
  EXPECT_FALSE(contents->torn_tail);
  std::filesystem::remove(path);
}

TEST(Journal, DurabilityModesDecideWhenRecordsAreSynced) {
  const std::string path = temp_path("sync");
  {
    auto fsync = Journal::create(path, JournalSync::fsync);
    ASSERT_TRUE(fsync.ok());
    (*fsync)->append(R"({"n":0})");
    ASSERT_TRUE((*fsync)->commit().ok());
    (*fsync)->append(R"({"n":1})");
    ASSERT_TRUE((*fsync)->commit().ok());
    ASSERT_TRUE((*fsync)->commit().ok());  // nothing new: no sync
    EXPECT_EQ((*fsync)->syncs(), 2u);
  }
  {
    auto batch = Journal::create(path, JournalSync::batch, 3600 * 1000);
    ASSERT_TRUE(batch.ok());
    (*batch)->append(R"({"n":0})");
    ASSERT_TRUE((*batch)->commit().ok());
    ASSERT_TRUE((*batch)->maybe_sync().ok());  // inside the window
    EXPECT_EQ((*batch)->syncs(), 0u);
    // Written to the OS already: another reader sees it before any fsync.
    EXPECT_EQ(read_journal(path)->records.size(), 1u);
    ASSERT_TRUE((*batch)->sync_now().ok());
    EXPECT_EQ((*batch)->syncs(), 1u);
  }
  {
    auto batch = Journal::create(path, JournalSync::batch, 0);
    ASSERT_TRUE(batch.ok());
    (*batch)->append(R"({"n":0})");
    ASSERT_TRUE((*batch)->maybe_sync().ok());  // window passed: the sync thread fsyncs
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while ((*batch)->syncs() < 1 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ((*batch)->syncs(), 1u);
    ASSERT_TRUE((*batch)->maybe_sync().ok());  // nothing new written: nothing to sync
    EXPECT_EQ((*batch)->syncs(), 1u);
  }
  {
    auto none = Journal::create(path, JournalSync::none);
    ASSERT_TRUE(none.ok());
    (*none)->append(R"({"n":0})");
    ASSERT_TRUE((*none)->commit().ok());
    ASSERT_TRUE((*none)->maybe_sync().ok());
    ASSERT_TRUE((*none)->sync_now().ok());
    EXPECT_EQ((*none)->syncs(), 0u);
  }
  std::filesystem::remove(path);
}

TEST(Journal, CreatingInAMissingFolderFailsWithThePath) {
  auto journal = Journal::create("/nonexistent-cadre-dir/journal.jsonl");
  ASSERT_FALSE(journal.ok());
  EXPECT_NE(journal.error().to_string().find("/nonexistent-cadre-dir/journal.jsonl"),
            std::string::npos);
}

}  // namespace
}  // namespace cadre::runtime
