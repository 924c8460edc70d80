// Internal: a coroutine on a strand waits on a Wakeup; notify() (on the same strand) wakes it.
// poster() gives producers on other threads a function that posts notify() to the strand.
// Every check-then-wait happens on the strand, so a notification is never lost.
#pragma once

#include <utility>  // before asio/awaitable.hpp (Boost 1.74 misses it)
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>

#include "api/http/detail/channel.h"

namespace mlxm::http::detail {

class Wakeup : public std::enable_shared_from_this<Wakeup> {
 public:
  explicit Wakeup(boost::asio::any_io_executor executor) : timer_(executor) {}

  boost::asio::awaitable<void> wait() {
    timer_.expires_at(boost::asio::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  }
  void notify() { timer_.cancel(); }

  std::function<void()> poster(boost::asio::any_io_executor executor) {
    return [executor, self = shared_from_this()] {
      boost::asio::post(executor, [self] { self->notify(); });
    };
  }

 private:
  boost::asio::steady_timer timer_;
};

// Ends a Channel when the connection coroutine finishes or is destroyed (server stop):
// abnormally unless finish_normally() was called.
class ChannelEnd {
 public:
  explicit ChannelEnd(std::shared_ptr<Channel> ch) : ch_(std::move(ch)) {}
  ~ChannelEnd() { end(); }
  ChannelEnd(const ChannelEnd&) = delete;
  ChannelEnd& operator=(const ChannelEnd&) = delete;
  void finish_normally() { normal_ = true; }
  void end() { ch_->end(!normal_); }

 private:
  std::shared_ptr<Channel> ch_;
  bool normal_ = false;
};

}  // namespace mlxm::http::detail
