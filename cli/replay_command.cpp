// `cadre replay DIR`: the run in DIR rebuilt from its journal alone. The journal's records are
// fed to a fresh hub core made from the run's scenario (DIR/run.json names it); the report that
// core gives is compared field by field with DIR/report.json and DIR/goals.jsonl. With --until N
// only the first N records are fed, and every goal's state at that point is shown instead.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cadre/runtime/journal.h"
#include "cadre/runtime/replay.h"
#include "cadre/runtime/replay_report.h"
#include "cadre/runtime/report.h"
#include "commands.h"
#include "scenario_args.h"

namespace cadre::cli {
namespace {

using nlohmann::json;

Result<std::string> read_text(const std::string& path, const std::string& missing_hint) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error))
    return make_error("cannot read: no such file" + missing_hint, path);
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot read the file", path);
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error("cannot read the file", path);
  return text.str();
}

// The mode a report.json states, or "" when there is none to read.
std::string report_mode(const std::string& path) {
  auto text = read_text(path, "");
  if (!text.ok()) return "";
  auto facts = runtime::read_shell_facts(*text, path);
  return facts.ok() ? facts->mode : "";
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// The run's journal, whole: a file damaged in the middle is refused (its history has a hole); a
// torn last record (a hub killed mid-write) is dropped with a note on stderr.
Result<runtime::JournalContents> read_whole_journal(const std::string& dir) {
  const std::string path = dir + "/journal.jsonl";
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    if (report_mode(dir + "/report.json") == "sim")
      return make_error("a `cadre sim` run keeps no journal: its seed replays it. Run `cadre sim "
                        "SCENARIO --seed N` of the same scenario and seed again; it repeats the run "
                        "event for event (docs/simulation.md, \"Replaying a simulation\")",
                        dir);
    return make_error("no journal.jsonl here: not the folder of a run of `cadre run` or `cadre hub`",
                      dir);
  }
  auto contents = runtime::read_journal(path);
  if (!contents.ok()) return contents.error();
  if (contents->corrupt_middle)
    return make_error("the journal is damaged in the middle: the record at byte " +
                          std::to_string(contents->corrupt_offset) + " (after record " +
                          std::to_string(contents->records.size()) + ") is corrupt but " +
                          std::to_string(contents->intact_after) +
                          " intact records follow it; a replay would miss part of the run",
                      path);
  if (contents->torn_tail)
    std::cerr << "cadre: note: " << path << ": the last record is torn ("
              << contents->file_bytes - contents->valid_bytes << " bytes at byte "
              << contents->valid_bytes << ", a write cut short); replaying the "
              << contents->records.size() << " intact records\n";
  return contents;
}

void print_goal_outcomes(const std::string& goals_text) {
  std::printf("\n  %-22s %-10s %8s %8s %10s %10s %10s  %s\n", "goal", "outcome", "attempts",
              "results", "tokens in", "tokens out", "usd", "reason");
  std::istringstream in(goals_text);
  for (std::string line; std::getline(in, line);) {
    const json goal = json::parse(line, nullptr, false);
    if (!goal.is_object()) continue;
    std::printf("  %-22s %-10s %8s %8s %10s %10s %10.6f  %s\n",
                goal.value("id", "").c_str(), goal.value("outcome", "").c_str(),
                goal["attempts"].dump().c_str(), goal["results"].dump().c_str(),
                goal["tokens_in"].dump().c_str(), goal["tokens_out"].dump().c_str(),
                goal.value("usd", 0.0), goal.value("reason", "").c_str());
  }
}

void print_mismatches(const std::vector<runtime::ReportMismatch>& mismatches) {
  std::printf("  %-44s %-24s %s\n", "field", "report", "replay");
  for (const auto& m : mismatches)
    std::printf("  %-44s %-24s %s\n", m.field.c_str(), m.report.c_str(), m.replay.c_str());
}

