// The journal's record format: length and checksum per record, torn tails told from corruption
// in the middle, resume after a tail, and the durability modes; and the text of records as
// JsonLine and outcome_record write them (runtime/src), which must not change by a byte.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "cadre/runtime/journal.h"
#include "journal_events.h"
#include "json_line.h"

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
  // Every length around the 8-byte steps, and past 64 bytes where the carry-less multiply path
  // takes over (when the CPU has it), at every alignment, agrees with the bytewise definition.
  auto bytewise = [](std::string_view bytes) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (unsigned char byte : bytes) {
      c ^= byte;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
  };
  std::string text;
  for (int n = 0; n < 600; ++n) {
    EXPECT_EQ(crc32(text), bytewise(text)) << "length " << n;
    text.push_back(static_cast<char>(n * 37 + 11));
  }
  for (std::size_t offset = 1; offset < 16; ++offset) {
    const std::string_view shifted = std::string_view(text).substr(offset, 200 + offset * 7);
    EXPECT_EQ(crc32(shifted), bytewise(shifted)) << "offset " << offset;
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

TEST(Journal, AppendWritesExactlyTheFormattedLines) {
  const std::string path = temp_path("append-lines");
  const std::string long_record = "{\"text\":\"" + std::string(5000, 'x') + "\"}";
  const std::vector<std::string> records = {"{}", R"({"n":1,"ev":"tick"})", long_record, "{\"u\":\"\xc3\xa9\"}"};
  std::string expected;
  for (const auto& r : records) {
    char head[32];
    std::snprintf(head, sizeof head, "%zu %08x ", r.size(), crc32(r));
    expected += head + r + "\n";
    EXPECT_EQ(format_journal_record(r), head + r + "\n");
  }
  {
    auto journal = Journal::create(path, JournalSync::none);
    ASSERT_TRUE(journal.ok());
    for (const auto& r : records) (*journal)->append(r);
    ASSERT_TRUE((*journal)->commit().ok());
    (*journal)->append(records[1]);  // after a commit the buffer starts over
    ASSERT_TRUE((*journal)->commit().ok());
  }
  expected += format_journal_record(records[1]);
  std::ifstream in(path, std::ios::binary);
  const std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(written, expected);
  std::filesystem::remove(path);
}

// The expected texts below are what the journal wrote before JsonLine appended in place and
// formatted numbers with std::to_chars (snprintf "%.17g" for doubles): replay, resume and any
// tool reading journal.jsonl see the same bytes.
TEST(JournalRecordText, EveryFieldTypeKeepsItsText) {
  JsonLine line;
  line.field("ev", "dispatch")
      .field("agent", std::string("coder-1"))
      .field("goal", std::string_view("g1"))
      .field("attempt", std::uint32_t{3})
      .field("n", std::uint64_t{18446744073709551615ull})
      .field("t_us", std::int64_t{-42})
      .field("ok", true)
      .field("no", false)
      .field("d1", 0.1)
      .field("d2", 1e300)
      .field("d3", -0.0)
      .field("d4", 5e-324)
      .field("d5", 2.0)
      .field("d6", 123456789.125)
      .field("nan", std::nan(""))
      .field("inf", HUGE_VAL)
      .raw("raw", "[1,{\"a\":2}]")
      .field("k\"ey\n", "v");
  const std::string expected =
      R"({"ev":"dispatch","agent":"coder-1","goal":"g1","attempt":3,"n":18446744073709551615,)"
      R"("t_us":-42,"ok":true,"no":false,"d1":0.10000000000000001,"d2":1.0000000000000001e+300,)"
      R"("d3":-0,"d4":4.9406564584124654e-324,"d5":2,"d6":123456789.125,"nan":null,"inf":null,)"
      R"("raw":[1,{"a":2}],"k\"ey\n":"v"})";
  EXPECT_EQ(line.str(), expected);
  EXPECT_EQ(line.view(), expected);
  EXPECT_EQ(JsonLine().str(), "{}");
  EXPECT_EQ(JsonLine().field("a", "").str(), R"({"a":""})");
}

