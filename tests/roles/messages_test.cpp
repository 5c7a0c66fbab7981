// Body codecs: round trips (full and minimal), the exact wire keys, decoders naming the missing or
// wrongly typed field, and hostile inputs that must fail without throwing.
#include "cadre/roles/messages.h"
#include "cadre/transport/envelope.h"

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace cadre::roles {

// Field-by-field equality, for the tests only.
bool operator==(const FileEdit& a, const FileEdit& b) {
  return std::tie(a.path, a.content) == std::tie(b.path, b.content);
}
bool operator==(const SubtaskPlan& a, const SubtaskPlan& b) {
  return std::tie(a.id, a.title, a.instructions, a.difficulty, a.depends_on) ==
         std::tie(b.id, b.title, b.instructions, b.difficulty, b.depends_on);
}
bool operator==(const Candidate& a, const Candidate& b) {
  return std::tie(a.content, a.sim_correct, a.files) == std::tie(b.content, b.sim_correct, b.files);
}
bool operator==(const Verdict& a, const Verdict& b) {
  return std::tie(a.accept, a.score, a.feedback) == std::tie(b.accept, b.score, b.feedback);
}
bool operator==(const Hello& a, const Hello& b) {
  return std::tie(a.agent_id, a.role, a.brain, a.model, a.capacity, a.protocol, a.pid) ==
         std::tie(b.agent_id, b.role, b.brain, b.model, b.capacity, b.protocol, b.pid);
}
bool operator==(const Welcome& a, const Welcome& b) {
  return std::tie(a.hub_id, a.heartbeat_ms, a.liveness) ==
         std::tie(b.hub_id, b.heartbeat_ms, b.liveness);
}
bool operator==(const TaskAssignment& a, const TaskAssignment& b) {
  return std::tie(a.goal_id, a.task_id, a.attempt, a.kind, a.role, a.seed, a.revision,
                  a.difficulty, a.goal_title, a.instructions, a.goal_subtasks, a.candidate,
                  a.feedback, a.lease_ms, a.workspace_files, a.ref) ==
         std::tie(b.goal_id, b.task_id, b.attempt, b.kind, b.role, b.seed, b.revision,
                  b.difficulty, b.goal_title, b.instructions, b.goal_subtasks, b.candidate,
                  b.feedback, b.lease_ms, b.workspace_files, b.ref);
}
bool operator==(const TaskOutcome& a, const TaskOutcome& b) {
  return std::tie(a.goal_id, a.task_id, a.attempt, a.ok, a.error, a.tokens_in, a.tokens_out,
                  a.model, a.brain_s, a.plan, a.candidate, a.verdict, a.ref) ==
         std::tie(b.goal_id, b.task_id, b.attempt, b.ok, b.error, b.tokens_in, b.tokens_out,
                  b.model, b.brain_s, b.plan, b.candidate, b.verdict, b.ref);
}
bool operator==(const Ack& a, const Ack& b) {
  return std::tie(a.goal_id, a.task_id, a.attempt, a.accepted) ==
         std::tie(b.goal_id, b.task_id, b.attempt, b.accepted);
}
bool operator==(const ErrorReply& a, const ErrorReply& b) {
  return std::tie(a.code, a.message, a.ref_msg_id) == std::tie(b.code, b.message, b.ref_msg_id);
}
bool operator==(const Bye& a, const Bye& b) { return a.reason == b.reason; }
bool operator==(const Cancel& a, const Cancel& b) {
  return std::tie(a.goal_id, a.task_id, a.attempt, a.reason) ==
         std::tie(b.goal_id, b.task_id, b.attempt, b.reason);
}

namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

std::string packed(const std::function<void(Packer&)>& build) {
  msgpack::sbuffer buffer;
  Packer packer(buffer);
  build(packer);
  return std::string(buffer.data(), buffer.size());
}

// The top-level keys of an encoded map, in order.
std::vector<std::string> keys_of(const std::string& body) {
  auto handle = msgpack::unpack(body.data(), body.size());
  const auto& map = handle.get();
  EXPECT_EQ(map.type, msgpack::type::MAP);
  std::vector<std::string> keys;
  for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
    keys.push_back(map.via.map.ptr[i].key.as<std::string>());
  }
  return keys;
}

// Re-packs the map `body` with `key` removed (replacement empty) or its value replaced by the
// already-encoded `replacement`; appends the key if it was absent and a replacement is given.
std::string edit_field(const std::string& body, const std::string& key,
                       std::optional<std::string> replacement) {
  auto handle = msgpack::unpack(body.data(), body.size());
  const auto& map = handle.get();
  msgpack::sbuffer buffer;
  Packer p(buffer);
  bool present = false;
  for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
    if (map.via.map.ptr[i].key.as<std::string>() == key) present = true;
  }
  std::uint32_t size = map.via.map.size;
  if (present && !replacement) --size;
  if (!present && replacement) ++size;
  p.pack_map(size);
  for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
    const auto& kv = map.via.map.ptr[i];
    if (kv.key.as<std::string>() == key) {
      if (!replacement) continue;
      p.pack(kv.key);
      buffer.write(replacement->data(), replacement->size());
    } else {
      p.pack(kv.key);
      p.pack(kv.val);
    }
  }
  if (!present && replacement) {
    p.pack(key);
    buffer.write(replacement->data(), replacement->size());
  }
  return std::string(buffer.data(), buffer.size());
}

std::string without(const std::string& body, const std::string& key) {
  return edit_field(body, key, std::nullopt);
}
std::string with(const std::string& body, const std::string& key,
                 const std::function<void(Packer&)>& value) {
  return edit_field(body, key, packed(value));
}

// Expects decoding to fail with a message containing `needle`.
template <typename T>
void expect_error(const Result<T>& result, const std::string& needle) {
  ASSERT_FALSE(result.ok()) << "decoded unexpectedly; wanted an error mentioning " << needle;
  EXPECT_NE(result.error().to_string().find(needle), std::string::npos)
      << "error was: " << result.error().to_string();
}

// ---- sample bodies with every field set ----

SubtaskPlan subtask(int i) {
  return SubtaskPlan{"s" + std::to_string(i), "Title " + std::to_string(i),
                     "Do thing " + std::to_string(i), 0.125 * i};
}

Hello full_hello() {
  return Hello{"coder-2", "coder", "sim", "sim-small", 3, 1, -12345};
}
Welcome full_welcome() { return Welcome{"hub-1", 250, 4}; }
TaskAssignment full_assignment() {
  TaskAssignment a;
  a.goal_id = "g1";
  a.task_id = "s2/review";
  a.attempt = 4'000'000'000u;
  a.kind = TaskKind::review;
  a.role = "critic";
  a.seed = 0xfedcba9876543210ULL;
  a.revision = 2;
  a.difficulty = 0.7;
  a.goal_title = "Ship the feature";
  a.instructions = std::string("Judge it.\nUnicode: \xc3\xa9\xe2\x82\xac", 21);
  a.goal_subtasks = {subtask(1), subtask(2), subtask(3)};
  a.goal_subtasks[2].depends_on = {"s1", "s2"};
  a.candidate = Candidate{"int main() {}", false};
  a.candidate->files = {FileEdit{"src/main.c", "int main() { return 0; }\n"},
                        FileEdit{"empty.txt", ""}};
  a.feedback = {"too slow", "", "missing tests"};
  a.lease_ms = 30000;
  a.workspace_files = {FileEdit{"README.md", "# hi\n"}, FileEdit{"src/util.h", "#pragma once\n"}};
  return a;
}
TaskOutcome full_outcome() {
  TaskOutcome o;
  o.goal_id = "g2";
  o.task_id = "plan";
  o.attempt = 1;
  o.ok = false;
  o.error = "brain timed out";
  o.tokens_in = 1ULL << 40;
  o.tokens_out = 77;
  o.model = "sim-large";
  o.brain_s = 1.5;
  o.plan = {subtask(1), subtask(4)};
  o.plan[1].depends_on = {"s1"};
  o.candidate = Candidate{"content", true};
  o.candidate->files = {FileEdit{"a/b.txt", "b"}};
  o.verdict = Verdict{true, 0.93, "looks right"};
  return o;
}
Ack full_ack() { return Ack{"g1", "s1", 2, true}; }
ErrorReply full_error() { return ErrorReply{"bad_body", "field 'attempt' missing", 99}; }
Bye full_bye() { return Bye{"run finished"}; }
Cancel full_cancel() { return Cancel{"g1", "s1", 3, "lease expired"}; }

