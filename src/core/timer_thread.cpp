#include "core/timer_thread.h"

namespace mlxm {

TimerThread::TimerThread() : thread_([this] { run(); }) {}

TimerThread::~TimerThread() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

TimerThread::TimerId TimerThread::schedule(std::chrono::milliseconds delay,
                                           std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  const TimerId id = next_id_++;
  const TimePoint at = now() + delay;
  by_time_.emplace(at, id);
  by_id_.emplace(id, std::make_pair(at, std::move(fn)));
  cv_.notify_all();
  return id;
}

bool TimerThread::cancel(TimerId id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return false;
  auto range = by_time_.equal_range(it->second.first);
  for (auto t = range.first; t != range.second; ++t) {
    if (t->second == id) {
      by_time_.erase(t);
      break;
    }
  }
  by_id_.erase(it);
  return true;
}

void TimerThread::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (by_time_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto first = by_time_.begin();
    if (now() < first->first) {
      // A copy: wait_until reads its deadline again after waking, and cancel() may free the
      // map node while the lock is released (found by ASan).
      const TimePoint deadline = first->first;
      cv_.wait_until(lock, deadline);
      continue;
    }
    const TimerId id = first->second;
    by_time_.erase(first);
    auto it = by_id_.find(id);
    std::function<void()> fn = std::move(it->second.second);
    by_id_.erase(it);
    lock.unlock();
    fn();
    lock.lock();
  }
}

}  // namespace mlxm
