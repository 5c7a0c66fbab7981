#include "cadre/runtime/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace cadre::runtime {
namespace {

constexpr double kMinFactor = 0.05;        // a refused team never drops below this share
constexpr double kRecoveryPerSuccess = 0.05;
constexpr double kFirstBackoffS = 1.0;
constexpr double kMaxBackoffS = 60.0;

}  // namespace

RateLimiter::RateLimiter(std::vector<RateLimits> limits, TimeUs now) {
  state_.reserve(limits.size());
  for (const RateLimits& l : limits) {
    State state;
    state.limits = l;
    state.refilled_at = now;
    state.requests = request_capacity(state);
    state.tokens = token_capacity(state);
    state_.push_back(state);
  }
}

// A second's worth of the quota, at least one request: providers enforce per-minute quotas in
// shorter slices, so the team spreads its requests rather than spending a minute's at once.
double RateLimiter::request_capacity(const State& state) {
  return std::max(1.0, state.limits.rpm * state.factor / 60.0);
}

double RateLimiter::token_capacity(const State& state) {
  return std::max(state.token_estimate, state.limits.tpm * state.factor / 60.0);
}

void RateLimiter::refill(State& state, TimeUs now) {
  if (now <= state.refilled_at) return;
  const double seconds = us_to_seconds(now - state.refilled_at);
  state.refilled_at = now;
  if (state.limits.rpm > 0)
    state.requests = std::min(request_capacity(state),
                              state.requests + seconds * state.limits.rpm * state.factor / 60.0);
  if (state.limits.tpm > 0)
    state.tokens = std::min(token_capacity(state),
                            state.tokens + seconds * state.limits.tpm * state.factor / 60.0);
}

std::uint32_t RateLimiter::allowance(std::size_t m, TimeUs now) {
  State& state = state_[m];
  refill(state, now);
  if (now < state.backoff_until) return 0;
  std::uint32_t allowed = kUnlimited;
  if (state.limits.max_concurrency > 0)
    allowed = state.limits.max_concurrency > state.in_flight
                  ? state.limits.max_concurrency - state.in_flight
                  : 0;
  if (state.limits.rpm > 0)
    allowed = std::min<std::uint32_t>(allowed, static_cast<std::uint32_t>(std::floor(state.requests)));
  if (state.limits.tpm > 0) {
    const double by_tokens =
        state.tokens > 0 ? std::max(1.0, std::floor(state.tokens / state.token_estimate)) : 0.0;
    allowed = std::min<std::uint32_t>(allowed, static_cast<std::uint32_t>(std::min(by_tokens, 1e9)));
  }
  return allowed;
}

double RateLimiter::started(std::size_t m, TimeUs now) {
  State& state = state_[m];
  refill(state, now);
  ++state.in_flight;
  if (state.limits.rpm > 0) state.requests -= 1.0;
  const double estimate = state.limits.tpm > 0 ? state.token_estimate : 0.0;
  state.tokens -= estimate;
  return estimate;
}

void RateLimiter::finished(std::size_t m, TimeUs now, std::uint64_t tokens, double estimate) {
  State& state = state_[m];
  refill(state, now);
  if (state.in_flight > 0) --state.in_flight;
  if (state.limits.tpm > 0) state.tokens += estimate - static_cast<double>(tokens);
  if (tokens > 0) {
    // A running mean of what a request uses: the next estimates follow the team's real usage.
    ++state.reported;
    state.token_estimate += (static_cast<double>(tokens) - state.token_estimate) /
                            static_cast<double>(std::min<std::uint64_t>(state.reported, 20));
    state.factor = std::min(1.0, state.factor + kRecoveryPerSuccess);
    state.backoff_s = 0;
  }
}

void RateLimiter::refused(std::size_t m, TimeUs now, std::optional<double> retry_after_s) {
  State& state = state_[m];
  refill(state, now);
  ++state.refusals;
  state.factor = std::max(kMinFactor, state.factor / 2);
  double wait = 0;
  if (retry_after_s && *retry_after_s > 0) {
    wait = std::min(*retry_after_s, kMaxBackoffS);
  } else {
    state.backoff_s = state.backoff_s > 0 ? std::min(kMaxBackoffS, 2 * state.backoff_s)
                                          : kFirstBackoffS;
    wait = state.backoff_s;
  }
  state.backoff_until = std::max(state.backoff_until, now + seconds_to_us(wait));
  // The buckets start over from empty: what the team thought it had, the provider did not.
  state.requests = std::min(state.requests, 0.0);
  state.tokens = std::min(state.tokens, 0.0);
}

std::optional<TimeUs> RateLimiter::next_refill(TimeUs now) const {
  std::optional<TimeUs> next;
  auto consider = [&](TimeUs at) {
    if (!next || at < *next) next = at;
  };
  for (State state : state_) {  // a copy: the levels as they will be at `now`
    refill(state, now);
    if (state.limits.max_concurrency > 0 && state.in_flight >= state.limits.max_concurrency)
      continue;  // waits on a result, not on time
    TimeUs at = now;
    bool waits = false;
    if (now < state.backoff_until) {
      at = state.backoff_until;
      waits = true;
    }
    const double per_us_requests = state.limits.rpm * state.factor / 60.0 / 1e6;
    if (state.limits.rpm > 0 && state.requests < 1.0) {
      at = std::max(at, now + static_cast<TimeUs>(std::ceil((1.0 - state.requests) / per_us_requests)));
      waits = true;
    }
    const double per_us_tokens = state.limits.tpm * state.factor / 60.0 / 1e6;
    if (state.limits.tpm > 0 && state.tokens <= 0) {
      at = std::max(at, now + static_cast<TimeUs>(std::ceil(-state.tokens / per_us_tokens)) + 1);
      waits = true;
    }
    if (waits) consider(at);
  }
  return next;
}

}  // namespace cadre::runtime
