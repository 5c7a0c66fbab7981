// The restart policy of `cadre run`: intensity limit, backoff and its reset, roles lost. Times are
// passed in; nothing sleeps.
#include "cadre/runtime/supervisor.h"

#include <gtest/gtest.h>

namespace cadre::runtime {
namespace {

Supervision settings(std::uint32_t max_restarts, double period_s, double backoff_s,
                     double backoff_max_s) {
  Supervision s;
  s.max_restarts = max_restarts;
  s.period_s = period_s;
  s.backoff_s = backoff_s;
  s.backoff_max_s = backoff_max_s;
  return s;
}

// Dies at `t`, expects a restart, and carries it out when it is due.
RestartDecision die_and_restart(Supervisor& supervisor, const std::string& agent, double t) {
  auto decision = supervisor.died(agent, t);
  EXPECT_TRUE(decision.ok()) << decision.error().to_string();
  if (!decision.ok()) return {};
  EXPECT_TRUE(decision->restart) << agent << " at " << t << ": " << decision->reason;
  if (!decision->restart) return *decision;
  EXPECT_EQ(supervisor.due(decision->restart_at), std::vector<std::string>{agent});
  EXPECT_TRUE(supervisor.restarted(agent, decision->restart_at).ok());
  return *decision;
}

TEST(Supervisor, ARestartIsDueAfterTheBackoffAndIsCounted) {
  Supervisor supervisor(settings(3, 60, 0.5, 10));
  ASSERT_TRUE(supervisor.add("coder-1", "coder", 0).ok());
  ASSERT_TRUE(supervisor.add("coder-2", "coder", 0).ok());

  auto decision = supervisor.died("coder-1", 5.0);
  ASSERT_TRUE(decision.ok());
  EXPECT_TRUE(decision->restart);
  EXPECT_DOUBLE_EQ(decision->delay_s, 0.5);
  EXPECT_DOUBLE_EQ(decision->restart_at, 5.5);
  EXPECT_EQ(decision->restarts_in_period, 0u);
  EXPECT_EQ(supervisor.state("coder-1"), AgentState::restart_pending);
  EXPECT_EQ(supervisor.next_due(), 5.5);

  EXPECT_TRUE(supervisor.due(5.4).empty());
  EXPECT_EQ(supervisor.due(5.5), std::vector<std::string>{"coder-1"});
  EXPECT_EQ(supervisor.restarts("coder-1"), 0u);  // counted when carried out
  ASSERT_TRUE(supervisor.restarted("coder-1", 5.5).ok());
  EXPECT_EQ(supervisor.state("coder-1"), AgentState::running);
  EXPECT_TRUE(supervisor.due(100).empty());
  EXPECT_FALSE(supervisor.next_due().has_value());
  EXPECT_EQ(supervisor.restart_counts(),
            (std::map<std::string, std::uint32_t>{{"coder-1", 1}, {"coder-2", 0}}));
}

TEST(Supervisor, TheBackoffDoublesPerRestartInARowUpToTheCap) {
  Supervisor supervisor(settings(100, 1000, 0.5, 3));
  ASSERT_TRUE(supervisor.add("a", "coder", 0).ok());
  std::vector<double> delays;
  double t = 1;
  for (int i = 0; i < 5; ++i) {
    const auto decision = die_and_restart(supervisor, "a", t);
    delays.push_back(decision.delay_s);
    t = decision.restart_at + 1;  // crashes 1 s after each start
  }
  EXPECT_EQ(delays, (std::vector<double>{0.5, 1, 2, 3, 3}));
}

TEST(Supervisor, AZeroBackoffRestartsAtOnce) {
  Supervisor supervisor(settings(3, 60, 0, 0));
  ASSERT_TRUE(supervisor.add("a", "coder", 0).ok());
  const auto decision = die_and_restart(supervisor, "a", 7);
  EXPECT_DOUBLE_EQ(decision.restart_at, 7);
}

TEST(Supervisor, TheBackoffStartsOverAfterTheAgentRanStablyForAPeriod) {
  Supervisor supervisor(settings(100, 10, 1, 60));
  ASSERT_TRUE(supervisor.add("a", "coder", 0).ok());
  auto d1 = die_and_restart(supervisor, "a", 2);              // delay 1, started at 3
  auto d2 = die_and_restart(supervisor, "a", d1.restart_at + 9.5);  // ran 9.5 s: delay 2
  EXPECT_DOUBLE_EQ(d2.delay_s, 2);
  auto d3 = die_and_restart(supervisor, "a", d2.restart_at + 10);  // ran 10 s: back to 1
  EXPECT_DOUBLE_EQ(d3.delay_s, 1);
  auto d4 = die_and_restart(supervisor, "a", d3.restart_at + 0.25);
  EXPECT_DOUBLE_EQ(d4.delay_s, 2);
}

TEST(Supervisor, PastTheIntensityLimitTheAgentIsLeftDown) {
  Supervisor supervisor(settings(2, 30, 0.1, 10));
  ASSERT_TRUE(supervisor.add("coder-1", "coder", 0).ok());
  ASSERT_TRUE(supervisor.add("coder-2", "coder", 0).ok());
  auto d1 = die_and_restart(supervisor, "coder-1", 1);
  auto d2 = die_and_restart(supervisor, "coder-1", d1.restart_at + 1);
  EXPECT_EQ(d2.restarts_in_period, 1u);

  auto third = supervisor.died("coder-1", d2.restart_at + 1);
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->restart);
  EXPECT_EQ(third->restarts_in_period, 2u);
  EXPECT_EQ(third->reason, "2 restarts within 30 s");
  EXPECT_TRUE(supervisor.down("coder-1"));
  EXPECT_FALSE(supervisor.down("coder-2"));
  EXPECT_TRUE(supervisor.due(1e9).empty());
  EXPECT_EQ(supervisor.restarts("coder-1"), 2u);

