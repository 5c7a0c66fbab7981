// C++ plugins end to end: a shipped scenario whose critic is the example plugin runs live and
// simulated; every broken plugin stops `cadre` with exit 2 before anything starts; and an
// installed cadre lets a plugin project build with find_package(cadre).
#include <gtest/gtest.h>

#include <map>

#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;

std::map<std::string, std::string> goal_states(const std::string& run_dir) {
  std::map<std::string, std::string> states;
  for (const auto& goal : read_jsonl(run_dir + "/goals.jsonl"))
    states[goal["id"].get<std::string>()] = goal["outcome"].get<std::string>();
  return states;
}

TEST(Plugin, AShippedScenarioRunsWithAPluginCriticLiveAndSimulated) {
  TempDir dir("plugin-critic");
  const std::string live = dir.path() + "/live";
  auto [code, output] = run_to_end(
      {cadre_binary(), "run", scenario_path("plugin-critic.yaml"), "--out", live, "-q"},
      dir.path() + "/log", 120s);
  ASSERT_EQ(code, 0) << output << read_file(live + "/agents/critic-1.log");
  const auto report = read_json(live + "/report.json");
  ASSERT_FALSE(report.is_discarded());
  EXPECT_EQ(report["goals"]["open"], 0);
  EXPECT_GT(report["goals"]["resolved"].get<int>(), 0);
  // The plugin judges simulated work by its ground truth: nothing wrong was accepted.
  EXPECT_EQ(report["quality"]["false_accepts"], 0);
  int reviews = 0, rejections = 0;
  for (const auto& event : read_journal_events(live)) {
    if (event["ev"] != "result" || event["agent"] != "critic-1" || !event.contains("verdict")) continue;
    ++reviews;
    if (!event["verdict"]["accept"].get<bool>()) ++rejections;
  }
  EXPECT_GT(reviews, 0);
  EXPECT_GT(rejections, 0) << "the rubric never rejected anything";

  // The plugin is deterministic, so the simulated run ends every goal the same way.
  const std::string sim = dir.path() + "/sim";
  auto [sim_code, sim_output] = run_to_end(
      {cadre_binary(), "sim", scenario_path("plugin-critic.yaml"), "--out", sim, "-q"},
      dir.path() + "/sim.log", 60s);
  ASSERT_EQ(sim_code, 0) << sim_output;
  EXPECT_EQ(goal_states(sim), goal_states(live));
}

struct BadPlugin {
  std::string name;
  std::string set;       // the --set that breaks the scenario's plugin
  std::string file;      // the file the error must name
  std::string reason;    // and what it must say
};

std::vector<BadPlugin> bad_plugins() {
  return {
      {"missing", "team.critic.brain.path=/nonexistent/rubric.so", "/nonexistent/rubric.so",
       "no such file"},
      {"wrong_abi", std::string("team.critic.brain.path=") + WRONG_ABI_PLUGIN, WRONG_ABI_PLUGIN,
       "ABI version 999"},
      {"no_entry", std::string("team.critic.brain.path=") + NO_ENTRY_PLUGIN, NO_ENTRY_PLUGIN,
       "no entry point cadre_plugin_entry"},
      {"failed_init", "team.critic.brain.config.forbiden=TODO", "rubric_critic.so",
       "failed to initialise: unknown config key 'forbiden'"},
  };
}

TEST(Plugin, EveryBrokenPluginStopsEveryCommandWithExitTwoBeforeAnythingStarts) {
  TempDir dir("plugin-bad");
  for (const auto& bad : bad_plugins()) {
    for (const std::string command : {"validate", "run", "sim"}) {
      SCOPED_TRACE(bad.name + " / " + command);
      const std::string out = dir.path() + "/" + bad.name + "-" + command;
      std::vector<std::string> argv = {cadre_binary(), command, scenario_path("plugin-critic.yaml"),
                                       "--set", bad.set};
      if (command != "validate") argv.insert(argv.end(), {"--out", out});
      auto [code, output] = run_to_end(argv, out + ".log", 30s);
      EXPECT_EQ(code, 2) << output;
      EXPECT_NE(output.find(bad.file), std::string::npos) << output;
      EXPECT_NE(output.find(bad.reason), std::string::npos) << output;
      EXPECT_NE(output.find("team role critic"), std::string::npos) << output;
      EXPECT_EQ(output.find("terminate called"), std::string::npos) << output;
      // Nothing was started: no output folder, so no agent and no report.
      EXPECT_FALSE(std::filesystem::exists(out)) << out;
    }
  }
}

// cmake --install, then the example plugin built as its own project against the installed cadre
// (find_package(cadre), cadre::plugin), loaded by the installed cadre.
TEST(Plugin, AnInstalledCadreBuildsAndLoadsAPluginProject) {
  TempDir dir("plugin-install");
  const std::string prefix = dir.path() + "/prefix";
  auto [install_code, install_log] =
      run_to_end({CMAKE_COMMAND, "--install", CADRE_BUILD_DIR, "--prefix", prefix},
                 dir.path() + "/install.log", 120s);
  ASSERT_EQ(install_code, 0) << install_log;
  for (const std::string file : {"/bin/cadre", "/include/cadre/plugin.h",
                                 "/lib/cmake/cadre/cadreConfig.cmake",
                                 "/lib/cmake/cadre/cadreConfigVersion.cmake",
                                 "/lib/cadre/plugins/rubric_critic.so"})
    EXPECT_TRUE(std::filesystem::exists(prefix + file)) << file;

  const std::string build = dir.path() + "/plugin-build";
  auto [configure_code, configure_log] = run_to_end(
      {CMAKE_COMMAND, "-S", source_dir() + "/examples/plugins", "-B", build,
       "-DCMAKE_PREFIX_PATH=" + prefix, "-DCMAKE_BUILD_TYPE=Release"},
      dir.path() + "/configure.log", 120s);
  ASSERT_EQ(configure_code, 0) << configure_log;
  auto [build_code, build_log] =
      run_to_end({CMAKE_COMMAND, "--build", build}, dir.path() + "/build.log", 300s);
  ASSERT_EQ(build_code, 0) << build_log;
  const std::string built = build + "/rubric_critic.so";
  ASSERT_TRUE(std::filesystem::exists(built));

  // The installed cadre finds its installed plugin by name...
  auto [validate_code, validate_log] =
      run_to_end({prefix + "/bin/cadre", "validate", scenario_path("plugin-critic.yaml")},
                 dir.path() + "/validate.log", 30s);
  EXPECT_EQ(validate_code, 0) << validate_log;
  // ...and runs the one just built out of tree.
  auto [sim_code, sim_log] = run_to_end(
      {prefix + "/bin/cadre", "sim", scenario_path("plugin-critic.yaml"), "--set",
       "team.critic.brain.path=" + built, "--out", dir.path() + "/sim", "-q"},
      dir.path() + "/sim.log", 60s);
  EXPECT_EQ(sim_code, 0) << sim_log;
  EXPECT_EQ(read_json(dir.path() + "/sim/report.json")["goals"]["open"], 0);
}

}  // namespace
}  // namespace cadre::testing
