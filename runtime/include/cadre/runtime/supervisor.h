// Supervision of agent processes: the restart policy `cadre run` applies when an agent dies, as an
// OTP one_for_one supervisor with a per-agent intensity limit (docs/scenarios.md, "supervision").
//
// Pure: no clock, no processes. The caller passes times in seconds on a clock of its own (any
// origin, non-decreasing), decides what counts as a death, and carries out the decisions: it asks
// due() when to start an agent again and reports back with restarted().
//
// The rules, per agent:
// - Intensity: a death at t is answered "restart" while fewer than max_restarts restarts of that
//   agent were decided within the period_s before t (a restart is counted at the death that
//   caused it, so the window does not depend on backoff delays). Otherwise the agent is given up
//   and stays down for the rest of the run. max_restarts = 0: never restart.
// - Backoff: the n-th restart in a row waits backoff_s * 2^(n-1), capped at backoff_max_s. The
//   streak starts over when the agent dies after running at least period_s since it was last
//   started: a process that has been stable for a whole intensity window is back to the first
//   delay, and one that keeps crashing soon after each start keeps doubling.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cadre/result.h"
#include "cadre/runtime/scenario.h"

namespace cadre::runtime {

// The answer to a death.
struct RestartDecision {
  bool restart = false;
  double restart_at = 0.0;  // restart: when to start the agent again (the caller's clock)
  double delay_s = 0.0;     // restart: restart_at minus the time of death
  // Restarts of this agent decided within period_s before this death, this one excluded. On
  // give up it is the limit that was reached (max_restarts).
  std::uint32_t restarts_in_period = 0;
  std::string reason;  // give up only: "3 restarts within 60 s", or that restarts are off
};

enum class AgentState {
  running,          // started (or restarted) and not known to have died
  restart_pending,  // died; a restart is scheduled (due() lists it when its time has come)
  down,             // given up: stays down for the rest of the run
};

class Supervisor {
 public:
  explicit Supervisor(Supervision settings);

  const Supervision& settings() const { return settings_; }

  // Registers an agent of `role`, running since `t`. Fails if the id is already registered.
  Status add(const std::string& agent, const std::string& role, double t);

  // The agent's process ended at `t`. Answers restart (at restart_at) or give up (the agent is
  // then down for good). Fails, changing nothing, if the agent is unknown or not running.
  Result<RestartDecision> died(const std::string& agent, double t);

  // Agents whose restart is due at `t` (restart_at <= t), earliest first.
  std::vector<std::string> due(double t) const;

  // The earliest pending restart time, if any restart is pending.
  std::optional<double> next_due() const;

  // The caller started the agent again at `t`: it is running and its restart is counted. Fails,
  // changing nothing, if no restart was pending for it. A restart that cannot be carried out
  // (the process would not start) is reported as restarted() and then died() at once.
  Status restarted(const std::string& agent, double t);

  // Unknown agents: nullopt.
  std::optional<AgentState> state(const std::string& agent) const;
  bool down(const std::string& agent) const;  // false for unknown agents

  // Restarts carried out (restarted() calls) for the agent over the whole run; 0 when unknown.
  std::uint32_t restarts(const std::string& agent) const;
  // Every registered agent with its restarts carried out, 0 included.
  std::map<std::string, std::uint32_t> restart_counts() const;

  // Roles among `needed` that have at least one registered agent and every one of them down.
  std::vector<std::string> lost_roles(const std::set<std::string>& needed) const;

  // Why the run cannot go on, or "" if no needed role is lost: "no coder left: coder-1, coder-2
  // were restarted 3 times within 60 s and left down" (roles joined with "; " if several).
  std::string failure(const std::set<std::string>& needed) const;

 private:
  struct Agent {
    std::string role;
    AgentState state = AgentState::running;
    double started_at = 0.0;         // last (re)start
    double restart_at = 0.0;         // restart_pending only
    std::uint32_t streak = 0;        // restarts in a row, for the backoff
    std::uint32_t restarts = 0;      // carried out, whole run
    std::vector<double> decided_at;  // deaths answered "restart", within the last period_s
  };

  double backoff_for(std::uint32_t streak) const;
  std::string give_up_reason() const;

  Supervision settings_;
  std::map<std::string, Agent> agents_;
};

}  // namespace cadre::runtime