// --until: every goal's state after the first `records` records.
int show_state_at(const std::string& dir, const runtime::JournalContents& journal,
                  const runtime::HubCore& core, const runtime::ReplayResult& replayed,
                  bool as_json) {
  const std::uint64_t records = replayed.records;
  std::string event;
  if (records > 0) {
    const json last = json::parse(journal.records[records - 1].json, nullptr, false);
    if (last.is_object()) event = last.value("ev", "");
  }
  const bool started = core.started();
  const double t_s = started ? runtime::us_to_seconds(replayed.last_t - core.started_at()) : 0.0;
  const auto goals = runtime::goal_progress(core);
  const runtime::Ledger& ledger = core.ledger();

  if (as_json) {
    json out = {{"dir", dir},
                {"records", records},
                {"journal_records", journal.records.size()},
                {"event", event},
                {"t_s", started ? json(t_s) : json(nullptr)},
                {"finished", core.finished()},
                {"finish_reason", core.finish_reason()}};
    json list = json::array();
    for (const auto& goal : goals) {
      json subtasks = json::array();
      for (const auto& s : goal.subtasks)
        subtasks.push_back({{"id", s.id}, {"state", s.state}, {"attempts", s.attempts}});
      json entry = {{"id", goal.id},
                    {"outcome", goal.outcome},
                    {"planned", goal.planned},
                    {"awaiting_approval", goal.awaiting_approval},
                    {"results", goal.results},
                    {"tasks_running", goal.tasks_running},
                    {"tasks_queued", goal.tasks_queued},
                    {"tokens_in", goal.tokens_in},
                    {"tokens_out", goal.tokens_out},
                    {"usd", goal.usd},
                    {"subtasks", subtasks}};
      if (!goal.reason.empty()) entry["reason"] = goal.reason;
      list.push_back(std::move(entry));
    }
    out["goals"] = std::move(list);
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }

  // Goals by outcome: the usual four always shown, any other outcome the ledger has after them.
  std::vector<std::pair<std::string, std::size_t>> by_outcome = {
      {"open", 0}, {"resolved", 0}, {"escalated", 0}, {"failed", 0}};
  for (const auto& goal : goals) {
    auto it = std::find_if(by_outcome.begin(), by_outcome.end(),
                           [&](const auto& entry) { return entry.first == goal.outcome; });
    if (it == by_outcome.end()) by_outcome.push_back({goal.outcome, 1});
    else ++it->second;
  }
  std::string goal_counts;
  for (const auto& [outcome, count] : by_outcome)
    goal_counts += (goal_counts.empty() ? "" : ", ") + std::to_string(count) + " " + outcome;
  std::printf("\n  %s: state after journal record %llu of %zu", ledger.scenario().name.c_str(),
              static_cast<unsigned long long>(records), journal.records.size());
  if (records == 0) std::printf(" (nothing replayed)\n");
  else if (started) std::printf(" (t = %.3f s, event \"%s\")\n", t_s, event.c_str());
  else std::printf(" (before the run's start; event \"%s\")\n", event.c_str());
  std::printf("  ------------------------------------------------------------\n");
  std::printf("  goals      %s\n", goal_counts.c_str());
  const runtime::TaskCounters& counters = ledger.counters();
  std::printf("  tasks      %llu dispatched, %llu completed, %llu requeued\n",
              static_cast<unsigned long long>(counters.dispatched),
              static_cast<unsigned long long>(counters.completed),
              static_cast<unsigned long long>(counters.requeued));
  std::printf("  cost       %llu tokens in, %llu out, $%.4f\n",
              static_cast<unsigned long long>(ledger.tokens_in()),
              static_cast<unsigned long long>(ledger.tokens_out()), ledger.usd());
  if (core.finished()) std::printf("  finished   %s\n", core.finish_reason().c_str());

  std::printf("\n  %-22s %-10s %7s %7s %6s  %s\n", "goal", "state", "results", "running",
              "queued", "subtasks: state (solve attempts)");
  for (const auto& goal : goals) {
    std::string subtasks;
    if (!goal.planned && goal.subtasks.empty()) subtasks = "(not planned yet)";
    for (const auto& s : goal.subtasks)
      subtasks += (subtasks.empty() ? "" : ", ") + s.id + " " + s.state + " (" +
                  std::to_string(s.attempts) + ")";
    if (goal.awaiting_approval) subtasks += "; awaiting approval";
    if (!goal.reason.empty()) subtasks += "; reason: " + goal.reason;
    std::printf("  %-22s %-10s %7u %7u %6u  %s\n", goal.id.c_str(), goal.outcome.c_str(),
                goal.results, goal.tasks_running, goal.tasks_queued, subtasks.c_str());
  }
  std::printf("\n");
  return kExitOk;
}

}  // namespace

