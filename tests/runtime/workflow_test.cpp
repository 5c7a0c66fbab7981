// The plan-solve-verify workflow, driven through HubCore by a fake team: each test reads as the
// trace of messages between the hub and its agents.
#include "cadre/runtime/workflow.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "cadre/runtime/hub_core.h"
#include "core_test_support.h"

namespace cadre::runtime {
namespace {

using namespace coretest;
using Keys = std::vector<std::string>;

std::vector<std::uint32_t> finished_goals(const std::vector<Command>& commands) {
  std::vector<std::uint32_t> out;
  for (const auto& g : only<GoalFinishedCommand>(commands)) out.push_back(g.goal_index);
  return out;
}

bool accepted(const std::vector<Command>& commands) {
  const auto acks = only<AckCommand>(commands);
  return acks.size() == 1 && acks[0].ack.accepted;
}

// ---------------------------------------------------------------------------------------------
// The straight path

TEST(Workflow, AGoalIsPlannedThenEachSubtaskIsSolvedAndReviewedThenTheGoalIsResolved) {
  Driver d(make_scenario({make_goal("g1", 2)}));
  d.join_team(/*coders=*/2, /*critics=*/2);

  // hub -> planner-1: ASSIGN g1/plan#0, listing the goal's specified subtasks.
  auto out = d.start();
  auto plans = dispatches_of(out, TaskKind::plan);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].agent_id, "planner-1");
  EXPECT_EQ(key_of(plans[0].assignment), "g1/plan#0");
  EXPECT_EQ(plans[0].assignment.role, "planner");
  EXPECT_EQ(plans[0].assignment.goal_title, "goal g1");
  EXPECT_EQ(plans[0].assignment.seed, 7u);
  ASSERT_EQ(plans[0].assignment.goal_subtasks.size(), 2u);
  EXPECT_EQ(plans[0].assignment.goal_subtasks[0].id, "s1");
  EXPECT_EQ(plans[0].assignment.goal_subtasks[1].id, "s2");
  EXPECT_EQ(plans[0].assignment.goal_subtasks[1].title, "g1 part 2");
  EXPECT_DOUBLE_EQ(plans[0].assignment.goal_subtasks[1].difficulty, 0.5);

  // planner-1 -> hub: RESULT plan [s1, s2]; hub -> coders: ASSIGN g1/s1#0, g1/s2#0.
  out = d.answer("g1/plan#0");
  EXPECT_TRUE(accepted(out));
  auto solves = dispatches_of(out, TaskKind::solve);
  EXPECT_EQ(keys(solves), (Keys{"g1/s1#0", "g1/s2#0"}));
  EXPECT_EQ(solves[0].agent_id, "coder-1");
  EXPECT_EQ(solves[1].agent_id, "coder-2");
  for (const auto& s : solves) {
    EXPECT_EQ(s.assignment.role, "coder");
    EXPECT_EQ(s.assignment.revision, 0u);
    EXPECT_TRUE(s.assignment.feedback.empty());
    EXPECT_EQ(s.assignment.instructions, s.assignment.task_id == "s1" ? "g1 part 1" : "g1 part 2");
  }

  // coder -> hub: RESULT candidate; hub -> critic: ASSIGN g1/s1/review#0 with that candidate.
  out = d.answer("g1/s1#0");
  auto reviews = dispatches_of(out, TaskKind::review);
  ASSERT_EQ(reviews.size(), 1u);
  EXPECT_EQ(key_of(reviews[0].assignment), "g1/s1/review#0");
  EXPECT_EQ(reviews[0].assignment.role, "critic");
  ASSERT_TRUE(reviews[0].assignment.candidate.has_value());
  EXPECT_EQ(reviews[0].assignment.candidate->content, "code for g1/s1#0");
  EXPECT_EQ(reviews[0].assignment.instructions, "g1 part 1");

  out = d.answer("g1/s2#0");
  EXPECT_EQ(keys(dispatches_of(out, TaskKind::review)), (Keys{"g1/s2/review#0"}));

  // The first accepted review resolves s1, but the goal waits for s2.
  out = d.answer("g1/s1/review#0");
  EXPECT_TRUE(accepted(out));
  EXPECT_TRUE(finished_goals(out).empty());
  EXPECT_EQ(d.goal(0).subtasks[0].state, SubtaskState::resolved);
  EXPECT_EQ(d.goal(0).subtasks[1].state, SubtaskState::solving);

  out = d.answer("g1/s2/review#0");
  EXPECT_EQ(finished_goals(out), (std::vector<std::uint32_t>{0}));
  ASSERT_EQ(count_of<RunFinishedCommand>(out), 1u);
  EXPECT_EQ(only<RunFinishedCommand>(out)[0].reason, "all goals ended");
  EXPECT_TRUE(std::holds_alternative<RunFinishedCommand>(out.back()));

  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
  EXPECT_EQ(d.goal(0).subtasks[1].state, SubtaskState::resolved);
  EXPECT_EQ(d.goal(0).subtasks[0].accepted_correct, true);
  EXPECT_TRUE(d.core.finished());
  EXPECT_EQ(d.core.ledger().open_goals(), 0u);
  EXPECT_EQ(d.counters().dispatched, 5u);
  EXPECT_EQ(d.counters().completed, 5u);
  EXPECT_EQ(d.goal(0).attempts, 5u);
  EXPECT_TRUE(d.pending.empty());
}

