// The hub's per-message work outside its core, one piece at a time:
// encoding an ASSIGN into a frame, decoding a RESULT frame (envelope, then body), formatting the
// journal's dispatch and result records, and appending a record to a Journal.
//
//   bench_codec                                  # every case, ns/op (minimum over --repeat runs)
//   bench_codec --only decode_result --iters N   # one case, for `valgrind --tool=cachegrind`
//
// The messages are the ones bench_dispatch exchanges (an ASSIGN of ~180 bytes out, a RESULT of
// ~146 bytes back), so the figures are what one dispatched task costs in these paths.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bench_args.h"
#include "bench_frames.h"
#include "cadre/roles/messages.h"
#include "cadre/runtime/journal.h"
#include "cadre/transport/envelope.h"
#include "journal_events.h"
#include "json_line.h"

namespace {

using namespace cadre;
using Clock = std::chrono::steady_clock;

// Keeps a result alive so the optimiser cannot drop the work that made it.
std::size_t g_sink = 0;
void keep(std::size_t v) { g_sink += v; }

// An ASSIGN as the hub sends a solve task of bench_dispatch's scenario.
roles::TaskAssignment bench_assignment(std::uint64_t i) {
  roles::TaskAssignment a;
  a.goal_id = "g" + std::to_string(10000 + i % 50000);
  a.task_id = "noop";
  a.attempt = 1;
  a.kind = roles::TaskKind::solve;
  a.role = "coder";
  a.seed = 1;
  a.revision = 0;
  a.difficulty = 0.1;
  a.goal_title = "bench";
  a.instructions = "implement the subtask noop of goal bench";
  a.lease_ms = 60000;
  return a;
}

// A RESULT as a no-op coder answers it.
roles::TaskOutcome bench_outcome(std::uint64_t i) {
  roles::TaskOutcome o = roles::outcome_for(bench_assignment(i), "noop");
  o.tokens_in = 120;
  o.tokens_out = 48;
  o.brain_s = 0.0125;
  o.candidate = roles::Candidate{"done", {}, {}};
  return o;
}

using bench::frame_of;

struct Case {
  const char* name;
  const char* what;
  // Runs the case `iters` times.
  std::function<void(std::uint64_t iters)> run;
};

std::vector<Case> make_cases(runtime::Journal& journal) {
  std::vector<Case> cases;
  // Inputs are built once, outside the timed loops (a few variants, so the loop is not one
  // memoised value).
  static std::vector<roles::TaskAssignment> assignments;
  static std::vector<roles::TaskOutcome> outcomes;
  static std::vector<std::string> result_frames;
  for (std::uint64_t i = 0; i < 16; ++i) {
    assignments.push_back(bench_assignment(i));
    outcomes.push_back(bench_outcome(i));
    outcomes.back().ref = 3 * i + 1;  // echoed from the ASSIGN, as agents do
    result_frames.push_back(frame_of(transport::MessageKind::result, 1000 + i, "coder-17",
                                     roles::encode(outcomes.back())));
  }
  static const std::string hub_id = "hub";
  static const std::string agent_id = "coder-17";

  cases.push_back({"encode_assign", "encode(TaskAssignment) + encode_envelope", [](std::uint64_t n) {
                     for (std::uint64_t i = 0; i < n; ++i) {
                       transport::Envelope envelope;
                       envelope.kind = transport::MessageKind::assign;
                       envelope.msg_id = i;
                       envelope.sender = hub_id;
                       envelope.body = roles::encode(assignments[i & 15]);
                       keep(transport::encode_envelope(envelope).size());
                     }
                   }});
  cases.push_back({"encode_ack", "encode(Ack) + encode_envelope", [](std::uint64_t n) {
                     for (std::uint64_t i = 0; i < n; ++i) {
                       const auto& o = outcomes[i & 15];
                       transport::Envelope envelope;
                       envelope.kind = transport::MessageKind::ack;
                       envelope.msg_id = i;
                       envelope.sender = hub_id;
                       envelope.body = roles::encode(roles::Ack{o.goal_id, o.task_id, o.attempt, true});
                       keep(transport::encode_envelope(envelope).size());
                     }
                   }});
  cases.push_back({"decode_result", "decode_envelope + decode_outcome", [](std::uint64_t n) {
                     for (std::uint64_t i = 0; i < n; ++i) {
                       auto decoded = transport::decode_envelope(result_frames[i & 15]);
                       if (!decoded.ok()) std::abort();
                       auto outcome = roles::decode_outcome(decoded.envelope().body);
                       if (!outcome.ok()) std::abort();
                       keep(outcome->goal_id.size());
                     }
                   }});
  // What the live hub does since frames are encoded in place: head and body appended to one
  // buffer that is reused (the outbox), the ASSIGN carrying its ref; a RESULT decoded as views with
  // its body walked once.
  cases.push_back({"assign_frame", "append_envelope_head + encode_to(TaskAssignment, ref)",
                   [](std::uint64_t n) {
                     static std::string buffer;
                     for (std::uint64_t i = 0; i < n; ++i) {
                       if ((i & 255) == 0) buffer.clear();
                       const std::size_t at = buffer.size();
                       transport::append_envelope_head(buffer, transport::MessageKind::assign, i, hub_id);
                       roles::encode_to(buffer, assignments[i & 15], i);
                       keep(buffer.size() - at);
                     }
                   }});
  cases.push_back({"ack_frame", "append_envelope_head + encode_to(Ack)", [](std::uint64_t n) {
                     static std::string buffer;
                     for (std::uint64_t i = 0; i < n; ++i) {
                       if ((i & 255) == 0) buffer.clear();
                       const auto& o = outcomes[i & 15];
                       const std::size_t at = buffer.size();
                       transport::append_envelope_head(buffer, transport::MessageKind::ack, i, hub_id);
                       roles::encode_to(buffer, roles::Ack{o.goal_id, o.task_id, o.attempt, true});
                       keep(buffer.size() - at);
                     }
                   }});
  cases.push_back({"decode_result_view", "decode_envelope_view + decode_outcome(CheckedMap)",
                   [](std::uint64_t n) {
                     for (std::uint64_t i = 0; i < n; ++i) {
                       auto decoded = transport::decode_envelope_view(result_frames[i & 15]);
                       if (!decoded.ok()) std::abort();
                       auto outcome = roles::decode_checked_outcome(decoded.envelope().body);
                       if (!outcome.ok()) std::abort();
                       keep(outcome->goal_id.size());
                     }
                   }});
  cases.push_back({"dispatch_record", "JsonLine dispatch record + n, t_us", [](std::uint64_t n) {
                     for (std::uint64_t i = 0; i < n; ++i) {
                       const auto& a = assignments[i & 15];
                       runtime::JsonLine line;
                       line.field("ev", "dispatch")
                           .field("agent", agent_id)
                           .field("goal", a.goal_id)
                           .field("task", a.task_id)
                           .field("attempt", a.attempt);
                       line.field("n", i).field("t_us", static_cast<std::int64_t>(1000000 + i * 17));
                       keep(line.str().size());
                     }
                   }});
  cases.push_back({"result_record", "outcome_record + agent, n, t_us", [](std::uint64_t n) {
                     for (std::uint64_t i = 0; i < n; ++i) {
                       runtime::JsonLine line = runtime::outcome_record(outcomes[i & 15]).field("agent", agent_id);
                       line.field("n", i).field("t_us", static_cast<std::int64_t>(1000000 + i * 17));
                       keep(line.str().size());
                     }
                   }});
  cases.push_back({"journal_append", "Journal::append of a result record (commit every 1024)",
                   [&journal](std::uint64_t n) {
                     const std::string record =
                         runtime::outcome_record(outcomes[0]).field("agent", agent_id).field("n", std::uint64_t{123456}).str();
                     for (std::uint64_t i = 0; i < n; ++i) {
                       journal.append(record);
                       if ((i & 1023) == 1023 && !journal.commit().ok()) std::abort();
                     }
                     if (!journal.commit().ok()) std::abort();
                   }});
  return cases;
}

}  // namespace

