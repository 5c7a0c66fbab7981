// The bodies of cadre's messages: what the hub asks of an agent and what the agent answers.
// Field names and types here are the wire contract documented in docs/protocol.md; each struct
// is encoded as a msgpack map keyed by the field names below (in snake_case, exactly as spelt).
//
// Optional fields (std::optional, empty vectors, empty strings) may be omitted on the wire;
// decoders ignore keys they do not know, so fields can be added without a version bump.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cadre/result.h"
#include "cadre/transport/envelope.h"

namespace cadre::roles {

// What a task asks for. Numeric ids are fixed; never renumber.
enum class TaskKind : std::uint8_t {
  plan = 1,     // planner: split a goal into subtasks
  solve = 2,    // coder: produce a candidate for a subtask (a revision when feedback is present)
  review = 3,   // critic: judge one candidate
  resolve = 4,  // human: resolve an escalated subtask
  approve = 5,  // human: approve a goal the team finished (workflow.approval: human)
};
const char* task_kind_name(TaskKind kind);

// One file as a coder writes it or a workspace holds it. `path` is relative to the goal's
// workspace folder (see cadre/roles/workspace.h for the rules it must pass).
struct FileEdit {
  std::string path;
  std::string content;
};

// One subtask as a plan names it. `difficulty` in [0, 1] is what the sim brains read; real brains
// read title and instructions.
struct SubtaskPlan {
  std::string id;  // unique within its goal, e.g. "s1"
  std::string title;
  std::string instructions;
  double difficulty = 0.5;
  std::vector<std::string> depends_on{};  // ids of subtasks of the same plan that finish first
};

// A piece of work produced by a coder or a human.
struct Candidate {
  std::string content;
  // Ground truth, known only to simulated brains: whether this candidate is correct. Real brains
  // leave it empty. The hub never decides on it; it is carried so a sim critic can judge and so
  // reports can count false accepts.
  std::optional<bool> sim_correct;
  std::vector<FileEdit> files{};  // the files a real coder wrote (content then holds its notes)
};

// A critic's judgement of one candidate.
struct Verdict {
  bool accept = false;
  double score = 0.0;  // higher is better; ranks accepted candidates
  std::string feedback;
};

// HELLO body (agent -> hub).
struct Hello {
  std::string agent_id;  // unique in the team, e.g. "coder-2"
  std::string role;      // planner | coder | critic | human | a plugin role
  std::string brain;     // sim | llm | exec | plugin | process
  std::string model;     // the pricing key of the brain's model, e.g. "sim-small"
  std::uint32_t capacity = 1;  // tasks it runs at once, >= 1
  std::uint32_t protocol = 1;  // the protocol version the agent speaks
  std::int64_t pid = 0;
};

// WELCOME body (hub -> agent).
struct Welcome {
  std::string hub_id;
  std::uint32_t heartbeat_ms = 500;  // both sides send at this interval
  std::uint32_t liveness = 3;        // intervals of silence before the peer is declared gone
};

// ASSIGN body (hub -> agent): one attempt at one task, held under a lease.
struct TaskAssignment {
  std::string goal_id;
  std::string task_id;    // unique within its goal: "plan", "s1", "s1/review", "s1/resolve"
  std::uint32_t attempt = 0;
  TaskKind kind = TaskKind::solve;
  std::string role;
  std::uint64_t seed = 0;  // the scenario seed; sim brains draw from (seed, goal, task, attempt)
  std::uint32_t revision = 0;  // revision round of a solve; 0 for the first round
  double difficulty = 0.5;     // of the subtask (solve, review, resolve)
  std::string goal_title;
  std::string instructions;
  std::vector<SubtaskPlan> goal_subtasks;  // plan: the goal's specified subtasks
  std::optional<Candidate> candidate;      // review: the candidate to judge
  std::vector<std::string> feedback;       // solve: critic feedback from earlier rounds
  std::uint32_t lease_ms = 0;              // the hub requeues the task if no result by then
  std::vector<FileEdit> workspace_files{};  // solve/review: files already in the goal's workspace
  // The hub's own reference for this assignment (opaque to the agent): echoed in the RESULT, it
  // lets the hub find the task without looking its key up. Absent from older hubs.
  std::optional<std::uint64_t> ref{};
};

// RESULT body (agent -> hub): the outcome of one attempt. The key (goal_id, task_id, attempt)
// names the assignment it answers.
struct TaskOutcome {
  std::string goal_id;
  std::string task_id;
  std::uint32_t attempt = 0;
  bool ok = true;      // false: the brain failed (error says why); the attempt counts as failed
  std::string error;
  std::uint64_t tokens_in = 0;
  std::uint64_t tokens_out = 0;
  std::string model;
  double brain_s = 0.0;  // time the brain spent on it, seconds
  std::vector<SubtaskPlan> plan;       // plan
  std::optional<Candidate> candidate;  // solve, resolve
  std::optional<Verdict> verdict;      // review
  // The ASSIGN's `ref`, echoed (absent when the ASSIGN had none). The hub trusts it only when it
  // names a task with this RESULT's key; otherwise it finds the task by the key.
  std::optional<std::uint64_t> ref{};
  // The model's provider refused the request (HTTP 429) and the brain did not retry, because the
  // hub paces the team to the model's quota (scenario models:): the hub puts the task back in its
  // queue and backs the model off, for `retry_after_s` when the provider said. ok is false.
  bool rate_limited = false;
  std::optional<double> retry_after_s{};
};

// An outcome answering `task`: its key and ref copied, the answering model set, everything else
// default.
TaskOutcome outcome_for(const TaskAssignment& task, const std::string& model);

// ACK body (hub -> agent).
struct Ack {
  std::string goal_id;
  std::string task_id;
  std::uint32_t attempt = 0;
  bool accepted = false;  // false: a late or duplicate result, ignored
};

// ERROR body (either way).
struct ErrorReply {
  std::string code;  // malformed | bad_version | unknown_kind | bad_body | not_registered | ...
  std::string message;
  std::uint64_t ref_msg_id = 0;  // the msg_id of the refused message, 0 if unknown
};

// BYE body (either way).
struct Bye {
  std::string reason;
};

// CANCEL body (hub -> agent).
struct Cancel {
  std::string goal_id;
  std::string task_id;
  std::uint32_t attempt = 0;
  std::string reason;
};

// QUERY body (tool -> hub): which view. Tools (`cadre status`, `cadre inbox`) do not HELLO.
struct Query {
  std::string what;  // status | inbox
};

// VIEW body (hub -> tool): the view, a JSON document (docs/protocol.md documents its fields).
struct View {
  std::string what;  // status | inbox | decision
  std::string json;
};

// DECIDE body (tool -> hub): a person settles one inbox item — an escalated subtask (`resolve`)
// or a goal awaiting approval (`approve`).
struct Decision {
  std::string goal_id;
  std::string item;      // the item's task id ("s2/resolve", "approve"); may be empty when the
                         // goal has exactly one item waiting
  std::string action;    // accept | answer | reject
  std::string candidate; // accept: the candidate id the inbox listed
  std::string answer;    // answer: the person's own work
  std::string reason;    // reject: why (optional)
  std::string by;        // who decided (optional; journaled)
};

// Codecs: encode to one msgpack map; decode from one msgpack object. Decoders fail (never throw)
// on a non-map, a missing required field or a wrongly typed field, naming the field.
std::string encode(const Hello& body);
std::string encode(const Welcome& body);
std::string encode(const TaskAssignment& body);
std::string encode(const TaskOutcome& body);
std::string encode(const Ack& body);
std::string encode(const ErrorReply& body);
std::string encode(const Bye& body);
std::string encode(const Cancel& body);
std::string encode(const Query& body);
std::string encode(const View& body);
std::string encode(const Decision& body);
std::string encode_empty();  // an empty map, for HEARTBEAT

// The same encodings appended to `out` (after a frame's head: transport::append_envelope_head),
// so a frame is written into one buffer, which a caller may reuse.
void encode_to(std::string& out, const Hello& body);
void encode_to(std::string& out, const Welcome& body);
void encode_to(std::string& out, const TaskAssignment& body);
// With `ref` in place of body.ref (the hub's reference for a dispatch of its own assignment).
void encode_to(std::string& out, const TaskAssignment& body, std::optional<std::uint64_t> ref);
void encode_to(std::string& out, const TaskOutcome& body);
void encode_to(std::string& out, const Ack& body);
void encode_to(std::string& out, const ErrorReply& body);
void encode_to(std::string& out, const Bye& body);
void encode_to(std::string& out, const Cancel& body);
void encode_to(std::string& out, const Query& body);
void encode_to(std::string& out, const View& body);
void encode_to(std::string& out, const Decision& body);

Result<Hello> decode_hello(std::string_view bytes);
Result<Welcome> decode_welcome(std::string_view bytes);
Result<TaskAssignment> decode_assignment(std::string_view bytes);
Result<TaskOutcome> decode_outcome(std::string_view bytes);
Result<Ack> decode_ack(std::string_view bytes);
Result<ErrorReply> decode_error(std::string_view bytes);
Result<Bye> decode_bye(std::string_view bytes);
Result<Cancel> decode_cancel(std::string_view bytes);
Result<Query> decode_query(std::string_view bytes);
Result<View> decode_view(std::string_view bytes);
Result<Decision> decode_decision(std::string_view bytes);

// Decoders for a body whose bytes were checked already (a frame decode_envelope_view accepted):
// the same results, without walking the bytes a second time.
Result<TaskAssignment> decode_checked_assignment(transport::CheckedMap body);
Result<TaskOutcome> decode_checked_outcome(transport::CheckedMap body);

}  // namespace cadre::roles
