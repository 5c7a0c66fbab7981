#include "cadre/runtime/replay_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

namespace cadre::runtime {
namespace {

using nlohmann::json;

constexpr const char* kAbsent = "(absent)";

// The key that names an element of a report array, if it has one: an agent's id, a task
// attempt's goal/task#attempt, a goal's id.
std::optional<std::string> element_key(const json& element) {
  if (!element.is_object()) return std::nullopt;
  if (auto id = element.find("id"); id != element.end() && id->is_string())
    return id->get<std::string>();
  auto goal = element.find("goal"), task = element.find("task"), attempt = element.find("attempt");
  if (goal != element.end() && task != element.end() && attempt != element.end() &&
      goal->is_string() && task->is_string())
    return goal->get<std::string>() + "/" + task->get<std::string>() + "#" + attempt->dump();
  return std::nullopt;
}

// The keys of every element, when every element has one and none repeats.
std::optional<std::vector<std::string>> element_keys(const json& array) {
  std::vector<std::string> keys;
  std::set<std::string> seen;
  for (const auto& element : array) {
    auto key = element_key(element);
    if (!key || !seen.insert(*key).second) return std::nullopt;
    keys.push_back(std::move(*key));
  }
  return keys;
}

// Walks two JSON documents side by side and records every leaf that differs.
class Comparison {
 public:
  Comparison(const std::vector<std::string>& skipped, std::vector<ReportMismatch>& out)
      : skipped_(skipped), out_(out) {}

  // `path` names the place for people ("agents[coder-1].tasks"); `pattern` is the same with
  // "[]" for every array element, to match report_fields_not_in_journal.
  void compare(const json* report, const json* replay, const std::string& path,
               const std::string& pattern) {
    if (std::find(skipped_.begin(), skipped_.end(), pattern) != skipped_.end()) return;
    if (report && replay && report->is_object() && replay->is_object()) {
      for (const auto& [key, value] : report->items()) {
        auto other = replay->find(key);
        compare(&value, other == replay->end() ? nullptr : &*other, join(path, key),
                join(pattern, key));
      }
      for (const auto& [key, value] : replay->items())
        if (!report->contains(key)) compare(nullptr, &value, join(path, key), join(pattern, key));
      return;
    }
    if (report && replay && report->is_array() && replay->is_array()) {
      compare_arrays(*report, *replay, path, pattern + "[]");
      return;
    }
    if (report && replay && *report == *replay) return;
    out_.push_back({path, report ? report->dump() : kAbsent, replay ? replay->dump() : kAbsent});
  }

 private:
  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  void compare_arrays(const json& report, const json& replay, const std::string& path,
                      const std::string& pattern) {
    auto report_keys = element_keys(report);
    auto replay_keys = element_keys(replay);
    if (report_keys && replay_keys) {
      // By key: an attempt missing from one side is one mismatch, not a shift of every later one.
      std::map<std::string, std::size_t> replay_at;
      for (std::size_t i = 0; i < replay_keys->size(); ++i) replay_at[(*replay_keys)[i]] = i;
      std::set<std::string> in_report;
      for (std::size_t i = 0; i < report_keys->size(); ++i) {
        const std::string& key = (*report_keys)[i];
        in_report.insert(key);
        auto other = replay_at.find(key);
        compare(&report[i], other == replay_at.end() ? nullptr : &replay[other->second],
                path + "[" + key + "]", pattern);
      }
      for (std::size_t i = 0; i < replay_keys->size(); ++i)
        if (!in_report.count((*replay_keys)[i]))
          compare(nullptr, &replay[i], path + "[" + (*replay_keys)[i] + "]", pattern);
      return;
    }
    const std::size_t n = std::max(report.size(), replay.size());
    for (std::size_t i = 0; i < n; ++i)
      compare(i < report.size() ? &report[i] : nullptr, i < replay.size() ? &replay[i] : nullptr,
              path + "[" + std::to_string(i) + "]", pattern);
  }

  const std::vector<std::string>& skipped_;
  std::vector<ReportMismatch>& out_;
};

// The lines of a goals.jsonl text as one array; fails naming the line that is not a goal.
Result<json> goal_lines_array(std::string_view text, const std::string& path) {
  json goals = json::array();
  std::istringstream in{std::string(text)};
  std::size_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.empty()) continue;
    json goal = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!goal.is_object() || !goal.contains("id") || !goal["id"].is_string())
      return make_error("line " + std::to_string(number) + " is not a goal (a JSON object with an id)",
                        path);
    goals.push_back(std::move(goal));
  }
  return goals;
}

}  // namespace

const std::vector<std::string>& report_fields_not_in_journal() {
  static const std::vector<std::string> fields = {
      "mode",          // the shell that ran it: live or sim
      "time.wall_s",   // the clock when the hub stopped, after its last record
      "time.real_s",   // sim: the wall clock the simulation took
      "messages",      // frames on the socket (sent, received, malformed, refused)
      "agents[].restarts",  // processes restarted by `cadre run`'s supervisor
  };
  return fields;
}