int main(int argc, char** argv) {
  std::string only;
  std::uint64_t iters = 200000;
  int repeat = 7;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--only") {
      only = bench::option_value(argc, argv, i, "bench_codec");
    } else if (arg == "--iters") {
      iters = std::strtoull(bench::option_value(argc, argv, i, "bench_codec").c_str(), nullptr, 10);
    } else if (arg == "--repeat") {
      repeat = std::max(1, std::atoi(bench::option_value(argc, argv, i, "bench_codec").c_str()));
    } else {
      std::fprintf(stderr, "usage: bench_codec [--only CASE] [--iters N] [--repeat R]\n");
      return 2;
    }
  }
  // /dev/null: the journal's own work (format, CRC, buffer), not the disk's.
  auto journal = runtime::Journal::create("/dev/null", runtime::JournalSync::none);
  if (!journal.ok()) {
    std::fprintf(stderr, "bench_codec: %s\n", journal.error().to_string().c_str());
    return 1;
  }
  const std::vector<Case> cases = make_cases(**journal);
  if (!only.empty()) {
    auto it = std::find_if(cases.begin(), cases.end(), [&](const Case& c) { return only == c.name; });
    if (it == cases.end()) {
      std::fprintf(stderr, "bench_codec: no case '%s'\n", only.c_str());
      return 2;
    }
    it->run(iters);  // one pass, no timing: for instruction counts under cachegrind
    std::printf("%s: %llu iterations\n", it->name, static_cast<unsigned long long>(iters));
    return g_sink == 42 ? 1 : 0;
  }

  {
    transport::Envelope assign;
    assign.kind = transport::MessageKind::assign;
    assign.msg_id = 123456;
    assign.sender = "hub";
    assign.body = roles::encode(bench_assignment(0));
    std::printf("frames: ASSIGN %zu bytes, RESULT %zu bytes; records: result %zu bytes\n",
                transport::encode_envelope(assign).size(),
                frame_of(transport::MessageKind::result, 123456, "coder-17", roles::encode(bench_outcome(0))).size(),
                runtime::outcome_record(bench_outcome(0)).field("agent", "coder-17").str().size());
  }
  std::printf("%-16s %10s %10s  %s\n", "case", "min ns/op", "med ns/op", "what");
  std::string json = "{\"bench\":\"codec\",\"iters\":" + std::to_string(iters);
  for (const Case& c : cases) {
    c.run(iters / 10);  // warm caches and the allocator
    std::vector<double> ns;
    for (int r = 0; r < repeat; ++r) {
      const auto start = Clock::now();
      c.run(iters);
      ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count() /
                   static_cast<double>(iters));
    }
    std::sort(ns.begin(), ns.end());
    std::printf("%-16s %10.1f %10.1f  %s\n", c.name, ns.front(), ns[ns.size() / 2], c.what);
    char figure[64];
    std::snprintf(figure, sizeof figure, ",\"%s_ns\":%.1f", c.name, ns.front());
    json += figure;
  }
  std::printf("%s}\n", json.c_str());
  return g_sink == 42 ? 1 : 0;
}