// ---- round trips ----

TEST(MessageCodec, HelloRoundTrips) {
  Hello minimal;
  minimal.agent_id = "a";
  minimal.role = "planner";
  for (const Hello& h : {full_hello(), minimal}) {
    auto got = decode_hello(encode(h));
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_TRUE(*got == h);
  }
}

TEST(MessageCodec, WelcomeRoundTrips) {
  for (const Welcome& w : {full_welcome(), Welcome{}}) {
    auto got = decode_welcome(encode(w));
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_TRUE(*got == w);
  }
}

TEST(MessageCodec, AssignmentRoundTrips) {
  TaskAssignment minimal;
  minimal.goal_id = "g";
  minimal.task_id = "plan";
  minimal.kind = TaskKind::plan;
  for (const TaskAssignment& a : {full_assignment(), minimal}) {
    auto got = decode_assignment(encode(a));
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_TRUE(*got == a);
  }
  // A candidate without sim_correct stays without it.
  TaskAssignment real = full_assignment();
  real.candidate = Candidate{"x", std::nullopt};
  auto got = decode_assignment(encode(real));
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->candidate.has_value());
  EXPECT_FALSE(got->candidate->sim_correct.has_value());
}

TEST(MessageCodec, EveryTaskKindRoundTrips) {
  for (TaskKind kind : {TaskKind::plan, TaskKind::solve, TaskKind::review, TaskKind::resolve,
                        TaskKind::approve}) {
    TaskAssignment a = full_assignment();
    a.kind = kind;
    auto got = decode_assignment(encode(a));
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->kind, kind);
  }
  EXPECT_STREQ(task_kind_name(TaskKind::plan), "plan");
  EXPECT_STREQ(task_kind_name(TaskKind::solve), "solve");
  EXPECT_STREQ(task_kind_name(TaskKind::review), "review");
  EXPECT_STREQ(task_kind_name(TaskKind::resolve), "resolve");
  EXPECT_STREQ(task_kind_name(TaskKind::approve), "approve");
}

TEST(MessageCodec, ToolBodiesRoundTripAndNameTheirRequiredFields) {
  auto query = decode_query(encode(Query{"inbox"}));
  ASSERT_TRUE(query.ok()) << query.error().to_string();
  EXPECT_EQ(query->what, "inbox");
  auto view = decode_view(encode(View{"status", "{\"goals\":{}}"}));
  ASSERT_TRUE(view.ok()) << view.error().to_string();
  EXPECT_EQ(view->what, "status");
  EXPECT_EQ(view->json, "{\"goals\":{}}");
  const Decision full{"g1", "s2/resolve", "accept", "s2/3", "my answer", "too slow", "ana"};
  auto decision = decode_decision(encode(full));
  ASSERT_TRUE(decision.ok()) << decision.error().to_string();
  EXPECT_EQ(decision->goal_id, "g1");
  EXPECT_EQ(decision->item, "s2/resolve");
  EXPECT_EQ(decision->action, "accept");
  EXPECT_EQ(decision->candidate, "s2/3");
  EXPECT_EQ(decision->answer, "my answer");
  EXPECT_EQ(decision->reason, "too slow");
  EXPECT_EQ(decision->by, "ana");
  // Optional text is omitted when empty and read back empty.
  auto minimal = decode_decision(encode(Decision{"g1", "", "reject", "", "", "", ""}));
  ASSERT_TRUE(minimal.ok());
  EXPECT_TRUE(minimal->item.empty() && minimal->reason.empty() && minimal->by.empty());
  expect_error(decode_query(encode_empty()), "field 'what' is missing");
  expect_error(decode_view(without(encode(View{"status", "{}"}), "json")), "field 'json' is missing");
  for (const char* field : {"goal_id", "action"})
    expect_error(decode_decision(without(encode(full), field)),
                 std::string("field '") + field + "' is missing");
}

TEST(MessageCodec, OutcomeRoundTrips) {
  TaskOutcome minimal;
  minimal.goal_id = "g";
  minimal.task_id = "s1";
  for (const TaskOutcome& o : {full_outcome(), minimal}) {
    auto got = decode_outcome(encode(o));
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_TRUE(*got == o);
  }
}

TEST(MessageCodec, SmallBodiesRoundTrip) {
  for (const Ack& a : {full_ack(), Ack{"g", "t", 0, false}}) {
    auto got = decode_ack(encode(a));
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_TRUE(*got == a);
  }
  ErrorReply minimal_error;
  minimal_error.code = "malformed";
  for (const ErrorReply& e : {full_error(), minimal_error}) {
    auto got = decode_error(encode(e));
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_TRUE(*got == e);
  }
  for (const Bye& b : {full_bye(), Bye{}}) {
    auto got = decode_bye(encode(b));
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_TRUE(*got == b);
  }
  for (const Cancel& c : {full_cancel(), Cancel{"g", "t", 0, ""}}) {
    auto got = decode_cancel(encode(c));
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_TRUE(*got == c);
  }
}

// ---- the hub's reference (ASSIGN ref, echoed in RESULT) ----

TEST(MessageRef, RoundTripsInAssignAndResultAsALastOptionalKey) {
  TaskAssignment a = full_assignment();
  const std::string without_ref = encode(a);
  a.ref = 0;  // a task id may be 0
  auto got = decode_assignment(encode(a));
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(got->ref, std::optional<std::uint64_t>(0));
  a.ref = ~0ull;
  got = decode_assignment(encode(a));
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_TRUE(*got == a);
  // Without a ref the bytes are what they always were; with one, "ref" is one more key.
  const auto keys = keys_of(encode(a));
  ASSERT_FALSE(keys.empty());
  EXPECT_EQ(keys.back(), "ref");
  EXPECT_EQ(keys.size(), keys_of(without_ref).size() + 1);
  EXPECT_EQ(std::count(keys.begin(), keys.end(), "ref"), 1);
  EXPECT_FALSE(decode_assignment(without_ref)->ref.has_value());

  TaskOutcome o = full_outcome();
  const std::string outcome_without_ref = encode(o);
  EXPECT_FALSE(decode_outcome(outcome_without_ref)->ref.has_value());
  o.ref = 123456789;
  auto back = decode_outcome(encode(o));
  ASSERT_TRUE(back.ok()) << back.error().to_string();
  EXPECT_TRUE(*back == o);
  EXPECT_EQ(keys_of(encode(o)).back(), "ref");
}

