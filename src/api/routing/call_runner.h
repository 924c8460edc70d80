// Runs cloud calls on their own threads (a libcurl transfer blocks its thread for the whole
// answer, so it must never run on an io thread). Finished threads are joined on the next
// launch; the destructor cancels the calls still running and joins them.
// Thread-safety: launch() is thread-safe.
#pragma once

#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

namespace mlxm::api {

class CallRunner {
 public:
  CallRunner() = default;
  ~CallRunner();
  CallRunner(const CallRunner&) = delete;
  CallRunner& operator=(const CallRunner&) = delete;

  // Starts `body` on a new thread; `cancel` is called (from the destructor) if it is still
  // running at shutdown and must make it return soon.
  void launch(std::function<void()> body, std::function<void()> cancel);

 private:
  struct Job {
    std::thread thread;
    std::function<void()> cancel;
    std::shared_ptr<bool> done;  // set under mu_ when body returned
  };
  void reap_locked();

  std::mutex mu_;
  std::list<Job> jobs_;
};

}  // namespace mlxm::api
