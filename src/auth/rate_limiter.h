// RateLimiter: a token bucket per client (an API key id or an IP address). Capacity = the limit
// per minute, refilled continuously at limit/60 per second; each request takes one token.
//
// Thread-safety: thread-safe (one mutex); check() is O(log n) plus an occasional prune.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "core/clock.h"

namespace mlxm::auth {

struct RateDecision {
  bool allowed = true;
  int64_t limit = 0;          // requests per minute (X-RateLimit-Limit)
  int64_t remaining = 0;      // whole requests left now (X-RateLimit-Remaining)
  int64_t reset_s = 0;        // seconds until the bucket is full again (X-RateLimit-Reset)
  int64_t retry_after_s = 0;  // when refused: seconds until one request is allowed (>= 1)
};

class RateLimiter {
 public:
  // `rpm` requests per minute per client; 0 turns limiting off.
  explicit RateLimiter(int64_t rpm = 0) : rpm_(rpm) {}

  // Changes the limit live; existing buckets keep their level, capped at the new capacity.
  void set_rpm(int64_t rpm);
  int64_t rpm() const;
  bool enabled() const { return rpm() > 0; }

  // Takes one token from `client`'s bucket at time `t`. With limiting off: allowed, limit 0.
  RateDecision check(const std::string& client, TimePoint t);

  size_t n_clients() const;

 private:
  struct Bucket {
    double tokens = 0;
    TimePoint last{};
  };
  void prune_locked(TimePoint t);

  mutable std::mutex mu_;
  int64_t rpm_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace mlxm::auth
