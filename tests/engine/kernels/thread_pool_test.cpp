#include "engine/kernels/cpu/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

namespace mlxm::engine {
namespace {

TEST(ThreadPoolTest, RunCallsEveryThreadOnce) {
  for (int n : {1, 2, 3, 5}) {
    ThreadPool pool(n);
    EXPECT_EQ(pool.n_threads(), n);
    for (int rep = 0; rep < 200; ++rep) {
      std::vector<std::atomic<int>> hits(n);
      pool.run([&](int i, int nt) {
        EXPECT_EQ(nt, n);
        hits[i].fetch_add(1);
      });
      for (int i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "rep " << rep;
    }
  }
}

TEST(ThreadPoolTest, ParallelForCoversRangeExactlyOnce) {
  ThreadPool pool(3);
  for (int64_t n : {0, 1, 2, 7, 1000}) {
    for (int64_t grain : {1, 3, 100}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
        EXPECT_LT(b, e);
        EXPECT_TRUE(e - b >= grain || (b == 0 && e == n)) << b << " " << e;
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1);
    }
  }
}

TEST(ThreadPoolTest, NestedCallsRunInline) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  pool.run([&](int, int) {
    pool.parallel_for(10, 1, [&](int64_t b, int64_t e) { total += e - b; });
    pool.run([&](int i, int nt) {
      EXPECT_EQ(i, 0);
      EXPECT_EQ(nt, 1);
    });
  });
  EXPECT_EQ(total.load(), 20);
}

TEST(ThreadPoolTest, WorkersWakeAfterSleeping) {
  ThreadPool pool(2);
  std::atomic<int> count{0};
  pool.run([&](int, int) { count++; });
  // Long enough for the worker to stop spinning and sleep on the condition variable.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  pool.run([&](int, int) { count++; });
  EXPECT_EQ(count.load(), 4);
}

TEST(ThreadPoolTest, EnvOverrideAndMalformedFallback) {
  setenv("MLXM_THREADS", "3", 1);
  {
    ThreadPool pool;
    EXPECT_EQ(pool.n_threads(), 3);
  }
  setenv("MLXM_THREADS", "three", 1);
  {
    ThreadPool pool;  // logs an error, falls back to the physical core count
    EXPECT_GE(pool.n_threads(), 1);
  }
  unsetenv("MLXM_THREADS");
  ThreadPool explicit_pool(2);
  EXPECT_EQ(explicit_pool.n_threads(), 2);
}

}  // namespace
}  // namespace mlxm::engine
