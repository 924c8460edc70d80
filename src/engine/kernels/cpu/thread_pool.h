// A persistent pool of worker threads for data-parallel kernels. Workers spin briefly, then
// sleep, between jobs. Sized to the physical cores; MLXM_THREADS overrides.
// Thread-safety: parallel_for may be called from one thread at a time (the model's engine
// thread); it blocks until all chunks are done. Nested calls from inside a job run inline.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace mlxm::engine {

class ThreadPool {
 public:
  // n_threads <= 0: MLXM_THREADS if set, else the number of physical cores.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const;

  // Runs fn(i_thread, n_threads) once on every thread (the caller is thread 0). Use when a
  // kernel splits work itself.
  void run(const std::function<void(int i_thread, int n_threads)>& fn);

  // Splits [0, n) into contiguous chunks of at least `grain` items and runs fn(begin, end)
  // on them across the threads. Chunks are handed out dynamically (an atomic counter, several
  // chunks per thread), so a thread that was preempted by another process delays only its
  // current chunk, not a fixed share of the work.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlxm::engine
