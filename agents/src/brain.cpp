// make_brain: the one place that maps a brain kind to its implementation.
#include "cadre/agents/brain.h"

#include <utility>

#include "cadre/agents/exec_brain.h"
#include "cadre/agents/llm_brain.h"
#include "cadre/agents/plugin_brain.h"
#include "cadre/agents/sim_brain.h"

namespace cadre::agents {

BrainAnswer cancelled_answer(const roles::TaskAssignment& task, const std::string& model,
                             double seconds) {
  BrainAnswer answer{roles::outcome_for(task, model)};
  answer.outcome.ok = false;
  answer.outcome.error = "cancelled";
  answer.outcome.brain_s = seconds;
  return answer;
}

Result<std::unique_ptr<Brain>> make_brain(const std::string& kind, const std::string& role,
                                          const std::string& model,
                                          const std::map<std::string, std::string>& params) {
  if (kind == "sim") {
    auto parsed = parse_sim_params(params);
    if (!parsed) return parsed.error();
    return std::unique_ptr<Brain>(std::make_unique<SimBrain>(role, model, *parsed));
  }
  if (kind == "llm") {
    auto brain = LlmBrain::create(role, model, params);
    if (!brain) return brain.error();
    return std::unique_ptr<Brain>(std::move(brain.value()));
  }
  if (kind == "exec") {
    auto brain = ExecBrain::create(role, model, params);
    if (!brain) return brain.error();
    return std::unique_ptr<Brain>(std::move(brain.value()));
  }
  if (kind == "plugin") {
    auto brain = PluginBrain::create(role, model, params);
    if (!brain) return brain.error();
    return std::unique_ptr<Brain>(std::move(brain.value()));
  }
  return make_error("unknown brain kind '" + kind + "' (known: sim, llm, exec, plugin)");
}

}  // namespace cadre::agents
