#include "core/timer_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace mlxm {
namespace {

using namespace std::chrono_literals;

TEST(TimerThreadTest, RunsInDeadlineOrder) {
  TimerThread timers;
  std::mutex mu;
  std::vector<int> order;
  std::promise<void> done;
  timers.schedule(30ms, [&] {
    std::lock_guard<std::mutex> l(mu);
    order.push_back(2);
    done.set_value();
  });
  timers.schedule(5ms, [&] {
    std::lock_guard<std::mutex> l(mu);
    order.push_back(1);
  });
  done.get_future().wait();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST(TimerThreadTest, CancelPreventsRun) {
  TimerThread timers;
  std::atomic<int> ran{0};
  auto id = timers.schedule(20ms, [&] { ++ran; });
  EXPECT_TRUE(timers.cancel(id));
  EXPECT_FALSE(timers.cancel(id));
  std::promise<void> later;
  timers.schedule(40ms, [&] { later.set_value(); });
  later.get_future().wait();
  EXPECT_EQ(ran.load(), 0);
}

// The timer thread waits on the earliest deadline; cancelling that timer frees it while the
// thread waits. The wait must not read the freed entry (ASan found it under SANITIZE=1: a
// heap-use-after-free in wait_until when a request finished before its timeout).
TEST(TimerThreadTest, CancellingTheTimerBeingWaitedOnIsSafe) {
  TimerThread timers;
  std::atomic<int> ran{0};
  for (int i = 0; i < 50; ++i) {
    auto id = timers.schedule(10s, [&] { ++ran; });
    std::this_thread::sleep_for(1ms);  // let the thread start waiting on it
    EXPECT_TRUE(timers.cancel(id));
  }
  std::promise<void> later;
  timers.schedule(5ms, [&] { later.set_value(); });
  EXPECT_EQ(later.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_EQ(ran.load(), 0);
}

TEST(TimerThreadTest, DestructorDropsPending) {
  std::atomic<int> ran{0};
  {
    TimerThread timers;
    timers.schedule(10s, [&] { ++ran; });
  }
  EXPECT_EQ(ran.load(), 0);
}

}  // namespace
}  // namespace mlxm
