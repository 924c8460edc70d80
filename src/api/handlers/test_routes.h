// Test-only routes, registered by `serve` only when MLX_MANAGER_TEST_ROUTES=1. They exercise the
// server machinery end to end before real endpoints exist:
//   GET  /test/sse?n=5&interval_ms=50   n SSE events written from a separate thread
//   GET  /test/stats                    counters: streams started/completed/disconnected, and
//                                       the /test/block handlers waiting now ("blocked")
//   GET  /test/slow?ms=500              answers after ms (deferred, off the io thread)
//   POST /test/echo-json                echoes a JSON object body; 400 on malformed JSON
//   POST /test/block?ms=N               a handler that blocks its thread until released (or N ms)
//   POST /test/release                  releases every blocked /test/block handler
//   WS   /test/ws-echo                  echoes text messages ("close" closes from the server)
// Thread-safety: all state is atomic or under a mutex; the destructor joins worker threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "api/http/router.h"

namespace mlxm::handlers {

class TestRoutes {
 public:
  TestRoutes() = default;
  ~TestRoutes();  // joins the worker threads
  TestRoutes(const TestRoutes&) = delete;
  TestRoutes& operator=(const TestRoutes&) = delete;

  // REQUIRES: *this outlives the server that serves `router`.
  void register_routes(http::Router& router);

 private:
  void spawn(std::function<void()> work);

  std::atomic<int64_t> sse_started_{0};
  std::atomic<int64_t> sse_completed_{0};     // the worker wrote all events and closed
  std::atomic<int64_t> sse_disconnects_{0};   // on_close fired (client went away)
  std::atomic<int64_t> sse_aborted_{0};       // the worker stopped early because of it
  std::atomic<int64_t> ws_messages_{0};
  std::atomic<int64_t> ws_disconnects_{0};
  std::atomic<bool> stopping_{false};
  std::mutex block_mu_;
  std::condition_variable block_cv_;
  int64_t releases_ = 0;  // bumped by /test/release; guarded by block_mu_
  int64_t blocked_ = 0;   // /test/block handlers waiting now; guarded by block_mu_
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

}  // namespace mlxm::handlers
