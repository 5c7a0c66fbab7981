// Shared helpers for the hub-core tests: scenarios built in code, and a "driver" — a tiny fake
// team that answers the core's DispatchCommands with TaskOutcomes that are a pure function of the
// task's key (goal, task, attempt), on a clock the test advances by hand.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "cadre/roles/messages.h"
#include "cadre/runtime/clock.h"
#include "cadre/runtime/hub_core.h"
#include "cadre/runtime/ledger.h"
#include "cadre/runtime/scenario.h"

namespace cadre::runtime::coretest {

using roles::TaskAssignment;
using roles::TaskKind;
using roles::TaskOutcome;

// ---------------------------------------------------------------------------------------------
// Keys and hashing

inline std::string key_of(const std::string& goal, const std::string& task, std::uint32_t attempt) {
  return goal + "/" + task + "#" + std::to_string(attempt);
}
inline std::string key_of(const TaskAssignment& a) { return key_of(a.goal_id, a.task_id, a.attempt); }
inline std::string key_of(const TaskOutcome& o) { return key_of(o.goal_id, o.task_id, o.attempt); }
inline std::string key_of(const roles::Cancel& c) { return key_of(c.goal_id, c.task_id, c.attempt); }
inline std::string key_of(const roles::Ack& a) { return key_of(a.goal_id, a.task_id, a.attempt); }

// FNV-1a over the key: stable across runs and cores, so every answer is a function of the key.
inline std::uint64_t key_hash(const std::string& key) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}
inline std::uint64_t key_hash(const TaskAssignment& a) { return key_hash(key_of(a)); }

// ---------------------------------------------------------------------------------------------
// Scenarios

inline GoalSpec make_goal(const std::string& id, std::size_t subtasks, double difficulty = 0.5) {
  GoalSpec goal;
  goal.id = id;
  goal.title = "goal " + id;
  for (std::size_t i = 0; i < subtasks; ++i)
    goal.subtasks.push_back({id + " part " + std::to_string(i + 1), difficulty});
  return goal;
}

inline Scenario make_scenario(std::vector<GoalSpec> goals, std::uint32_t samples = 1,
                              std::uint32_t max_revisions = 1,
                              OnExhausted on_exhausted = OnExhausted::escalate) {
  Scenario s;
  s.name = "core-test";
  s.seed = 7;
  for (const char* role : {"planner", "coder", "critic", "human"}) {
    TeamEntry entry;
    entry.role = role;
    entry.brain.model = "m";
    s.team.push_back(entry);
  }
  s.workflow.samples = samples;
  s.workflow.max_revisions = max_revisions;
  s.workflow.on_exhausted = on_exhausted;
  s.workflow.lease_s = 30.0;
  s.goals = std::move(goals);
  s.pricing.models["m"] = ModelPrice{1.0, 2.0};  // USD per million tokens in / out
  s.pricing.human_usd_per_escalation = 5.0;
  return s;
}

// ---------------------------------------------------------------------------------------------
// The fake team's rules. Each is a function of the assignment (hence of its key): the defaults
// plan exactly the goal's subtasks, solve correctly and accept correct candidates.

struct Rules {
  std::function<bool(const TaskAssignment&)> plan_ok = [](const TaskAssignment&) { return true; };
  std::function<std::vector<roles::SubtaskPlan>(const TaskAssignment&)> plan =
      [](const TaskAssignment& a) { return a.goal_subtasks; };
  std::function<bool(const TaskAssignment&)> solve_ok = [](const TaskAssignment&) { return true; };
  std::function<bool(const TaskAssignment&)> correct = [](const TaskAssignment&) { return true; };
  std::function<bool(const TaskAssignment&)> review_ok = [](const TaskAssignment&) { return true; };
  // Judges a review task (its candidate attached). Default: accept exactly the correct ones.
  std::function<roles::Verdict(const TaskAssignment&)> review = [](const TaskAssignment& a) {
    const bool correct = a.candidate && a.candidate->sim_correct.value_or(false);
    roles::Verdict v;
    v.accept = correct;
    v.score = correct ? 0.5 : 0.0;
    if (!correct) v.feedback = "fix " + a.task_id + "#" + std::to_string(a.attempt);
    return v;
  };
  std::function<bool(const TaskAssignment&)> resolve_ok = [](const TaskAssignment&) {
    return true;
  };
  // Approves a goal's finished work (approval: human). Default: approve work that is correct.
  std::function<roles::Verdict(const TaskAssignment&)> approve = [](const TaskAssignment& a) {
    const bool correct = a.candidate && a.candidate->sim_correct.value_or(true);
    return roles::Verdict{correct, correct ? 1.0 : 0.0, correct ? "" : "wrong"};
  };
  std::string model = "m";
};