TEST(MessageRef, OutcomeForEchoesTheAssignmentsRef) {
  TaskAssignment a = full_assignment();
  EXPECT_FALSE(outcome_for(a, "m").ref.has_value());
  a.ref = 42;
  const TaskOutcome o = outcome_for(a, "m");
  EXPECT_EQ(o.ref, std::optional<std::uint64_t>(42));
  EXPECT_EQ(o.goal_id, a.goal_id);
  EXPECT_EQ(o.task_id, a.task_id);
  EXPECT_EQ(o.attempt, a.attempt);
}

TEST(MessageRef, IsAnUnsignedIntegerNilIsAbsent) {
  TaskOutcome o = full_outcome();
  o.ref = 7;
  const std::string body = encode(o);
  expect_error(decode_outcome(with(body, "ref", [](Packer& p) { p.pack(std::string("7")); })),
               "field 'ref': expected unsigned integer");
  expect_error(decode_outcome(with(body, "ref", [](Packer& p) { p.pack(-1); })),
               "field 'ref': expected unsigned integer");
  auto nil = decode_outcome(with(body, "ref", [](Packer& p) { p.pack_nil(); }));
  ASSERT_TRUE(nil.ok()) << nil.error().to_string();
  EXPECT_FALSE(nil->ref.has_value());
  expect_error(decode_assignment(with(encode(full_assignment()), "ref",
                                      [](Packer& p) { p.pack(true); })),
               "field 'ref': expected unsigned integer");
}

// encode_to appends exactly what encode returns, after whatever the buffer holds; the ASSIGN
// overload's ref replaces the body's.
TEST(MessageCodec, EncodeToAppendsWhatEncodeReturns) {
  auto check = [](const auto& body) {
    std::string out = "head";
    encode_to(out, body);
    EXPECT_EQ(out, "head" + encode(body));
    // Into a buffer with room to spare, and one that must grow.
    std::string roomy;
    roomy.reserve(1 << 16);
    encode_to(roomy, body);
    EXPECT_EQ(roomy, encode(body));
  };
  check(full_hello());
  check(full_welcome());
  check(full_assignment());
  check(full_outcome());
  check(full_ack());
  check(full_error());
  check(full_bye());
  check(Bye{});
  check(full_cancel());
  check(Query{"status"});
  check(View{"status", std::string(100000, 'j')});
  check(Decision{"g1", "s1/resolve", "answer", "", "my work", "", "ana"});
  TaskAssignment a = full_assignment();
  a.ref = 5;
  std::string out = "x";
  encode_to(out, full_assignment(), std::optional<std::uint64_t>(5));
  EXPECT_EQ(out, "x" + encode(a));
  out.clear();
  encode_to(out, a, std::nullopt);
  EXPECT_EQ(out, encode(full_assignment()));
  // A body with more than 15 fields (a widened map header) appended after other bytes.
  a.workspace_files.push_back(FileEdit{"big", std::string(70000, 'z')});
  out = std::string(300, 'p');
  encode_to(out, a);
  EXPECT_EQ(out, std::string(300, 'p') + encode(a));
}

// Decoding a body the envelope walk checked gives what decoding the bytes gives.
TEST(MessageDecode, CheckedBodiesDecodeAsTheirBytesDo) {
  TaskOutcome o = full_outcome();
  o.ref = 99;
  TaskAssignment a = full_assignment();
  a.ref = 3;
  for (const std::string& body :
       {encode(o), encode(full_outcome()), encode(TaskOutcome{}), encode(a), encode_empty(),
        without(encode(o), "goal_id"),
        with(encode(o), "attempt", [](Packer& p) { p.pack(std::string("x")); }),
        with(encode(a), "kind", [](Packer& p) { p.pack(9); })}) {
    auto checked = transport::check_map(body);
    ASSERT_TRUE(checked.has_value());
    auto from_bytes = decode_outcome(body);
    auto from_checked = decode_checked_outcome(*checked);
    ASSERT_EQ(from_checked.ok(), from_bytes.ok());
    if (from_bytes.ok()) {
      EXPECT_TRUE(*from_checked == *from_bytes);
    } else {
      EXPECT_EQ(from_checked.error().to_string(), from_bytes.error().to_string());
    }
    auto assignment_bytes = decode_assignment(body);
    auto assignment_checked = decode_checked_assignment(*checked);
    ASSERT_EQ(assignment_checked.ok(), assignment_bytes.ok());
    if (assignment_bytes.ok()) {
      EXPECT_TRUE(*assignment_checked == *assignment_bytes);
    } else {
      EXPECT_EQ(assignment_checked.error().to_string(), assignment_bytes.error().to_string());
    }
  }
  // Through a whole frame, as the hub and the agents read them.
  std::string frame;
  transport::append_envelope_head(frame, transport::MessageKind::result, 77, "coder-1");
  encode_to(frame, o);
  auto envelope = transport::decode_envelope_view(frame);
  ASSERT_TRUE(envelope.ok());
  auto got = decode_checked_outcome(envelope.envelope().body);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_TRUE(*got == o);
}

TEST(MessageCodec, EmptyBodyIsAnEmptyMap) {
  EXPECT_EQ(encode_empty(), "\x80");
  EXPECT_EQ(encode(Bye{}), "\x80");
  EXPECT_TRUE(decode_bye(encode_empty()).ok());
  EXPECT_TRUE(decode_welcome(encode_empty()).ok());  // every Welcome field has a default
}

// ---- exact wire keys ----

