#include "api/http/detail/channel.h"

namespace mlxm::http::detail {

bool Channel::push(std::string item) {
  std::lock_guard lock(mu_);
  if (ended_ || close_requested_) return false;
  queue_.push_back(std::move(item));
  if (wake_) wake_();
  return true;
}

void Channel::request_close() {
  std::lock_guard lock(mu_);
  if (ended_ || close_requested_) return;
  close_requested_ = true;
  if (wake_) wake_();
}

bool Channel::set_response(HttpResponse response) {
  std::lock_guard lock(mu_);
  if (ended_ || response_set_) return false;
  response_set_ = true;
  response_ = std::move(response);
  if (wake_) wake_();
  return true;
}

bool Channel::is_closed() const {
  std::lock_guard lock(mu_);
  return ended_ || close_requested_ || response_set_;
}

size_t Channel::size() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void Channel::add_on_close(std::function<void()> callback) {
  {
    std::lock_guard lock(mu_);
    if (!ended_) {
      on_close_.push_back(std::move(callback));
      return;
    }
    if (!abnormal_) return;
  }
  callback();
}

std::deque<std::string> Channel::take(bool* close_requested) {
  std::lock_guard lock(mu_);
  std::deque<std::string> out;
  out.swap(queue_);
  *close_requested = close_requested_;
  return out;
}

std::optional<HttpResponse> Channel::take_response() {
  std::lock_guard lock(mu_);
  std::optional<HttpResponse> out;
  out.swap(response_);
  return out;
}

void Channel::end(bool abnormal) {
  std::vector<std::function<void()>> callbacks;
  std::function<void()> wake;
  {
    std::lock_guard lock(mu_);
    if (ended_) return;
    ended_ = true;
    abnormal_ = abnormal;
    wake.swap(wake_);
    queue_.clear();
    if (abnormal) callbacks.swap(on_close_);
    on_close_.clear();
  }
  for (auto& cb : callbacks) {
    if (cb) cb();
  }
}

}  // namespace mlxm::http::detail
