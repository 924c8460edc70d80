// Internal: the queue between a producer on any thread and one connection coroutine. The
// producer side (ResponseStream, PendingResponse, WebSocketConnection) pushes under a mutex and
// calls wake_, which posts a notification to the connection's strand. The connection side ends
// the channel exactly once; after that nothing is posted (so a producer that outlives the
// server never touches a dead io_context).
#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/http/http_types.h"

namespace mlxm::http::detail {

class Channel {
 public:
  explicit Channel(std::function<void()> wake) : wake_(std::move(wake)) {}

  // Producer side (any thread).
  bool push(std::string item);
  void request_close();
  bool set_response(HttpResponse response);  // first call wins
  bool is_closed() const;
  size_t size() const;  // items pushed and not yet taken
  void add_on_close(std::function<void()> callback);

  // Connection side (its strand).
  // Moves the queued items out; `*close_requested` tells whether the producer closed.
  std::deque<std::string> take(bool* close_requested);
  std::optional<HttpResponse> take_response();
  // Ends the channel once. `abnormal`: the client went away / the server stopped; fires the
  // on_close callbacks (outside the lock).
  void end(bool abnormal);

 private:
  mutable std::mutex mu_;
  std::deque<std::string> queue_;
  std::optional<HttpResponse> response_;
  bool response_set_ = false;
  bool close_requested_ = false;
  bool ended_ = false;
  bool abnormal_ = false;
  std::vector<std::function<void()>> on_close_;
  std::function<void()> wake_;  // cleared by end()
};

}  // namespace mlxm::http::detail
