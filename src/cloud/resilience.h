// Retry backoff and a per-provider circuit breaker for cloud calls.
//
// Backoff: attempt k (1-based retry number) waits a uniformly random time in
// [d/2, d] with d = min(max_delay, base_delay * 2^(k-1)) ("equal jitter"): bounded, never zero,
// and spread so that clients retrying together do not hit a provider in lockstep.
//
// CircuitBreaker: closed -> open after `failure_threshold` consecutive failures; while open,
// calls are refused until `cooldown` passed; then half-open: one trial call is let through
// (others are refused while it runs); its success closes the breaker, its failure re-opens it
// for another cooldown. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>

#include "core/clock.h"

namespace mlxm::cloud {

struct RetryPolicy {
  int max_attempts = 3;  // per backend, first try included
  std::chrono::milliseconds base_delay{250};
  std::chrono::milliseconds max_delay{4000};
};

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, std::mt19937_64& rng);

struct BreakerPolicy {
  int failure_threshold = 5;
  std::chrono::milliseconds cooldown{30000};
};

enum class BreakerState { kClosed, kOpen, kHalfOpen };
const char* breaker_state_name(BreakerState s);  // "closed", "open", "half_open"

class CircuitBreaker {
 public:
  explicit CircuitBreaker(BreakerPolicy policy = {}) : policy_(policy) {}

  // Whether a call may go ahead now. In half-open state the first caller gets the trial.
  bool allow(TimePoint t = now());
  void on_success();
  void on_failure(TimePoint t = now());
  BreakerState state(TimePoint t = now()) const;
  int consecutive_failures() const;

 private:
  BreakerPolicy policy_;
  mutable std::mutex mu_;
  int n_failures_ = 0;
  bool open_ = false;
  bool trial_in_flight_ = false;
  TimePoint t_opened_{};
};

}  // namespace mlxm::cloud