// Tokens are a function of the key too, so token totals can be compared across runs.
inline std::uint64_t tokens_in_for(const TaskAssignment& a) { return 100 + key_hash(a) % 900; }
inline std::uint64_t tokens_out_for(const TaskAssignment& a) {
  return 10 + (key_hash(a) >> 20) % 90;
}

inline TaskOutcome answer_for(const Rules& rules, const TaskAssignment& a) {
  TaskOutcome o;
  o.goal_id = a.goal_id;
  o.task_id = a.task_id;
  o.attempt = a.attempt;
  o.model = rules.model;
  o.tokens_in = tokens_in_for(a);
  o.tokens_out = tokens_out_for(a);
  o.brain_s = 0.25;
  switch (a.kind) {
    case TaskKind::plan:
      o.ok = rules.plan_ok(a);
      if (o.ok) o.plan = rules.plan(a);
      else o.error = "planner broke";
      break;
    case TaskKind::solve:
      o.ok = rules.solve_ok(a);
      if (o.ok) o.candidate = roles::Candidate{"code for " + key_of(a), rules.correct(a)};
      else o.error = "coder broke";
      break;
    case TaskKind::review:
      o.ok = rules.review_ok(a);
      if (o.ok) o.verdict = rules.review(a);
      else o.error = "critic broke";
      break;
    case TaskKind::resolve:
      o.ok = rules.resolve_ok(a);
      if (o.ok) o.candidate = roles::Candidate{"human fix for " + key_of(a), true};
      else o.error = "human gave up";
      break;
    case TaskKind::approve:
      o.verdict = rules.approve(a);
      break;
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Command filters

template <class T>
std::vector<T> only(const std::vector<Command>& commands) {
  std::vector<T> out;
  for (const auto& c : commands)
    if (const T* t = std::get_if<T>(&c)) out.push_back(*t);
  return out;
}
template <class T>
std::size_t count_of(const std::vector<Command>& commands) {
  return only<T>(commands).size();
}
// A dispatch as its agent received it. A DispatchCommand points at the core's scratch assignment,
// valid until the core's next event, so the driver copies what was sent.
struct Sent {
  std::string agent_id;
  TaskAssignment assignment;
};
inline Sent sent(const DispatchCommand& d) { return Sent{d.agent_id, *d.assignment}; }

inline bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

// Agents named, for the ledger's agent indices.
inline std::string name_of(const HubCore& core, AgentIndex agent) {
  return agent == kNoAgent ? std::string() : core.agent_id(agent);
}
inline std::vector<std::string> names_of(const HubCore& core, const std::vector<AgentIndex>& agents) {
  std::vector<std::string> out;
  for (AgentIndex agent : agents) out.push_back(name_of(core, agent));
  return out;
}

// The dispatches of one kind among `commands` (read them before the core's next event).
inline std::vector<Sent> dispatches_of(const std::vector<Command>& commands, TaskKind kind) {
  std::vector<Sent> out;
  for (const auto& c : commands)
    if (const auto* d = std::get_if<DispatchCommand>(&c); d && d->assignment->kind == kind)
      out.push_back(sent(*d));
  return out;
}
inline std::vector<std::string> keys(const std::vector<DispatchCommand>& dispatches) {
  std::vector<std::string> out;
  for (const auto& d : dispatches) out.push_back(key_of(*d.assignment));
  return out;
}
inline std::vector<std::string> keys(const std::vector<Sent>& dispatches) {
  std::vector<std::string> out;
  for (const auto& d : dispatches) out.push_back(key_of(d.assignment));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The driver: a HubCore, a hand-driven clock and a fake team.

enum class Order { first_dispatched, last_dispatched };

class Driver {
 public:
  explicit Driver(const Scenario& scenario, Rules rules = {})
      : core(scenario), rules(std::move(rules)) {}

  HubCore core;
  Rules rules;
  TimeUs now = 0;
  std::vector<Sent> pending;  // dispatched and not yet answered (nor cancelled)
  // Every command the core emitted, in order. Its dispatches' assignments are stale once the next
  // event ran: read what was sent from sent_log (dispatched()).
  std::vector<Command> log;
  std::vector<Sent> sent_log;  // every dispatch, in order

  void advance_s(double seconds) { now += seconds_to_us(seconds); }

  std::vector<Command> start() { return take(core.start(now)); }
  std::vector<Command> join(const std::string& id, const std::string& role,
                            std::uint32_t capacity = 1) {
    return take(core.agent_joined(AgentJoin{id, role, rules.model, capacity, 0}, now));
  }
  // A person (the hub's inbox): holds tasks without a lease.
  std::vector<Command> join_person(const std::string& id, const std::string& role) {
    return take(core.agent_joined(AgentJoin{id, role, "human", 1000, 0, /*person=*/true}, now));
  }
  // One agent of each role: planner-1, coder-1.., critic-1.., human-1.
  void join_team(std::uint32_t coders = 1, std::uint32_t critics = 1, std::uint32_t capacity = 1) {
    join("planner-1", "planner", capacity);
    for (std::uint32_t i = 1; i <= coders; ++i) join("coder-" + std::to_string(i), "coder", capacity);
    for (std::uint32_t i = 1; i <= critics; ++i)
      join("critic-" + std::to_string(i), "critic", capacity);
    join("human-1", "human", capacity);
  }
  std::vector<Command> leave(const std::string& id) { return take(core.agent_left(id, now)); }
  std::vector<Command> tick() { return take(core.tick(now)); }
  std::vector<Command> verified(const std::string& goal, const std::string& subtask,
                                std::uint32_t attempt, bool passed, const std::string& output) {
    return take(core.verify_finished(goal, subtask, attempt, passed, output, now));
  }
  std::vector<Command> stop(const std::string& reason) { return take(core.stop(reason, now)); }

  // Sends a RESULT as `agent_id`, whatever it holds.
  std::vector<Command> send(const std::string& agent_id, const TaskOutcome& outcome) {
    return take(core.result_received(agent_id, outcome, now));
  }

  // The pending dispatch with this key, if any.
  std::optional<Sent> pending_with(const std::string& key) const {
    for (const auto& d : pending)
      if (key_of(d.assignment) == key) return d;
    return std::nullopt;
  }
  // Removes a pending dispatch without answering it (the agent went silent).
  Sent drop(const std::string& key) {
    auto it = find(key);
    Sent d = *it;
    pending.erase(it);
    return d;
  }
  // The agent holding `key` answers it by the rules.
  std::vector<Command> answer(const std::string& key) {
    return answer_dispatch(drop(key));
  }
  std::vector<Command> answer_index(std::size_t index) {
    Sent d = pending.at(index);
    pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(index));
    return answer_dispatch(d);
  }
  std::vector<Command> answer_dispatch(const Sent& d) {
    return send(d.agent_id, answer_for(rules, d.assignment));
  }
  // Answers every pending dispatch that exists now (not those it causes), in dispatch order.
  void answer_all_pending() {
    auto batch = pending;
    for (const auto& d : batch) answer(key_of(d.assignment));
  }

  // Answers until nothing is pending or the run finished; the clock advances `step_s` per answer.
  // Dispatches matching `held` are left pending (a person who has not answered yet).
  bool run(Order order = Order::first_dispatched, double step_s = 0.1, int max_steps = 100000) {
    for (int i = 0; i < max_steps && !core.finished(); ++i) {
      std::vector<std::size_t> open;
      for (std::size_t j = 0; j < pending.size(); ++j)
        if (!held || !held(pending[j].assignment)) open.push_back(j);
      if (open.empty()) break;
      advance_s(step_s);
      answer_index(order == Order::first_dispatched ? open.front() : open.back());
    }
    return core.finished();
  }
  std::function<bool(const TaskAssignment&)> held;

  // Every dispatch ever made, optionally only of one kind.
  const std::vector<Sent>& dispatched() const { return sent_log; }
  std::vector<Sent> dispatched(TaskKind kind) const {
    std::vector<Sent> out;
    for (const auto& d : sent_log)
      if (d.assignment.kind == kind) out.push_back(d);
    return out;
  }

  const GoalRecord& goal(std::uint32_t index) const { return core.ledger().goals().at(index); }
  const TaskCounters& counters() const { return core.ledger().counters(); }

 private:
  std::vector<Sent>::iterator find(const std::string& key) {
    auto it = std::find_if(pending.begin(), pending.end(), [&](const Sent& d) {
      return key_of(d.assignment) == key;
    });
    if (it == pending.end()) {
      ADD_FAILURE() << "no pending dispatch " << key;
      throw std::runtime_error("no pending dispatch " + key);
    }
    return it;
  }

  std::vector<Command> take(const std::vector<Command>& commands) {
    for (const auto& c : commands) {
      log.push_back(c);
      if (const auto* d = std::get_if<DispatchCommand>(&c)) {
        pending.push_back(sent(*d));
        sent_log.push_back(sent(*d));
      }
      if (const auto* k = std::get_if<CancelCommand>(&c)) {
        const std::string key = key_of(k->cancel);
        pending.erase(std::remove_if(pending.begin(), pending.end(),
                                     [&](const Sent& d) {
                                       return d.agent_id == k->agent_id &&
                                              key_of(d.assignment) == key;
                                     }),
                      pending.end());
      }
    }
    return commands;
  }
};

}  // namespace cadre::runtime::coretest