TEST(Workflow, AGoalIsChargedTheTokensOfEveryResultItAccepted) {
  Driver d(make_scenario({make_goal("g1", 2), make_goal("g2", 1)}));
  d.join_team(2, 2);
  d.start();
  ASSERT_TRUE(d.run());
  std::map<std::string, std::uint64_t> in, out;
  for (const auto& dispatch : d.dispatched()) {
    in[dispatch.assignment.goal_id] += tokens_in_for(dispatch.assignment);
    out[dispatch.assignment.goal_id] += tokens_out_for(dispatch.assignment);
  }
  EXPECT_EQ(d.goal(0).tokens_in, in["g1"]);
  EXPECT_EQ(d.goal(0).tokens_out, out["g1"]);
  EXPECT_EQ(d.goal(1).tokens_in, in["g2"]);
  EXPECT_EQ(d.core.ledger().tokens_in(), in["g1"] + in["g2"]);
  EXPECT_EQ(d.core.ledger().tokens_out(), out["g1"] + out["g2"]);
  const double usd = (in["g1"] + in["g2"]) * 1.0 / 1e6 + (out["g1"] + out["g2"]) * 2.0 / 1e6;
  EXPECT_NEAR(d.core.ledger().usd(), usd, 1e-12);
}

TEST(Workflow, EachSubtaskGetsSamplesSolveAttemptsAndOneReviewPerCandidate) {
  Driver d(make_scenario({make_goal("g1", 1)}, /*samples=*/3));
  d.join_team(/*coders=*/3, /*critics=*/3);
  d.start();
  auto out = d.answer("g1/plan#0");
  auto solves = dispatches_of(out, TaskKind::solve);
  EXPECT_EQ(keys(solves), (Keys{"g1/s1#0", "g1/s1#1", "g1/s1#2"}));
  for (const auto& s : solves) EXPECT_EQ(s.assignment.revision, 0u);

  Keys reviews;
  for (const char* key : {"g1/s1#2", "g1/s1#0", "g1/s1#1"})
    for (const auto& r : dispatches_of(d.answer(key), TaskKind::review))
      reviews.push_back(key_of(r.assignment));
  EXPECT_EQ(reviews, (Keys{"g1/s1/review#2", "g1/s1/review#0", "g1/s1/review#1"}));
  EXPECT_EQ(d.goal(0).subtasks[0].solve_attempts, 3u);

  // The round waits for all three reviews.
  EXPECT_TRUE(finished_goals(d.answer("g1/s1/review#0")).empty());
  EXPECT_TRUE(finished_goals(d.answer("g1/s1/review#1")).empty());
  EXPECT_EQ(finished_goals(d.answer("g1/s1/review#2")), (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
}

TEST(Workflow, TheHighestScoringAcceptedCandidateResolvesTheSubtask) {
  Rules rules;
  rules.correct = [](const TaskAssignment& a) { return a.attempt != 2; };  // #2 is wrong
  rules.review = [](const TaskAssignment& a) {
    switch (a.attempt) {
      case 0: return roles::Verdict{true, 0.3, ""};
      case 1: return roles::Verdict{false, 0.99, "no"};  // the best score, but rejected
      default: return roles::Verdict{true, 0.9, ""};     // accepted (wrongly), best accepted
    }
  };
  Driver d(make_scenario({make_goal("g1", 1)}, 3), rules);
  d.join_team(3, 3);
  d.start();
  ASSERT_TRUE(d.run());
  const SubtaskRecord& s1 = d.goal(0).subtasks[0];
  EXPECT_EQ(s1.state, SubtaskState::resolved);
  EXPECT_EQ(s1.accepted_correct, false);  // #2 was chosen
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
  EXPECT_TRUE(s1.feedback.empty());  // no revision: rejected feedback is kept only for revisions
}

TEST(Workflow, AcceptedCandidatesWithEqualScoresResolveWithTheLowestAttempt) {
  Rules rules;
  rules.correct = [](const TaskAssignment& a) { return a.attempt == 0; };
  rules.review = [](const TaskAssignment&) { return roles::Verdict{true, 0.5, ""}; };
  Driver d(make_scenario({make_goal("g1", 1)}, 3), rules);
  d.join_team(3, 3);
  d.start();
  d.answer("g1/plan#0");
  // Answered in reverse order: the choice must not depend on it.
  d.run(Order::last_dispatched);
  EXPECT_EQ(d.goal(0).subtasks[0].accepted_correct, true);  // attempt 0
}

// ---------------------------------------------------------------------------------------------
// Revisions and exhaustion

TEST(Workflow, ARoundWithNoAcceptedCandidateStartsARevisionWithTheCriticsFeedback) {
  Rules rules;
  rules.correct = [](const TaskAssignment& a) { return a.revision >= 1; };
  Driver d(make_scenario({make_goal("g1", 1)}, /*samples=*/2, /*max_revisions=*/2), rules);
  d.join_team(2, 2);
  d.start();
  d.answer("g1/plan#0");
  d.answer("g1/s1#0");
  d.answer("g1/s1#1");
  d.answer("g1/s1/review#1");
  auto out = d.answer("g1/s1/review#0");  // the last review of round 0: both rejected

  auto solves = dispatches_of(out, TaskKind::solve);
  EXPECT_EQ(keys(solves), (Keys{"g1/s1#2", "g1/s1#3"}));  // attempt = round * samples + i
  for (const auto& s : solves) {
    EXPECT_EQ(s.assignment.revision, 1u);
    // Feedback in candidate order, whatever order the reviews came back in.
    EXPECT_EQ(s.assignment.feedback, (Keys{"fix s1/review#0", "fix s1/review#1"}));
  }
  EXPECT_EQ(d.goal(0).subtasks[0].round, 1u);

  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
  EXPECT_EQ(d.goal(0).subtasks[0].solve_attempts, 4u);
  EXPECT_EQ(keys(d.dispatched(TaskKind::review)),
            (Keys{"g1/s1/review#0", "g1/s1/review#1", "g1/s1/review#2", "g1/s1/review#3"}));
}

TEST(Workflow, FeedbackAccumulatesOldestFirstOverRevisionRounds) {
  Rules rules;
  rules.correct = [](const TaskAssignment& a) { return a.revision >= 2; };
  Driver d(make_scenario({make_goal("g1", 1)}, 1, 2), rules);
  d.join_team();
  d.start();
  ASSERT_TRUE(d.run());
  auto solves = d.dispatched(TaskKind::solve);
  ASSERT_EQ(keys(solves), (Keys{"g1/s1#0", "g1/s1#1", "g1/s1#2"}));
  EXPECT_EQ(solves[1].assignment.feedback, (Keys{"fix s1/review#0"}));
  EXPECT_EQ(solves[2].assignment.revision, 2u);
  EXPECT_EQ(solves[2].assignment.feedback, (Keys{"fix s1/review#0", "fix s1/review#1"}));
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
}

TEST(Workflow, ExhaustedRevisionsEscalateToAHumanAndTheGoalEndsEscalated) {
  Rules rules;
  rules.correct = [](const TaskAssignment&) { return false; };
  Driver d(make_scenario({make_goal("g1", 2)}, 1, /*max_revisions=*/1, OnExhausted::escalate),
           rules);
  d.join_team(2, 2);
  d.start();
  d.answer("g1/plan#0");
  // s2 is solved properly in this test; s1 never is.
  d.rules.correct = [](const TaskAssignment& a) { return a.task_id == "s2"; };
  d.answer("g1/s1#0");
  d.answer("g1/s2#0");
  d.answer("g1/s1/review#0");
  d.answer("g1/s2/review#0");
  auto out = d.answer("g1/s1#1");
  EXPECT_EQ(keys(dispatches_of(out, TaskKind::review)), (Keys{"g1/s1/review#1"}));
  out = d.answer("g1/s1/review#1");

  // hub -> human-1: ASSIGN g1/s1/resolve#0 with all the feedback.
  auto resolves = dispatches_of(out, TaskKind::resolve);
  ASSERT_EQ(resolves.size(), 1u);
  EXPECT_EQ(key_of(resolves[0].assignment), "g1/s1/resolve#0");
  EXPECT_EQ(resolves[0].agent_id, "human-1");
  EXPECT_EQ(resolves[0].assignment.role, "human");
  EXPECT_EQ(resolves[0].assignment.revision, 1u);
  EXPECT_EQ(resolves[0].assignment.feedback, (Keys{"fix s1/review#0", "fix s1/review#1"}));
  EXPECT_EQ(d.goal(0).subtasks[0].state, SubtaskState::escalated);
  EXPECT_TRUE(finished_goals(out).empty());

  const double usd_before = d.core.ledger().usd();
  const double human_tokens_usd = tokens_in_for(resolves[0].assignment) * 1.0 / 1e6 +
                                  tokens_out_for(resolves[0].assignment) * 2.0 / 1e6;
  out = d.answer("g1/s1/resolve#0");
  EXPECT_EQ(finished_goals(out), (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(count_of<RunFinishedCommand>(out), 1u);
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::escalated);
  EXPECT_EQ(d.goal(0).subtasks[0].state, SubtaskState::resolved_by_human);
  EXPECT_EQ(d.goal(0).subtasks[1].state, SubtaskState::resolved);
  EXPECT_NEAR(d.core.ledger().usd() - usd_before, 5.0 + human_tokens_usd, 1e-9);
}

TEST(Workflow, ExhaustedRevisionsFailTheGoalWhenOnExhaustedIsFail) {
  Rules rules;
  rules.correct = [](const TaskAssignment&) { return false; };
  Driver d(make_scenario({make_goal("g1", 1)}, 2, 1, OnExhausted::fail), rules);
  d.join_team(2, 2);
  d.start();
  ASSERT_TRUE(d.run());
  EXPECT_TRUE(d.dispatched(TaskKind::resolve).empty());
  EXPECT_EQ(keys(d.dispatched(TaskKind::solve)), (Keys{"g1/s1#0", "g1/s1#1", "g1/s1#2", "g1/s1#3"}));
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::failed);
  EXPECT_EQ(d.goal(0).reason, "revisions exhausted");
  EXPECT_EQ(d.goal(0).subtasks[0].state, SubtaskState::failed);
  EXPECT_EQ(count_of<GoalFinishedCommand>(d.log), 1u);
}

TEST(Workflow, WithNoRevisionsAllowedTheFirstRejectedRoundEscalates) {
  Rules rules;
  rules.correct = [](const TaskAssignment&) { return false; };
  Driver d(make_scenario({make_goal("g1", 1)}, 1, /*max_revisions=*/0), rules);
  d.join_team();
  d.start();
  ASSERT_TRUE(d.run());
  EXPECT_EQ(keys(d.dispatched(TaskKind::solve)), (Keys{"g1/s1#0"}));
  EXPECT_EQ(keys(d.dispatched(TaskKind::resolve)), (Keys{"g1/s1/resolve#0"}));
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::escalated);
}

TEST(Workflow, AHumanWhoCannotResolveFailsTheGoalAndIsNotCharged) {
  Rules rules;
  rules.correct = [](const TaskAssignment&) { return false; };
  rules.resolve_ok = [](const TaskAssignment&) { return false; };
  Driver d(make_scenario({make_goal("g1", 1)}, 1, 0), rules);
  d.join_team();
  d.start();
  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::failed);
  EXPECT_EQ(d.goal(0).subtasks[0].state, SubtaskState::failed);
  EXPECT_LT(d.core.ledger().usd(), 1.0);  // token costs only, no 5.0 escalation fee
}

