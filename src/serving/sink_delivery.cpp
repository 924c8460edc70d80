#include "serving/sink_delivery.h"

#include <chrono>

namespace mlxm::serving {

SinkDelivery::SinkDelivery() : thread_([this] { run(); }) {}

SinkDelivery::~SinkDelivery() { stop(); }

void SinkDelivery::post(std::vector<SinkCall>& calls) {
  if (calls.empty()) return;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_space_.wait(lock, [&] { return stopping_ || queue_.size() < kMaxQueued; });
    queue_.push_back(std::move(calls));
  }
  calls.clear();
  cv_.notify_one();
}

void SinkDelivery::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  cv_space_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SinkDelivery::call_all(std::vector<SinkCall>& calls) {
  for (SinkCall& c : calls) {
    if (c.finish) {
      c.sink->on_finish(c.info);
    } else {
      c.sink->on_token(c.token);
    }
  }
  calls.clear();
}

void SinkDelivery::run() {
  while (true) {
    std::vector<SinkCall> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, everything delivered
      batch = std::move(queue_.front());
      queue_.pop_front();
    }
    cv_space_.notify_one();
    const auto t0 = std::chrono::steady_clock::now();
    call_all(batch);
    busy_ns_.fetch_add(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
            .count()));
  }
}

}  // namespace mlxm::serving
