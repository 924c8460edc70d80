#include "auth/rate_limiter.h"

#include <gtest/gtest.h>

namespace mlxm::auth {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(RateLimiter, OffAllowsEverything) {
  RateLimiter rl(0);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(rl.check("a", now()).allowed);
  EXPECT_EQ(rl.n_clients(), 0u);
}

TEST(RateLimiter, BurstUpToTheLimitThenRefusedWithRetryAfter) {
  RateLimiter rl(3);  // 3 a minute: one token every 20 s
  const TimePoint t0 = now();
  RateDecision d = rl.check("k", t0);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.limit, 3);
  EXPECT_EQ(d.remaining, 2);
  EXPECT_EQ(d.reset_s, 20);
  EXPECT_TRUE(rl.check("k", t0).allowed);
  d = rl.check("k", t0);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 0);
  EXPECT_EQ(d.reset_s, 60);
  d = rl.check("k", t0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 0);
  EXPECT_EQ(d.retry_after_s, 20);
  // Partly refilled: 15 s later 0.75 tokens, 5 s to go.
  d = rl.check("k", t0 + seconds(15));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_s, 5);
  EXPECT_TRUE(rl.check("k", t0 + seconds(20)).allowed);
  EXPECT_FALSE(rl.check("k", t0 + seconds(21)).allowed);
}

TEST(RateLimiter, ClientsAreIndependent) {
  RateLimiter rl(1);
  const TimePoint t0 = now();
  EXPECT_TRUE(rl.check("a", t0).allowed);
  EXPECT_FALSE(rl.check("a", t0).allowed);
  EXPECT_TRUE(rl.check("b", t0).allowed);
  EXPECT_EQ(rl.n_clients(), 2u);
}

TEST(RateLimiter, RefillIsCappedAtTheLimit) {
  RateLimiter rl(2);
  const TimePoint t0 = now();
  EXPECT_TRUE(rl.check("a", t0).allowed);
  // An hour idle does not bank more than the capacity.
  const TimePoint t1 = t0 + std::chrono::hours(1);
  EXPECT_TRUE(rl.check("a", t1).allowed);
  EXPECT_TRUE(rl.check("a", t1).allowed);
  EXPECT_FALSE(rl.check("a", t1).allowed);
}

TEST(RateLimiter, LimitChangesLive) {
  RateLimiter rl(1);
  const TimePoint t0 = now();
  EXPECT_TRUE(rl.check("a", t0).allowed);
  EXPECT_FALSE(rl.check("a", t0).allowed);
  rl.set_rpm(0);
  EXPECT_TRUE(rl.check("a", t0).allowed);
  rl.set_rpm(120);  // 2 a second
  EXPECT_EQ(rl.check("a", t0 + milliseconds(500)).limit, 120);
}

}  // namespace
}  // namespace mlxm::auth