TEST(Workflow, AFailedSubtaskFailsTheGoalEvenIfAnotherWasEscalated) {
  Rules rules;
  rules.correct = [](const TaskAssignment&) { return false; };
  rules.resolve_ok = [](const TaskAssignment& a) { return a.task_id == "s1/resolve"; };
  Driver d(make_scenario({make_goal("g1", 2)}, 1, 0), rules);
  d.join_team();
  d.start();
  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.goal(0).subtasks[0].state, SubtaskState::resolved_by_human);
  EXPECT_EQ(d.goal(0).subtasks[1].state, SubtaskState::failed);
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::failed);
}

// ---------------------------------------------------------------------------------------------
// Goal verification: subtasks the plan missed

TEST(Workflow, ASubtaskThePlanMissedIsDiscoveredAndRunAfterThePlannedOnesEnd) {
  Rules rules;
  rules.plan = [](const TaskAssignment& a) {
    return std::vector<roles::SubtaskPlan>{a.goal_subtasks[0], a.goal_subtasks[2]};  // no s2
  };
  Driver d(make_scenario({make_goal("g1", 3)}), rules);
  d.join_team(2, 2);
  d.start();
  auto out = d.answer("g1/plan#0");
  EXPECT_EQ(keys(dispatches_of(out, TaskKind::solve)), (Keys{"g1/s1#0", "g1/s3#0"}));
  d.answer("g1/s1#0");
  d.answer("g1/s3#0");
  d.answer("g1/s1/review#0");
  out = d.answer("g1/s3/review#0");  // the last planned subtask ends: verification

  EXPECT_TRUE(finished_goals(out).empty());
  auto solves = dispatches_of(out, TaskKind::solve);
  ASSERT_EQ(keys(solves), (Keys{"g1/s2#0"}));
  EXPECT_EQ(solves[0].assignment.instructions, "g1 part 2");
  ASSERT_EQ(d.goal(0).subtasks.size(), 3u);
  EXPECT_EQ(d.goal(0).subtasks[2].plan.id, "s2");
  EXPECT_TRUE(d.goal(0).subtasks[2].discovered);
  EXPECT_FALSE(d.goal(0).subtasks[0].discovered);
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::none);

  d.answer("g1/s2#0");
  out = d.answer("g1/s2/review#0");
  EXPECT_EQ(finished_goals(out), (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
  EXPECT_EQ(count_of<GoalFinishedCommand>(d.log), 1u);
}

TEST(Workflow, ADiscoveredSubtaskRunsItsOwnRevisionsAndEscalation) {
  Rules rules;
  rules.plan = [](const TaskAssignment& a) {
    return std::vector<roles::SubtaskPlan>{a.goal_subtasks[0]};
  };
  rules.correct = [](const TaskAssignment& a) { return a.task_id == "s1"; };
  Driver d(make_scenario({make_goal("g1", 2)}, 1, 1), rules);
  d.join_team();
  d.start();
  ASSERT_TRUE(d.run());
  EXPECT_EQ(keys(d.dispatched(TaskKind::solve)), (Keys{"g1/s1#0", "g1/s2#0", "g1/s2#1"}));
  EXPECT_EQ(keys(d.dispatched(TaskKind::resolve)), (Keys{"g1/s2/resolve#0"}));
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::escalated);
}

