// The workflow with real work products: subtask dependencies, the goal's workspace, and verify
// commands as the judge of record. Pure core, no sockets or processes.
#include <gtest/gtest.h>

#include "core_test_support.h"

namespace cadre::runtime::coretest {
namespace {

using Keys = std::vector<std::string>;

// Every key dispatched so far whose task id is `task_id`.
Keys dispatched_with(const Driver& d, const std::string& task_id) {
  Keys found;
  for (const auto& dispatch : d.dispatched())
    if (dispatch.assignment.task_id == task_id) found.push_back(key_of(dispatch.assignment));
  return found;
}

// A plan with its own subtasks (as a real planner invents them): s2 waits for s1.
Rules chain_plan() {
  Rules rules;
  rules.plan = [](const TaskAssignment&) {
    roles::SubtaskPlan first{"parse", "write the parser", "", 0.5};
    roles::SubtaskPlan second{"cli", "write the command line", "", 0.5};
    second.depends_on = {"parse"};
    return std::vector<roles::SubtaskPlan>{first, second};
  };
  return rules;
}

// A coder's answer with one file named after its subtask.
TaskOutcome answer_with_file(const Sent& dispatch, const std::string& path) {
  TaskOutcome outcome = answer_for(Rules{}, dispatch.assignment);
  outcome.candidate->files = {{path, "content of " + path}};
  return outcome;
}

TEST(WorkflowFiles, ASubtaskStartsOnlyWhenItsDependenciesResolvedAndSeesTheirFiles) {
  Driver d(make_scenario({make_goal("g1", 0)}), chain_plan());
  d.join_team();
  d.start();
  auto out = d.answer("g1/plan#0");
  EXPECT_EQ(keys(dispatches_of(out, TaskKind::solve)), (Keys{"g1/parse#0"}));

  const Sent parse = d.drop("g1/parse#0");
  out = d.send(parse.agent_id, answer_with_file(parse, "parser.c"));
  EXPECT_TRUE(dispatches_of(out, TaskKind::solve).empty()) << "cli started before parse ended";
  out = d.answer("g1/parse/review#0");

  // parse resolved: its file joins the workspace, and cli starts seeing it.
  auto updates = only<WorkspaceCommand>(out);
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].goal_id, "g1");
  ASSERT_EQ(updates[0].files.size(), 1u);
  EXPECT_EQ(updates[0].files[0].path, "parser.c");
  auto cli = dispatches_of(out, TaskKind::solve);
  ASSERT_EQ(keys(cli), (Keys{"g1/cli#0"}));
  ASSERT_EQ(cli[0].assignment.workspace_files.size(), 1u);
  EXPECT_EQ(cli[0].assignment.workspace_files[0].path, "parser.c");
  EXPECT_EQ(cli[0].assignment.workspace_files[0].content, "content of parser.c");

  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
  EXPECT_EQ(d.goal(0).workspace.count("parser.c"), 1u);
  // A plan of invented subtasks is not checked against the (empty) specification.
  for (const auto& subtask : d.goal(0).subtasks) EXPECT_FALSE(subtask.discovered);
}

TEST(WorkflowFiles, AQueuedTaskIsSentTheWorkspaceAsItIsWhenItIsDispatched) {
  // Two independent subtasks and one coder: "b" waits in the queue while "a" is solved and
  // accepted. The assignment is built when b leaves the queue, so it carries a's file.
  Rules rules;
  rules.plan = [](const TaskAssignment&) {
    return std::vector<roles::SubtaskPlan>{{"a", "write a", "", 0.5}, {"b", "write b", "", 0.5}};
  };
  Driver d(make_scenario({make_goal("g1", 0)}), rules);
  d.join_team();
  d.start();
  auto out = d.answer("g1/plan#0");
  EXPECT_EQ(keys(dispatches_of(out, TaskKind::solve)), (Keys{"g1/a#0"}));
  const Sent a = d.drop("g1/a#0");
  EXPECT_TRUE(a.assignment.workspace_files.empty());
  out = d.send(a.agent_id, answer_with_file(a, "a.c"));
  EXPECT_EQ(keys(dispatches_of(out, TaskKind::solve)), (Keys{"g1/b#0"}));
  const auto b = dispatches_of(out, TaskKind::solve);
  EXPECT_TRUE(b[0].assignment.workspace_files.empty()) << "a is not accepted yet";
  // Requeue b (its coder leaves) after a is accepted: the next dispatch sees a's file.
  d.answer("g1/a/review#0");
  ASSERT_EQ(d.goal(0).workspace.count("a.c"), 1u);
  d.leave(b[0].agent_id);
  d.join("coder-2", "coder");
  const auto again = d.dispatched(TaskKind::solve);
  ASSERT_EQ(keys(std::vector<Sent>{again.back()}), (Keys{"g1/b#0"}));
  ASSERT_EQ(again.back().assignment.workspace_files.size(), 1u);
  EXPECT_EQ(again.back().assignment.workspace_files[0].path, "a.c");
}

