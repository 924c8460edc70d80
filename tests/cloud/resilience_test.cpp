#include "cloud/resilience.h"

#include <gtest/gtest.h>

#include <set>

namespace mlxm::cloud {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, BoundedJitteredAndGrowing) {
  RetryPolicy p;
  p.base_delay = milliseconds(100);
  p.max_delay = milliseconds(1000);
  std::mt19937_64 rng(1);
  for (int retry = 1; retry <= 40; ++retry) {
    const int64_t d = std::min<int64_t>(1000, int64_t{100} << std::min(retry - 1, 20));
    for (int i = 0; i < 50; ++i) {
      const auto got = backoff_delay(p, retry, rng).count();
      EXPECT_GE(got, d / 2) << retry;
      EXPECT_LE(got, d) << retry;
    }
  }
  // Jitter: not every delay is the same.
  std::set<int64_t> seen;
  for (int i = 0; i < 50; ++i) seen.insert(backoff_delay(p, 3, rng).count());
  EXPECT_GT(seen.size(), 5u);
}

TEST(CircuitBreaker, OpensHalfOpensAndCloses) {
  BreakerPolicy p;
  p.failure_threshold = 3;
  p.cooldown = milliseconds(1000);
  CircuitBreaker b(p);
  const TimePoint t0{};
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(b.allow(t0));
    b.on_failure(t0);
  }
  EXPECT_EQ(b.state(t0), BreakerState::kClosed);
  b.on_failure(t0);
  EXPECT_EQ(b.state(t0), BreakerState::kOpen);
  EXPECT_FALSE(b.allow(t0 + milliseconds(999)));
  // Half-open: one trial at a time.
  const TimePoint t1 = t0 + milliseconds(1000);
  EXPECT_EQ(b.state(t1), BreakerState::kHalfOpen);
  EXPECT_TRUE(b.allow(t1));
  EXPECT_FALSE(b.allow(t1));
  // A failed trial re-opens for a new cooldown.
  b.on_failure(t1);
  EXPECT_FALSE(b.allow(t1 + milliseconds(500)));
  const TimePoint t2 = t1 + milliseconds(1000);
  EXPECT_TRUE(b.allow(t2));
  b.on_success();
  EXPECT_EQ(b.state(t2), BreakerState::kClosed);
  EXPECT_EQ(b.consecutive_failures(), 0);
  EXPECT_TRUE(b.allow(t2));
}

TEST(CircuitBreaker, SuccessResetsTheCount) {
  BreakerPolicy p;
  p.failure_threshold = 2;
  CircuitBreaker b(p);
  b.on_failure();
  b.on_success();
  b.on_failure();
  EXPECT_EQ(b.state(), BreakerState::kClosed);
}

}  // namespace
}  // namespace mlxm::cloud
