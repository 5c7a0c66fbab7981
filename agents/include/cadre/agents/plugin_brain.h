// The plugin brain: a brain from a shared library that speaks cadre's C plugin ABI
// (plugin/include/cadre/plugin.h; the contract for authors: docs/plugins.md).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cadre/agents/brain.h"
#include "cadre/result.h"

namespace cadre::agents {

struct PluginBrainParams {
  std::string path;                // as written: a file path, or a plugin name to search for
  std::string config_json = "{}";  // the scenario's `config:` as a JSON object
};

// Reads the scenario's brain parameters: path (required, non-empty) and config (a JSON object).
// Fails naming an unknown key, a missing path, or a config that is not a JSON object.
Result<PluginBrainParams> parse_plugin_params(const std::map<std::string, std::string>& params);

// The folders a plugin name (a path without '/') is looked for in, in order: each folder of
// $CADRE_PLUGIN_PATH (':'-separated), then `<folder of the running cadre>/plugins` (the build
// tree) and `<folder of the running cadre>/../lib/cadre/plugins` (an installed cadre).
std::vector<std::string> plugin_search_path();

// The file `path` names: a path with '/' as it is; a bare name found in plugin_search_path(),
// as given or with ".so" added. Fails listing where it looked.
Result<std::string> find_plugin_file(const std::string& path);

class PluginBrain final : public Brain {
 public:
  // Loads the library (once per process; it stays loaded), checks its ABI version, entry point,
  // functions and roles, and makes an instance with the config. Every failure names the file and
  // the reason: not found, not loadable (the loader's words), no entry point, wrong ABI version,
  // a role it does not take, or its own reason for failing to initialise.
  static Result<std::unique_ptr<PluginBrain>> create(
      const std::string& role, const std::string& model,
      const std::map<std::string, std::string>& params);
  ~PluginBrain() override;
  PluginBrain(const PluginBrain&) = delete;
  PluginBrain& operator=(const PluginBrain&) = delete;

  // Calls the plugin with the task as JSON (exec_task_json) and reads its JSON answer
  // (read_exec_answer). A non-zero return, an unreadable answer or an answer with "ok": false
  // gives ok = false with an error naming the plugin. Keys come from the task, model is the
  // configured one, brain_s the time the call took; delay_s is 0. Never throws; calls beyond the
  // plugin's max_concurrency wait their turn.
  BrainAnswer answer(const roles::TaskAssignment& task) override;
  // The same, for a call that may be cancelled. The plugin ABI has no way to interrupt a call in
  // progress: only a call still waiting for its turn (or cancelled before it starts) stops early,
  // with cancelled_answer(); a call inside the plugin runs to its end (the agent drops its answer).
  BrainAnswer answer(const roles::TaskAssignment& task,
                     const std::atomic<bool>& cancelled) override;
  const std::string& model() const override { return model_; }
  bool blocking() const override { return true; }
  std::uint32_t concurrency() const override;

  const std::string& file() const;
  const std::string& plugin_name() const;

 private:
  struct Impl;
  explicit PluginBrain(std::unique_ptr<Impl> impl, std::string model);
  std::unique_ptr<Impl> impl_;
  std::string model_;
};

}  // namespace cadre::agents
