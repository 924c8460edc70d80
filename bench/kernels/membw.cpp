// Memory-read bandwidth probe: streams a buffer much larger than the caches, summing it with
// AVX-512/AVX2 loads when compiled for them (this file is portable C++: the compiler's SSE2
// vectorisation of the sum is enough to saturate DRAM reads), on 1 thread and on the pool.
// Usage: bench_membw [MiB=1024] [reps=10]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/kernels/cpu/thread_pool.h"

namespace {

using Clock = std::chrono::steady_clock;

uint64_t sum_range(const uint64_t* p, int64_t n) {
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
  for (int64_t i = 0; i + 8 <= n; i += 8) {
    a0 += p[i];
    a1 += p[i + 1];
    a2 += p[i + 2];
    a3 += p[i + 3];
    a4 += p[i + 4];
    a5 += p[i + 5];
    a6 += p[i + 6];
    a7 += p[i + 7];
  }
  return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t mib = argc > 1 ? std::atoll(argv[1]) : 1024;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 10;
  const int64_t n = mib * (1 << 20) / 8;
  std::vector<uint64_t> buf(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) buf[static_cast<size_t>(i)] = static_cast<uint64_t>(i);
  mlxm::engine::ThreadPool pool;
  volatile uint64_t sink = 0;
  for (int threads : {1, pool.n_threads()}) {
    std::vector<double> gbs;
    for (int r = 0; r < reps; ++r) {
      std::vector<uint64_t> part(static_cast<size_t>(pool.n_threads()), 0);
      const auto t0 = Clock::now();
      pool.run([&](int i, int nt) {
        const int use = std::min(threads, nt);
        if (i >= use) return;
        const int64_t b = n * i / use, e = n * (i + 1) / use;
        part[static_cast<size_t>(i)] = sum_range(buf.data() + b, e - b);
      });
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      for (uint64_t v : part) sink = sink + v;
      gbs.push_back(static_cast<double>(n * 8) / s / 1e9);
    }
    std::sort(gbs.begin(), gbs.end());
    std::printf("read bandwidth, %d thread(s), %lld MiB: median %.2f GB/s, best %.2f GB/s\n",
                threads, static_cast<long long>(mib), gbs[gbs.size() / 2], gbs.back());
  }
  return sink == 42 ? 1 : 0;
}