TEST(MessageCodec, KeysAreTheFieldNames) {
  using Keys = std::vector<std::string>;
  EXPECT_EQ(keys_of(encode(full_hello())),
            (Keys{"agent_id", "role", "brain", "model", "capacity", "protocol", "pid"}));
  EXPECT_EQ(keys_of(encode(full_welcome())), (Keys{"hub_id", "heartbeat_ms", "liveness"}));
  EXPECT_EQ(keys_of(encode(full_assignment())),
            (Keys{"goal_id", "task_id", "attempt", "kind", "role", "seed", "revision",
                  "difficulty", "goal_title", "instructions", "goal_subtasks", "candidate",
                  "feedback", "lease_ms", "workspace_files"}));
  EXPECT_EQ(keys_of(encode(full_outcome())),
            (Keys{"goal_id", "task_id", "attempt", "ok", "error", "tokens_in", "tokens_out",
                  "model", "brain_s", "plan", "candidate", "verdict"}));
  EXPECT_EQ(keys_of(encode(full_ack())), (Keys{"goal_id", "task_id", "attempt", "accepted"}));
  EXPECT_EQ(keys_of(encode(full_error())), (Keys{"code", "message", "ref_msg_id"}));
  EXPECT_EQ(keys_of(encode(full_bye())), (Keys{"reason"}));
  EXPECT_EQ(keys_of(encode(full_cancel())), (Keys{"goal_id", "task_id", "attempt", "reason"}));

  // Nested maps use field names too; the kind is a uint.
  auto handle = msgpack::unpack(encode(full_assignment()).data(), encode(full_assignment()).size());
  std::map<std::string, msgpack::object> fields;
  handle.get().convert(fields);
  EXPECT_EQ(fields["kind"].type, msgpack::type::POSITIVE_INTEGER);
  EXPECT_EQ(fields["kind"].as<unsigned>(), 3u);
  EXPECT_EQ(fields["candidate"].type, msgpack::type::MAP);
  EXPECT_EQ(fields["goal_subtasks"].type, msgpack::type::ARRAY);
  EXPECT_EQ(fields["feedback"].type, msgpack::type::ARRAY);
  std::map<std::string, msgpack::object> candidate;
  fields["candidate"].convert(candidate);
  EXPECT_EQ(candidate.size(), 3u);
  EXPECT_TRUE(candidate.count("content") && candidate.count("sim_correct") &&
              candidate.count("files"));
  ASSERT_EQ(candidate["files"].type, msgpack::type::ARRAY);
  ASSERT_EQ(candidate["files"].via.array.size, 2u);
  std::map<std::string, std::string> file;
  candidate["files"].via.array.ptr[0].convert(file);
  EXPECT_EQ(file, (std::map<std::string, std::string>{{"path", "src/main.c"},
                                                      {"content", "int main() { return 0; }\n"}}));
  // An empty file keeps its content key.
  file.clear();
  candidate["files"].via.array.ptr[1].convert(file);
  EXPECT_EQ(file, (std::map<std::string, std::string>{{"path", "empty.txt"}, {"content", ""}}));
  std::map<std::string, msgpack::object> first_subtask;
  fields["goal_subtasks"].via.array.ptr[0].convert(first_subtask);
  EXPECT_EQ(first_subtask.size(), 4u);  // depends_on omitted when empty
  EXPECT_TRUE(first_subtask.count("id") && first_subtask.count("title") &&
              first_subtask.count("instructions") && first_subtask.count("difficulty"));
  std::map<std::string, msgpack::object> third_subtask;
  fields["goal_subtasks"].via.array.ptr[2].convert(third_subtask);
  EXPECT_EQ(third_subtask.size(), 5u);
  EXPECT_EQ(third_subtask["depends_on"].as<std::vector<std::string>>(),
            (std::vector<std::string>{"s1", "s2"}));
  ASSERT_EQ(fields["workspace_files"].type, msgpack::type::ARRAY);
  file.clear();
  fields["workspace_files"].via.array.ptr[1].convert(file);
  EXPECT_EQ(file, (std::map<std::string, std::string>{{"path", "src/util.h"},
                                                      {"content", "#pragma once\n"}}));
}

TEST(MessageCodec, DoublesAreAlwaysFloat64) {
  TaskAssignment a = full_assignment();
  a.difficulty = 1.0;  // integral: msgpack-cxx alone would pack it as an int
  const std::string body = encode(a);
  auto handle = msgpack::unpack(body.data(), body.size());
  std::map<std::string, msgpack::object> fields;
  handle.get().convert(fields);
  EXPECT_EQ(fields["difficulty"].type, msgpack::type::FLOAT64);
  auto got = decode_assignment(body);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->difficulty, 1.0);
}

TEST(MessageCodec, EmptyOptionalsAreOmitted) {
  TaskAssignment a;
  a.goal_id = "g";
  a.task_id = "s1";
  std::set<std::string> keys;
  for (auto& k : keys_of(encode(a))) keys.insert(k);
  for (const char* absent : {"role", "goal_title", "instructions", "goal_subtasks", "candidate",
                             "feedback", "workspace_files"}) {
    EXPECT_EQ(keys.count(absent), 0u) << absent;
  }
  TaskOutcome o;
  o.goal_id = "g";
  o.task_id = "s1";
  keys.clear();
  for (auto& k : keys_of(encode(o))) keys.insert(k);
  for (const char* absent : {"error", "model", "plan", "candidate", "verdict"}) {
    EXPECT_EQ(keys.count(absent), 0u) << absent;
  }
  // Required strings are written even when empty.
  keys.clear();
  for (auto& k : keys_of(encode(Hello{}))) keys.insert(k);
  EXPECT_EQ(keys.count("agent_id"), 1u);
  EXPECT_EQ(keys.count("role"), 1u);
}

// ---- depends_on, files, workspace_files: optional additions ----

TEST(MessageCodec, FilesAndDependenciesAreOptionalAdditions) {
  // A body written before these fields existed decodes with them empty.
  TaskAssignment old = full_assignment();
  std::string body = without(encode(old), "workspace_files");
  body = with(body, "candidate", [](Packer& p) {
    p.pack_map(1);
    p.pack(std::string("content"));
    p.pack(std::string("x"));
  });
  body = with(body, "goal_subtasks", [](Packer& p) {
    p.pack_array(1);
    p.pack_map(1);
    p.pack(std::string("id"));
    p.pack(std::string("s1"));
  });
  auto got = decode_assignment(body);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_TRUE(got->workspace_files.empty());
  ASSERT_TRUE(got->candidate.has_value());
  EXPECT_TRUE(got->candidate->files.empty());
  ASSERT_EQ(got->goal_subtasks.size(), 1u);
  EXPECT_TRUE(got->goal_subtasks[0].depends_on.empty());

  // Empty lists are omitted on the wire.
  Candidate bare{"notes", std::nullopt};
  TaskOutcome o;
  o.goal_id = "g";
  o.task_id = "s1";
  o.candidate = bare;
  o.plan = {SubtaskPlan{"s1", "", "", 0.5}};
  auto handle = msgpack::unpack(encode(o).data(), encode(o).size());
  std::map<std::string, msgpack::object> fields;
  handle.get().convert(fields);
  std::map<std::string, msgpack::object> candidate;
  fields["candidate"].convert(candidate);
  EXPECT_EQ(candidate.count("files"), 0u);
  std::map<std::string, msgpack::object> first;
  fields["plan"].via.array.ptr[0].convert(first);
  EXPECT_EQ(first.count("depends_on"), 0u);

  // nil counts as absent.
  auto nil_files = decode_assignment(
      with(encode(full_assignment()), "workspace_files", [](Packer& p) { p.pack_nil(); }));
  ASSERT_TRUE(nil_files.ok()) << nil_files.error().to_string();
  EXPECT_TRUE(nil_files->workspace_files.empty());
}

