// The simulated brain: a documented stochastic model of an LLM worker (docs/sim-brain.md), so a
// whole team runs with no model server.
//
// Determinism contract: every random draw for an attempt comes from a hash of
// (seed, goal_id, task_id, attempt, purpose) — never from a shared generator — so an attempt's
// outcome, tokens and latency do not depend on which agent runs it or when. Agents of one role
// that share parameters therefore give identical results for the same assignment.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "cadre/agents/brain.h"
#include "cadre/result.h"

namespace cadre::agents {

// All parameters of the sim brain, with their defaults. Which ones a role reads is documented in
// docs/sim-brain.md; the rest are ignored for that role.
struct SimBrainParams {
  // coder: logit(p_correct) = skill + think_gain * log2(think_tokens / 1024)
  //                           + revision_gain * revision - difficulty_weight * difficulty
  double skill = 1.0;
  double think_tokens = 1024;
  double think_gain = 0.35;
  double revision_gain = 0.5;
  double difficulty_weight = 4.0;
  // critic: P(accept | correct) = tpr, P(accept | wrong) = fpr
  double tpr = 0.9;
  double fpr = 0.1;
  // planner: probability that a plan misses one of the goal's subtasks
  double miss_rate = 0.05;
  // planner, replanning a subtask that used up its rounds ("<id>/replan"): the rewrite's
  // difficulty is the old one minus replan_ease (not below 0)
  double replan_ease = 0.3;
  // speed: output tokens per second, plus a fixed overhead; latency is multiplied by time_scale
  double tokens_per_s = 50;
  double overhead_s = 0.5;
  // human: fixed latency in seconds (times time_scale)
  double human_latency_s = 60;
  double time_scale = 1.0;
};

// Parses params (string values) over the defaults. Fails naming an unknown key or a value that is
// not a number or is out of range (probabilities in [0,1], counts and speeds > 0).
Result<SimBrainParams> parse_sim_params(const std::map<std::string, std::string>& params);

// A uniform draw in [0, 1) from (seed, goal, task, attempt, purpose); the same inputs always give
// the same number on every platform.
double sim_draw(std::uint64_t seed, std::string_view goal_id, std::string_view task_id,
                std::uint32_t attempt, std::string_view purpose);

// The coder's probability of a correct attempt under the law above.
double sim_coder_success_probability(const SimBrainParams& params, double difficulty,
                                     std::uint32_t revision);

class SimBrain final : public Brain {
 public:
  SimBrain(std::string role, std::string model, SimBrainParams params);
  BrainAnswer answer(const roles::TaskAssignment& task) override;
  const std::string& model() const override { return model_; }

 private:
  std::string role_;
  std::string model_;
  SimBrainParams params_;
};

}  // namespace cadre::agents