TEST(JournalRecordText, StringsAreEscapedAndInvalidUtf8IsReplaced) {
  const std::string text = std::string("plain \"quote\" back\\slash nl\n cr\r tab\t ctl\x01\x1f del\x7f ") +
                           "utf8 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 bad \xff overlong \xc0\x80 " +
                           "surrogate \xed\xa0\x80 cut \xe2\x82 big \xf4\x90\x80\x80 nul " +
                           std::string(1, '\0') + " end";
  const std::string expected =
      std::string(R"("plain \"quote\" back\\slash nl\n cr\r tab\t ctl\u0001\u001f del)") + "\x7f" +
      " utf8 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" +
      R"( bad \ufffd overlong \ufffd\ufffd surrogate \ufffd\ufffd\ufffd cut \ufffd\ufffd)" +
      R"( big \ufffd\ufffd\ufffd\ufffd nul \u0000 end")";
  EXPECT_EQ(json_quote(text), expected);
  // The same text as a value and as a key, in a line and in a nested object.
  const std::string member = expected + ":" + expected;
  EXPECT_EQ(JsonLine().field(text, text).str(), "{" + member + "}");
  EXPECT_EQ(JsonLine().object("o", [&](JsonObject& o) { o.field(text, text); }).str(),
            R"({"o":{)" + member + "}}");
}

TEST(JournalRecordText, ResultRecordsKeepTheirText) {
  roles::TaskOutcome o;
  o.goal_id = "g7";
  o.task_id = "s1/review";
  o.attempt = 2;
  o.ok = false;
  o.error = "brain \"timed\" out\n";
  o.tokens_in = 1200;
  o.tokens_out = 345;
  o.model = "sim-small";
  o.brain_s = 0.25;
  o.plan = {{"s1", "Parse", "read the \"input\"", 0.3, {}},
            {"s2", "\xc3\x89mit", "write\tit", 0.75, {"s1", "s0"}}};
  o.candidate = roles::Candidate{"notes", true, {{"src/a.c", "int main(){}\n"}, {"b\\c", ""}}};
  o.verdict = roles::Verdict{true, 0.875, "fine \xff"};
  EXPECT_EQ(outcome_record(o).field("agent", "coder-2").str(),
            std::string(R"({"ev":"result","goal":"g7","task":"s1/review","attempt":2,"ok":false,)"
                        R"("tokens_in":1200,"tokens_out":345,"model":"sim-small","brain_s":0.25,)"
                        R"("error":"brain \"timed\" out\n","plan":[{"id":"s1","title":"Parse",)"
                        R"("instructions":"read the \"input\"","difficulty":0.29999999999999999,)"
                        R"("depends_on":[]},{"id":"s2","title":")") +
                "\xc3\x89" +
                R"(mit","instructions":"write\tit","difficulty":0.75,"depends_on":["s1","s0"]}],)"
                R"("candidate":{"content":"notes","files":[{"path":"src/a.c","content":)"
                R"("int main(){}\n"},{"path":"b\\c","content":""}],"sim_correct":true},)"
                R"("verdict":{"accept":true,"score":0.875,"feedback":"fine \ufffd"},"agent":"coder-2"})");

  roles::TaskOutcome minimal;
  minimal.goal_id = "g1";
  minimal.task_id = "plan";
  EXPECT_EQ(outcome_record(minimal).str(),
            R"({"ev":"result","goal":"g1","task":"plan","attempt":0,"ok":true,"tokens_in":0,)"
            R"("tokens_out":0,"model":"","brain_s":0})");
  minimal.candidate = roles::Candidate{"x", std::nullopt, {}};
  EXPECT_EQ(outcome_record(minimal).str(),
            R"({"ev":"result","goal":"g1","task":"plan","attempt":0,"ok":true,"tokens_in":0,)"
            R"("tokens_out":0,"model":"","brain_s":0,"candidate":{"content":"x"}})");
}

}  // namespace
}  // namespace cadre::runtime