TEST(WorkflowFiles, ASubtaskWhoseDependencyFailedFailsWithoutRunning) {
  Rules rules = chain_plan();
  rules.correct = [](const TaskAssignment& a) { return a.task_id != "parse"; };
  Driver d(make_scenario({make_goal("g1", 0)}, 1, 0, OnExhausted::fail), rules);
  d.join_team();
  d.start();
  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::failed);
  EXPECT_TRUE(dispatched_with(d, "cli").empty()) << "cli ran although parse failed";
  EXPECT_EQ(d.goal(0).subtasks[1].state, SubtaskState::failed);
}

TEST(WorkflowFiles, ACyclicPlanIsAFailedPlanAttempt) {
  Rules rules;
  rules.plan = [](const TaskAssignment&) {
    roles::SubtaskPlan a{"a", "a", "", 0.5}, b{"b", "b", "", 0.5};
    a.depends_on = {"b"};
    b.depends_on = {"a"};
    return std::vector<roles::SubtaskPlan>{a, b};
  };
  Driver d(make_scenario({make_goal("g1", 0)}), rules);
  d.join_team();
  d.start();
  auto out = d.answer("g1/plan#0");
  EXPECT_EQ(keys(dispatches_of(out, TaskKind::plan)), (Keys{"g1/plan#1"}));
}

Scenario verified_scenario(std::uint32_t max_revisions) {
  Scenario s = make_scenario({make_goal("g1", 1)}, 1, max_revisions, OnExhausted::fail);
  s.verify.command = "make test";
  s.verify.timeout_s = 5;
  return s;
}

TEST(WorkflowFiles, ACandidateWithFilesIsTestedAndTheTestIsTheJudgeOfRecord) {
  Driver d(verified_scenario(1));
  d.join_team();
  d.start();
  d.answer("g1/plan#0");
  const Sent solve = d.drop("g1/s1#0");
  auto out = d.send(solve.agent_id, answer_with_file(solve, "main.c"));
  auto verify = only<VerifyCommand>(out);
  ASSERT_EQ(verify.size(), 1u);
  EXPECT_EQ(verify[0].goal_id, "g1");
  EXPECT_EQ(verify[0].subtask_id, "s1");
  EXPECT_EQ(verify[0].attempt, 0u);
  EXPECT_EQ(verify[0].spec.command, "make test");
  ASSERT_EQ(verify[0].files.size(), 1u);
  EXPECT_EQ(verify[0].files[0].path, "main.c");

  // The critic accepts, but the round waits for the test.
  out = d.answer("g1/s1/review#0");
  EXPECT_TRUE(dispatches_of(out, TaskKind::solve).empty());
  EXPECT_EQ(d.goal(0).subtasks[0].state, SubtaskState::solving);

  // The test fails: the critic's accept does not count; a revision starts with the failure.
  out = d.verified("g1", "s1", 0, false, "exit 2: undefined reference");
  auto revision = dispatches_of(out, TaskKind::solve);
  ASSERT_EQ(keys(revision), (Keys{"g1/s1#1"}));
  ASSERT_FALSE(revision[0].assignment.feedback.empty());
  EXPECT_NE(revision[0].assignment.feedback[0].find("undefined reference"), std::string::npos);

  // The revision passes its test and is accepted: its files join the workspace.
  const Sent fixed = d.drop("g1/s1#1");
  d.send(fixed.agent_id, answer_with_file(fixed, "main.c"));
  d.answer("g1/s1/review#1");
  out = d.verified("g1", "s1", 1, true, "ok");
  EXPECT_EQ(count_of<WorkspaceCommand>(out), 1u);
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
}

TEST(WorkflowFiles, AVerdictForACandidateNoLongerWaitingIsIgnored) {
  Driver d(verified_scenario(0));
  d.join_team();
  d.start();
  d.answer("g1/plan#0");
  auto out = d.verified("g1", "s1", 7, true, "");
  EXPECT_TRUE(out.empty() || only<DispatchCommand>(out).empty());
  out = d.verified("no-such-goal", "s1", 0, true, "");
  EXPECT_TRUE(only<GoalFinishedCommand>(out).empty());
}

TEST(WorkflowFiles, CandidatesWithoutFilesAreNotTested) {
  Driver d(verified_scenario(0));
  d.join_team();
  d.start();
  d.answer("g1/plan#0");
  auto out = d.answer("g1/s1#0");  // a sim-style candidate: text only
  EXPECT_TRUE(only<VerifyCommand>(out).empty());
  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
}

}  // namespace
}  // namespace cadre::runtime::coretest