TEST(MessageDecode, FileAndDependencyTypesAreNamed) {
  const std::string assignment = encode(full_assignment());
  expect_error(decode_assignment(with(assignment, "workspace_files",
                                      [](Packer& p) { p.pack(std::string("a.txt")); })),
               "field 'workspace_files': expected array");
  expect_error(decode_assignment(with(assignment, "workspace_files",
                                      [](Packer& p) {
                                        p.pack_array(1);
                                        p.pack(std::string("a.txt"));
                                      })),
               "field 'workspace_files[0]': expected map");
  // A file without a path is refused; a file without content is an empty file.
  expect_error(decode_assignment(with(assignment, "workspace_files",
                                      [](Packer& p) {
                                        p.pack_array(2);
                                        p.pack_map(1);
                                        p.pack(std::string("path"));
                                        p.pack(std::string("a.txt"));
                                        p.pack_map(1);
                                        p.pack(std::string("content"));
                                        p.pack(std::string("x"));
                                      })),
               "field 'workspace_files[1].path' is missing");
  auto no_content = decode_assignment(with(assignment, "workspace_files", [](Packer& p) {
    p.pack_array(1);
    p.pack_map(1);
    p.pack(std::string("path"));
    p.pack(std::string("a.txt"));
  }));
  ASSERT_TRUE(no_content.ok()) << no_content.error().to_string();
  ASSERT_EQ(no_content->workspace_files.size(), 1u);
  EXPECT_EQ(no_content->workspace_files[0].path, "a.txt");
  EXPECT_EQ(no_content->workspace_files[0].content, "");
  expect_error(decode_assignment(with(assignment, "workspace_files",
                                      [](Packer& p) {
                                        p.pack_array(1);
                                        p.pack_map(2);
                                        p.pack(std::string("path"));
                                        p.pack(std::string("a.txt"));
                                        p.pack(std::string("content"));
                                        p.pack(7);
                                      })),
               "field 'workspace_files[0].content': expected string");

  const std::string outcome = encode(full_outcome());
  expect_error(decode_outcome(with(outcome, "candidate",
                                   [](Packer& p) {
                                     p.pack_map(1);
                                     p.pack(std::string("files"));
                                     p.pack_array(1);
                                     p.pack_map(1);
                                     p.pack(std::string("path"));
                                     p.pack(3);
                                   })),
               "field 'candidate.files[0].path': expected string");
  expect_error(decode_outcome(with(outcome, "plan",
                                   [](Packer& p) {
                                     p.pack_array(1);
                                     p.pack_map(2);
                                     p.pack(std::string("id"));
                                     p.pack(std::string("s2"));
                                     p.pack(std::string("depends_on"));
                                     p.pack_array(2);
                                     p.pack(std::string("s1"));
                                     p.pack(1);
                                   })),
               "field 'plan[0].depends_on[1]': expected string");
  expect_error(decode_outcome(with(outcome, "plan",
                                   [](Packer& p) {
                                     p.pack_array(1);
                                     p.pack_map(1);
                                     p.pack(std::string("depends_on"));
                                     p.pack(std::string("s1"));
                                   })),
               "field 'plan[0].depends_on': expected array");
}

// ---- required fields ----

TEST(MessageDecode, MissingRequiredFieldsAreNamed) {
  for (const char* field : {"agent_id", "role", "capacity", "protocol"}) {
    expect_error(decode_hello(without(encode(full_hello()), field)),
                 std::string("field '") + field + "' is missing");
  }
  for (const char* field : {"goal_id", "task_id", "attempt", "kind"}) {
    expect_error(decode_assignment(without(encode(full_assignment()), field)),
                 std::string("field '") + field + "' is missing");
  }
  for (const char* field : {"goal_id", "task_id", "attempt"}) {
    expect_error(decode_outcome(without(encode(full_outcome()), field)),
                 std::string("field '") + field + "' is missing");
    expect_error(decode_ack(without(encode(full_ack()), field)),
                 std::string("field '") + field + "' is missing");
    expect_error(decode_cancel(without(encode(full_cancel()), field)),
                 std::string("field '") + field + "' is missing");
  }
  expect_error(decode_error(without(encode(full_error()), "code")), "field 'code' is missing");
  // nil does not satisfy a required field.
  expect_error(decode_ack(with(encode(full_ack()), "attempt", [](Packer& p) { p.pack_nil(); })),
               "field 'attempt': expected unsigned integer");
}

TEST(MessageDecode, OptionalFieldsTakeTheirDefaults) {
  std::string body = encode(full_outcome());
  for (const char* field : {"ok", "error", "tokens_in", "tokens_out", "model", "brain_s", "plan",
                            "candidate", "verdict"}) {
    body = without(body, field);
  }
  auto got = decode_outcome(body);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  TaskOutcome expected;
  expected.goal_id = "g2";
  expected.task_id = "plan";
  expected.attempt = 1;
  EXPECT_TRUE(*got == expected);

  // nil counts as absent for optional fields.
  auto with_nil = decode_outcome(with(encode(full_outcome()), "verdict", [](Packer& p) { p.pack_nil(); }));
  ASSERT_TRUE(with_nil.ok()) << with_nil.error().to_string();
  EXPECT_FALSE(with_nil->verdict.has_value());

  auto welcome = decode_welcome(packed([](Packer& p) {
    p.pack_map(1);
    p.pack(std::string("hub_id"));
    p.pack(std::string("h"));
  }));
  ASSERT_TRUE(welcome.ok());
  EXPECT_EQ(welcome->heartbeat_ms, 500u);
  EXPECT_EQ(welcome->liveness, 3u);
}

TEST(MessageDecode, UnknownKeysAreIgnored) {
  std::string body = with(encode(full_hello()), "future_field", [](Packer& p) {
    p.pack_array(2);
    p.pack(1);
    p.pack_map(0);
  });
  body = edit_field(body, "another", packed([](Packer& p) { p.pack(true); }));
  auto got = decode_hello(body);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_TRUE(*got == full_hello());

  // A non-string key is an unknown key, too.
  auto with_int_key = packed([](Packer& p) {
    p.pack_map(2);
    p.pack(7);
    p.pack(std::string("seven"));
    p.pack(std::string("reason"));
    p.pack(std::string("done"));
  });
  auto bye = decode_bye(with_int_key);
  ASSERT_TRUE(bye.ok());
  EXPECT_EQ(bye->reason, "done");
}

// ---- wrong types and ranges ----

TEST(MessageDecode, WrongTypesAreNamed) {
  auto str = [](Packer& p) { p.pack(std::string("3")); };
  auto negative = [](Packer& p) { p.pack(-3); };
  auto real = [](Packer& p) { p.pack(3.5); };  // integral doubles are packed as ints
  auto integer = [](Packer& p) { p.pack(3); };
  auto map = [](Packer& p) { p.pack_map(0); };

  const std::string assignment = encode(full_assignment());
  expect_error(decode_assignment(with(assignment, "attempt", str)),
               "field 'attempt': expected unsigned integer");
  expect_error(decode_assignment(with(assignment, "attempt", negative)),
               "field 'attempt': expected unsigned integer");
  expect_error(decode_assignment(with(assignment, "attempt", real)),
               "field 'attempt': expected unsigned integer");
  expect_error(decode_assignment(with(assignment, "goal_id", integer)),
               "field 'goal_id': expected string");
  expect_error(decode_assignment(with(assignment, "difficulty", str)),
               "field 'difficulty': expected number");
  expect_error(decode_assignment(with(assignment, "candidate", str)),
               "field 'candidate': expected map");
  expect_error(decode_assignment(with(assignment, "goal_subtasks", map)),
               "field 'goal_subtasks': expected array");
  expect_error(decode_assignment(with(assignment, "feedback", str)),
               "field 'feedback': expected array");
  expect_error(decode_assignment(with(assignment, "feedback",
                                      [](Packer& p) {
                                        p.pack_array(2);
                                        p.pack(std::string("ok"));
                                        p.pack(5);
                                      })),
               "field 'feedback[1]': expected string");

  const std::string outcome = encode(full_outcome());
  expect_error(decode_outcome(with(outcome, "ok", integer)), "field 'ok': expected boolean");
  expect_error(decode_outcome(with(outcome, "verdict",
                                   [](Packer& p) {
                                     p.pack_map(1);
                                     p.pack(std::string("score"));
                                     p.pack(std::string("high"));
                                   })),
               "field 'verdict.score': expected number");
  expect_error(decode_outcome(with(outcome, "candidate",
                                   [](Packer& p) {
                                     p.pack_map(1);
                                     p.pack(std::string("sim_correct"));
                                     p.pack(1);
                                   })),
               "field 'candidate.sim_correct': expected boolean");
  expect_error(decode_outcome(with(outcome, "plan",
                                   [](Packer& p) {
                                     p.pack_array(2);
                                     p.pack_map(0);
                                     p.pack_map(1);
                                     p.pack(std::string("difficulty"));
                                     p.pack(std::string("hard"));
                                   })),
               "field 'plan[1].difficulty': expected number");
  expect_error(decode_outcome(with(outcome, "plan",
                                   [](Packer& p) {
                                     p.pack_array(1);
                                     p.pack(1);
                                   })),
               "field 'plan[0]': expected map");
  expect_error(decode_hello(with(encode(full_hello()), "pid", str)), "field 'pid': expected integer");
}

