#include "cloud/resilience.h"

#include <algorithm>

namespace mlxm::cloud {

std::chrono::milliseconds backoff_delay(const RetryPolicy& p, int retry, std::mt19937_64& rng) {
  const int shift = std::clamp(retry - 1, 0, 30);
  const int64_t base = std::max<int64_t>(1, p.base_delay.count());
  const int64_t cap = std::max<int64_t>(1, p.max_delay.count());
  const int64_t d = std::min<int64_t>(cap, base << shift);
  std::uniform_int_distribution<int64_t> dist(std::max<int64_t>(1, d / 2), d);
  return std::chrono::milliseconds(dist(rng));
}

const char* breaker_state_name(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed: return "closed";
    case BreakerState::kOpen: return "open";
    case BreakerState::kHalfOpen: return "half_open";
  }
  return "closed";
}

bool CircuitBreaker::allow(TimePoint t) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!open_) return true;
  if (t - t_opened_ < policy_.cooldown) return false;
  if (trial_in_flight_) return false;
  trial_in_flight_ = true;  // half-open: this caller is the trial
  return true;
}

void CircuitBreaker::on_success() {
  std::lock_guard<std::mutex> lock(mu_);
  n_failures_ = 0;
  open_ = false;
  trial_in_flight_ = false;
}

void CircuitBreaker::on_failure(TimePoint t) {
  std::lock_guard<std::mutex> lock(mu_);
  ++n_failures_;
  if (open_ || n_failures_ >= policy_.failure_threshold) {
    open_ = true;  // a failed trial re-opens for a new cooldown
    t_opened_ = t;
  }
  trial_in_flight_ = false;
}

BreakerState CircuitBreaker::state(TimePoint t) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!open_) return BreakerState::kClosed;
  return t - t_opened_ < policy_.cooldown ? BreakerState::kOpen : BreakerState::kHalfOpen;
}

int CircuitBreaker::consecutive_failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return n_failures_;
}

}  // namespace mlxm::cloud
