#include "cadre/runtime/hub_views.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

namespace cadre::runtime {
namespace {

using nlohmann::json;

// Candidate texts can be long; a view carries the start of each (the journal has them whole).
constexpr std::size_t kMaxTextInView = 16 * 1024;

std::string clipped(const std::string& text) {
  if (text.size() <= kMaxTextInView) return text;
  return text.substr(0, kMaxTextInView) + "\n[... " + std::to_string(text.size() - kMaxTextInView) +
         " more bytes]";
}

double seconds3(TimeUs us) { return std::round(us_to_seconds(us) * 1000.0) / 1000.0; }

std::string dump(const json& document) {
  // Agents' text may hold invalid UTF-8; a view replaces it rather than failing.
  return document.dump(-1, ' ', false, json::error_handler_t::replace);
}

json files_of(const std::vector<roles::FileEdit>& files) {
  json out = json::array();
  for (const auto& file : files)
    out.push_back({{"path", file.path}, {"bytes", file.content.size()}, {"content", clipped(file.content)}});
  return out;
}

// Tasks the inbox holds, in dispatch order.
std::vector<TaskId> inbox_tasks(const HubCore& core) {
  std::vector<TaskId> held;
  for (const auto& agent : core.scheduler().agents())
    if (agent.id == kInboxAgentId) held.assign(agent.held.begin(), agent.held.end());
  std::sort(held.begin(), held.end());
  return held;
}

const GoalRecord* find_goal(const Ledger& ledger, const std::string& id) {
  for (const auto& goal : ledger.goals())
    if (goal.spec.id == id) return &goal;
  return nullptr;
}

std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& word : words) out += (out.empty() ? "" : ", ") + word;
  return out.empty() ? "none" : out;
}

}  // namespace

std::string candidate_id(const std::string& subtask_id, std::uint32_t attempt) {
  return subtask_id + "/" + std::to_string(attempt);
}

std::string status_view(const HubCore& core, const std::map<std::string, TimeUs>& last_seen,
                        TimeUs now) {
  const Ledger& ledger = core.ledger();
  std::uint64_t open = 0, resolved = 0, escalated = 0, failed = 0, stopped = 0, awaiting = 0,
                with_human = 0;
  for (const auto& goal : ledger.goals()) {
    switch (goal.outcome) {
      case GoalOutcome::none: ++open; break;
      case GoalOutcome::resolved: ++resolved; break;
      case GoalOutcome::escalated: ++escalated; break;
      case GoalOutcome::failed: ++failed; break;
      case GoalOutcome::stopped_by_budget: ++stopped; break;
    }
    if (goal.outcome != GoalOutcome::none) continue;
    if (goal.awaiting_approval) ++awaiting;
    for (const auto& subtask : goal.subtasks)
      if (subtask.state == SubtaskState::escalated) ++with_human;
  }
  std::uint64_t leased = 0;
  json agents = json::array();
  for (const auto& agent : core.scheduler().agents()) {
    json tasks = json::array();
    for (TaskId id : agent.held) {
      tasks.push_back(ledger.key_of(id).to_string());
    }
    leased += agent.held.size();
    json entry = {{"id", agent.id},
                  {"role", agent.role},
                  {"model", agent.model},
                  {"state", !agent.present ? "gone" : agent.held.empty() ? "idle" : "busy"},
                  {"capacity", agent.capacity},
                  {"tasks", tasks},
                  {"tasks_completed", agent.tasks_completed},
                  {"person", agent.person}};
    auto seen = last_seen.find(agent.id);
    entry["heartbeat_age_s"] = seen != last_seen.end() && agent.present
                                   ? json(seconds3(std::max<TimeUs>(0, now - seen->second)))
                                   : json(nullptr);
    agents.push_back(std::move(entry));
  }
  const TaskCounters& counters = ledger.counters();
  json view = {
      {"scenario", ledger.scenario().name},
      {"elapsed_s", core.started_at() > 0 || ledger.task_count() > 0
                        ? seconds3(std::max<TimeUs>(0, now - core.started_at()))
                        : 0.0},
      {"finished", core.finished()},
      {"finish_reason", core.finish_reason()},
      {"goals",
       {{"total", ledger.goals().size()},
        {"open", open},
        {"resolved", resolved},
        {"escalated", escalated},
        {"failed", failed},
        {"stopped_by_budget", stopped},
        {"awaiting_approval", awaiting},
        {"subtasks_with_a_human", with_human}}},
      {"tasks",
       {{"queued", core.scheduler().waiting_total()},
        {"running", leased},
        {"dispatched", counters.dispatched},
        {"completed", counters.completed},
        {"requeued", counters.requeued}}},
      {"cost",
       {{"usd", ledger.usd()}, {"tokens_in", ledger.tokens_in()}, {"tokens_out", ledger.tokens_out()}}},
      {"agents", agents},
  };
  return dump(view);
}