TEST(MessageDecode, NumbersAreCheckedForRange) {
  const std::string ack = encode(full_ack());
  expect_error(decode_ack(with(ack, "attempt", [](Packer& p) { p.pack_uint64(1ULL << 32); })),
               "field 'attempt': value 4294967296 out of range");
  auto max32 = decode_ack(with(ack, "attempt", [](Packer& p) { p.pack_uint64(0xffffffffULL); }));
  ASSERT_TRUE(max32.ok());
  EXPECT_EQ(max32->attempt, 0xffffffffu);

  const std::string hello = encode(full_hello());
  auto negative_pid = decode_hello(with(hello, "pid", [](Packer& p) { p.pack_int64(-7); }));
  ASSERT_TRUE(negative_pid.ok());
  EXPECT_EQ(negative_pid->pid, -7);
  expect_error(decode_hello(with(hello, "pid", [](Packer& p) { p.pack_uint64(1ULL << 63); })),
               "field 'pid'");

  // Doubles accept ints (positive or negative) and both float widths.
  const std::string outcome = encode(full_outcome());
  auto from_int = decode_outcome(with(outcome, "brain_s", [](Packer& p) { p.pack(2); }));
  ASSERT_TRUE(from_int.ok());
  EXPECT_EQ(from_int->brain_s, 2.0);
  auto from_negative = decode_outcome(with(outcome, "brain_s", [](Packer& p) { p.pack(-2); }));
  ASSERT_TRUE(from_negative.ok());
  EXPECT_EQ(from_negative->brain_s, -2.0);
  auto from_float = decode_outcome(with(outcome, "brain_s", [](Packer& p) { p.pack_float(0.25f); }));
  ASSERT_TRUE(from_float.ok());
  EXPECT_EQ(from_float->brain_s, 0.25);
}

TEST(MessageDecode, TaskKindOutsideOneToFiveIsAnError) {
  const std::string assignment = encode(full_assignment());
  for (std::uint64_t kind : {0ull, 6ull, 255ull, 1ull << 40}) {
    expect_error(decode_assignment(with(assignment, "kind", [kind](Packer& p) { p.pack_uint64(kind); })),
                 "field 'kind'");
  }
  expect_error(decode_assignment(with(assignment, "kind", [](Packer& p) { p.pack(std::string("plan")); })),
               "field 'kind': expected unsigned integer");
}

// ---- hostile and malformed inputs ----

TEST(MessageDecode, NonMapsAreRejected) {
  expect_error(decode_hello(""), "empty");
  expect_error(decode_hello(std::string("\x90", 1)), "not a msgpack map");
  expect_error(decode_hello(std::string("\x01", 1)), "not a msgpack map");
  expect_error(decode_hello(std::string("\xc1", 1)), "not msgpack");
  expect_error(decode_hello(encode(full_hello()) + '\x01'), "trailing");
  expect_error(decode_hello(encode(full_hello()) + encode(full_hello())), "trailing");
  const std::string body = encode(full_assignment());
  for (std::size_t cut = 0; cut < body.size(); ++cut) {
    auto got = decode_assignment(std::string_view(body).substr(0, cut));
    EXPECT_FALSE(got.ok()) << "cut at " << cut;
  }
}

