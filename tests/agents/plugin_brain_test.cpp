// The plugin brain: the example plugin (examples/plugins/rubric_critic) answers through the C ABI,
// and every way a plugin can fail to load is refused with the file and the reason.
#include "cadre/agents/plugin_brain.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cadre/agents/brain.h"

namespace cadre::agents {
namespace {

using Params = std::map<std::string, std::string>;

roles::TaskAssignment review_task(std::string content, bool sim_correct) {
  roles::TaskAssignment task;
  task.goal_id = "g1";
  task.task_id = "s1/review";
  task.attempt = 3;
  task.kind = roles::TaskKind::review;
  task.role = "critic";
  roles::Candidate candidate;
  candidate.content = std::move(content);
  candidate.sim_correct = sim_correct;
  task.candidate = candidate;
  return task;
}

std::unique_ptr<PluginBrain> rubric(const std::string& config = "{}", const std::string& role = "critic") {
  auto brain = PluginBrain::create(role, "rubric", {{"path", RUBRIC_CRITIC_PLUGIN}, {"config", config}});
  EXPECT_TRUE(brain.ok()) << (brain.ok() ? "" : brain.error().to_string());
  return brain.ok() ? std::move(brain.value()) : nullptr;
}

TEST(PluginBrain, ACallCancelledBeforeItStartsNeverReachesThePlugin) {
  auto brain = rubric();
  ASSERT_TRUE(brain);
  const std::atomic<bool> cancelled{true};
  const auto out = brain->answer(review_task("def f(): return 1", true), cancelled).outcome;
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.error, "cancelled");
  EXPECT_EQ(out.tokens_in, 0u) << "the plugin answered";
  const std::atomic<bool> not_cancelled{false};
  EXPECT_TRUE(brain->answer(review_task("def f(): return 1", true), not_cancelled).outcome.ok);
}

std::string load_error(const Params& params, const std::string& role = "critic") {
  auto brain = PluginBrain::create(role, "m", params);
  EXPECT_FALSE(brain.ok());
  return brain.ok() ? std::string() : brain.error().to_string();
}

TEST(PluginBrain, TheExamplePluginReviewsByItsRubric) {
  auto brain = rubric(R"({"forbidden": ["TODO"], "required": ["def "], "trust_sim_truth": true})");
  ASSERT_TRUE(brain);
  EXPECT_EQ(brain->plugin_name(), "rubric_critic");
  EXPECT_EQ(brain->concurrency(), 64u);
  EXPECT_TRUE(brain->blocking());

  auto good = brain->answer(review_task("def f(): return 1", true)).outcome;
  ASSERT_TRUE(good.ok) << good.error;
  ASSERT_TRUE(good.verdict.has_value());
  EXPECT_TRUE(good.verdict->accept);
  EXPECT_EQ(good.goal_id, "g1");
  EXPECT_EQ(good.task_id, "s1/review");
  EXPECT_EQ(good.attempt, 3u);
  EXPECT_EQ(good.model, "rubric");
  EXPECT_GT(good.tokens_in, 0u);

  auto todo = brain->answer(review_task("def f(): TODO", true)).outcome;
  ASSERT_TRUE(todo.ok && todo.verdict);
  EXPECT_FALSE(todo.verdict->accept);
  EXPECT_NE(todo.verdict->feedback.find("contains TODO"), std::string::npos);

  auto lacking = brain->answer(review_task("f = 1", true)).outcome;
  ASSERT_TRUE(lacking.ok && lacking.verdict);
  EXPECT_FALSE(lacking.verdict->accept);
  EXPECT_NE(lacking.verdict->feedback.find("lacks def "), std::string::npos);

  auto wrong = brain->answer(review_task("def f(): return 2", false)).outcome;
  ASSERT_TRUE(wrong.ok && wrong.verdict);
  EXPECT_FALSE(wrong.verdict->accept);
}

TEST(PluginBrain, APluginFailureIsAnOutcomeNamingThePlugin) {
  auto brain = rubric();
  ASSERT_TRUE(brain);
  roles::TaskAssignment solve;
  solve.goal_id = "g1";
  solve.task_id = "s1";
  solve.kind = roles::TaskKind::solve;
  auto outcome = brain->answer(solve).outcome;
  EXPECT_FALSE(outcome.ok);
  EXPECT_NE(outcome.error.find("plugin 'rubric_critic'"), std::string::npos) << outcome.error;
  EXPECT_NE(outcome.error.find("only reviews"), std::string::npos) << outcome.error;
  EXPECT_FALSE(outcome.candidate.has_value());
}

TEST(PluginBrain, ConcurrentAnswersOnOneInstance) {
  auto brain = rubric();
  ASSERT_TRUE(brain);
  std::vector<std::thread> threads;
  std::atomic<int> accepted{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i)
        if (brain->answer(review_task("ok " + std::to_string(i), true)).outcome.verdict->accept)
          ++accepted;
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(accepted.load(), 800);
}

TEST(PluginBrain, MakeBrainKnowsThePluginKind) {
  auto brain = make_brain("plugin", "critic", "rubric", {{"path", RUBRIC_CRITIC_PLUGIN}});
  ASSERT_TRUE(brain.ok()) << brain.error().to_string();
  EXPECT_TRUE((*brain)->blocking());
}

TEST(PluginBrainLoad, AMissingFileIsNamed) {
  const std::string error = load_error({{"path", "/nonexistent/dir/my_plugin.so"}});
  EXPECT_NE(error.find("/nonexistent/dir/my_plugin.so"), std::string::npos) << error;
  EXPECT_NE(error.find("no such file"), std::string::npos) << error;
}

TEST(PluginBrainLoad, AnUnknownNameListsWhereItLooked) {
  ::setenv("CADRE_PLUGIN_PATH", "/nonexistent/plugins", 1);
  const std::string error = load_error({{"path", "no_such_plugin"}});
  ::unsetenv("CADRE_PLUGIN_PATH");
  EXPECT_NE(error.find("no_such_plugin"), std::string::npos) << error;
  EXPECT_NE(error.find("/nonexistent/plugins"), std::string::npos) << error;
  EXPECT_NE(error.find("CADRE_PLUGIN_PATH"), std::string::npos) << error;
}

TEST(PluginBrainLoad, ANameIsFoundInCadrePluginPath) {
  const auto folder = std::filesystem::path(WRONG_ABI_PLUGIN).parent_path().string();
  ::setenv("CADRE_PLUGIN_PATH", ("/nonexistent:" + folder).c_str(), 1);
  auto with_suffix = find_plugin_file("no_entry_plugin.so");
  auto without = find_plugin_file("no_entry_plugin");
  ::unsetenv("CADRE_PLUGIN_PATH");
  ASSERT_TRUE(with_suffix.ok()) << with_suffix.error().to_string();
  ASSERT_TRUE(without.ok()) << without.error().to_string();
  EXPECT_EQ(*with_suffix, std::string(NO_ENTRY_PLUGIN));
  EXPECT_EQ(*without, std::string(NO_ENTRY_PLUGIN));
}

TEST(PluginBrainLoad, AFileThatIsNotALibraryCannotBeLoaded) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("cadre-not-a-plugin-" + std::to_string(::getpid()) + ".so");
  std::ofstream(path) << "this is text, not ELF\n";
  const std::string error = load_error({{"path", path.string()}});
  std::filesystem::remove(path);
  EXPECT_NE(error.find(path.string()), std::string::npos) << error;
  EXPECT_NE(error.find("cannot be loaded"), std::string::npos) << error;
}