std::string inbox_view(const HubCore& core, bool has_inbox, TimeUs now) {
  const Ledger& ledger = core.ledger();
  json items = json::array();
  for (TaskId id : inbox_tasks(core)) {
    const TaskRecord& task = ledger.task(id);
    const GoalRecord& goal = ledger.goals()[task.goal_index];
    json item = {{"goal", goal.spec.id},
                 {"goal_title", goal.spec.title},
                 {"item", ledger.task_id_of(id)},
                 {"kind", roles::task_kind_name(task.kind)},
                 {"waiting_s", seconds3(std::max<TimeUs>(0, now - task.leased_at))}};
    json candidates = json::array();
    if (task.kind == roles::TaskKind::resolve) {
      const SubtaskRecord& subtask = goal.subtasks[task.subtask_index];
      item["subtask"] = {{"id", subtask.plan.id},
                         {"title", subtask.plan.title},
                         {"instructions", subtask.plan.instructions},
                         {"rounds", subtask.round + 1}};
      item["feedback"] = subtask.feedback;
      for (const auto& c : subtask.round_candidates) {
        if (!c.candidate) continue;  // the coder failed: nothing to accept
        json entry = {{"id", candidate_id(subtask.plan.id, c.attempt)},
                      {"content", clipped(c.candidate->content)},
                      {"files", files_of(c.candidate->files)}};
        if (c.verdict)
          entry["critic"] = {{"accept", c.verdict->accept},
                             {"score", c.verdict->score},
                             {"feedback", c.verdict->feedback}};
        if (c.verified) {
          entry["verified"] = *c.verified;
          entry["verify_output"] = clipped(c.verify_output);
        }
        candidates.push_back(std::move(entry));
      }
      item["actions"] = {"accept CANDIDATE", "answer TEXT", "reject [REASON]"};
    } else if (task.kind == roles::TaskKind::approve) {
      json subtasks = json::array();
      for (const auto& subtask : goal.subtasks)
        if (subtask.state != SubtaskState::replaced)  // its parts stand for it
        subtasks.push_back({{"id", subtask.plan.id},
                            {"title", subtask.plan.title},
                            {"by", subtask.state == SubtaskState::resolved_by_human ? "human" : "team"}});
      item["subtasks"] = subtasks;
      item["cost_usd"] = goal.usd;
      roles::TaskAssignment sent;  // what the person was sent: the team's work
      fill_assignment(ledger, id, sent);
      if (sent.candidate)
        candidates.push_back({{"id", kTeamCandidateId},
                              {"content", clipped(sent.candidate->content)},
                              {"files", files_of(sent.candidate->files)}});
      item["actions"] = {"accept team", "answer TEXT", "reject [REASON]"};
    }
    item["candidates"] = candidates;
    items.push_back(std::move(item));
  }
  return dump(json{{"scenario", ledger.scenario().name},
                   {"has_inbox", has_inbox},
                   {"finished", core.finished()},
                   {"items", items}});
}

Result<roles::TaskOutcome> inbox_decision(const HubCore& core, const roles::Decision& decision,
                                          TimeUs now) {
  const Ledger& ledger = core.ledger();
  const GoalRecord* goal = find_goal(ledger, decision.goal_id);
  if (goal == nullptr) return make_error("no goal " + decision.goal_id + " in this run");
  std::vector<TaskId> items;
  std::vector<std::string> item_names;
  for (TaskId id : inbox_tasks(core)) {
    if (ledger.task(id).goal_index != goal->index) continue;
    if (!decision.item.empty() && ledger.task_id_of(id) != decision.item) continue;
    items.push_back(id);
  }
  for (TaskId id : inbox_tasks(core))
    if (ledger.task(id).goal_index == goal->index)
      item_names.emplace_back(ledger.task_id_of(id));
  if (items.empty()) {
    if (goal->outcome != GoalOutcome::none)
      return make_error("goal " + goal->spec.id + " has already ended (" +
                        outcome_name(goal->outcome) + ")");
    return make_error("nothing of goal " + goal->spec.id + " waits in the inbox" +
                      (decision.item.empty() ? std::string()
                                             : " as item " + decision.item) +
                      " (waiting: " + join_words(item_names) + ")");
  }
  if (items.size() > 1)
    return make_error("goal " + goal->spec.id + " has " + std::to_string(items.size()) +
                      " items waiting; name one with --item (" + join_words(item_names) + ")");
  const TaskRecord& task = ledger.task(items.front());
  roles::TaskOutcome outcome;
  outcome.goal_id = goal->spec.id;
  outcome.task_id = ledger.task_id_of(items.front());
  outcome.attempt = task.attempt;
  outcome.model = "human";
  outcome.brain_s = us_to_seconds(std::max<TimeUs>(0, now - task.leased_at));
  const std::string who = decision.by.empty() ? "a person" : decision.by;

  if (decision.action == "answer") {
    if (decision.answer.empty()) return make_error("answer: the answer text is empty");
    outcome.candidate = roles::Candidate{decision.answer, std::nullopt, {}};
    return outcome;
  }
  if (decision.action == "reject") {
    outcome.verdict = roles::Verdict{false, 0.0,
                                     decision.reason.empty() ? "rejected by " + who : decision.reason};
    return outcome;
  }
  if (decision.action != "accept")
    return make_error("unknown action '" + decision.action + "' (accept, answer or reject)");

  if (task.kind == roles::TaskKind::approve) {
    if (decision.candidate != kTeamCandidateId)
      return make_error("goal " + goal->spec.id + " awaits approval of the team's work: accept '" +
                        kTeamCandidateId + "', not '" + decision.candidate + "'");
    outcome.verdict = roles::Verdict{true, 1.0, "approved by " + who};
    return outcome;
  }
  const SubtaskRecord& subtask = goal->subtasks[task.subtask_index];
  std::vector<std::string> valid;
  for (const auto& c : subtask.round_candidates) {
    if (!c.candidate) continue;
    const std::string id = candidate_id(subtask.plan.id, c.attempt);
    valid.push_back(id);
    if (id != decision.candidate) continue;
    outcome.candidate = *c.candidate;
    return outcome;
  }
  return make_error("no candidate '" + decision.candidate + "' for " + goal->spec.id + "/" +
                    subtask.plan.id + " (candidates: " + join_words(valid) + ")");
}

}  // namespace cadre::runtime