TEST(MessageDecode, HostileSizesFailFast) {
  const auto start = std::chrono::steady_clock::now();
  // Headers that claim billions of entries: refused on the header, past the limits. A string
  // header claiming billions of bytes that are not there is truncated.
  expect_error(decode_hello(std::string("\xdf\xff\xff\xff\xff", 5)), "limit");
  expect_error(decode_assignment(std::string("\x81\xa8" "feedback\xdd\xff\xff\xff\xff", 15)),
               "limit");
  expect_error(decode_bye(std::string("\x81\xa6reason\xdb\xff\xff\xff\xff", 13)), "truncated");
  // A map whose pairs are all present but exceed the decoder's limit.
  std::string many_keys = packed([](Packer& p) {
    p.pack_map(70000);
    for (int i = 0; i < 70000; ++i) {
      p.pack(i);
      p.pack_nil();
    }
  });
  expect_error(decode_bye(many_keys), "limit");
  // Deep nesting.
  std::string deep = std::string("\x81\xa6reason", 8) + std::string(200000, '\x91') + '\x01';
  expect_error(decode_bye(deep), "nested too deeply");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

// The limits of transport/envelope.h hold for bodies decoded on their own, checked before the
// body is unpacked: every decoder refuses with an error value naming the limit.
TEST(MessageDecode, LimitsAreEnforcedBeforeUnpacking) {
  using transport::kMaxArrayItems;
  using transport::kMaxMapPairs;
  using transport::kMaxNestingDepth;
  using transport::kMaxObjects;
  using transport::kMaxStringBytes;
  const auto start = std::chrono::steady_clock::now();

  // A 15-byte body declaring a 2^32-1 element array: fails at once.
  const std::string huge_array("\x81\xa8" "feedback\xdd\xff\xff\xff\xff", 15);
  expect_error(decode_assignment(huge_array), "array of 4294967295 items exceeds the limit");
  expect_error(decode_error(huge_array), "limit");

  // Items all present, one past the limit.
  std::string feedback = packed([&](Packer& p) {
    p.pack_map(1);
    p.pack(std::string("feedback"));
    p.pack_array(static_cast<std::uint32_t>(kMaxArrayItems + 1));
    for (std::size_t i = 0; i <= kMaxArrayItems; ++i) p.pack(std::string("f"));
  });
  expect_error(decode_assignment(feedback), "array of 65537 items exceeds the limit of 65536");
  // At the limit the array is read (and then the required fields are missing).
  feedback = packed([&](Packer& p) {
    p.pack_map(1);
    p.pack(std::string("feedback"));
    p.pack_array(static_cast<std::uint32_t>(kMaxArrayItems));
    for (std::size_t i = 0; i < kMaxArrayItems; ++i) p.pack(std::string("f"));
  });
  expect_error(decode_assignment(feedback), "field 'goal_id' is missing");

  // A map one pair past the limit, nested inside a body.
  std::string candidate = packed([&](Packer& p) {
    p.pack_map(1);
    p.pack(std::string("candidate"));
    p.pack_map(static_cast<std::uint32_t>(kMaxMapPairs + 1));
    for (std::size_t i = 0; i <= kMaxMapPairs; ++i) {
      p.pack(std::to_string(i));
      p.pack_nil();
    }
  });
  expect_error(decode_outcome(candidate), "map of 4097 pairs exceeds the limit of 4096");

  // A string past kMaxStringBytes (a frame could not carry it; a body on its own can).
  const std::string reason = packed([&](Packer& p) {
    p.pack_map(1);
    p.pack(std::string("reason"));
    p.pack(std::string(kMaxStringBytes + 1, 'r'));
  });
  expect_error(decode_bye(reason), "string of " + std::to_string(kMaxStringBytes + 1) + " bytes");
  // At the limit it decodes.
  const std::string reason_at_limit = packed([&](Packer& p) {
    p.pack_map(1);
    p.pack(std::string("reason"));
    p.pack(std::string(kMaxStringBytes, 'r'));
  });
  auto bye = decode_bye(reason_at_limit);
  ASSERT_TRUE(bye.ok()) << bye.error().to_string();
  EXPECT_EQ(bye->reason.size(), kMaxStringBytes);

  // Many arrays within their own limit but more than kMaxObjects objects in all.
  const std::size_t arrays = kMaxObjects / kMaxArrayItems;
  std::string many = packed([&](Packer& p) {
    p.pack_map(1);
    p.pack(std::string("feedback"));
    p.pack_array(static_cast<std::uint32_t>(arrays));
    for (std::size_t a = 0; a < arrays; ++a) {
      p.pack_array(static_cast<std::uint32_t>(kMaxArrayItems));
      for (std::size_t i = 0; i < kMaxArrayItems; ++i) p.pack_nil();
    }
  });
  expect_error(decode_assignment(many),
               "objects exceeds the limit of " + std::to_string(kMaxObjects));

  // Nesting: kMaxNestingDepth levels (the body map is one) decode, one more does not.
  const std::string nested_ok = std::string("\x81\xa6reason", 8) +
                                std::string(kMaxNestingDepth - 1, '\x91') + '\x01';
  expect_error(decode_bye(nested_ok), "field 'reason': expected string");
  const std::string nested_deep = std::string("\x81\xa6reason", 8) +
                                  std::string(kMaxNestingDepth, '\x91') + '\x01';
  expect_error(decode_bye(nested_deep), "nested too deeply");

  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

// ---- exact bytes and reading in place ----

// The reference for the encoders' bytes: msgpack-cxx's packer over an sbuffer, one map at a time
// (shortest integer and string forms; doubles always float64; empty optional fields omitted), as
// the codecs were first written.
struct RefMap {
  msgpack::sbuffer entries;
  Packer p{entries};
  std::uint32_t count = 0;
  Packer& key(const char* name) {
    ++count;
    p.pack(std::string(name));
    return p;
  }
  void str(const char* name, const std::string& v) { key(name).pack(v); }
  void str_if_set(const char* name, const std::string& v) {
    if (!v.empty()) str(name, v);
  }
  void uint(const char* name, std::uint64_t v) { key(name).pack_uint64(v); }
  void f64(const char* name, double v) {
    key(name);
    std::uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    char bytes[9] = {static_cast<char>(0xcb)};
    for (int i = 0; i < 8; ++i) bytes[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
    entries.write(bytes, sizeof bytes);
  }
  void raw(const char* name, const std::string& encoded) {
    key(name);
    entries.write(encoded.data(), encoded.size());
  }
  void raw_array_if_set(const char* name, const std::vector<std::string>& items) {
    if (items.empty()) return;
    key(name).pack_array(static_cast<std::uint32_t>(items.size()));
    for (const auto& item : items) entries.write(item.data(), item.size());
  }
  std::string finish() {
    return packed([&](Packer& out) { out.pack_map(count); }) + std::string(entries.data(), entries.size());
  }
};
std::string ref_subtask(const SubtaskPlan& s) {
  RefMap m;
  m.str("id", s.id);
  m.str_if_set("title", s.title);
  m.str_if_set("instructions", s.instructions);
  m.f64("difficulty", s.difficulty);
  if (!s.depends_on.empty()) m.key("depends_on").pack(s.depends_on);
  return m.finish();
}
std::vector<std::string> ref_files(const std::vector<FileEdit>& files) {
  std::vector<std::string> out;
  for (const auto& f : files) {
    RefMap m;
    m.str("path", f.path);
    m.str("content", f.content);
    out.push_back(m.finish());
  }
  return out;
}
std::string ref_candidate(const Candidate& c) {
  RefMap m;
  m.str("content", c.content);
  if (c.sim_correct) m.key("sim_correct").pack(*c.sim_correct);
  m.raw_array_if_set("files", ref_files(c.files));
  return m.finish();
}

TEST(MessageCodec, BodiesAreByteForByteWhatMsgpackCxxPacks) {
  // Strings around every str header boundary, integers around every uint boundary.
  const std::vector<std::size_t> lengths = {0, 1, 31, 32, 255, 256, 65535, 65536};
  const std::vector<std::uint64_t> numbers = {0, 127, 128, 255, 256, 65535, 65536, 4294967295ull,
                                              4294967296ull, 18446744073709551615ull};
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    const std::string text(lengths[i], 'x');
    TaskOutcome o = full_outcome();
    o.model = text;
    o.error = text;
    o.tokens_in = numbers[i];
    o.tokens_out = numbers[numbers.size() - 1 - i];
    o.plan.push_back({text, "", text, -0.5, {text, "s1"}});
    o.candidate = Candidate{text, i % 2 == 0, {{"a.txt", text}, {text, ""}}};
    o.verdict = Verdict{false, 1e300, text};
    RefMap r;
    r.str("goal_id", o.goal_id);
    r.str("task_id", o.task_id);
    r.uint("attempt", o.attempt);
    r.key("ok").pack(o.ok);
    r.str_if_set("error", o.error);
    r.uint("tokens_in", o.tokens_in);
    r.uint("tokens_out", o.tokens_out);
    r.str_if_set("model", o.model);
    r.f64("brain_s", o.brain_s);
    std::vector<std::string> plan;
    for (const auto& s : o.plan) plan.push_back(ref_subtask(s));
    r.raw_array_if_set("plan", plan);
    r.raw("candidate", ref_candidate(*o.candidate));
    RefMap v;
    v.key("accept").pack(o.verdict->accept);
    v.f64("score", o.verdict->score);
    v.str_if_set("feedback", o.verdict->feedback);
    r.raw("verdict", v.finish());
    EXPECT_EQ(encode(o), r.finish()) << "string length " << lengths[i];

    TaskAssignment a = full_assignment();
    a.goal_title = text;
    a.role = text;
    a.seed = numbers[i];
    a.lease_ms = static_cast<std::uint32_t>(numbers[i]);
    a.feedback = {text, "again"};
    RefMap ar;
    ar.str("goal_id", a.goal_id);
    ar.str("task_id", a.task_id);
    ar.uint("attempt", a.attempt);
    ar.uint("kind", static_cast<std::uint8_t>(a.kind));
    ar.str_if_set("role", a.role);
    ar.uint("seed", a.seed);
    ar.uint("revision", a.revision);
    ar.f64("difficulty", a.difficulty);
    ar.str_if_set("goal_title", a.goal_title);
    ar.str_if_set("instructions", a.instructions);
    std::vector<std::string> subtasks;
    for (const auto& s : a.goal_subtasks) subtasks.push_back(ref_subtask(s));
    ar.raw_array_if_set("goal_subtasks", subtasks);
    ASSERT_TRUE(a.candidate.has_value());
    ar.raw("candidate", ref_candidate(*a.candidate));
    ar.key("feedback").pack(a.feedback);
    ar.uint("lease_ms", a.lease_ms);
    ar.raw_array_if_set("workspace_files", ref_files(a.workspace_files));
    EXPECT_EQ(encode(a), ar.finish()) << "string length " << lengths[i];

    const Hello h{text, "coder", "", "", 4, 1, i % 2 ? -static_cast<std::int64_t>(numbers[i] / 2)
                                                      : static_cast<std::int64_t>(numbers[i] / 2)};
    RefMap hr;
    hr.str("agent_id", h.agent_id);
    hr.str("role", h.role);
    hr.uint("capacity", h.capacity);
    hr.uint("protocol", h.protocol);
    hr.key("pid").pack_int64(h.pid);
    EXPECT_EQ(encode(h), hr.finish()) << "string length " << lengths[i];
  }
}

TEST(MessageDecode, ValuesAreTypedAsMsgpackCxxTypesThem) {
  const std::string body = encode(full_outcome());
  // A signed encoding of a non-negative integer is an unsigned integer (msgpack-cxx makes it
  // POSITIVE_INTEGER); a negative one is not.
  auto signed_attempt = decode_outcome(with(body, "attempt", [](Packer& p) { p.pack_int8(5); }));
  ASSERT_TRUE(signed_attempt.ok()) << signed_attempt.error().to_string();
  EXPECT_EQ(signed_attempt->attempt, 5u);
  auto wide_attempt = decode_outcome(edit_field(body, "attempt", std::string("\xd3\0\0\0\0\0\0\0\x07", 9)));
  ASSERT_TRUE(wide_attempt.ok());
  EXPECT_EQ(wide_attempt->attempt, 7u);
  expect_error(decode_outcome(with(body, "attempt", [](Packer& p) { p.pack_int16(-1); })),
               "field 'attempt': expected unsigned integer");
  // Numbers: float32, negative fixint and uint64 all read as doubles.
  auto f32 = decode_outcome(with(body, "brain_s", [](Packer& p) { p.pack_float(1.5f); }));
  ASSERT_TRUE(f32.ok());
  EXPECT_EQ(f32->brain_s, 1.5);
  auto negative = decode_outcome(with(body, "brain_s", [](Packer& p) { p.pack_int8(-3); }));
  ASSERT_TRUE(negative.ok());
  EXPECT_EQ(negative->brain_s, -3.0);
  auto big = decode_outcome(with(body, "tokens_in", [](Packer& p) { p.pack_uint64(18446744073709551615ull); }));
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->tokens_in, 18446744073709551615ull);
  // bin is not a string; nil is absent only where the field is optional.
  expect_error(decode_outcome(with(body, "model", [](Packer& p) { p.pack_bin(1), p.pack_bin_body("x", 1); })),
               "field 'model': expected string");
  auto nil_model = decode_outcome(with(body, "model", [](Packer& p) { p.pack_nil(); }));
  ASSERT_TRUE(nil_model.ok());
  EXPECT_EQ(nil_model->model, "");
  expect_error(decode_outcome(with(body, "goal_id", [](Packer& p) { p.pack_nil(); })),
               "field 'goal_id': expected string");
  // Strings in every header form.
  for (std::size_t n : {0u, 31u, 32u, 255u, 256u, 70000u}) {
    auto got = decode_outcome(with(body, "model", [n](Packer& p) { p.pack(std::string(n, 'm')); }));
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->model, std::string(n, 'm'));
  }
}

