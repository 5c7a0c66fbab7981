#include "cadre/runtime/report.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "cadre/runtime/report_html.h"
#include "cadre/runtime/trace.h"
#include "report_text.h"

namespace cadre::runtime {
namespace {

using nlohmann::json;

struct GoalTotals {
  std::uint64_t resolved = 0, escalated = 0, failed = 0, stopped = 0, open = 0;
  std::uint64_t false_accepts = 0;  // goals ended done whose accepted work was wrong (sim)
  std::uint64_t resolved_correct = 0;  // resolved goals whose accepted work was all correct (sim)
};

GoalTotals count_goals(const Ledger& ledger) {
  GoalTotals totals;
  for (const auto& goal : ledger.goals()) {
    switch (goal.outcome) {
      case GoalOutcome::resolved: ++totals.resolved; break;
      case GoalOutcome::escalated: ++totals.escalated; break;
      case GoalOutcome::failed: ++totals.failed; break;
      case GoalOutcome::stopped_by_budget: ++totals.stopped; break;
      case GoalOutcome::none: ++totals.open; break;
    }
    if (goal.outcome == GoalOutcome::resolved || goal.outcome == GoalOutcome::escalated) {
      bool all_correct = true;
      for (const auto& subtask : goal.subtasks)
        if (subtask.accepted_correct.has_value() && !*subtask.accepted_correct) all_correct = false;
      if (!all_correct) ++totals.false_accepts;
      if (all_correct && goal.outcome == GoalOutcome::resolved) ++totals.resolved_correct;
    }
  }
  return totals;
}

double goal_seconds(const GoalRecord& goal) {
  if (goal.first_dispatch_at < 0 || goal.finished_at < 0) return -1.0;
  return us_to_seconds(goal.finished_at - goal.first_dispatch_at);
}

double round6(double value) { return std::round(value * 1e6) / 1e6; }

// Spend accepted past the limits that were set: the run's past budget_usd, each goal's past
// goal_budget_usd, tokens past max_tokens. A limit stops new work once reached, so what lies past
// it is what was already in flight (tasks cancelled at the limit report nothing and cost nothing
// here).
struct Overrun {
  double run_usd = 0, goals_usd = 0;
  std::uint64_t tokens = 0;
};

Overrun overrun_of(const Ledger& ledger) {
  const Limits& limits = ledger.scenario().limits;
  Overrun overrun;
  if (limits.budget_usd > 0) overrun.run_usd = std::max(0.0, ledger.usd() - limits.budget_usd);
  if (limits.goal_budget_usd > 0) {
    for (const auto& goal : ledger.goals())
      overrun.goals_usd += std::max(0.0, goal.usd - limits.goal_budget_usd);
  }
  const std::uint64_t tokens = ledger.tokens_in() + ledger.tokens_out();
  if (limits.max_tokens > 0 && tokens > limits.max_tokens)
    overrun.tokens = tokens - limits.max_tokens;
  return overrun;
}

std::uint32_t solve_attempts(const GoalRecord& goal) {
  std::uint32_t attempts = 0;
  for (const auto& subtask : goal.subtasks) attempts += subtask.solve_attempts;
  return attempts;
}

json goal_line(const GoalRecord& goal) {
  std::uint32_t discovered = 0, escalated = 0;
  for (const auto& subtask : goal.subtasks) {
    if (subtask.discovered) ++discovered;
    if (subtask.state == SubtaskState::resolved_by_human) ++escalated;
  }
  json line = {{"id", goal.spec.id},
               {"outcome", outcome_name(goal.outcome)},
               {"subtasks", goal.subtasks.size()},
               {"subtasks_discovered", discovered},
               {"subtasks_escalated", escalated},
               {"attempts", solve_attempts(goal)},
               {"results", goal.attempts},
               {"tokens_in", goal.tokens_in},
               {"tokens_out", goal.tokens_out},
               {"usd", round6(goal.usd)},
               {"time_s", round6(std::max(0.0, goal_seconds(goal)))}};
  if (!goal.reason.empty()) line["reason"] = goal.reason;
  return line;
}

const char* task_state_name(TaskState state) {
  switch (state) {
    case TaskState::queued: return "queued";
    case TaskState::leased: return "leased";
    case TaskState::done: return "done";
    case TaskState::cancelled: return "cancelled";
  }
  return "?";
}

// report.json's "task_attempts" array, written by hand: a run can have a million of them, and a
// JSON library would hold them all as objects. One compact object per line.
void write_task_attempts(report_text::ChunkedWriter& writer, const HubCore& core) {
  using report_text::append_int;
  using report_text::append_json_string;
  using report_text::append_seconds;
  const Ledger& ledger = core.ledger();
  // First dispatch and last holder of each task, from the spans (in dispatch order).
  constexpr std::uint32_t kNone = ~0u;
  std::vector<std::uint32_t> first_span(ledger.task_count(), kNone);
  const auto& spans = ledger.spans();
  for (std::uint32_t i = 0; i < spans.size(); ++i)
    if (first_span[spans[i].task] == kNone) first_span[spans[i].task] = i;
  const TimeUs origin = core.started_at();
  std::string& out = writer.buffer();
  bool first = true;
  for (TaskId id = 0; id < ledger.task_count(); ++id) {
    const TaskRecord& task = ledger.task(id);
    if (task.dispatches == 0 && first_span[id] == kNone) continue;
    out += first ? "\n    {\"goal\":" : ",\n    {\"goal\":";
    first = false;
    append_json_string(out, ledger.goal_id_of(id));
    out += ",\"task\":";
    append_json_string(out, ledger.task_id_of(id));
    out += ",\"attempt\":";
    append_int(out, task.attempt);
    out += ",\"kind\":\"";
    out += roles::task_kind_name(task.kind);
    out += "\",\"agent\":";
    // The answerer when done, else the latest holder.
    AgentIndex agent = task.agent;
    if (task.state != TaskState::done && task.last_span != kNoSpan)
      agent = spans[task.last_span].agent;
    append_json_string(out, agent == kNoAgent ? std::string_view() : core.agent_id(agent));
    out += ",\"state\":\"";
    out += task_state_name(task.state);
    out += "\",\"verdict\":";
    append_json_string(out, task.state == TaskState::done ? task.verdict : std::string_view());
    out += ",\"start_s\":";
    if (first_span[id] != kNone)
      append_seconds(out, us_to_seconds(spans[first_span[id]].start - origin));
    else
      out += "null";
    out += ",\"end_s\":";
    if (task.finished_at >= 0) append_seconds(out, us_to_seconds(task.finished_at - origin));
    else out += "null";
    out += ",\"tokens_in\":";
    append_int(out, static_cast<std::int64_t>(task.tokens_in));
    out += ",\"tokens_out\":";
    append_int(out, static_cast<std::int64_t>(task.tokens_out));
    out += ",\"usd\":";
    append_seconds(out, task.usd);  // rounded to 1e-6 USD, as the report's other amounts
    out += "}";
    writer.maybe_flush();
  }
  out += first ? "]" : "\n  ]";
}

}  // namespace

double goal_time_percentile(const Ledger& ledger, double p) {
  std::vector<double> times;
  for (const auto& goal : ledger.goals()) {
    const double seconds = goal_seconds(goal);
    if (seconds >= 0) times.push_back(seconds);
  }
  if (times.empty()) return 0.0;
  std::sort(times.begin(), times.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * times.size()));
  return times[std::clamp<std::size_t>(rank, 1, times.size()) - 1];
}

