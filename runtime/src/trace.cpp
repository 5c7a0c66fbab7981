#include "cadre/runtime/trace.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "report_text.h"

namespace cadre::runtime {
namespace {

using report_text::append_double;
using report_text::append_int;
using report_text::append_json_string;

// The subtask a task works on: its id for solve/review/resolve, else "".
std::string_view subtask_of(const Ledger& ledger, const TaskRecord& task) {
  switch (task.kind) {
    case roles::TaskKind::solve:
    case roles::TaskKind::review:
    case roles::TaskKind::resolve: {
      const GoalRecord& goal = ledger.goals()[task.goal_index];
      if (task.subtask_index < goal.subtasks.size())
        return goal.subtasks[task.subtask_index].plan.id;
      return {};
    }
    default: return {};
  }
}

void append_metadata(std::string& out, const char* name, std::int64_t tid, const char* arg,
                     std::string_view value, bool value_is_number = false) {
  out += "{\"ph\":\"M\",\"pid\":1,\"tid\":";
  append_int(out, tid);
  out += ",\"name\":\"";
  out += name;
  out += "\",\"args\":{\"";
  out += arg;
  out += "\":";
  if (value_is_number) out.append(value);
  else append_json_string(out, value);
  out += "}},\n";
}

void write_trace_to(std::ostream& stream, const HubCore& core, const RunFacts& facts) {
  const Ledger& ledger = core.ledger();
  report_text::ChunkedWriter writer(stream);
  std::string& out = writer.buffer();

  out += "{\"traceEvents\":[\n";
  append_metadata(out, "process_name", 0, "name", "cadre " + ledger.scenario().name);

  // One track per agent, in the scheduler's order (report.json's "agents"); spans name agents
  // by that index.
  const auto& agents = core.scheduler().agents();
  std::vector<std::string> quoted_ids(agents.size());
  for (std::size_t i = 0; i < agents.size(); ++i) {
    const auto tid = static_cast<std::int64_t>(i + 1);
    append_json_string(quoted_ids[i], agents[i].id);
    append_metadata(out, "thread_name", tid, "name", agents[i].id + " (" + agents[i].role + ")");
    append_metadata(out, "thread_sort_index", tid, "sort_index", std::to_string(tid), true);
    writer.maybe_flush();
  }

  // Goal ids as JSON literals, once each.
  std::vector<std::string> goal_ids;
  goal_ids.reserve(ledger.goals().size());
  for (const auto& goal : ledger.goals()) {
    goal_ids.emplace_back();
    append_json_string(goal_ids.back(), goal.spec.id);
  }

  const TimeUs origin = core.started_at();
  const TimeUs end_of_run = std::max(core.last_event_at(), origin);
  std::string name;  // a span's name, reused
  for (const DispatchSpan& span : ledger.spans()) {
    const TaskRecord& task = ledger.task(span.task);
    const std::string_view task_id = ledger.task_id_of(span.task);
    const char* kind = roles::task_kind_name(task.kind);
    const TimeUs start = std::max(span.start, origin);
    const TimeUs end = span.end >= 0 ? std::max(span.end, start) : std::max(end_of_run, start);
    const bool answered = span.how == SpanEnd::answered;

    out += "{\"ph\":\"X\",\"pid\":1,\"tid\":";
    append_int(out, static_cast<std::int64_t>(span.agent) + 1);
    out += ",\"ts\":";
    append_int(out, start - origin);
    out += ",\"dur\":";
    append_int(out, end - start);
    out += ",\"cat\":\"";
    out += kind;
    out += "\",\"name\":";
    name.assign(kind).append(" ").append(ledger.goal_id_of(span.task)).append("/").append(task_id);
    append_json_string(out, name);
    out += ",\"args\":{\"goal\":";
    out += goal_ids[task.goal_index];
    out += ",\"task\":";
    append_json_string(out, task_id);
    out += ",\"subtask\":";
    append_json_string(out, subtask_of(ledger, task));
    out += ",\"kind\":\"";
    out += kind;
    out += "\",\"attempt\":";
    append_int(out, task.attempt);
    out += ",\"agent\":";
    out += quoted_ids[span.agent];
    out += ",\"verdict\":";
    append_json_string(out, task.verdict);
    out += ",\"end\":\"";
    out += span_end_name(span.how);
    // The accepted result's cost sits on the span that answered; the others cost nothing the
    // ledger counted.
    out += "\",\"tokens_in\":";
    append_int(out, answered ? static_cast<std::int64_t>(task.tokens_in) : 0);
    out += ",\"tokens_out\":";
    append_int(out, answered ? static_cast<std::int64_t>(task.tokens_out) : 0);
    out += ",\"usd\":";
    append_double(out, answered ? task.usd : 0.0);
    out += "}},\n";
    writer.maybe_flush();
  }

  // The list ends with a last metadata record, so every event above can end with a comma.
  out += "{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"process_sort_index\",\"args\":"
         "{\"sort_index\":1}}\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"scenario\":";
  append_json_string(out, ledger.scenario().name);
  out += ",\"mode\":";
  append_json_string(out, facts.mode);
  out += ",\"seed\":";
  append_int(out, static_cast<std::int64_t>(ledger.scenario().seed));
  out += ",\"spans\":";
  append_int(out, static_cast<std::int64_t>(ledger.spans().size()));
  out += ",\"agents\":";
  append_int(out, static_cast<std::int64_t>(agents.size()));
  out += ",\"end_us\":";
  append_int(out, end_of_run - origin);
  out += ",\"finish_reason\":";
  append_json_string(out, core.finish_reason());
  out += ",\"interrupted\":";
  out += facts.interrupted ? "true" : "false";
  out += "}}\n";
  writer.flush();
}

}  // namespace

std::string trace_json(const HubCore& core, const RunFacts& facts) {
  std::ostringstream out;
  write_trace_to(out, core, facts);
  return out.str();
}

Status write_trace(const std::string& path, const HubCore& core, const RunFacts& facts) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return make_error(std::string("cannot write: ") + std::strerror(errno), path);
  write_trace_to(out, core, facts);
  out.close();
  if (!out) return make_error(std::string("cannot write: ") + std::strerror(errno), path);
  return Status::Ok();
}

}  // namespace cadre::runtime
