#include "cadre/runtime/replay.h"

#include "journal_events.h"

#include <nlohmann/json.hpp>
#include <limits>
#include <set>
#include <stdexcept>
#include <tuple>

namespace cadre::runtime {
namespace {

using nlohmann::json;

// Field readers that throw json exceptions on a wrong type; replay_journal turns them into an
// error naming the record.
std::string text(const json& j, const char* key) { return j.at(key).get<std::string>(); }
std::string text_or(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? std::string() : it->get<std::string>();
}
// A whole number in [0, max]; anything else (a float, a negative, too large) is an error, never a
// silent conversion.
template <typename T>
T whole(const json& j, const char* key) {
  const json& v = j.at(key);
  if (!v.is_number_integer() || (v.is_number_unsigned() ? v.get<std::uint64_t>() > std::numeric_limits<T>::max()
                                                         : v.get<std::int64_t>() < 0 ||
                                                               static_cast<std::uint64_t>(v.get<std::int64_t>()) > std::numeric_limits<T>::max()))
    throw std::out_of_range(std::string("field '") + key + "' is not a whole number in range");
  return v.is_number_unsigned() ? static_cast<T>(v.get<std::uint64_t>()) : static_cast<T>(v.get<std::int64_t>());
}
double number_or(const json& j, const char* key, double fallback) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? fallback : it->get<double>();
}

std::vector<roles::FileEdit> read_files(const json& files) {
  std::vector<roles::FileEdit> out;
  for (const auto& file : files) out.push_back({text(file, "path"), text(file, "content")});
  return out;
}

// The reader of journal_events.h's outcome_record.
roles::TaskOutcome read_outcome_record(const json& r) {
  roles::TaskOutcome o;
  o.goal_id = text(r, "goal");
  o.task_id = text(r, "task");
  o.attempt = whole<std::uint32_t>(r, "attempt");
  o.ok = r.at("ok").get<bool>();
  o.error = text_or(r, "error");
  o.tokens_in = whole<std::uint64_t>(r, "tokens_in");
  o.tokens_out = whole<std::uint64_t>(r, "tokens_out");
  o.model = text_or(r, "model");
  o.brain_s = number_or(r, "brain_s", 0.0);
  if (auto plan = r.find("plan"); plan != r.end()) {
    for (const auto& s : *plan) {
      roles::SubtaskPlan step;
      step.id = text(s, "id");
      step.title = text_or(s, "title");
      step.instructions = text_or(s, "instructions");
      step.difficulty = number_or(s, "difficulty", 0.5);
      if (auto deps = s.find("depends_on"); deps != s.end())
        for (const auto& d : *deps) step.depends_on.push_back(d.get<std::string>());
      o.plan.push_back(std::move(step));
    }
  }
  if (auto c = r.find("candidate"); c != r.end()) {
    roles::Candidate candidate;
    candidate.content = text_or(*c, "content");
    if (auto files = c->find("files"); files != c->end()) candidate.files = read_files(*files);
    if (auto truth = c->find("sim_correct"); truth != c->end()) candidate.sim_correct = truth->get<bool>();
    o.candidate = std::move(candidate);
  }
  if (auto v = r.find("verdict"); v != r.end()) {
    roles::Verdict verdict;
    verdict.accept = v->at("accept").get<bool>();
    verdict.score = number_or(*v, "score", 0.0);
    verdict.feedback = text_or(*v, "feedback");
    o.verdict = verdict;
  }
  return o;
}

using VerifyKey = std::tuple<std::string, std::string, std::uint32_t>;

}  // namespace

Result<roles::TaskOutcome> outcome_from_record(std::string_view record_json) {
  json record = json::parse(record_json, nullptr, /*allow_exceptions=*/false);
  if (!record.is_object()) return make_error("a result record is not a JSON object");
  try {
    return read_outcome_record(record);
  } catch (const std::exception& e) {
    return make_error(std::string("malformed result record: ") + e.what());
  }
}