namespace {

// The report without task_attempts, as a JSON object.
json report_totals(const HubCore& core, const RunFacts& facts) {
  const Ledger& ledger = core.ledger();
  const Scenario& scenario = ledger.scenario();
  const GoalTotals totals = count_goals(ledger);
  const TaskCounters& counters = ledger.counters();
  const std::uint64_t done = totals.resolved + totals.escalated;
  const Overrun overrun = overrun_of(ledger);

  json agents = json::array();
  for (const auto& agent : core.scheduler().agents()) {
    auto pid = facts.agent_pids.find(agent.id);
    auto restarts = facts.agent_restarts.find(agent.id);
    agents.push_back(
        {{"id", agent.id},
         {"role", agent.role},
         {"model", agent.model},
         {"pid", pid != facts.agent_pids.end() ? pid->second : agent.pid},
         {"tasks", agent.tasks_completed},
         {"busy_s", round6(us_to_seconds(agent.busy_us))},
         {"joins", agent.joins},
         {"restarts", restarts != facts.agent_restarts.end() ? restarts->second : 0u}});
  }

  json report = {
      {"scenario", scenario.name},
      {"mode", facts.mode},
      {"seed", scenario.seed},
      {"finish_reason", core.finish_reason()},
      {"interrupted", facts.interrupted},
      {"goals",
       {{"total", ledger.goals().size()},
        {"resolved", totals.resolved},
        {"escalated", totals.escalated},
        {"failed", totals.failed},
        {"stopped_by_budget", totals.stopped},
        {"open", totals.open}}},
      {"tasks",
       {{"dispatched", counters.dispatched},
        {"completed", counters.completed},
        {"requeued", counters.requeued},
        {"duplicates_ignored", counters.duplicates_ignored},
        {"failed_attempts", counters.failed_attempts},
        {"refused", counters.refused}}},
      {"cost",
       {{"tokens_in", ledger.tokens_in()},
        {"tokens_out", ledger.tokens_out()},
        {"usd", round6(ledger.usd())},
        {"usd_per_resolved", done > 0 ? json(round6(ledger.usd() / done)) : json(nullptr)},
        {"unpriced_results", ledger.unpriced_results()},
        {"overrun_usd", round6(overrun.run_usd + overrun.goals_usd)},
        {"overrun_tokens", overrun.tokens}}},
      {"limits",
       {{"budget_usd", scenario.limits.budget_usd},
        {"max_tokens", scenario.limits.max_tokens},
        {"wall_s", scenario.limits.wall_s},
        {"goal_budget_usd", scenario.limits.goal_budget_usd},
        {"goal_max_attempts", scenario.limits.goal_max_attempts},
        {"goals_stopped", totals.stopped},
        {"overrun_usd", {{"run", round6(overrun.run_usd)}, {"goals", round6(overrun.goals_usd)}}}}},
      {"quality",
       {{"false_accepts", totals.false_accepts}, {"resolved_correct", totals.resolved_correct}}},
      {"workflow",
       {{"kind", scenario.workflow.kind},
        {"samples", scenario.workflow.samples},
        {"max_revisions", scenario.workflow.max_revisions},
        {"on_exhausted",
         scenario.workflow.on_exhausted == OnExhausted::escalate ? "escalate" : "fail"},
        {"approval", scenario.workflow.approval == Approval::human ? "human" : "auto"}}},
      {"time",
       {{"wall_s", round6(facts.wall_s)},
        {"goal_p50_s", round6(goal_time_percentile(ledger, 50))},
        {"goal_p95_s", round6(goal_time_percentile(ledger, 95))}}},
      {"agents", agents},
      {"messages",
       {{"sent", facts.messages.sent},
        {"received", facts.messages.received},
        {"malformed", facts.messages.malformed},
        {"refused", facts.messages.refused}}},
  };
  if (facts.real_s >= 0) report["time"]["real_s"] = round6(facts.real_s);
  json stalls = json::array();
  const TimeUs origin = core.started_at();
  for (const StallRecord& stall : ledger.stalls()) {
    stalls.push_back({{"goal", ledger.goals()[stall.goal_index].spec.id},
                      {"since_s", round6(us_to_seconds(stall.since - origin))},
                      {"noticed_s", round6(us_to_seconds(stall.noticed_at - origin))},
                      {"end_s", stall.ended_at >= 0
                                    ? json(round6(us_to_seconds(stall.ended_at - origin)))
                                    : json(nullptr)},
                      {"reason", stall.reason}});
  }
  report["stalls"] = std::move(stalls);
  return report;
}

// The totals pretty-printed, then "task_attempts" spliced in before the closing brace.
void write_report_json(std::ostream& stream, const HubCore& core, const RunFacts& facts) {
  std::string totals = report_totals(core, facts).dump(2);
  while (!totals.empty() && totals.back() != '}') totals.pop_back();
  if (!totals.empty()) totals.pop_back();
  while (!totals.empty() && (totals.back() == '\n' || totals.back() == ' ')) totals.pop_back();
  report_text::ChunkedWriter writer(stream);
  writer.buffer() = std::move(totals);
  writer.buffer() += ",\n  \"task_attempts\": [";
  write_task_attempts(writer, core);
  writer.buffer() += "\n}\n";
  writer.flush();
}

Status write_file(const std::string& path, const std::function<void(std::ostream&)>& write) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return make_error(std::string("cannot write: ") + std::strerror(errno), path);
  write(out);
  out.close();
  if (!out) return make_error(std::string("cannot write: ") + std::strerror(errno), path);
  return Status::Ok();
}

}  // namespace