// ---------------------------------------------------------------------------------------------
// Replanning (on_exhausted: replan)

bool is_replan(const TaskAssignment& a) {
  return a.task_id.size() > 7 && a.task_id.ends_with("/replan");
}

// A planner that rewrites a subtask it is asked to replan (instructions "rewritten ...").
Rules rewriting_team() {
  Rules rules;
  rules.plan = [](const TaskAssignment& a) {
    if (!is_replan(a)) return a.goal_subtasks;
    roles::SubtaskPlan rewrite = a.goal_subtasks.at(0);
    rewrite.instructions = "rewritten: " + rewrite.title;
    rewrite.difficulty = 0.1;
    return std::vector<roles::SubtaskPlan>{rewrite};
  };
  // Only the rewritten subtask can be done right.
  rules.correct = [](const TaskAssignment& a) { return a.instructions.starts_with("rewritten"); };
  return rules;
}

Scenario replanning(std::vector<GoalSpec> goals, std::uint32_t max_replans,
                    OnExhausted after = OnExhausted::fail) {
  Scenario s = make_scenario(std::move(goals), 1, 1, OnExhausted::replan);
  s.workflow.max_replans = max_replans;
  s.workflow.after_replans = after;
  return s;
}

TEST(Workflow, ASubtaskThatUsedUpItsRoundsIsRewrittenByThePlannerAndThenResolved) {
  Driver d(replanning({make_goal("g1", 1)}, 1), rewriting_team());
  d.join_team();
  d.start();
  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
  // Two rounds fail, the planner rewrites the subtask, the third attempt is right.
  EXPECT_EQ(keys(d.dispatched(TaskKind::solve)), (Keys{"g1/s1#0", "g1/s1#1", "g1/s1#2"}));
  const auto plans = d.dispatched(TaskKind::plan);
  ASSERT_EQ(keys(plans), (Keys{"g1/plan#0", "g1/s1/replan#0"}));
  const TaskAssignment& replan = plans[1].assignment;
  EXPECT_EQ(replan.role, "planner");
  ASSERT_EQ(replan.goal_subtasks.size(), 1u);
  EXPECT_EQ(replan.goal_subtasks[0].id, "s1");
  EXPECT_EQ(replan.feedback, (Keys{"fix s1/review#0", "fix s1/review#1"}));
  EXPECT_NE(replan.instructions.find("failed every revision round"), std::string::npos);
  EXPECT_NE(replan.instructions.find("fix s1/review#1"), std::string::npos);
  EXPECT_NE(replan.instructions.find("code for g1/s1#1"), std::string::npos)
      << "the last round's candidates are shown";
  const auto solves = d.dispatched(TaskKind::solve);
  EXPECT_EQ(solves[2].assignment.instructions, "rewritten: g1 part 1");
  EXPECT_DOUBLE_EQ(solves[2].assignment.difficulty, 0.1);
  const SubtaskRecord& s1 = d.goal(0).subtasks.at(0);
  EXPECT_EQ(s1.state, SubtaskState::resolved);
  EXPECT_EQ(s1.replans, 1u);
  EXPECT_EQ(s1.first_round, 2u);
  EXPECT_TRUE(d.dispatched(TaskKind::resolve).empty());
}

