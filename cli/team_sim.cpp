#include "team_sim.h"

#include <map>

#include "run_support.h"

namespace cadre::cli {
namespace {
// Tasks the simulated inbox may hold at once: any number, as the live hub's inbox.
constexpr std::uint32_t kInboxCapacity = 1u << 20;
}  // namespace

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
    // A person answering in `cadre inbox` is simulated by the sim brain of the human role,
    // taking the inbox's human_latency_s (default the sim brain's) × workflow.time_scale per
    // answer, like every simulated latency, so the team's time keeps its proportions. Like the
    // live hub's inbox it is one agent "inbox" of model "human" holding any number of tasks,
    // unleased.
    const bool inbox = entry.brain.kind == "inbox";
    auto params = brain_params_for(entry, scenario);
    auto brain = agents::make_brain(inbox ? std::string("sim") : entry.brain.kind, entry.role,
                                    inbox ? std::string("human") : entry.brain.model, params);
    if (!brain.ok())
      return make_error("team role " + entry.role + ": " + brain.error().to_string(),
                        scenario.source_path);
    team->brains_.push_back(std::move(brain.value()));
    if (inbox) {
      sim_agents.push_back({runtime::kInboxAgentId, entry.role, "human", kInboxCapacity, true});
      team->brain_of_agent_.push_back(team->brains_.size() - 1);
      continue;
    }
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