std::string goals_jsonl(const HubCore& core) {
  std::string out;
  for (const auto& goal : core.ledger().goals()) {
    out += goal_line(goal).dump();
    out += '\n';
  }
  return out;
}

std::string report_json(const HubCore& core, const RunFacts& facts) {
  std::ostringstream out;
  write_report_json(out, core, facts);
  return out.str();
}

Status write_report(const std::string& dir, const HubCore& core, const RunFacts& facts) {
  Status status = write_file(dir + "/report.json", [&](std::ostream& out) {
    write_report_json(out, core, facts);
  });
  if (!status.ok()) return status;
  status = write_file(dir + "/goals.jsonl", [&](std::ostream& out) {
    out << goals_jsonl(core);
  });
  if (!status.ok()) return status;
  status = write_file(dir + "/report.html",
                      [&](std::ostream& out) { out << report_html(core, facts); });
  if (!status.ok()) return status;
  return write_trace(dir + "/trace.json", core, facts);
}

std::string summary_table(const HubCore& core, const RunFacts& facts) {
  const Ledger& ledger = core.ledger();
  const GoalTotals totals = count_goals(ledger);
  const TaskCounters& counters = ledger.counters();
  const std::uint64_t done = totals.resolved + totals.escalated;
  const auto total = ledger.goals().size();
  auto pct = [&](std::uint64_t n) {
    char text[16];
    std::snprintf(text, sizeof text, "%5.1f%%", total ? 100.0 * n / total : 0.0);
    return std::string(text);
  };
  char line[160];
  std::ostringstream out;
  out << "\n  cadre " << facts.mode << " run: " << ledger.scenario().name << " (seed "
      << ledger.scenario().seed << ")" << (facts.interrupted ? "  [INTERRUPTED: partial]" : "")
      << "\n";
  out << "  ------------------------------------------------------------\n";
  std::snprintf(line, sizeof line, "  goals      %6zu total\n", total);
  out << line;
  std::snprintf(line, sizeof line, "             %6lu resolved by the team   %s\n",
                (unsigned long)totals.resolved, pct(totals.resolved).c_str());
  out << line;
  std::snprintf(line, sizeof line, "             %6lu escalated to a human   %s\n",
                (unsigned long)totals.escalated, pct(totals.escalated).c_str());
  out << line;
  std::snprintf(line, sizeof line, "             %6lu failed                 %s\n",
                (unsigned long)totals.failed, pct(totals.failed).c_str());
  out << line;
  if (totals.stopped > 0) {
    std::snprintf(line, sizeof line, "             %6lu stopped by a limit     %s\n",
                  (unsigned long)totals.stopped, pct(totals.stopped).c_str());
    out << line;
  }
  if (totals.open > 0) {
    std::snprintf(line, sizeof line, "             %6lu still open\n", (unsigned long)totals.open);
    out << line;
  }
  std::snprintf(line, sizeof line,
                "  tasks      %6lu dispatched, %lu completed, %lu requeued, %lu duplicates "
                "ignored\n",
                (unsigned long)counters.dispatched, (unsigned long)counters.completed,
                (unsigned long)counters.requeued, (unsigned long)counters.duplicates_ignored);
  out << line;
  std::snprintf(line, sizeof line, "  tokens     %lu in, %lu out\n",
                (unsigned long)ledger.tokens_in(), (unsigned long)ledger.tokens_out());
  out << line;
  if (done > 0) {
    std::snprintf(line, sizeof line, "  cost       $%.4f total, $%.4f per resolved goal\n",
                  ledger.usd(), ledger.usd() / done);
  } else {
    std::snprintf(line, sizeof line, "  cost       $%.4f total, no goal resolved\n", ledger.usd());
  }
  out << line;
  std::snprintf(line, sizeof line, "  time       %.2f s wall, goal p50 %.2f s, p95 %.2f s\n",
                facts.wall_s, goal_time_percentile(ledger, 50), goal_time_percentile(ledger, 95));
  out << line;
  std::snprintf(line, sizeof line, "  messages   %lu sent, %lu received, %lu malformed\n",
                (unsigned long)facts.messages.sent, (unsigned long)facts.messages.received,
                (unsigned long)facts.messages.malformed);
  out << line;
  std::string restarted;
  std::uint64_t restarts = 0;
  for (const auto& [agent, count] : facts.agent_restarts) {
    if (count == 0) continue;
    restarts += count;
    restarted += (restarted.empty() ? "" : ", ") + agent + ": " + std::to_string(count);
  }
  if (restarts > 0) out << "  restarts   " << restarts << " (" << restarted << ")\n";
  if (!ledger.stalls().empty()) {
    std::snprintf(line, sizeof line, "  stalls     %zu (goals with no change for %g s; report.json lists why)\n",
                  ledger.stalls().size(), ledger.scenario().workflow.stall_s);
    out << line;
  }
  const Overrun overrun = overrun_of(ledger);
  if (overrun.run_usd + overrun.goals_usd > 0 || overrun.tokens > 0) {
    std::snprintf(line, sizeof line,
                  "  overrun    $%.4f and %lu tokens past the limits (work in flight)\n",
                  overrun.run_usd + overrun.goals_usd, (unsigned long)overrun.tokens);
    out << line;
  }
  out << "  finished   " << core.finish_reason() << "\n";
  return out.str();
}

