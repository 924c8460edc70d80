// A single background thread that runs callbacks at deadlines (request timeouts). Callbacks run
// on the timer thread and must not block. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "core/clock.h"

namespace mlxm {

class TimerThread {
 public:
  using TimerId = uint64_t;

  TimerThread();
  ~TimerThread();  // pending callbacks are dropped, not run
  TimerThread(const TimerThread&) = delete;
  TimerThread& operator=(const TimerThread&) = delete;

  // Runs `fn` once after `delay`. Returns an id for cancel().
  TimerId schedule(std::chrono::milliseconds delay, std::function<void()> fn);
  // Cancels a pending callback; false if it already ran (or is running) or is unknown.
  bool cancel(TimerId id);

 private:
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<TimePoint, TimerId> by_time_;
  std::map<TimerId, std::pair<TimePoint, std::function<void()>>> by_id_;
  TimerId next_id_ = 1;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mlxm