Result<RunFacts> read_shell_facts(std::string_view report_text, const std::string& path) {
  // task_attempts can be large and holds nothing of the shell's: skipped while parsing.
  const json::parser_callback_t skip_attempts = [](int depth, json::parse_event_t event,
                                                   json& parsed) {
    return !(event == json::parse_event_t::key && depth == 1 && parsed == "task_attempts");
  };
  const json report = json::parse(report_text, skip_attempts, /*allow_exceptions=*/false);
  if (report.is_discarded() || !report.is_object())
    return make_error("not a JSON report (damaged, or not a report.json)", path);
  try {
    RunFacts facts;
    facts.mode = report.at("mode").get<std::string>();
    facts.interrupted = report.at("interrupted").get<bool>();
    const json& time = report.at("time");
    facts.wall_s = time.at("wall_s").get<double>();
    if (auto real = time.find("real_s"); real != time.end()) facts.real_s = real->get<double>();
    const json& messages = report.at("messages");
    facts.messages.sent = messages.at("sent").get<std::uint64_t>();
    facts.messages.received = messages.at("received").get<std::uint64_t>();
    facts.messages.malformed = messages.at("malformed").get<std::uint64_t>();
    facts.messages.refused = messages.value("refused", std::uint64_t{0});
    for (const auto& agent : report.at("agents")) {
      const auto restarts = agent.value("restarts", std::uint32_t{0});
      if (restarts > 0) facts.agent_restarts[agent.at("id").get<std::string>()] = restarts;
    }
    return facts;
  } catch (const json::exception& e) {
    return make_error(std::string("not a cadre report: ") + e.what(), path);
  }
}

RunFacts replayed_run_facts(const HubCore& core, const ReplayResult& replayed,
                            const RunFacts& shell) {
  RunFacts facts = shell;
  facts.agent_pids = replayed.agent_pids;
  // The live hub records a stop with reason "interrupted" exactly when a signal stopped it.
  facts.interrupted = core.finished() && core.finish_reason() == "interrupted";
  return facts;
}

Result<std::vector<ReportMismatch>> compare_report_json(std::string_view report_text,
                                                        std::string_view replay_text,
                                                        const std::string& report_path) {
  const json report = json::parse(report_text, nullptr, /*allow_exceptions=*/false);
  if (report.is_discarded() || !report.is_object())
    return make_error("not a JSON report (damaged, or not a report.json)", report_path);
  const json replay = json::parse(replay_text, nullptr, /*allow_exceptions=*/false);
  if (replay.is_discarded() || !replay.is_object())
    return make_error("the replay's report is not a JSON object (a bug in cadre)");
  std::vector<ReportMismatch> mismatches;
  Comparison(report_fields_not_in_journal(), mismatches).compare(&report, &replay, "", "");
  return mismatches;
}

Result<std::vector<ReportMismatch>> compare_goal_lines(std::string_view report_text,
                                                       std::string_view replay_text,
                                                       const std::string& report_path) {
  auto report = goal_lines_array(report_text, report_path);
  if (!report.ok()) return report.error();
  auto replay = goal_lines_array(replay_text, "the replay's goals.jsonl");
  if (!replay.ok()) return replay.error();
  std::vector<ReportMismatch> mismatches;
  static const std::vector<std::string> nothing_skipped;
  Comparison(nothing_skipped, mismatches).compare(&*report, &*replay, "goals.jsonl", "goals.jsonl");
  return mismatches;
}

std::vector<GoalProgress> goal_progress(const HubCore& core) {
  const Ledger& ledger = core.ledger();
  std::vector<GoalProgress> goals;
  goals.reserve(ledger.goals().size());
  for (const auto& goal : ledger.goals()) {
    GoalProgress progress;
    progress.id = goal.spec.id;
    progress.outcome = outcome_name(goal.outcome);
    progress.reason = goal.reason;
    progress.planned = goal.planned;
    progress.awaiting_approval = goal.awaiting_approval;
    progress.results = goal.attempts;
    progress.tokens_in = goal.tokens_in;
    progress.tokens_out = goal.tokens_out;
    progress.usd = goal.usd;
    for (const auto& subtask : goal.subtasks)
      progress.subtasks.push_back(
          {subtask.plan.id, subtask_state_name(subtask.state), subtask.solve_attempts});
    goals.push_back(std::move(progress));
  }
  for (TaskId id = 0; id < ledger.task_count(); ++id) {
    const TaskRecord& task = ledger.task(id);
    if (task.state == TaskState::leased) ++goals[task.goal_index].tasks_running;
    else if (task.state == TaskState::queued) ++goals[task.goal_index].tasks_queued;
  }
  return goals;
}

}  // namespace cadre::runtime