Result<ReportFigures> read_report_figures(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(std::string("cannot read: ") + std::strerror(errno), path);
  // task_attempts can be large and is not needed here: skipped while parsing.
  const json::parser_callback_t skip_attempts = [](int depth, json::parse_event_t event,
                                                   json& parsed) {
    return !(event == json::parse_event_t::key && depth == 1 && parsed == "task_attempts");
  };
  const json report = json::parse(in, skip_attempts, /*allow_exceptions=*/false);
  if (report.is_discarded() || !report.is_object())
    return make_error("not a JSON report", path);
  try {
    ReportFigures figures;
    figures.goals = report.at("goals").at("total").get<double>();
    figures.resolved = report.at("goals").at("resolved").get<double>();
    figures.escalated = report.at("goals").at("escalated").get<double>();
    figures.failed = report.at("goals").at("failed").get<double>();
    figures.resolved_correct = report.at("quality").at("resolved_correct").get<double>();
    figures.false_accepts = report.at("quality").at("false_accepts").get<double>();
    figures.tokens_in = report.at("cost").at("tokens_in").get<double>();
    figures.tokens_out = report.at("cost").at("tokens_out").get<double>();
    figures.usd = report.at("cost").at("usd").get<double>();
    const json& per_resolved = report.at("cost").at("usd_per_resolved");
    figures.usd_per_resolved = per_resolved.is_null() ? -1.0 : per_resolved.get<double>();
    figures.goal_p95_s = report.at("time").at("goal_p95_s").get<double>();
    return figures;
  } catch (const json::exception& e) {
    return make_error(std::string("not a cadre report: ") + e.what(), path);
  }
}

}  // namespace cadre::runtime
