// Shared rate limits per model endpoint (scenario `models:`): the hub grants dispatches so that
// the whole team stays inside each endpoint's quota, however many agents share it.
//
// Per model: a request bucket (rpm), a token bucket (tpm), a cap on requests in flight
// (max_concurrency), and a team-wide backoff after the provider refuses a request (HTTP 429).
// Pure and deterministic: time comes in as `now`.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "cadre/runtime/clock.h"

namespace cadre::runtime {

struct RateLimits {
  double rpm = 0;                     // requests per minute, whole team (0: none)
  double tpm = 0;                     // tokens (in + out) per minute, whole team (0: none)
  std::uint32_t max_concurrency = 0;  // requests in flight at once (0: none)
};

class RateLimiter {
 public:
  static constexpr std::uint32_t kUnlimited = UINT32_MAX;
  // Tokens a request is assumed to use before any of that model's requests has reported.
  static constexpr double kFirstTokenEstimate = 1000;

  // One entry per model, addressed by its index in `limits`. Buckets start full.
  explicit RateLimiter(std::vector<RateLimits> limits, TimeUs now = 0);

  // How many requests model `m` may start at `now` (kUnlimited when nothing limits it).
  std::uint32_t allowance(std::size_t m, TimeUs now);
  // A request of model `m` starts (a task is dispatched): takes a request and the model's token
  // estimate from its buckets. Returns the estimate taken, for finished().
  double started(std::size_t m, TimeUs now);
  // A request that started ended: `tokens` it used as the provider reported them (0 when it was
  // cancelled or lost), `estimate` what started() took for it.
  void finished(std::size_t m, TimeUs now, std::uint64_t tokens, double estimate);
  // The provider refused a request (429): nothing more starts for `retry_after_s` (or a backoff
  // doubling from 1 s when it gave none), and the rates the team may use are halved, recovering
  // by a twentieth per request that succeeds.
  void refused(std::size_t m, TimeUs now, std::optional<double> retry_after_s);

  // When an allowance that is 0 now can next become positive by time alone (a bucket refills or
  // a backoff ends); nullopt when none is waiting on time.
  std::optional<TimeUs> next_refill(TimeUs now) const;

  std::size_t models() const { return state_.size(); }
  std::uint32_t in_flight(std::size_t m) const { return state_[m].in_flight; }
  std::uint64_t refusals(std::size_t m) const { return state_[m].refusals; }
  double rate_factor(std::size_t m) const { return state_[m].factor; }

 private:
  struct State {
    RateLimits limits;
    double requests = 0;  // request bucket level
    double tokens = 0;    // token bucket level (may go below 0 after an underestimate)
    TimeUs refilled_at = 0;
    std::uint32_t in_flight = 0;
    double token_estimate = kFirstTokenEstimate;
    std::uint64_t reported = 0;  // requests that reported tokens (for the running estimate)
    TimeUs backoff_until = 0;
    double backoff_s = 0;  // the last backoff without a Retry-After
    double factor = 1.0;   // share of the quota the team uses now (halved by a refusal)
    std::uint64_t refusals = 0;
  };
  static void refill(State& state, TimeUs now);
  static double request_capacity(const State& state);
  static double token_capacity(const State& state);

  std::vector<State> state_;
};

}  // namespace cadre::runtime
