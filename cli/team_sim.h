// A simulated team: one brain per team entry, wired into a SimRun.
#pragma once

#include <memory>
#include <vector>

#include "cadre/agents/brain.h"
#include "cadre/result.h"
#include "cadre/runtime/sim_run.h"

namespace cadre::cli {

class TeamSim {
 public:
  // Builds the brains of every team entry; fails naming the role and the brain's complaint.
  static Result<std::unique_ptr<TeamSim>> create(const runtime::Scenario& scenario,
                                                 runtime::SimOptions options = {});
  runtime::RunFacts run() { return sim_->run(); }
  const runtime::HubCore& core() const { return sim_->core(); }

 private:
  TeamSim() = default;
  std::vector<std::unique_ptr<agents::Brain>> brains_;
  std::vector<std::size_t> brain_of_agent_;
  std::unique_ptr<runtime::SimRun> sim_;
};

}  // namespace cadre::cli
