// Internal: a WebSocket connection after the HTTP upgrade (text messages both ways, pings).
#pragma once

#include <utility>  // before asio/awaitable.hpp (Boost 1.74 misses it)
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "api/http/detail/context.h"
#include "api/http/detail/wakeup.h"

namespace mlxm::http::detail {

boost::asio::awaitable<void> run_websocket(
    ServerContext& ctx, boost::beast::tcp_stream stream,
    boost::beast::http::request<boost::beast::http::string_body> upgrade, HttpRequest request,
    const Route& route);

}  // namespace mlxm::http::detail