Status check_resumable(const JournalContents& contents, const std::string& path) {
  if (!contents.corrupt_middle) return {};
  return make_error("the journal is damaged in the middle: the record at byte " +
                        std::to_string(contents.corrupt_offset) + " (after record " +
                        std::to_string(contents.records.size()) + ") is corrupt but " +
                        std::to_string(contents.intact_after) +
                        " intact records follow it; refusing to resume from a partial history "
                        "(restore the file, or start a new run)",
                    path);
}

Status check_resumable(const std::string& path) {
  auto contents = read_journal(path);
  if (!contents.ok()) return contents.error();
  return check_resumable(*contents, path);
}

Result<ReplayResult> replay_journal(const std::vector<JournalRecord>& records, HubCore& core,
                                    std::optional<std::uint64_t> until) {
  ReplayResult result;
  std::vector<std::string> present;  // join order
  std::map<VerifyKey, VerifyCommand> pending_verify;
  std::vector<VerifyKey> verify_order;
  const auto take = [&](std::vector<Command>& commands) {
    for (auto& command : commands) {
      if (auto* verify = std::get_if<VerifyCommand>(&command)) {
        VerifyKey key{verify->goal_id, verify->subtask_id, verify->attempt};
        if (!pending_verify.count(key)) verify_order.push_back(key);
        pending_verify[key] = std::move(*verify);
      } else if (auto* files = std::get_if<WorkspaceCommand>(&command)) {
        result.workspace_updates.push_back(std::move(*files));
      }
    }
  };
  const std::size_t count = until ? std::min<std::uint64_t>(*until, records.size()) : records.size();
  for (std::size_t i = 0; i < count; ++i) {
    json r = json::parse(records[i].json, nullptr, /*allow_exceptions=*/false);
    const auto fail = [&](const std::string& why) {
      return make_error("journal record " + std::to_string(i) + ": " + why);
    };
    if (!r.is_object()) return fail("not a JSON object");
    try {
      if (whole<std::uint64_t>(r, "n") != i)
        return fail("numbered " + std::to_string(whole<std::uint64_t>(r, "n")) +
                    " (records must be numbered 0, 1, 2, ... without a gap)");
      const TimeUs t = static_cast<TimeUs>(whole<std::int64_t>(r, "t_us"));
      if (t < result.last_t) return fail("time goes backwards");
      result.last_t = t;
      const std::string ev = text(r, "ev");
      if (ev == "start") {
        result.started = true;
        take(core.start(t));
      } else if (ev == "join") {
        const std::string agent = text(r, "agent");
        AgentJoin join{agent, text(r, "role"), text_or(r, "model"),
                       whole<std::uint32_t>(r, "capacity"), r.value("pid", std::int64_t{0}),
                       r.value("person", false)};
        result.agent_pids[agent] = join.pid;
        std::erase(present, agent);
        present.push_back(agent);
        take(core.agent_joined(join, t));
      } else if (ev == "leave") {
        const std::string agent = text(r, "agent");
        std::erase(present, agent);
        take(core.agent_left(agent, t));
      } else if (ev == "result") {
        take(core.result_received(text(r, "agent"), read_outcome_record(r), t));
      } else if (ev == "verify") {
        const VerifyKey key{text(r, "goal"), text(r, "subtask"), whole<std::uint32_t>(r, "attempt")};
        pending_verify.erase(key);
        take(core.verify_finished(std::get<0>(key), std::get<1>(key), std::get<2>(key),
                                  r.at("passed").get<bool>(), text_or(r, "output"), t));
      } else if (ev == "tick") {
        take(core.tick(t));
      } else if (ev == "stop") {
        take(core.stop(text(r, "reason"), t));
      } else if (ev == "dispatch" || ev == "finish" || ev == "refused" || ev == "resume") {
        // What the hub did or saw, not what its core was fed: nothing to replay.
      } else {
        return fail("unknown event \"" + ev + "\"");
      }
    } catch (const std::exception& e) {
      return fail(std::string("malformed: ") + e.what());
    }
    ++result.records;
  }
  result.agents_present = std::move(present);
  for (const auto& key : verify_order)
    if (auto it = pending_verify.find(key); it != pending_verify.end())
      result.unfinished_verifications.push_back(std::move(it->second));
  return result;
}

}  // namespace cadre::runtime