TEST(MessageDecode, RepeatedKeysTakeTheLastValueInSmallAndLargeMaps) {
  // A map of few pairs, and one of more pairs than fit in place (unknown keys), each with
  // goal_id twice: the last one counts, wherever the fields are.
  for (int unknown : {0, 3, 40}) {
    const std::string body = packed([&](Packer& p) {
      p.pack_map(static_cast<std::uint32_t>(5 + unknown));
      p.pack(std::string("goal_id")), p.pack(std::string("first"));
      for (int i = 0; i < unknown; ++i) p.pack(std::string("x") + std::to_string(i)), p.pack_array(1), p.pack_map(0);
      p.pack(std::string("attempt")), p.pack(3);
      p.pack(std::string("task_id")), p.pack(std::string("s1"));
      p.pack(std::string("goal_id")), p.pack(std::string("last"));
      p.pack(std::string("model")), p.pack(std::string("m"));
    });
    auto got = decode_outcome(body);
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_EQ(got->goal_id, "last") << unknown << " unknown keys";
    EXPECT_EQ(got->task_id, "s1");
    EXPECT_EQ(got->attempt, 3u);
    EXPECT_EQ(got->model, "m");
    expect_error(decode_outcome(with(body, "goal_id", [](Packer& p) { p.pack(1); })),
                 "field 'goal_id': expected string");
  }
  // Fields in an order other than the encoders' are found just the same.
  const std::string reversed = packed([](Packer& p) {
    p.pack_map(4);
    p.pack(std::string("accepted")), p.pack(true);
    p.pack(std::string("attempt")), p.pack(2);
    p.pack(std::string("task_id")), p.pack(std::string("s2"));
    p.pack(std::string("goal_id")), p.pack(std::string("g2"));
  });
  auto ack = decode_ack(reversed);
  ASSERT_TRUE(ack.ok());
  EXPECT_TRUE(*ack == (Ack{"g2", "s2", 2, true}));
}

TEST(MessageDecode, NestedErrorsNameTheirPath) {
  TaskOutcome o = full_outcome();
  o.plan = {subtask(1), subtask(2)};
  const std::string body = encode(o);
  expect_error(decode_outcome(with(body, "plan", [](Packer& p) {
                 p.pack_array(2);
                 p.pack_map(1), p.pack(std::string("id")), p.pack(std::string("s1"));
                 p.pack_map(2), p.pack(std::string("id")), p.pack(std::string("s2"));
                 p.pack(std::string("depends_on")), p.pack_array(2), p.pack(std::string("s1")), p.pack(9);
               })),
               "field 'plan[1].depends_on[1]': expected string");
  expect_error(decode_outcome(with(body, "candidate", [](Packer& p) {
                 p.pack_map(2), p.pack(std::string("content")), p.pack(std::string("c"));
                 p.pack(std::string("files")), p.pack_array(1), p.pack_map(1);
                 p.pack(std::string("path")), p.pack(1);
               })),
               "RESULT: field 'candidate.files[0].path': expected string");
}

TEST(MessageDecode, NeverThrowsOnMutatedBodies) {
  std::mt19937_64 rng(7);
  const std::vector<std::string> seeds = {encode(full_assignment()), encode(full_outcome()),
                                          encode(full_hello())};
  const auto start = std::chrono::steady_clock::now();
  int decoded = 0;
  for (int i = 0; i < 10000; ++i) {
    std::string b = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !b.empty(); ++e) {
      const std::size_t at = rng() % b.size();
      switch (rng() % 4) {
        case 0: b[at] = static_cast<char>(rng()); break;
        case 1: b.insert(at, 1, static_cast<char>(rng())); break;
        case 2: b.erase(at, 1); break;
        case 3: b.resize(at); break;
      }
    }
    decoded += decode_assignment(b).ok();
    decoded += decode_outcome(b).ok();
    decoded += decode_hello(b).ok();
    (void)decode_welcome(b);
    (void)decode_ack(b);
    (void)decode_error(b);
    (void)decode_bye(b);
    (void)decode_cancel(b);
  }
  EXPECT_GT(decoded, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

}  // namespace
}  // namespace cadre::roles
