#include "cadre/runtime/supervisor.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace cadre::runtime {
namespace {

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

}  // namespace

Supervisor::Supervisor(Supervision settings) : settings_(settings) {}

Status Supervisor::add(const std::string& agent, const std::string& role, double t) {
  if (agents_.count(agent)) return make_error("agent " + agent + " is already supervised");
  Agent record;
  record.role = role;
  record.started_at = t;
  agents_.emplace(agent, std::move(record));
  return Status::Ok();
}

double Supervisor::backoff_for(std::uint32_t streak) const {
  // Doubling by repeated multiplication stops at the cap, so a long streak cannot overflow.
  double delay = settings_.backoff_s;
  for (std::uint32_t i = 0; i < streak && delay < settings_.backoff_max_s; ++i) delay *= 2;
  return std::min(delay, settings_.backoff_max_s);
}

std::string Supervisor::give_up_reason() const {
  if (settings_.max_restarts == 0) return "restarts are off (supervision.max_restarts = 0)";
  return std::to_string(settings_.max_restarts) + " restart" +
         (settings_.max_restarts == 1 ? "" : "s") + " within " + number(settings_.period_s) +
         " s";
}

Result<RestartDecision> Supervisor::died(const std::string& agent, double t) {
  auto found = agents_.find(agent);
  if (found == agents_.end()) return make_error("agent " + agent + " is not supervised");
  Agent& record = found->second;
  if (record.state != AgentState::running)
    return make_error("agent " + agent + " is not running: it " +
                      (record.state == AgentState::down ? "is down" : "awaits a restart"));

  // Only restarts decided within the window count against the limit.
  const double period = settings_.period_s;
  std::erase_if(record.decided_at, [&](double at) { return t - at >= period; });
  const auto in_period = static_cast<std::uint32_t>(record.decided_at.size());

  RestartDecision decision;
  decision.restarts_in_period = in_period;
  if (in_period >= settings_.max_restarts) {
    record.state = AgentState::down;
    decision.reason = give_up_reason();
    return decision;
  }
  // A run of period_s or more since the last start ends the streak of quick crashes.
  if (t - record.started_at >= period) record.streak = 0;
  decision.restart = true;
  decision.delay_s = backoff_for(record.streak);
  decision.restart_at = t + decision.delay_s;
  ++record.streak;
  record.decided_at.push_back(t);
  record.state = AgentState::restart_pending;
  record.restart_at = decision.restart_at;
  return decision;
}

std::vector<std::string> Supervisor::due(double t) const {
  std::vector<std::pair<double, std::string>> ready;
  for (const auto& [id, record] : agents_)
    if (record.state == AgentState::restart_pending && record.restart_at <= t)
      ready.emplace_back(record.restart_at, id);
  std::sort(ready.begin(), ready.end());
  std::vector<std::string> ids;
  for (auto& [at, id] : ready) ids.push_back(std::move(id));
  return ids;
}

std::optional<double> Supervisor::next_due() const {
  std::optional<double> earliest;
  for (const auto& [id, record] : agents_)
    if (record.state == AgentState::restart_pending && (!earliest || record.restart_at < *earliest))
      earliest = record.restart_at;
  return earliest;
}

Status Supervisor::restarted(const std::string& agent, double t) {
  auto found = agents_.find(agent);
  if (found == agents_.end()) return make_error("agent " + agent + " is not supervised");
  Agent& record = found->second;
  if (record.state != AgentState::restart_pending)
    return make_error("agent " + agent + " has no restart pending");
  record.state = AgentState::running;
  record.started_at = t;
  ++record.restarts;
  return Status::Ok();
}

std::optional<AgentState> Supervisor::state(const std::string& agent) const {
  auto found = agents_.find(agent);
  if (found == agents_.end()) return std::nullopt;
  return found->second.state;
}

bool Supervisor::down(const std::string& agent) const {
  return state(agent) == AgentState::down;
}

std::uint32_t Supervisor::restarts(const std::string& agent) const {
  auto found = agents_.find(agent);
  return found == agents_.end() ? 0 : found->second.restarts;
}

std::map<std::string, std::uint32_t> Supervisor::restart_counts() const {
  std::map<std::string, std::uint32_t> counts;
  for (const auto& [id, record] : agents_) counts[id] = record.restarts;
  return counts;
}

std::vector<std::string> Supervisor::lost_roles(const std::set<std::string>& needed) const {
  std::map<std::string, bool> all_down;  // role -> every agent so far down
  for (const auto& [id, record] : agents_) {
    if (!needed.count(record.role)) continue;
    auto [it, first] = all_down.emplace(record.role, true);
    it->second = it->second && record.state == AgentState::down;
  }
  std::vector<std::string> lost;
  for (const auto& [role, down] : all_down)
    if (down) lost.push_back(role);
  return lost;
}

std::string Supervisor::failure(const std::set<std::string>& needed) const {
  std::string text;
  for (const auto& role : lost_roles(needed)) {
    std::vector<std::string> ids;
    for (const auto& [id, record] : agents_)
      if (record.role == role) ids.push_back(id);
    std::string list;
    for (const auto& id : ids) list += (list.empty() ? "" : ", ") + id;
    const bool one = ids.size() == 1;
    std::string why;
    if (settings_.max_restarts == 0) {
      why = list + (one ? " has" : " have") +
            " died and restarts are off (supervision.max_restarts = 0)";
    } else {
      why = list + (one ? " was" : " were") + " restarted " +
            std::to_string(settings_.max_restarts) +
            (settings_.max_restarts == 1 ? " time" : " times") + " within " +
            number(settings_.period_s) + " s and left down";
    }
    text += (text.empty() ? "" : "; ") + ("no " + role + " left: " + why);
  }
  return text;
}

}  // namespace cadre::runtime
