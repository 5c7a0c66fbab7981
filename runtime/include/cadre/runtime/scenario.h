// A scenario: the team, its workflow, the work, prices and limits. Loaded from YAML by
// load_scenario() (scenario_loader.h); documented for users in docs/scenarios.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cadre::runtime {

// What produces an agent's answers. `params` holds the brain's own settings as given in the file
// (scalars as strings), already checked against the brain kind's known keys and types by the
// loader; e.g. for kind "sim": skill, think_tokens, tpr, fpr, miss_rate, ...
struct BrainConfig {
  std::string kind = "sim";
  std::string model;  // pricing key; required
  std::map<std::string, std::string> params;
};

// `count` agents of one role, each running `capacity` tasks at once.
struct TeamEntry {
  std::string role;  // planner | coder | critic | human
  std::uint32_t count = 1;
  std::uint32_t capacity = 1;
  BrainConfig brain;
};

// What a subtask that used up its revision rounds does: go to a human, fail, or go back to the
// planner to be rewritten or split (up to max_replans times; after that, after_replans).
enum class OnExhausted { escalate, fail, replan };

// Who has the last word on a goal the team finished. auto (autopilot): it is resolved when its
// subtasks pass verification. human (copilot): it waits for a person's approval (an `approve`
// task for the human role, e.g. answered in `cadre inbox`).
enum class Approval { automatic, human };

struct WorkflowConfig {
  std::string kind = "plan-solve-verify";
  std::uint32_t samples = 1;        // coder attempts per subtask per round (best-of-N)
  std::uint32_t max_revisions = 1;  // revision rounds after the first, before on_exhausted
  OnExhausted on_exhausted = OnExhausted::escalate;
  std::uint32_t max_replans = 1;                    // on_exhausted: replan
  OnExhausted after_replans = OnExhausted::escalate;  // escalate or fail, once replans are used
  Approval approval = Approval::automatic;
  double lease_s = 30.0;      // an assigned task not answered by then is requeued (live time)
  double heartbeat_s = 0.5;   // heartbeat interval both ways (live)
  std::uint32_t liveness = 3; // missed heartbeats before an agent is declared gone
  double time_scale = 1.0;    // multiplies every simulated brain latency
  // A goal whose state has not changed for this long (seconds; virtual under `cadre sim`) is
  // reported as stalled, with the reason. 0: never.
  double stall_s = 0.0;
};

struct SubtaskSpec {
  std::string title;
  double difficulty = 0.5;  // [0, 1]
};

// A real test of a candidate: a shell command run in a copy of the goal's workspace with the
// candidate's files applied; exit code 0 passes. Where set, it is the judge of record.
struct VerifySpec {
  std::string command;  // run with /bin/sh -c; empty: no verification command
  double timeout_s = 60.0;
  bool set() const { return !command.empty(); }
};

struct GoalSpec {
  std::string id;  // unique, e.g. "g001"
  std::string title;
  std::string description;  // what the planner is asked to do (real brains); optional
  // The goal's specified subtasks. Sim planners plan from them (and must have at least one);
  // real planners may get none and invent their own.
  std::vector<SubtaskSpec> subtasks;
  VerifySpec verify;  // empty: the scenario's
};

struct ModelPrice {
  double usd_per_mtok_in = 0.0;
  double usd_per_mtok_out = 0.0;
};

// A model endpoint declared once (scenario `models:`) and shared by the brains that name it
// (`brain: {kind: llm, model: NAME}`): where it is, and the quota the whole team must stay in.
struct ModelEndpoint {
  std::string name;      // the key brains use; also the pricing key
  std::string base_url;  // OpenAI-compatible, e.g. http://127.0.0.1:11434/v1
  std::string model;     // the provider's name for the model, sent in each request
  double rpm = 0;        // requests per minute, whole team (0: none)
  double tpm = 0;        // tokens (in + out) per minute, whole team (0: none)
  std::uint32_t max_concurrency = 0;  // requests in flight at once, whole team (0: none)
  bool limited() const { return rpm > 0 || tpm > 0 || max_concurrency > 0; }
};

struct Pricing {
  std::map<std::string, ModelPrice> models;  // keyed by BrainConfig::model
  double human_usd_per_escalation = 0.0;
  double human_usd_per_approval = 0.0;  // charged for each approval a person gives or refuses
};

// Hard limits the hub enforces (0 everywhere means none). A run-wide limit stops the run when it
// is reached: nothing more is dispatched, tasks in flight are cancelled, and every open goal ends
// stopped_by_budget. A goal's limit does the same to that goal alone.
struct Limits {
  double wall_s = 0.0;                 // run time, seconds (virtual time under `cadre sim`)
  double budget_usd = 0.0;             // spend of the whole run
  std::uint64_t max_tokens = 0;        // tokens in + out of the whole run
  double goal_budget_usd = 0.0;        // spend of one goal
  std::uint32_t goal_max_attempts = 0; // task attempts one goal may start (every kind counts)
  bool any_goal_limit() const { return goal_budget_usd > 0 || goal_max_attempts > 0; }
};

// Faults the simulator injects (`cadre sim` only; a live run has real ones). Probabilities are
// per message or per dispatch; draws come from a generator seeded by the scenario seed, so a
// faulty run is as reproducible as a clean one.
struct FaultConfig {
  double message_loss = 0.0;         // an ASSIGN or RESULT vanishes
  double message_delay = 0.0;        // a RESULT arrives late, by up to delay_s
  double delay_s = 1.0;
  double message_duplication = 0.0;  // a RESULT arrives twice
  double agent_crash = 0.0;          // an agent dies instead of answering a task
  double restart_s = 5.0;            // a crashed agent rejoins this long after it died
  bool any() const {
    return message_loss > 0 || message_delay > 0 || message_duplication > 0 || agent_crash > 0;
  }
};

// How the live hub's journal reaches the disk (docs/scenarios.md, "durability"). In every mode
// a record is handed to the OS before any message caused by it is sent, so killing the hub
// (kill -9) loses nothing it acknowledged; the modes differ on a machine crash.
enum class Durability {
  fsync,  // fsync before any message caused by a record is sent: nothing acknowledged is lost
  batch,  // fsync at most kBatchWindowMs after a record: a machine crash loses at most that window
  none,   // never fsync: the OS decides
};
inline constexpr int kBatchWindowMs = 50;

// `cadre run` restarts an agent process that dies (OTP-style): after backoff_s, doubling up to
// backoff_max_s, at most max_restarts times within any period_s; past that the agent stays down.
struct Supervision {
  std::uint32_t max_restarts = 3;
  double period_s = 60.0;
  double backoff_s = 0.5;
  double backoff_max_s = 10.0;
};

struct Scenario {
  std::string name;
  std::string description;
  std::uint64_t seed = 1;
  std::vector<TeamEntry> team;
  WorkflowConfig workflow;
  std::vector<GoalSpec> goals;  // explicit goals, or those the generator made from the seed
  Pricing pricing;
  std::map<std::string, ModelEndpoint> models;  // by name
  Limits limits;
  FaultConfig faults;
  VerifySpec verify;  // for goals without their own
  Durability durability = Durability::batch;
  Supervision supervision;
  std::string source_path;  // the file it was loaded from
};

}  // namespace cadre::runtime
