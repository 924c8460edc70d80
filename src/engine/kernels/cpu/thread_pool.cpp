#include "engine/kernels/cpu/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "core/check.h"
#include "core/cpu_features.h"
#include "core/env.h"
#include "core/log.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MLXM_CPU_RELAX() _mm_pause()
#else
#define MLXM_CPU_RELAX() std::this_thread::yield()
#endif

namespace mlxm::engine {
namespace {

// Spins this many relax iterations (~50-100 µs) waiting for the next job before sleeping:
// a model forward issues hundreds of small jobs back to back.
constexpr int kSpinIterations = 1 << 14;

thread_local bool t_in_job = false;

int resolve_thread_count(int requested) {
  if (requested > 0) return requested;
  const int physical = std::max(1, cpu_features().n_physical_cores);
  auto env = env_int("MLXM_THREADS", 0, 0, 4096);
  if (!env.ok()) {
    MLXM_LOG_ERROR("{}; using {} threads (physical cores)", env.status().message(), physical);
    return physical;
  }
  return env.value() > 0 ? static_cast<int>(env.value()) : physical;
}

}  // namespace

struct ThreadPool::Impl {
  int n_threads = 1;
  std::vector<std::thread> workers;

  // Job slot: written by the caller before bumping `generation`.
  const std::function<void(int, int)>* job = nullptr;
  std::atomic<uint64_t> generation{0};
  std::atomic<int> pending{0};
  bool stop = false;  // guarded by mu; also signalled through generation

  std::mutex mu;
  std::condition_variable cv;
  std::atomic<int> sleepers{0};

  void worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t gen = generation.load(std::memory_order_acquire);
      if (gen == seen) {
        for (int i = 0; i < kSpinIterations && gen == seen; ++i) {
          MLXM_CPU_RELAX();
          gen = generation.load(std::memory_order_acquire);
        }
      }
      if (gen == seen) {
        std::unique_lock lock(mu);
        sleepers.fetch_add(1, std::memory_order_acq_rel);
        cv.wait(lock, [&] {
          return stop || generation.load(std::memory_order_acquire) != seen;
        });
        sleepers.fetch_sub(1, std::memory_order_acq_rel);
        if (stop) return;
        gen = generation.load(std::memory_order_acquire);
      }
      seen = gen;
      if (job == nullptr) return;  // shutdown
      t_in_job = true;
      (*job)(index, n_threads);
      t_in_job = false;
      pending.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  void dispatch(const std::function<void(int, int)>& fn) {
    job = &fn;
    pending.store(n_threads - 1, std::memory_order_release);
    generation.fetch_add(1, std::memory_order_acq_rel);
    if (sleepers.load(std::memory_order_acquire) > 0) {
      std::lock_guard lock(mu);
      cv.notify_all();
    }
    t_in_job = true;
    fn(0, n_threads);
    t_in_job = false;
    while (pending.load(std::memory_order_acquire) != 0) MLXM_CPU_RELAX();
    job = nullptr;
  }
};

ThreadPool::ThreadPool(int n_threads) : impl_(std::make_unique<Impl>()) {
  impl_->n_threads = resolve_thread_count(n_threads);
  for (int i = 1; i < impl_->n_threads; ++i) {
    impl_->workers.emplace_back([this, i] { impl_->worker_loop(i); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
    impl_->job = nullptr;
    impl_->generation.fetch_add(1, std::memory_order_acq_rel);
    impl_->cv.notify_all();
  }
  for (auto& t : impl_->workers) t.join();
}

int ThreadPool::n_threads() const { return impl_->n_threads; }

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (impl_->n_threads == 1 || t_in_job) {
    fn(0, 1);
    return;
  }
  impl_->dispatch(fn);
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t max_chunks = std::max<int64_t>(1, n / grain);  // every chunk >= grain
  const int n_workers = t_in_job ? 1 : impl_->n_threads;
  if (n_workers <= 1 || max_chunks <= 1) {
    fn(0, n);
    return;
  }
  // About kChunksPerThread chunks per thread: small enough to rebalance around a stalled
  // thread, large enough that the counter is not contended.
  constexpr int64_t kChunksPerThread = 4;
  const int64_t chunks = std::min<int64_t>(max_chunks, n_workers * kChunksPerThread);
  std::atomic<int64_t> next{0};
  const std::function<void(int, int)> body = [&](int, int) {
    for (;;) {
      const int64_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks) return;
      const int64_t begin = n * c / chunks;
      const int64_t end = n * (c + 1) / chunks;
      if (begin < end) fn(begin, end);
    }
  };
  impl_->dispatch(body);
}

}  // namespace mlxm::engine