TEST(Workflow, WhenItsReplansAreUsedUpASubtaskFallsBackToAfterReplans) {
  Rules rules = rewriting_team();
  rules.correct = [](const TaskAssignment&) { return false; };  // not even a rewrite helps
  for (OnExhausted after : {OnExhausted::fail, OnExhausted::escalate}) {
    Driver d(replanning({make_goal("g1", 1)}, 2, after), rules);
    d.join_team();
    d.start();
    ASSERT_TRUE(d.run());
    EXPECT_EQ(keys(d.dispatched(TaskKind::plan)),
              (Keys{"g1/plan#0", "g1/s1/replan#0", "g1/s1/replan#1"}));
    // Each rewrite gets a fresh allowance of rounds: 2 rounds x 3 plans.
    EXPECT_EQ(d.dispatched(TaskKind::solve).size(), 6u);
    if (after == OnExhausted::fail) {
      EXPECT_EQ(d.goal(0).outcome, GoalOutcome::failed);
      EXPECT_TRUE(d.dispatched(TaskKind::resolve).empty());
    } else {
      EXPECT_EQ(keys(d.dispatched(TaskKind::resolve)), (Keys{"g1/s1/resolve#0"}));
      EXPECT_EQ(d.goal(0).outcome, GoalOutcome::escalated);
    }
  }
}

TEST(Workflow, AFailedReplanCountsAsAReplanUsed) {
  Rules rules = rewriting_team();
  rules.plan_ok = [](const TaskAssignment& a) { return !is_replan(a); };
  Driver d(replanning({make_goal("g1", 1)}, 2), rules);
  d.join_team();
  d.start();
  ASSERT_TRUE(d.run());
  EXPECT_EQ(keys(d.dispatched(TaskKind::plan)),
            (Keys{"g1/plan#0", "g1/s1/replan#0", "g1/s1/replan#1"}));
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::failed);
  EXPECT_EQ(d.goal(0).subtasks[0].state, SubtaskState::failed);
  EXPECT_EQ(d.goal(0).subtasks[0].feedback.back(), "replanning failed: planner broke");
}

TEST(Workflow, AReplanThatSplitsASubtaskRunsItsPartsAndItsDependentsWaitForAllOfThem) {
  Rules rules;
  rules.plan = [](const TaskAssignment& a) {
    if (!is_replan(a)) {
      std::vector<roles::SubtaskPlan> plan = a.goal_subtasks;
      plan[1].depends_on = {"s1"};  // s2 needs s1
      return plan;
    }
    // Split in two; the planner's ids clash with the goal's ("s2"), and b needs a.
    roles::SubtaskPlan first{"s2", "first half", "easy half", 0.1};
    roles::SubtaskPlan second{"b", "second half", "easy half", 0.1};
    second.depends_on = {"s2"};
    return std::vector<roles::SubtaskPlan>{first, second};
  };
  rules.correct = [](const TaskAssignment& a) { return a.task_id != "s1"; };
  Driver d(replanning({make_goal("g1", 2)}, 1), rules);
  d.join_team();
  d.start();
  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
  EXPECT_EQ(keys(d.dispatched(TaskKind::solve)),
            (Keys{"g1/s1#0", "g1/s1#1", "g1/s1.1#0", "g1/s1.2#0", "g1/s2#0"}));
  const auto& subtasks = d.goal(0).subtasks;
  ASSERT_EQ(subtasks.size(), 4u);
  EXPECT_EQ(subtasks[0].state, SubtaskState::replaced);
  EXPECT_EQ(subtasks[0].parts, (std::vector<std::uint32_t>{2, 3}));
  EXPECT_EQ(subtasks[2].plan.id, "s1.1");
  EXPECT_EQ(subtasks[3].plan.id, "s1.2");
  EXPECT_EQ(subtasks[3].plan.depends_on, (Keys{"s1.1"}));
  EXPECT_EQ(subtasks[2].part_of, 0u);
  EXPECT_EQ(subtasks[1].state, SubtaskState::resolved);
  // No spec subtask counts as missed: the parts are the planner's own.
  for (const auto& subtask : subtasks) EXPECT_FALSE(subtask.discovered);
}

// Plans that fail