  // Down is for good: later deaths and restarts are refused, changing nothing.
  EXPECT_FALSE(supervisor.died("coder-1", 1000).ok());
  EXPECT_FALSE(supervisor.restarted("coder-1", 1000).ok());
  EXPECT_TRUE(supervisor.down("coder-1"));
  // One coder is left: the role is not lost.
  EXPECT_TRUE(supervisor.lost_roles({"coder"}).empty());
  EXPECT_EQ(supervisor.failure({"coder"}), "");
}

TEST(Supervisor, RestartsOlderThanThePeriodNoLongerCount) {
  Supervisor supervisor(settings(2, 30, 0.1, 10));
  ASSERT_TRUE(supervisor.add("a", "coder", 0).ok());
  die_and_restart(supervisor, "a", 1);
  die_and_restart(supervisor, "a", 2);
  // The first restart (decided at 1) is out of the window at 31; the second (at 2) is still in.
  auto decision = die_and_restart(supervisor, "a", 31);
  EXPECT_EQ(decision.restarts_in_period, 1u);
  // Now restarts decided at 2 and 31 are in the window at 31.5: the limit is reached.
  auto last = supervisor.died("a", 31.5);
  ASSERT_TRUE(last.ok());
  EXPECT_FALSE(last->restart);
  EXPECT_EQ(supervisor.restarts("a"), 3u);
}

TEST(Supervisor, MaxRestartsZeroNeverRestarts) {
  Supervisor supervisor(settings(0, 60, 0.5, 10));
  ASSERT_TRUE(supervisor.add("critic-1", "critic", 0).ok());
  auto decision = supervisor.died("critic-1", 3);
  ASSERT_TRUE(decision.ok());
  EXPECT_FALSE(decision->restart);
  EXPECT_NE(decision->reason.find("max_restarts = 0"), std::string::npos) << decision->reason;
  EXPECT_TRUE(supervisor.down("critic-1"));
  EXPECT_EQ(supervisor.failure({"critic"}),
            "no critic left: critic-1 has died and restarts are off (supervision.max_restarts = 0)");
}

TEST(Supervisor, ARoleIsLostWhenEveryOneOfItsAgentsIsDown) {
  Supervisor supervisor(settings(1, 60, 0.5, 10));
  for (const char* id : {"coder-1", "coder-2"}) ASSERT_TRUE(supervisor.add(id, "coder", 0).ok());
  ASSERT_TRUE(supervisor.add("critic-1", "critic", 0).ok());
  const std::set<std::string> needed = {"coder", "critic", "planner"};

  die_and_restart(supervisor, "coder-1", 1);
  ASSERT_FALSE(supervisor.died("coder-1", 2)->restart);
  EXPECT_EQ(supervisor.failure(needed), "");  // coder-2 is left

  // coder-2 waiting for its restart still counts as alive.
  ASSERT_TRUE(supervisor.died("coder-2", 3)->restart);
  EXPECT_EQ(supervisor.failure(needed), "");
  ASSERT_TRUE(supervisor.restarted("coder-2", 3.5).ok());
  ASSERT_FALSE(supervisor.died("coder-2", 4)->restart);

  EXPECT_EQ(supervisor.lost_roles(needed), std::vector<std::string>{"coder"});
  EXPECT_EQ(supervisor.failure(needed),
            "no coder left: coder-1, coder-2 were restarted 1 time within 60 s and left down");
  // A role the run no longer needs is not a failure; a role with no agents is not lost.
  EXPECT_EQ(supervisor.failure({"critic", "planner"}), "");
}

TEST(Supervisor, SeveralLostRolesAreAllNamed) {
  Supervisor supervisor(settings(1, 60, 0, 0));
  ASSERT_TRUE(supervisor.add("coder-1", "coder", 0).ok());
  ASSERT_TRUE(supervisor.add("critic-1", "critic", 0).ok());
  for (const char* id : {"coder-1", "critic-1"}) {
    die_and_restart(supervisor, id, 1);
    ASSERT_FALSE(supervisor.died(id, 2)->restart);
  }
  EXPECT_EQ(supervisor.failure({"coder", "critic"}),
            "no coder left: coder-1 was restarted 1 time within 60 s and left down; "
            "no critic left: critic-1 was restarted 1 time within 60 s and left down");
}

TEST(Supervisor, MisuseIsAnErrorValueAndChangesNothing) {
  Supervisor supervisor(settings(3, 60, 0.5, 10));
  ASSERT_TRUE(supervisor.add("a", "coder", 0).ok());
  EXPECT_FALSE(supervisor.add("a", "coder", 1).ok());
  EXPECT_FALSE(supervisor.died("nobody", 1).ok());
  EXPECT_FALSE(supervisor.restarted("nobody", 1).ok());
  EXPECT_FALSE(supervisor.restarted("a", 1).ok());  // running: no restart pending
  EXPECT_FALSE(supervisor.state("nobody").has_value());
  EXPECT_FALSE(supervisor.down("nobody"));
  EXPECT_EQ(supervisor.restarts("nobody"), 0u);

  ASSERT_TRUE(supervisor.died("a", 1)->restart);
  EXPECT_FALSE(supervisor.died("a", 1.1).ok());  // already awaiting its restart
  EXPECT_EQ(supervisor.state("a"), AgentState::restart_pending);
  EXPECT_EQ(supervisor.restarts("a"), 0u);
}

TEST(Supervisor, DueListsEarliestFirst) {
  Supervisor supervisor(settings(3, 60, 1, 10));
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(supervisor.add(id, "coder", 0).ok());
  ASSERT_TRUE(supervisor.died("c", 1)->restart);    // due 2
  ASSERT_TRUE(supervisor.died("a", 3)->restart);    // due 4
  ASSERT_TRUE(supervisor.died("b", 1.5)->restart);  // due 2.5
  EXPECT_EQ(supervisor.due(10), (std::vector<std::string>{"c", "b", "a"}));
  EXPECT_EQ(supervisor.due(2.5), (std::vector<std::string>{"c", "b"}));
  EXPECT_EQ(supervisor.next_due(), 2.0);
}

}  // namespace
}  // namespace cadre::runtime
