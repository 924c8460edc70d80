// Token delivery off the engine thread: the engine loop hands each step's sink calls (token
// events and finishes, in order) to a SinkDelivery, whose thread makes them while the engine
// thread runs the next step. At 64 streams on the H200 the sink calls (incremental
// detokenization, stop strings, SSE chunks) took ~4 ms of each ~12 ms served step.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "serving/engine_loop.h"

namespace mlxm::serving {

// One sink call.
struct SinkCall {
  std::shared_ptr<TokenSink> sink;
  bool finish = false;  // on_finish(info), else on_token(token)
  TokenEvent token;
  FinishInfo info;
};

// Makes sink calls, in the order posted, on its own thread. Thread-safe.
class SinkDelivery {
 public:
  SinkDelivery();
  ~SinkDelivery();  // stop()
  SinkDelivery(const SinkDelivery&) = delete;
  SinkDelivery& operator=(const SinkDelivery&) = delete;

  // Queues `calls` (moved from; left empty) behind everything posted before. Waits while
  // kMaxQueued batches are already waiting, so the engine runs at most that many steps ahead
  // of its sinks (a sink that aborts its sequence sees at most that many more tokens).
  void post(std::vector<SinkCall>& calls);
  static constexpr size_t kMaxQueued = 2;
  // Makes every queued call, then ends the thread. Idempotent.
  void stop();
  // Milliseconds the thread has spent inside sink calls.
  double busy_ms() const { return static_cast<double>(busy_ns_.load()) * 1e-6; }

  // The calls in order on the calling thread (what SinkDelivery's thread does with a batch).
  static void call_all(std::vector<SinkCall>& calls);

 private:
  void run();

  std::mutex mu_;
  std::condition_variable cv_;        // the thread: work or stop
  std::condition_variable cv_space_;  // post(): room in the queue
  std::deque<std::vector<SinkCall>> queue_;
  bool stopping_ = false;
  std::atomic<uint64_t> busy_ns_{0};
  std::thread thread_;
};

}  // namespace mlxm::serving
