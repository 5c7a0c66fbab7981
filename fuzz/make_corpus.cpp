// Writes the generated fuzz seeds: valid envelopes of every kind (with realistic bodies, plus a
// few edge cases) into <dir>/envelope/, and journals (valid, torn, corrupt, empty) into
// <dir>/journal/. The outputs are checked in under fuzz/corpus/; rerun after a codec or journal
// format change:  build-fuzz/fuzz/fuzz_make_corpus fuzz/corpus
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "cadre/roles/messages.h"
#include "cadre/runtime/journal.h"
#include "cadre/transport/envelope.h"

namespace {

using namespace cadre;

bool write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

std::string frame(transport::MessageKind kind, std::uint64_t msg_id, const std::string& sender,
                  std::string body) {
  transport::Envelope e;
  e.kind = kind;
  e.msg_id = msg_id;
  e.sender = sender;
  e.body = std::move(body);
  return transport::encode_envelope(e);
}

roles::TaskAssignment assignment(roles::TaskKind kind) {
  roles::TaskAssignment a;
  a.goal_id = "g1";
  a.task_id = kind == roles::TaskKind::plan ? "plan" : kind == roles::TaskKind::review ? "s1/review" : "s1";
  a.attempt = 2;
  a.kind = kind;
  a.role = kind == roles::TaskKind::plan ? "planner" : kind == roles::TaskKind::review ? "critic" : "coder";
  a.seed = 42;
  a.revision = 1;
  a.difficulty = 0.75;
  a.goal_title = "Add a login page";
  a.instructions = "Write the form and its handler.";
  a.lease_ms = 30000;
  if (kind == roles::TaskKind::plan) {
    a.goal_subtasks = {{"s1", "Form", "Build the form", 0.3, {}},
                       {"s2", "Handler", "Handle the post", 0.6, {"s1"}}};
  }
  if (kind == roles::TaskKind::solve) {
    a.feedback = {"Validate the email.", "Escape the output."};
    a.workspace_files = {{"src/app.py", "print('hi')\n"}, {"README.md", "# app\n"}};
  }
  if (kind == roles::TaskKind::review) {
    a.candidate = roles::Candidate{"notes", true, {{"src/login.py", "def login():\n  pass\n"}}};
  }
  return a;
}

std::vector<std::pair<std::string, std::string>> envelopes() {
  using transport::MessageKind;
  std::vector<std::pair<std::string, std::string>> out;
  roles::Hello hello{"coder-1", "coder", "sim", "sim-small", 2, 1, 4242};
  out.emplace_back("hello", frame(MessageKind::hello, 1, "coder-1", roles::encode(hello)));
  out.emplace_back("welcome", frame(MessageKind::welcome, 1, "hub", roles::encode(roles::Welcome{"hub", 500, 3})));
  out.emplace_back("heartbeat", frame(MessageKind::heartbeat, 7, "coder-1", roles::encode_empty()));
  out.emplace_back("assign-plan", frame(MessageKind::assign, 2, "hub", roles::encode(assignment(roles::TaskKind::plan))));
  out.emplace_back("assign-solve", frame(MessageKind::assign, 3, "hub", roles::encode(assignment(roles::TaskKind::solve))));
  out.emplace_back("assign-review", frame(MessageKind::assign, 4, "hub", roles::encode(assignment(roles::TaskKind::review))));
  out.emplace_back("assign-resolve", frame(MessageKind::assign, 5, "hub", roles::encode(assignment(roles::TaskKind::resolve))));

  roles::TaskOutcome plan = roles::outcome_for(assignment(roles::TaskKind::plan), "sim-small");
  plan.tokens_in = 1200;
  plan.tokens_out = 300;
  plan.brain_s = 0.25;
  plan.plan = {{"s1", "Form", "", 0.3, {}}, {"s2", "Handler", "", 0.6, {"s1"}}};
  out.emplace_back("result-plan", frame(MessageKind::result, 3, "planner-1", roles::encode(plan)));
  roles::TaskOutcome solve = roles::outcome_for(assignment(roles::TaskKind::solve), "sim-small");
  solve.candidate = roles::Candidate{"done", false, {{"src/login.py", "x = 1\n"}}};
  out.emplace_back("result-solve", frame(MessageKind::result, 4, "coder-1", roles::encode(solve)));
  roles::TaskOutcome review = roles::outcome_for(assignment(roles::TaskKind::review), "sim-large");
  review.verdict = roles::Verdict{true, 0.9, "Looks right."};
  out.emplace_back("result-review", frame(MessageKind::result, 5, "critic-1", roles::encode(review)));
  roles::TaskOutcome failed = roles::outcome_for(assignment(roles::TaskKind::solve), "gpt");
  failed.ok = false;
  failed.error = "model timed out";
  out.emplace_back("result-failed", frame(MessageKind::result, 6, "coder-2", roles::encode(failed)));

  out.emplace_back("ack", frame(MessageKind::ack, 8, "hub", roles::encode(roles::Ack{"g1", "s1", 2, true})));
  out.emplace_back("error", frame(MessageKind::error, 9, "hub", roles::encode(roles::ErrorReply{"bad_body", "field 'attempt' is missing", 4})));
  out.emplace_back("bye", frame(MessageKind::bye, 10, "hub", roles::encode(roles::Bye{"run finished"})));
  out.emplace_back("cancel", frame(MessageKind::cancel, 11, "hub", roles::encode(roles::Cancel{"g1", "s1", 1, "another attempt won"})));
  out.emplace_back("query", frame(MessageKind::query, 13, "tool-1", roles::encode(roles::Query{"inbox"})));
  out.emplace_back("view", frame(MessageKind::view, 14, "hub", roles::encode(roles::View{"status", "{\"goals\":{}}"})));
  out.emplace_back("decide", frame(MessageKind::decide, 15, "tool-1",
                                   roles::encode(roles::Decision{"g1", "s1/resolve", "accept", "s1/2", "", "", "ana"})));
  // Edge cases: an empty body, the largest ids, unknown and nil fields.
  out.emplace_back("edge-empty-body", frame(MessageKind::bye, 0, "a", ""));
  out.emplace_back("edge-max-ids", frame(MessageKind::ack, ~0ULL, std::string(transport::kMaxSenderBytes, 's'),
                                         roles::encode(roles::Ack{"g", "t", 0xffffffffu, false})));
  // {"goal_id":"g","task_id":"t","attempt":1,"x":nil,"reason":nil,1:[]}
  static const char kUnknownKeys[] =
      "\x86\xa7goal_id\xa1g\xa7task_id\xa1t\xa7" "attempt\x01\xa1x\xc0\xa6reason\xc0\x01\x90";
  out.emplace_back("edge-unknown-keys", frame(MessageKind::cancel, 12, "hub",
                                              std::string(kUnknownKeys, sizeof kUnknownKeys - 1)));
  return out;
}

std::string journal_text(const std::vector<std::string>& records) {
  std::string text;
  for (const auto& json : records) text += runtime::format_journal_record(json);
  return text;
}

std::vector<std::pair<std::string, std::string>> journals() {
  const std::vector<std::string> records = {
      R"({"ev":"start","goals":2,"n":0,"t_us":0})",
      R"({"ev":"join","agent":"planner-1","role":"planner","n":1,"t_us":1200})",
      R"({"ev":"dispatch","agent":"planner-1","goal":"g1","task":"plan","attempt":0,"n":2,"t_us":1300})",
      R"({"ev":"result","agent":"planner-1","goal":"g1","task":"plan","attempt":0,"ok":true,"tokens_in":1200,"tokens_out":300,"n":3,"t_us":52000})",
      R"({"ev":"tick","n":4,"t_us":80000})",
      R"({"ev":"verify","goal":"g1","subtask":"s1","attempt":1,"passed":false,"output":"1 failed\n","n":5,"t_us":90000})",
      R"({"ev":"leave","agent":"planner-1","why":"bye","n":6,"t_us":99000})",
      R"({"ev":"finish","reason":"all goals done","n":7,"t_us":100000})",
  };
  const std::string whole = journal_text(records);
  std::vector<std::pair<std::string, std::string>> out;
  out.emplace_back("valid", whole);
  out.emplace_back("valid-one", journal_text({records[0]}));
  out.emplace_back("empty", "");
  out.emplace_back("torn-mid-line", whole.substr(0, whole.size() - 17));
  out.emplace_back("torn-no-newline", whole.substr(0, whole.size() - 1));
  // Damage in the middle, intact records after it.
  const std::size_t second = journal_text({records[0]}).size();
  std::string corrupt = whole;
  corrupt[second + 5] ^= 0x01;  // a checksum digit of the second record
  out.emplace_back("corrupt-crc", corrupt);
  std::string flipped = whole;
  flipped[second + 30] ^= 0x20;  // a JSON byte of the second record
  out.emplace_back("corrupt-json", flipped);
  std::string longer = whole;
  longer.insert(second, "1");  // the second record's length gains a digit
  out.emplace_back("corrupt-length", longer);
  out.emplace_back("short-line", whole.substr(0, second) + "abc\n");
  // A record whose JSON holds a newline (lengths, not lines, delimit records).
  out.emplace_back("newline-in-record", journal_text({records[0], "{\"ev\":\"x\",\n\"n\":1}"}));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_corpus DIR   (writes DIR/envelope/* and DIR/journal/*)\n";
    return 2;
  }
  const std::string dir = argv[1];
  int failures = 0;
  for (const auto& [name, bytes] : envelopes()) {
    if (!transport::decode_envelope(bytes).ok()) {
      std::cerr << "envelope seed " << name << " does not decode\n";
      ++failures;
    }
    if (!write_file(dir + "/envelope/" + name + ".bin", bytes)) ++failures;
  }
  for (const auto& [name, bytes] : journals()) {
    if (!write_file(dir + "/journal/" + name + ".journal", bytes)) ++failures;
  }
  if (failures > 0) std::cerr << failures << " seeds failed\n";
  return failures == 0 ? 0 : 1;
}