TEST(Workflow, AFailedPlanIsRetriedUpToTheLimitThenTheGoalFails) {
  Rules rules;
  rules.plan_ok = [](const TaskAssignment&) { return false; };
  Driver d(make_scenario({make_goal("g1", 2)}), rules);
  d.join_team();
  d.start();
  for (std::uint32_t attempt = 0; attempt + 1 < Workflow::kMaxPlanAttempts; ++attempt) {
    auto out = d.answer("g1/plan#" + std::to_string(attempt));
    EXPECT_TRUE(accepted(out));
    EXPECT_EQ(keys(only<DispatchCommand>(out)), (Keys{"g1/plan#" + std::to_string(attempt + 1)}));
  }
  auto out = d.answer("g1/plan#" + std::to_string(Workflow::kMaxPlanAttempts - 1));
  EXPECT_TRUE(only<DispatchCommand>(out).empty());
  EXPECT_EQ(finished_goals(out), (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(count_of<RunFinishedCommand>(out), 1u);
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::failed);
  EXPECT_EQ(d.goal(0).reason, "planning failed: planner broke");
  EXPECT_EQ(d.goal(0).plan_attempts, Workflow::kMaxPlanAttempts);
  EXPECT_FALSE(d.goal(0).planned);
  EXPECT_EQ(d.counters().failed_attempts, Workflow::kMaxPlanAttempts);
  EXPECT_TRUE(d.dispatched(TaskKind::solve).empty());
}

TEST(Workflow, APlanThatSucceedsOnItsRetryGoesOn) {
  Rules rules;
  rules.plan_ok = [](const TaskAssignment& a) { return a.attempt == 1; };
  Driver d(make_scenario({make_goal("g1", 1)}), rules);
  d.join_team();
  d.start();
  ASSERT_TRUE(d.run());
  EXPECT_EQ(keys(d.dispatched(TaskKind::plan)), (Keys{"g1/plan#0", "g1/plan#1"}));
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
  EXPECT_EQ(d.goal(0).plan_attempts, 2u);
}

TEST(Workflow, AnUnusablePlanCountsAsAFailedPlan) {
  Rules rules;
  rules.plan = [](const TaskAssignment& a) {
    std::vector<roles::SubtaskPlan> plan;
    if (a.attempt == 0) plan = {a.goal_subtasks[0], a.goal_subtasks[0]};  // an id twice
    if (a.attempt == 1) plan = {};                                          // nothing
    if (a.attempt == 2) plan = {{"s1/x", "bad", "", 0.5}};                  // '/' in an id
    return plan;
  };
  Driver d(make_scenario({make_goal("g1", 1)}), rules);
  d.join_team();
  d.start();
  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.dispatched(TaskKind::plan).size(), Workflow::kMaxPlanAttempts);
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::failed);
  EXPECT_EQ(d.goal(0).reason, "planning failed: subtask id 's1/x' is empty or contains '/'");
  EXPECT_EQ(d.counters().failed_attempts, 0u);  // the planner itself answered ok
}

// Bug (runtime/src/workflow.cpp, plan_is_usable): a subtask id equal to "plan" is accepted, and
// its solve task g1/plan#0 collides with the plan task's key; the ledger keeps the first, so the
// coder's RESULT is refused as a duplicate and the goal never ends.
TEST(Workflow, ASubtaskNamedPlanDoesNotCollideWithThePlanTask) {
  Rules rules;
  rules.plan = [](const TaskAssignment&) {
    return std::vector<roles::SubtaskPlan>{{"plan", "make a plan", "", 0.5}};
  };
  Driver d(make_scenario({make_goal("g1", 1)}), rules);
  d.join_team();
  d.start();
  d.run();
  // Either outcome is acceptable (refused as a plan, or run as a subtask), but the goal must end
  // and no coder's answer may be refused as someone else's.
  EXPECT_TRUE(d.core.finished());
  EXPECT_NE(d.goal(0).outcome, GoalOutcome::none);
  EXPECT_EQ(d.counters().duplicates_ignored, 0u);
}

// ---------------------------------------------------------------------------------------------
// Failed attempts

