#include "cadre/runtime/ledger.h"

#include <charconv>
#include <utility>

namespace cadre::runtime {

const char* outcome_name(GoalOutcome outcome) {
  switch (outcome) {
    case GoalOutcome::none: return "open";
    case GoalOutcome::resolved: return "resolved";
    case GoalOutcome::escalated: return "escalated";
    case GoalOutcome::failed: return "failed";
  }
  return "?";
}

const char* span_end_name(SpanEnd how) {
  switch (how) {
    case SpanEnd::open: return "open";
    case SpanEnd::answered: return "answered";
    case SpanEnd::cancelled: return "cancelled";
    case SpanEnd::lost: return "lost";
  }
  return "?";
}

void LatencyHistogram::observe(TimeUs latency) {
  const double seconds = us_to_seconds(latency < 0 ? 0 : latency);
  std::size_t bucket = 0;
  while (bucket < kBuckets && seconds > kBoundsS[bucket]) ++bucket;
  ++counts[bucket];
  ++count;
  sum_s += seconds;
}

void Ledger::open_span(TaskId task, const std::string& agent_id, TimeUs now) {
  tasks_[task].open_spans.push_back(static_cast<std::uint32_t>(spans_.size()));
  spans_.push_back(DispatchSpan{task, agent_id, now, -1, SpanEnd::open});
}

void Ledger::close_span(TaskId task, const std::string& agent_id, SpanEnd how, TimeUs now) {
  auto& open = tasks_[task].open_spans;
  for (auto it = open.begin(); it != open.end(); ++it) {
    DispatchSpan& span = spans_[*it];
    if (span.agent_id != agent_id) continue;
    span.end = now;
    span.how = how;
    open.erase(it);
    return;
  }
}

std::string TaskKey::to_string() const {
  return goal_id + "/" + task_id + "#" + std::to_string(attempt);
}

Ledger::Ledger(const Scenario& scenario) : scenario_(scenario) {
  goals_.reserve(scenario_.goals.size());
  for (std::uint32_t i = 0; i < scenario_.goals.size(); ++i) {
    GoalRecord goal;
    goal.spec = scenario_.goals[i];
    goal.index = i;
    goals_.push_back(std::move(goal));
  }
  open_goals_ = goals_.size();
}

std::string Ledger::key_string(const std::string& goal_id, const std::string& task_id,
                               std::uint32_t attempt) {
  std::string key;
  key.reserve(goal_id.size() + task_id.size() + 12);
  key.append(goal_id).push_back('\x1f');
  key.append(task_id).push_back('\x1f');
  key.append(std::to_string(attempt));
  return key;
}

TaskId Ledger::add_task(roles::TaskAssignment assignment, std::uint32_t goal_index,
                        std::uint32_t subtask_index) {
  const auto id = static_cast<TaskId>(tasks_.size());
  task_by_key_.emplace(key_string(assignment.goal_id, assignment.task_id, assignment.attempt),
                       id);
  TaskRecord record;
  record.assignment = std::move(assignment);
  record.goal_index = goal_index;
  record.subtask_index = subtask_index;
  tasks_.push_back(std::move(record));
  return id;
}

namespace {

constexpr std::uint64_t kFnvOffset = 14695981039346656037ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;

std::uint64_t fnv(std::uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) h = (h ^ c) * kFnvPrime;
  return h;
}

// The decimal digits of `n` (as std::to_string writes them) into `buffer`.
std::string_view digits(std::uint32_t n, char (&buffer)[16]) {
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, n);
  (void)ec;
  return std::string_view(buffer, static_cast<std::size_t>(end - buffer));
}

}  // namespace

std::size_t Ledger::KeyHash::operator()(std::string_view key) const {
  return static_cast<std::size_t>(fnv(kFnvOffset, key));
}

std::size_t Ledger::KeyHash::operator()(const KeyParts& key) const {
  char buffer[16];
  std::uint64_t h = fnv(kFnvOffset, key.goal);
  h = fnv(h, "\x1f");
  h = fnv(h, key.task);
  h = fnv(h, "\x1f");
  return static_cast<std::size_t>(fnv(h, digits(key.attempt, buffer)));
}

bool Ledger::KeyEqual::operator()(const KeyParts& parts, std::string_view key) const {
  char buffer[16];
  const std::string_view attempt = digits(parts.attempt, buffer);
  if (key.size() != parts.goal.size() + parts.task.size() + attempt.size() + 2) return false;
  return key.substr(0, parts.goal.size()) == parts.goal && key[parts.goal.size()] == '\x1f' &&
         key.substr(parts.goal.size() + 1, parts.task.size()) == parts.task &&
         key[parts.goal.size() + 1 + parts.task.size()] == '\x1f' &&
         key.substr(key.size() - attempt.size()) == attempt;
}

std::optional<TaskId> Ledger::find_task(const std::string& goal_id, const std::string& task_id,
                                        std::uint32_t attempt) const {
  auto it = task_by_key_.find(KeyParts{goal_id, task_id, attempt});
  if (it == task_by_key_.end()) return std::nullopt;
  return it->second;
}

double Ledger::charge(std::uint32_t goal_index, const roles::TaskOutcome& outcome) {
  double usd = 0.0;
  auto price = scenario_.pricing.models.find(outcome.model);
  if (price != scenario_.pricing.models.end()) {
    usd = (static_cast<double>(outcome.tokens_in) * price->second.usd_per_mtok_in +
           static_cast<double>(outcome.tokens_out) * price->second.usd_per_mtok_out) /
          1e6;
  } else if (outcome.tokens_in + outcome.tokens_out > 0) {
    ++unpriced_results_;
  }
  GoalRecord& goal = goals_[goal_index];
  goal.tokens_in += outcome.tokens_in;
  goal.tokens_out += outcome.tokens_out;
  goal.usd += usd;
  ++goal.attempts;
  tokens_in_ += outcome.tokens_in;
  tokens_out_ += outcome.tokens_out;
  usd_ += usd;
  return usd;
}

void Ledger::charge_usd(std::uint32_t goal_index, double usd) {
  goals_[goal_index].usd += usd;
  usd_ += usd;
}

void Ledger::finish_goal(std::uint32_t goal_index, GoalOutcome outcome, TimeUs now,
                         std::string reason) {
  GoalRecord& goal = goals_[goal_index];
  goal.outcome = outcome;
  goal.finished_at = now;
  goal.reason = std::move(reason);
  --open_goals_;
}

}  // namespace cadre::runtime
