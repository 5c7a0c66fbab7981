// The journal's record format: checksummed lines, torn tails detected.
#include <gtest/gtest.h>

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
}

TEST(Journal, RecordsReadBackInOrderWithTheirChecksums) {
  const std::string path = temp_path("roundtrip");
  {
    auto journal = Journal::create(path);
    ASSERT_TRUE(journal.ok()) << journal.error().to_string();
    (*journal)->append(R"({"n":0,"ev":"start"})");
    (*journal)->append(R"({"n":1,"ev":"join","agent":"coder-1"})");
    ASSERT_TRUE((*journal)->flush().ok());
    EXPECT_EQ((*journal)->records(), 2u);
  }
  auto contents = read_journal(path);
  ASSERT_TRUE(contents.ok());
  ASSERT_EQ(contents->records.size(), 2u);
  EXPECT_EQ(contents->records[1].json, R"({"n":1,"ev":"join","agent":"coder-1"})");
  EXPECT_FALSE(contents->torn_tail);
  EXPECT_EQ(contents->valid_bytes, std::filesystem::file_size(path));
  std::filesystem::remove(path);
}

TEST(Journal, ACutOrCorruptLastRecordIsReportedAsATornTail) {
  const std::string path = temp_path("torn");
  {
    auto journal = Journal::create(path);
    ASSERT_TRUE(journal.ok());
    (*journal)->append(R"({"n":0})");
    (*journal)->append(R"({"n":1})");
  }
  const auto intact = std::filesystem::file_size(path);
  {
    std::ofstream out(path, std::ios::app);
    out << "0badc0de {\"n\":2}\n";  // wrong checksum
  }
  auto contents = read_journal(path);
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(contents->records.size(), 2u);
  EXPECT_TRUE(contents->torn_tail);
  EXPECT_EQ(contents->valid_bytes, intact);

  std::filesystem::resize_file(path, intact - 3);  // cut into the second record
  contents = read_journal(path);
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(contents->records.size(), 1u);
  EXPECT_TRUE(contents->torn_tail);
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