TEST(Workflow, AFailedSolveCountsAsAFinishedCandidateWithNoReview) {
  Rules rules;
  rules.solve_ok = [](const TaskAssignment& a) { return a.attempt != 0; };
  Driver d(make_scenario({make_goal("g1", 1)}, 2), rules);
  d.join_team(2, 2);
  d.start();
  d.answer("g1/plan#0");
  auto out = d.answer("g1/s1#0");  // ok = false
  EXPECT_TRUE(accepted(out));
  EXPECT_TRUE(only<DispatchCommand>(out).empty());
  EXPECT_TRUE(d.goal(0).subtasks[0].round_candidates[0].finished);
  EXPECT_TRUE(d.goal(0).subtasks[0].round_candidates[0].solve_failed);
  d.answer("g1/s1#1");
  out = d.answer("g1/s1/review#1");
  EXPECT_EQ(finished_goals(out), (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(keys(d.dispatched(TaskKind::review)), (Keys{"g1/s1/review#1"}));
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
  EXPECT_EQ(d.counters().failed_attempts, 1u);
}

TEST(Workflow, WhenEverySolveOfARoundFailsTheNextRoundStartsWithoutFeedback) {
  Rules rules;
  rules.solve_ok = [](const TaskAssignment& a) { return a.revision >= 1; };
  Driver d(make_scenario({make_goal("g1", 1)}, 2, 1), rules);
  d.join_team(2, 2);
  d.start();
  d.answer("g1/plan#0");
  d.answer("g1/s1#0");
  auto out = d.answer("g1/s1#1");
  auto solves = dispatches_of(out, TaskKind::solve);
  EXPECT_EQ(keys(solves), (Keys{"g1/s1#2", "g1/s1#3"}));
  for (const auto& s : solves) EXPECT_TRUE(s.assignment.feedback.empty());
  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
}

TEST(Workflow, AFailedReviewCountsAsARejectionWithItsErrorAsFeedback) {
  Rules rules;
  rules.review_ok = [](const TaskAssignment& a) { return a.attempt != 0; };
  Driver d(make_scenario({make_goal("g1", 1)}, 1, 1), rules);
  d.join_team();
  d.start();
  ASSERT_TRUE(d.run());
  auto solves = d.dispatched(TaskKind::solve);
  ASSERT_EQ(keys(solves), (Keys{"g1/s1#0", "g1/s1#1"}));
  EXPECT_EQ(solves[1].assignment.feedback, (Keys{"review failed: critic broke"}));
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
}

TEST(Workflow, AReviewThatIsOkWithoutAVerdictCountsAsARejection) {
  Rules rules;
  Driver d(make_scenario({make_goal("g1", 1)}, 1, 0, OnExhausted::fail), rules);
  d.join_team();
  d.start();
  d.answer("g1/plan#0");
  d.answer("g1/s1#0");
  auto review = d.drop("g1/s1/review#0");
  TaskOutcome o = answer_for(d.rules, review.assignment);
  o.verdict.reset();
  d.send(review.agent_id, o);
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::failed);
}

// ---------------------------------------------------------------------------------------------
// Goals end once; the run ends once

TEST(Workflow, EveryGoalEndsInExactlyOneOutcomeAndTheRunFinishesOnceAfterTheLast) {
  Rules rules;
  rules.plan_ok = [](const TaskAssignment& a) { return a.goal_id != "g3"; };
  rules.plan = [](const TaskAssignment& a) {
    if (a.goal_id == "g4") return std::vector<roles::SubtaskPlan>{a.goal_subtasks[1]};
    return a.goal_subtasks;
  };
  rules.correct = [](const TaskAssignment& a) { return a.goal_id != "g2"; };
  Driver d(make_scenario({make_goal("g1", 2), make_goal("g2", 1), make_goal("g3", 1),
                          make_goal("g4", 2), make_goal("g5", 3)},
                         2, 1),
           rules);
  d.join_team(3, 2, 2);
  d.start();
  ASSERT_TRUE(d.run(Order::last_dispatched));

  std::map<std::uint32_t, int> finishes;
  for (const auto& g : only<GoalFinishedCommand>(d.log)) ++finishes[g.goal_index];
  EXPECT_EQ(finishes, (std::map<std::uint32_t, int>{{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}}));
  EXPECT_EQ(count_of<RunFinishedCommand>(d.log), 1u);
  EXPECT_TRUE(std::holds_alternative<RunFinishedCommand>(d.log.back()));
  EXPECT_EQ(d.core.finish_reason(), "all goals ended");
  EXPECT_EQ(d.core.ledger().open_goals(), 0u);
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
  EXPECT_EQ(d.goal(1).outcome, GoalOutcome::escalated);
  EXPECT_EQ(d.goal(2).outcome, GoalOutcome::failed);
  EXPECT_EQ(d.goal(3).outcome, GoalOutcome::resolved);
  EXPECT_TRUE(d.goal(3).subtasks[1].discovered);
  EXPECT_EQ(d.goal(4).outcome, GoalOutcome::resolved);
  for (const auto& g : d.core.ledger().goals()) EXPECT_GE(g.finished_at, 0) << g.spec.id;
  EXPECT_TRUE(d.pending.empty());

  // Nothing after the end: a late duplicate is refused and changes no outcome.
  auto any = d.dispatched().front();
  auto out = d.answer_dispatch(any);
  EXPECT_FALSE(accepted(out));
  EXPECT_EQ(count_of<GoalFinishedCommand>(out) + count_of<RunFinishedCommand>(out), 0u);
}

TEST(Workflow, TheRunDoesNotFinishWhileAnyGoalIsOpen) {
  Driver d(make_scenario({make_goal("g1", 1), make_goal("g2", 1)}));
  d.join_team();
  auto out = d.start();
  // One planner: earlier goals first, so g1's plan goes out and g2's waits.
  EXPECT_EQ(keys(only<DispatchCommand>(out)), (Keys{"g1/plan#0"}));
  out = d.answer("g1/plan#0");
  EXPECT_EQ(keys(dispatches_of(out, TaskKind::plan)), (Keys{"g2/plan#0"}));
  auto held = d.drop("g2/plan#0");  // the planner sits on it

  d.run();  // g1 runs to its end
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
  EXPECT_EQ(count_of<GoalFinishedCommand>(d.log), 1u);
  EXPECT_EQ(count_of<RunFinishedCommand>(d.log), 0u);
  EXPECT_FALSE(d.core.finished());

  d.answer_dispatch(held);
  ASSERT_TRUE(d.run());
  EXPECT_EQ(count_of<RunFinishedCommand>(d.log), 1u);
  EXPECT_EQ(d.goal(1).outcome, GoalOutcome::resolved);
}


// ---------------------------------------------------------------------------------------------
// Approval (workflow.approval: human — copilot mode)

bool is_approval(const TaskAssignment& a) { return a.kind == TaskKind::approve; }

Scenario copilot(std::vector<GoalSpec> goals) {
  Scenario s = make_scenario(std::move(goals));
  s.workflow.approval = Approval::human;
  s.pricing.human_usd_per_approval = 2.0;
  return s;
}

TEST(Workflow, WithHumanApprovalAFinishedGoalWaitsForAnApproveTaskBeforeItIsResolved) {
  Driver d(copilot({make_goal("g1", 2)}));
  d.join_team();
  d.start();
  d.held = is_approval;
  d.run();
  // The team's work is done, but the goal is open until the person answers.
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::none);
  EXPECT_TRUE(d.goal(0).awaiting_approval);
  EXPECT_EQ(count_of<GoalFinishedCommand>(d.log), 0u);
  auto approvals = d.dispatched(TaskKind::approve);
  ASSERT_EQ(approvals.size(), 1u);
  EXPECT_EQ(key_of(approvals[0].assignment), "g1/approve#0");
  EXPECT_EQ(approvals[0].agent_id, "human-1");
  EXPECT_EQ(approvals[0].assignment.role, "human");
  // The person sees every subtask's accepted answer and the workspace.
  ASSERT_TRUE(approvals[0].assignment.candidate);
  EXPECT_NE(approvals[0].assignment.candidate->content.find("code for g1/s1#0"),
            std::string::npos);
  EXPECT_NE(approvals[0].assignment.candidate->content.find("code for g1/s2#0"),
            std::string::npos);
  EXPECT_EQ(approvals[0].assignment.candidate->sim_correct, std::optional<bool>(true));
  const double usd_before = d.core.ledger().usd();

  auto out = d.answer("g1/approve#0");
  EXPECT_TRUE(accepted(out));
  EXPECT_EQ(finished_goals(out), (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
  EXPECT_FALSE(d.goal(0).awaiting_approval);
  EXPECT_EQ(count_of<RunFinishedCommand>(out), 1u);
  // The approval is charged at its human price (its tokens are 0... plus the test's fake ones).
  EXPECT_NEAR(d.core.ledger().usd() - usd_before,
              2.0 + (tokens_in_for(approvals[0].assignment) * 1.0 +
                     tokens_out_for(approvals[0].assignment) * 2.0) / 1e6,
              1e-9);
}

TEST(Workflow, AGoalRejectedAtApprovalFailsWithThePersonsReason) {
  Rules rules;
  rules.approve = [](const TaskAssignment&) { return roles::Verdict{false, 0.0, "not what I asked"}; };
  Driver d(copilot({make_goal("g1", 1)}), rules);
  d.join_team();
  d.start();
  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::failed);
  EXPECT_EQ(d.goal(0).reason, "rejected at approval: not what I asked");
}

TEST(Workflow, APersonWhoAnswersWithTheirOwnWorkAtApprovalMakesTheGoalEscalated) {
  Driver d(copilot({make_goal("g1", 1)}));
  d.join_team();
  d.start();
  d.held = is_approval;
  d.run();
  auto approval = d.drop("g1/approve#0");
  TaskOutcome own = roles::outcome_for(approval.assignment, "human");
  own.candidate = roles::Candidate{"my version", std::nullopt, {{"main.py", "print(1)\n"}}};
  auto out = d.send(approval.agent_id, own);
  EXPECT_TRUE(accepted(out));
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::escalated);
  EXPECT_EQ(d.goal(0).workspace.at("main.py"), "print(1)\n");
  EXPECT_EQ(only<WorkspaceCommand>(out).size(), 1u);
}

