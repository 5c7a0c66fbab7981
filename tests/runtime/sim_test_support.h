// A small simulated team for tests of SimRun and of what watches it (progress): a scenario of
// `goals` goals of 1-3 subtasks and a team of sim brains, one brain per team entry.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cadre/agents/sim_brain.h"
#include "cadre/runtime/sim_run.h"

namespace cadre::simtest {

inline runtime::Scenario small_scenario(std::uint64_t seed, int goals = 6) {
  runtime::Scenario scenario;
  scenario.name = "sim-test";
  scenario.seed = seed;
  auto brain = [](const std::string& model) {
    runtime::BrainConfig config;
    config.model = model;
    return config;
  };
  scenario.team = {{"planner", 1, 2, brain("big")},
                   {"coder", 3, 2, brain("small")},
                   {"critic", 2, 2, brain("big")},
                   {"human", 1, 1, brain("human")}};
  scenario.workflow.samples = 2;
  scenario.workflow.max_revisions = 1;
  scenario.workflow.lease_s = 5;
  scenario.workflow.heartbeat_s = 0.5;
  scenario.workflow.time_scale = 0.05;
  for (int g = 0; g < goals; ++g) {
    runtime::GoalSpec goal;
    goal.id = "g" + std::to_string(g);
    goal.title = "goal " + std::to_string(g);
    for (int s = 0; s <= g % 3; ++s) goal.subtasks.push_back({"part", 0.15 * (g + s)});
    scenario.goals.push_back(goal);
  }
  scenario.pricing.models = {{"small", {0.15, 0.6}}, {"big", {2.5, 10}}};
  scenario.pricing.human_usd_per_escalation = 20;
  return scenario;
}

// The agents of a scenario's team and their sim brains (miss_rate 0.2).
struct Team {
  std::vector<runtime::SimAgent> agents;
  std::vector<std::unique_ptr<agents::SimBrain>> brains;
  std::vector<std::size_t> brain_of;

  explicit Team(const runtime::Scenario& scenario) {
    for (const auto& entry : scenario.team) {
      agents::SimBrainParams params;
      params.time_scale = scenario.workflow.time_scale;
      params.miss_rate = 0.2;
      brains.push_back(std::make_unique<agents::SimBrain>(entry.role, entry.brain.model, params));
      for (std::uint32_t i = 0; i < entry.count; ++i) {
        agents.push_back({entry.role + "-" + std::to_string(i + 1), entry.role, entry.brain.model,
                          entry.capacity});
        brain_of.push_back(brains.size() - 1);
      }
    }
  }
  runtime::SimAnswerFn answer() {
    return [this](std::size_t agent, const roles::TaskAssignment& task) {
      auto answer = brains[brain_of[agent]]->answer(task);
      return runtime::SimAnswer{answer.outcome, answer.delay_s};
    };
  }
};

}  // namespace cadre::simtest
