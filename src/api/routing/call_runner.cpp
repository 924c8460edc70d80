#include "api/routing/call_runner.h"

namespace mlxm::api {

void CallRunner::launch(std::function<void()> body, std::function<void()> cancel) {
  std::lock_guard<std::mutex> lock(mu_);
  reap_locked();
  auto done = std::make_shared<bool>(false);
  jobs_.push_back(Job{{}, std::move(cancel), done});
  jobs_.back().thread = std::thread([this, body = std::move(body), done] {
    body();
    std::lock_guard<std::mutex> l(mu_);
    *done = true;
  });
}

void CallRunner::reap_locked() {
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (*it->done) {
      it->thread.join();  // returns at once: the body ended
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
}

CallRunner::~CallRunner() {
  std::list<Job> jobs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& j : jobs_) {
      if (!*j.done && j.cancel) j.cancel();
    }
    jobs.swap(jobs_);
  }
  for (auto& j : jobs) j.thread.join();
}

}  // namespace mlxm::api
