#include "auth/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace mlxm::auth {
namespace {

constexpr size_t kPruneAbove = 10'000;  // clients tracked before full buckets are dropped

constexpr double kEps = 1e-9;  // floating-point slack: 15 s at 3/min is 0.75 tokens, not 0.7499..

double seconds_between(TimePoint a, TimePoint b) {
  return std::chrono::duration<double>(b - a).count();
}

int64_t ceil_s(double x) {
  return static_cast<int64_t>(std::ceil(x - kEps));
}

}  // namespace

void RateLimiter::set_rpm(int64_t rpm) {
  std::lock_guard lock(mu_);
  rpm_ = std::max<int64_t>(rpm, 0);
  for (auto& [_, b] : buckets_) b.tokens = std::min(b.tokens, static_cast<double>(rpm_));
}

int64_t RateLimiter::rpm() const {
  std::lock_guard lock(mu_);
  return rpm_;
}

size_t RateLimiter::n_clients() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

void RateLimiter::prune_locked(TimePoint t) {
  const double capacity = static_cast<double>(rpm_);
  const double rate = capacity / 60.0;
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    // A bucket that has refilled completely holds no information: drop it.
    if (it->second.tokens + seconds_between(it->second.last, t) * rate >= capacity) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
}

RateDecision RateLimiter::check(const std::string& client, TimePoint t) {
  std::lock_guard lock(mu_);
  RateDecision d;
  if (rpm_ <= 0) return d;
  const double capacity = static_cast<double>(rpm_);
  const double rate = capacity / 60.0;  // tokens per second
  if (buckets_.size() > kPruneAbove) prune_locked(t);
  auto [it, fresh] = buckets_.try_emplace(client);
  Bucket& b = it->second;
  if (fresh) {
    b.tokens = capacity;
  } else {
    b.tokens = std::min(capacity, b.tokens + std::max(0.0, seconds_between(b.last, t)) * rate);
  }
  b.last = std::max(b.last, t);
  d.limit = rpm_;
  if (b.tokens >= 1.0 - kEps) {
    b.tokens = std::max(0.0, b.tokens - 1.0);
  } else {
    d.allowed = false;
    d.retry_after_s = std::max<int64_t>(1, ceil_s((1.0 - b.tokens) / rate));
  }
  d.remaining = static_cast<int64_t>(std::floor(b.tokens + kEps));
  d.reset_s = std::max<int64_t>(0, ceil_s((capacity - b.tokens) / rate));
  return d;
}

}  // namespace mlxm::auth