TEST(PluginBrainLoad, AWrongAbiVersionNamesBothVersions) {
  const std::string error = load_error({{"path", WRONG_ABI_PLUGIN}});
  EXPECT_NE(error.find(WRONG_ABI_PLUGIN), std::string::npos) << error;
  EXPECT_NE(error.find("ABI version 999"), std::string::npos) << error;
  EXPECT_NE(error.find("speaks version 1"), std::string::npos) << error;
}

TEST(PluginBrainLoad, AMissingEntryPointIsNamed) {
  const std::string error = load_error({{"path", NO_ENTRY_PLUGIN}});
  EXPECT_NE(error.find(NO_ENTRY_PLUGIN), std::string::npos) << error;
  EXPECT_NE(error.find("no entry point cadre_plugin_entry"), std::string::npos) << error;
}

TEST(PluginBrainLoad, AFailedInitialisationGivesThePluginsReason) {
  const std::string error =
      load_error({{"path", RUBRIC_CRITIC_PLUGIN}, {"config", R"({"forbiden": ["x"]})"}});
  EXPECT_NE(error.find(RUBRIC_CRITIC_PLUGIN), std::string::npos) << error;
  EXPECT_NE(error.find("failed to initialise"), std::string::npos) << error;
  EXPECT_NE(error.find("unknown config key 'forbiden'"), std::string::npos) << error;
}

TEST(PluginBrainLoad, ARoleThePluginDoesNotTakeIsRefused) {
  const std::string error = load_error({{"path", RUBRIC_CRITIC_PLUGIN}}, "coder");
  EXPECT_NE(error.find("cannot take the role coder"), std::string::npos) << error;
  EXPECT_NE(error.find("it takes: critic"), std::string::npos) << error;
}

TEST(PluginBrainLoad, BadParametersAreRefused) {
  EXPECT_NE(load_error({}).find("needs path"), std::string::npos);
  EXPECT_NE(load_error({{"path", RUBRIC_CRITIC_PLUGIN}, {"config", "[1,2]"}}).find("JSON object"),
            std::string::npos);
  EXPECT_NE(load_error({{"path", RUBRIC_CRITIC_PLUGIN}, {"colour", "red"}}).find("unknown plugin brain parameter 'colour'"),
            std::string::npos);
}

}  // namespace
}  // namespace cadre::agents
