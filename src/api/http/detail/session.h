// Internal: one client connection as an Asio coroutine on its own strand. Beast lives here.
#pragma once

#include <utility>  // before asio/awaitable.hpp (Boost 1.74 misses it)
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "api/http/detail/context.h"

namespace mlxm::http::detail {

// Serves HTTP/1.1 requests (keep-alive), SSE streams, deferred responses and WebSocket
// upgrades until the client leaves, a timeout fires or the server stops.
// REQUIRES: `socket` uses a strand executor.
boost::asio::awaitable<void> run_session(std::shared_ptr<ServerContext> ctx,
                                         boost::asio::ip::tcp::socket socket);

}  // namespace mlxm::http::detail