TEST(Workflow, WrongWorkIsCaughtAtApprovalAndAFailedGoalIsNotSentForApproval) {
  Rules rules;
  // The critic accepts everything, so g1's wrong work reaches the person; g2 fails outright.
  rules.correct = [](const TaskAssignment& a) { return a.goal_id == "g3"; };
  rules.review = [](const TaskAssignment& a) {
    return roles::Verdict{a.goal_id != "g2", 0.5, "no"};
  };
  Scenario s = copilot({make_goal("g1", 1), make_goal("g2", 1), make_goal("g3", 1)});
  s.workflow.on_exhausted = OnExhausted::fail;
  Driver d(s, rules);
  d.join_team();
  d.start();
  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::failed);  // the person saw it was wrong
  EXPECT_EQ(d.goal(1).outcome, GoalOutcome::failed);  // revisions exhausted: no approval asked
  EXPECT_EQ(d.goal(1).reason, "revisions exhausted");
  EXPECT_EQ(d.goal(2).outcome, GoalOutcome::resolved);
  Keys approved;
  for (const auto& a : d.dispatched(TaskKind::approve)) approved.push_back(key_of(a.assignment));
  EXPECT_EQ(approved, (Keys{"g1/approve#0", "g3/approve#0"}));
}

TEST(Workflow, AnApproveTaskHeldByAPersonHasNoLease) {
  Driver d(copilot({make_goal("g1", 1)}));
  d.join("planner-1", "planner");
  d.join("coder-1", "coder");
  d.join("critic-1", "critic");
  d.join_person(kInboxAgentId, "human");
  d.start();
  d.held = is_approval;
  d.run();
  auto approvals = d.dispatched(TaskKind::approve);
  ASSERT_EQ(approvals.size(), 1u);
  EXPECT_EQ(approvals[0].agent_id, kInboxAgentId);
  EXPECT_EQ(approvals[0].assignment.lease_ms, 0u);
  // Hours pass: nothing is requeued, and the core has no deadline to wake for.
  d.advance_s(6 * 3600);
  auto out = d.tick();
  EXPECT_TRUE(only<DispatchCommand>(out).empty());
  EXPECT_EQ(d.core.ledger().counters().requeued, 0u);
  EXPECT_FALSE(d.core.next_deadline().has_value());
  out = d.answer("g1/approve#0");
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
}

}  // namespace
}  // namespace cadre::runtime
