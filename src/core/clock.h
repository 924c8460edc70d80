// Clocks: monotonic time for durations, wall time for records.
#pragma once

#include <chrono>
#include <cstdint>

namespace mlxm {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;

inline TimePoint now() { return SteadyClock::now(); }

inline double ms_since(TimePoint t0) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
}

inline double ms_between(TimePoint t0, TimePoint t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

// Milliseconds since the Unix epoch.
inline int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Seconds since the Unix epoch.
inline int64_t unix_seconds() { return unix_ms() / 1000; }

// Small stopwatch: Timer t; ... t.ms().
class Timer {
 public:
  Timer() : t0_(now()) {}
  void reset() { t0_ = now(); }
  double ms() const { return ms_since(t0_); }

 private:
  TimePoint t0_;
};

}  // namespace mlxm
