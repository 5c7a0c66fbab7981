// Shared model quotas: the limiter's buckets and backoff, and the core placing only what they
// grant (scenario `models:`).
#include "cadre/runtime/rate_limiter.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core_test_support.h"

namespace cadre::runtime {
namespace {

using coretest::Driver;
using coretest::make_goal;
using coretest::make_scenario;

TimeUs s(double seconds) { return seconds_to_us(seconds); }

TEST(RateLimiter, AModelWithoutLimitsIsUnlimited) {
  RateLimiter limiter({RateLimits{}});
  EXPECT_EQ(limiter.allowance(0, 0), RateLimiter::kUnlimited);
  limiter.started(0, 0);
  EXPECT_EQ(limiter.allowance(0, 0), RateLimiter::kUnlimited);
  EXPECT_FALSE(limiter.next_refill(0).has_value());
}

TEST(RateLimiter, RequestsPerMinuteRefillASecondsWorthAtATime) {
  RateLimiter limiter({RateLimits{120, 0, 0}});  // 2 per second, a burst of 2
  EXPECT_EQ(limiter.allowance(0, 0), 2u);
  limiter.started(0, 0);
  limiter.started(0, 0);
  EXPECT_EQ(limiter.allowance(0, 0), 0u);
  EXPECT_EQ(limiter.next_refill(0), s(0.5));
  EXPECT_EQ(limiter.allowance(0, s(0.5)), 1u);
  EXPECT_EQ(limiter.allowance(0, s(100)), 2u) << "never more than a second's worth";
  // Over a long stretch the team gets exactly its quota.
  RateLimiter paced({RateLimits{60, 0, 0}});
  int started = 0;
  for (TimeUs t = 0; t <= s(60); t += s(0.01))
    while (paced.allowance(0, t) > 0) {
      paced.started(0, t);
      ++started;
    }
  EXPECT_EQ(started, 61);  // one at t = 0, then one a second
}

TEST(RateLimiter, ConcurrencyIsFreedByFinishedRequestsNotByTime) {
  RateLimiter limiter({RateLimits{0, 0, 2}});
  const double a = limiter.started(0, 0);
  limiter.started(0, 0);
  EXPECT_EQ(limiter.allowance(0, s(10)), 0u);
  EXPECT_FALSE(limiter.next_refill(s(10)).has_value());
  limiter.finished(0, s(10), 0, a);
  EXPECT_EQ(limiter.allowance(0, s(10)), 1u);
  EXPECT_EQ(limiter.in_flight(0), 1u);
}

TEST(RateLimiter, TokensPerMinuteFollowWhatRequestsReallyUse) {
  RateLimiter limiter({RateLimits{0, 60000, 0}});  // 1,000 tokens a second
  EXPECT_EQ(limiter.allowance(0, 0), 1u);            // the first estimate is 1,000 tokens
  const double estimate = limiter.started(0, 0);
  EXPECT_DOUBLE_EQ(estimate, RateLimiter::kFirstTokenEstimate);
  EXPECT_EQ(limiter.allowance(0, 0), 0u);
  limiter.finished(0, 0, 3000, estimate);  // it used three times that: 2,000 tokens in debt
  const auto refill = limiter.next_refill(0);
  ASSERT_TRUE(refill.has_value());
  EXPECT_GT(*refill, s(2.0) - 1);
  EXPECT_LT(*refill, s(2.1));
  EXPECT_EQ(limiter.allowance(0, s(1.9)), 0u);
  EXPECT_GT(limiter.allowance(0, s(2.1)), 0u);
}

TEST(RateLimiter, ARefusalBacksTheWholeModelOffAndHalvesItsRate) {
  RateLimiter limiter({RateLimits{600, 0, 0}});
  EXPECT_EQ(limiter.allowance(0, 0), 10u);
  limiter.refused(0, 0, 2.0);  // Retry-After: 2
  EXPECT_EQ(limiter.allowance(0, s(1.99)), 0u);
  EXPECT_DOUBLE_EQ(limiter.rate_factor(0), 0.5);
  EXPECT_GE(*limiter.next_refill(s(1)), s(2));
  EXPECT_EQ(limiter.allowance(0, s(10)), 5u) << "half the rate, half the burst";
  limiter.refused(0, s(10), std::nullopt);  // no Retry-After: 1 s, then 2 s, ...
  EXPECT_EQ(limiter.allowance(0, s(10.99)), 0u);
  limiter.refused(0, s(11), std::nullopt);
  EXPECT_EQ(limiter.allowance(0, s(12.99)), 0u);
  EXPECT_EQ(limiter.refusals(0), 3u);
  // Successes earn the rate back.
  for (int i = 0; i < 40; ++i) limiter.finished(0, s(20), 100, 0);
  EXPECT_DOUBLE_EQ(limiter.rate_factor(0), 1.0);
}

// The core with a model that has a quota: the whole team ("m") shares it.
Scenario with_quota(std::vector<GoalSpec> goals, double rpm, std::uint32_t max_concurrency) {
  Scenario sc = make_scenario(std::move(goals));
  ModelEndpoint m;
  m.name = "m";
  m.base_url = "http://127.0.0.1:1/v1";
  m.model = "provider-model";
  m.rpm = rpm;
  m.max_concurrency = max_concurrency;
  sc.models["m"] = m;
  return sc;
}

// Runs the team to the end, answering the oldest dispatch at each step and letting time pass to
// the next deadline when nothing is pending; calls `check` after every event.
template <class Check>
void run_with_time(Driver& d, Check check) {
  for (int step = 0; step < 10000 && !d.core.finished(); ++step) {
    if (!d.pending.empty()) {
      d.advance_s(0.01);
      d.answer_index(0);
    } else {
      const auto next = d.core.next_deadline();
      ASSERT_TRUE(next.has_value()) << "work waits and nothing will wake the hub";
      d.now = std::max(d.now, *next);
      d.tick();
    }
    check();
  }
  ASSERT_TRUE(d.core.finished());
}

TEST(HubCoreQuota, NoMoreRequestsThanMaxConcurrencyAreInFlightAcrossTheTeam) {
  Driver d(with_quota({make_goal("g1", 4), make_goal("g2", 3)}, 0, 2));
  d.join_team(4, 2, 2);  // room for 14 tasks at once
  d.start();
  std::size_t most = 0;
  run_with_time(d, [&] {
    EXPECT_LE(d.pending.size(), 2u);
    most = std::max(most, d.pending.size());
  });
  EXPECT_EQ(most, 2u);
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
  EXPECT_EQ(d.goal(1).outcome, GoalOutcome::resolved);
}

TEST(HubCoreQuota, DispatchesArePacedToTheRequestsPerMinuteOfTheModel) {
  Driver d(with_quota({make_goal("g1", 3), make_goal("g2", 3)}, 60, 0));  // one a second
  d.join_team(3, 2, 2);
  d.start();
  run_with_time(d, [] {});
  std::vector<TimeUs> starts;
  for (const auto& span : d.core.ledger().spans()) starts.push_back(span.start);
  std::sort(starts.begin(), starts.end());
  ASSERT_GT(starts.size(), 10u);
  for (std::size_t i = 1; i < starts.size(); ++i)
    EXPECT_GE(starts[i] - starts[i - 1], s(1) - 1) << "dispatch " << i;
  // An agent of a model without a quota is not held back.
  Scenario free = with_quota({make_goal("g1", 3)}, 60, 0);
  free.models["m"].rpm = 0;
  Driver unlimited(free);
  unlimited.join_team(3, 2, 2);
  unlimited.start();
  unlimited.answer("g1/plan#0");
  EXPECT_EQ(unlimited.pending.size(), 3u);
}

TEST(HubCoreQuota, ARefusedRequestGoesBackToTheQueueAndTheWholeModelWaitsOutTheRetryAfter) {
  Driver d(with_quota({make_goal("g1", 2)}, 600, 0));  // 10 a second: pacing is not the point
  d.join_team(2, 1, 1);
  d.start();
  d.answer("g1/plan#0");
  ASSERT_EQ(d.pending.size(), 2u);  // both solves went out
  const auto refused = d.drop("g1/s1#0");
  roles::TaskOutcome outcome = coretest::answer_for(d.rules, refused.assignment);
  outcome.ok = false;
  outcome.error = "HTTP 429";
  outcome.rate_limited = true;
  outcome.retry_after_s = 2.0;
  auto out = d.send(refused.agent_id, outcome);
  auto acks = coretest::only<AckCommand>(out);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_TRUE(acks[0].ack.accepted);
  EXPECT_TRUE(coretest::only<DispatchCommand>(out).empty()) << "the model waits 2 s";
  EXPECT_EQ(d.counters().refused, 1u);
  EXPECT_EQ(d.counters().failed_attempts, 0u);
  EXPECT_EQ(d.counters().completed, 1u);  // the plan only
  EXPECT_DOUBLE_EQ(d.core.ledger().usd(), [&] {
    double usd = 0;
    for (TaskId t = 0; t < d.core.ledger().task_count(); ++t) usd += d.core.ledger().task(t).usd;
    return usd;
  }());
  // The other solve's answer comes back meanwhile: its review waits too (same model).
  d.advance_s(0.5);
  out = d.answer("g1/s2#0");
  EXPECT_TRUE(coretest::only<DispatchCommand>(out).empty());
  // The hub wakes when the backoff ends and sends both.
  const auto wake = d.core.next_deadline();
  ASSERT_TRUE(wake.has_value());
  EXPECT_GE(*wake, seconds_to_us(2.0));
  d.now = *wake;
  out = d.tick();
  EXPECT_FALSE(coretest::only<DispatchCommand>(out).empty());
  run_with_time(d, [] {});
  EXPECT_EQ(d.goal(0).outcome, GoalOutcome::resolved);
  // The refused dispatch is a span of its own, ended "refused".
  bool seen = false;
  for (const auto& span : d.core.ledger().spans()) seen = seen || span.how == SpanEnd::refused;
  EXPECT_TRUE(seen);
}

TEST(HubCoreQuota, AGoalHeldBackByItsModelsQuotaStallsAsRateLimited) {
  Scenario sc = with_quota({make_goal("g1", 1)}, 0.6, 0);  // one request every 100 s
  sc.workflow.stall_s = 5;
  Driver d(sc);
  d.join_team();
  d.start();
  d.advance_s(1);
  d.answer("g1/plan#0");  // the solve waits for the bucket
  EXPECT_TRUE(d.pending.empty());
  d.advance_s(5);
  auto stalled = coretest::only<GoalStalledCommand>(d.tick());
  ASSERT_EQ(stalled.size(), 1u);
  EXPECT_EQ(stalled[0].reason, "rate-limited: model m is at its quota (s1 waits)");
}

}  // namespace
}  // namespace cadre::runtime
