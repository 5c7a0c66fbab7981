#include "cadre/runtime/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace cadre::runtime {
namespace {

// A sample (or `le`) value: the shortest digits that read back the same, in plain decimals for
// ordinary magnitudes ("0.0001", "10", "2.5") and in exponent form only beyond them.
std::string number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  const double magnitude = std::fabs(value);
  const bool plain = value == 0 || (magnitude >= 1e-6 && magnitude < 1e15);
  const auto result =
      plain ? std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed)
            : std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}
std::string number(std::uint64_t value) { return std::to_string(value); }

// HELP text escaping: backslash and newline.
std::string escape_help(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

using Labels = std::vector<std::pair<const char*, std::string>>;

class Writer {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape_help(help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(const std::string& name, const Labels& labels, const std::string& value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i > 0) out_ += ',';
        out_ += labels[i].first;
        out_ += "=\"";
        out_ += prometheus_escape_label(labels[i].second);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  // A family of one unlabelled sample.
  void single(const char* name, const char* type, const char* help, const std::string& value) {
    family(name, type, help);
    sample(name, {}, value);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

struct RoleAgents {
  std::uint64_t idle = 0, busy = 0, gone = 0;
  std::uint64_t capacity = 0;  // of the present agents
};

}  // namespace

std::string prometheus_escape_label(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string prometheus_text(const HubCore& core, const MessageStats& messages, TimeUs now) {
  const Ledger& ledger = core.ledger();
  const Scheduler& scheduler = core.scheduler();
  Writer w;

  // Goals.
  std::uint64_t by_outcome[5] = {0, 0, 0, 0, 0};  // indexed by GoalOutcome
  for (const GoalRecord& goal : ledger.goals()) ++by_outcome[static_cast<int>(goal.outcome)];
  w.family("cadre_goals", "gauge",
           "Goals of the run by state: open, resolved, escalated (ended with a human), failed, "
           "stopped_by_budget (ended by a limit).");
  const std::pair<const char*, GoalOutcome> states[] = {{"open", GoalOutcome::none},
                                                        {"resolved", GoalOutcome::resolved},
                                                        {"escalated", GoalOutcome::escalated},
                                                        {"failed", GoalOutcome::failed},
                                                        {"stopped_by_budget",
                                                         GoalOutcome::stopped_by_budget}};
  for (const auto& [state, outcome] : states)
    w.sample("cadre_goals", {{"state", state}}, number(by_outcome[static_cast<int>(outcome)]));
  w.single("cadre_goals_in_run", "gauge", "Goals in the run, whatever their state.",
           number(static_cast<std::uint64_t>(ledger.goals().size())));

  // Tasks.
  const TaskCounters& tasks = ledger.counters();
  w.single("cadre_tasks_dispatched_total", "counter",
           "Task dispatches to agents, a task offered again after its lease expired included.",
           number(tasks.dispatched));
  w.single("cadre_tasks_completed_total", "counter", "Results accepted.", number(tasks.completed));
  w.single("cadre_tasks_requeued_total", "counter",
           "Tasks put back in their queue because a lease expired or the holder left.",
           number(tasks.requeued));
  w.single("cadre_tasks_duplicates_ignored_total", "counter",
           "Results ignored: a duplicate, or from an agent never given the task.",
           number(tasks.duplicates_ignored));
  w.single("cadre_tasks_failed_attempts_total", "counter",
           "Results that reported a failed attempt (ok = false).", number(tasks.failed_attempts));
  w.single("cadre_tasks_queued", "gauge", "Tasks waiting in their role's queue for a free agent.",
           number(static_cast<std::uint64_t>(scheduler.waiting_total())));

  // Messages.
  w.single("cadre_messages_sent_total", "counter", "Messages the hub sent to agents.",
           number(messages.sent));
  w.single("cadre_messages_received_total", "counter", "Messages the hub received from agents.",
           number(messages.received));
  w.single("cadre_messages_malformed_total", "counter",
           "Frames received that did not decode, or whose bodies did not.",
           number(messages.malformed));
  w.single("cadre_connections_refused_total", "counter",
           "Connections refused by authentication (CURVE/ZAP).", number(messages.refused));

  // Agents: every role of the team and every role an agent joined with, sorted.
  std::map<std::string, RoleAgents> roles;
  for (const TeamEntry& entry : ledger.scenario().team) roles[entry.role];
  for (const AgentRecord& agent : scheduler.agents()) {
    RoleAgents& role = roles[agent.role];
    if (!agent.present) {
      ++role.gone;
      continue;
    }
    ++(agent.held.empty() ? role.idle : role.busy);
    role.capacity += agent.capacity;
  }
  w.family("cadre_agents", "gauge",
           "Agents by role and state: idle (present, holds no task), busy (present, holds at "
           "least one task), gone (left and not back).");
  for (const auto& [role, counts] : roles) {
    w.sample("cadre_agents", {{"role", role}, {"state", "idle"}}, number(counts.idle));
    w.sample("cadre_agents", {{"role", role}, {"state", "busy"}}, number(counts.busy));
    w.sample("cadre_agents", {{"role", role}, {"state", "gone"}}, number(counts.gone));
  }
  w.family("cadre_agent_capacity", "gauge",
           "Tasks the present agents of a role can hold at once (sum of their capacities).");
  for (const auto& [role, counts] : roles)
    w.sample("cadre_agent_capacity", {{"role", role}}, number(counts.capacity));

  // Cost.
  w.family("cadre_tokens_total", "counter",
           "Tokens of accepted results, by direction: in (prompt), out (completion).");
  w.sample("cadre_tokens_total", {{"direction", "in"}}, number(ledger.tokens_in()));
  w.sample("cadre_tokens_total", {{"direction", "out"}}, number(ledger.tokens_out()));
  w.single("cadre_cost_usd_total", "counter",
           "Cost in USD so far: priced tokens of accepted results and human escalations.",
           number(ledger.usd()));

  // Dispatch latency: cumulative buckets; +Inf and _count are the total over every bucket.
  const LatencyHistogram& latency = ledger.dispatch_latency();
  w.family("cadre_dispatch_latency_seconds", "histogram",
           "Time from a task entering its role's queue to its dispatch to an agent.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
    cumulative += latency.counts[i];
    w.sample("cadre_dispatch_latency_seconds_bucket",
             {{"le", number(LatencyHistogram::kBoundsS[i])}}, number(cumulative));
  }
  cumulative += latency.counts[LatencyHistogram::kBuckets];
  w.sample("cadre_dispatch_latency_seconds_bucket", {{"le", "+Inf"}}, number(cumulative));
  w.sample("cadre_dispatch_latency_seconds_sum", {}, number(latency.sum_s));
  w.sample("cadre_dispatch_latency_seconds_count", {}, number(cumulative));

  TimeUs elapsed = 0;
  if (core.started()) elapsed = (core.finished() ? core.last_event_at() : now) - core.started_at();
  w.single("cadre_run_elapsed_seconds", "gauge",
           "Seconds since the run started; frozen at its last event once finished; 0 before.",
           number(us_to_seconds(elapsed < 0 ? 0 : elapsed)));
  w.single("cadre_run_finished", "gauge", "1 once the run has finished, else 0.",
           core.finished() ? "1" : "0");
  return w.take();
}

}  // namespace cadre::runtime
