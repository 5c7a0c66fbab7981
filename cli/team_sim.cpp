#include "team_sim.h"

#include <map>

#include "run_support.h"

namespace cadre::cli {

Result<std::unique_ptr<TeamSim>> TeamSim::create(const runtime::Scenario& scenario,
                                                 runtime::SimOptions options) {
  std::unique_ptr<TeamSim> team(new TeamSim());
  std::vector<runtime::SimAgent> sim_agents;
  std::map<std::string, std::uint32_t> next_index;
  // Sim brains are pure functions of the assignment, so the agents of one entry share a brain.
  for (const auto& entry : scenario.team) {
    if (entry.brain.kind == "process")
      return make_error("team role " + entry.role +
                            ": a process agent runs as its own program, only live (cadre run)",
                        scenario.source_path);
    auto brain = agents::make_brain(entry.brain.kind, entry.role, entry.brain.model,
                                    brain_params_for(entry, scenario));
    if (!brain.ok())
      return make_error("team role " + entry.role + ": " + brain.error().to_string(),
                        scenario.source_path);
    team->brains_.push_back(std::move(brain.value()));
    for (std::uint32_t i = 0; i < entry.count; ++i) {
      sim_agents.push_back({agent_id_for(entry.role, ++next_index[entry.role]), entry.role,
                            entry.brain.model, entry.capacity});
      team->brain_of_agent_.push_back(team->brains_.size() - 1);
    }
  }
  TeamSim* raw = team.get();
  team->sim_ = std::make_unique<runtime::SimRun>(
      scenario, std::move(sim_agents),
      [raw](std::size_t agent, const roles::TaskAssignment& task) {
        agents::BrainAnswer answer = raw->brains_[raw->brain_of_agent_[agent]]->answer(task);
        return runtime::SimAnswer{std::move(answer.outcome), answer.delay_s};
      },
      std::move(options));
  return team;
}

}  // namespace cadre::cli