int replay_command(const ReplayArgs& args) {
  const std::string& dir = args.dir;
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) {
    print_error(dir + ": not a folder (give the output folder of a run)");
    return kExitBadInput;
  }
  auto journal = read_whole_journal(dir);
  if (!journal.ok()) {
    print_error(journal.error().to_string());
    return kExitBadInput;
  }
  const std::uint64_t total = journal->records.size();
  if (args.until > static_cast<long long>(total)) {
    print_error("--until " + std::to_string(args.until) + ": the journal " + dir +
                "/journal.jsonl has only " + std::to_string(total) + " records");
    return kExitBadInput;
  }
  auto run = read_run_record(dir);
  if (!run.ok()) {
    print_error("cannot replay: " + run.error().to_string());
    return kExitBadInput;
  }
  auto scenario = load_from_args(*run);
  if (!scenario.ok()) {
    print_error("cannot replay: the run's scenario: " + scenario.error().to_string());
    return kExitBadInput;
  }

  // What the run wrote, read before replaying so a missing report is said before any work.
  const bool comparing = args.until < 0;
  const std::string report_path = dir + "/report.json";
  const std::string goals_path = dir + "/goals.jsonl";
  std::string report_text, goals_text;
  runtime::RunFacts shell;
  if (comparing) {
    const std::string no_report =
        " (a run stopped before its end writes none: `cadre run --resume " + dir +
        "` finishes it; `cadre replay " + dir + " --until N` shows its state at any record)";
    auto report = read_text(report_path, no_report);
    if (!report.ok()) {
      print_error(report.error().to_string());
      return kExitBadInput;
    }
    auto facts = runtime::read_shell_facts(*report, report_path);
    if (!facts.ok()) {
      print_error(facts.error().to_string());
      return kExitBadInput;
    }
    auto goals = read_text(goals_path, no_report);
    if (!goals.ok()) {
      print_error(goals.error().to_string());
      return kExitBadInput;
    }
    report_text = std::move(*report);
    goals_text = std::move(*goals);
    shell = std::move(*facts);
  }

  runtime::HubCore core(*scenario);
  auto replayed = runtime::replay_journal(
      journal->records, core,
      comparing ? std::nullopt : std::optional<std::uint64_t>(static_cast<std::uint64_t>(args.until)));
  if (!replayed.ok()) {
    print_error(dir + "/journal.jsonl: " + replayed.error().message);
    return kExitBadInput;
  }
  if (!comparing) return show_state_at(dir, *journal, core, *replayed, args.json);

  const runtime::RunFacts facts = runtime::replayed_run_facts(core, *replayed, shell);
  const std::string replay_report = runtime::report_json(core, facts);
  const std::string replay_goals = runtime::goals_jsonl(core);
  auto report_mismatches = runtime::compare_report_json(report_text, replay_report, report_path);
  if (!report_mismatches.ok()) {
    print_error(report_mismatches.error().to_string());
    return kExitBadInput;
  }
  auto goal_mismatches = runtime::compare_goal_lines(goals_text, replay_goals, goals_path);
  if (!goal_mismatches.ok()) {
    print_error(goal_mismatches.error().to_string());
    return kExitBadInput;
  }
  std::vector<runtime::ReportMismatch> mismatches = std::move(*report_mismatches);
  mismatches.insert(mismatches.end(), goal_mismatches->begin(), goal_mismatches->end());
  const auto& not_compared = runtime::report_fields_not_in_journal();

  if (args.json) {
    const json::parser_callback_t skip_attempts = [](int depth, json::parse_event_t event,
                                                     json& parsed) {
      return !(event == json::parse_event_t::key && depth == 1 && parsed == "task_attempts");
    };
    json goals = json::array();
    std::istringstream lines(replay_goals);
    for (std::string line; std::getline(lines, line);) goals.push_back(json::parse(line));
    json list = json::array();
    for (const auto& m : mismatches)
      list.push_back({{"field", m.field}, {"report", m.report}, {"replay", m.replay}});
    const json out = {{"dir", dir},
                      {"journal_records", total},
                      {"matches", mismatches.empty()},
                      {"mismatches", list},
                      {"not_compared", not_compared},
                      {"summary", json::parse(replay_report, skip_attempts)},
                      {"goals", goals}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << runtime::summary_table(core, facts);
    std::printf("  (%s: as report.json states them; the journal does not hold them)\n",
                joined(not_compared).c_str());
    print_goal_outcomes(replay_goals);
    std::printf("\n  replayed   %llu journal records of %s/journal.jsonl\n",
                static_cast<unsigned long long>(total), dir.c_str());
    std::printf("  compared   every field of report.json (task_attempts included) and goals.jsonl "
                "but %s\n", joined(not_compared).c_str());
    if (mismatches.empty()) {
      std::printf("  replay matches report.json\n\n");
    } else {
      std::printf("  replay does NOT match: %zu field%s differ%s\n\n", mismatches.size(),
                  mismatches.size() == 1 ? "" : "s", mismatches.size() == 1 ? "s" : "");
      print_mismatches(mismatches);
      std::printf("\n");
    }
  }
  std::cout.flush();
  if (!mismatches.empty()) {
    print_error("the replay of " + dir + "/journal.jsonl does not match " + report_path + " (" +
                std::to_string(mismatches.size()) + " field" +
                (mismatches.size() == 1 ? "" : "s") + " differ)");
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace cadre::cli
