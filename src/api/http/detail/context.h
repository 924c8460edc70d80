// Internal: state shared by the listener and every connection. No Beast here.
#pragma once

#include <atomic>

namespace boost::asio {
class thread_pool;
}

#include "api/http/cors.h"
#include "api/http/router.h"
#include "api/http/server.h"

namespace mlxm::http::detail {

struct ServerContext {
  ServerContext(ServerConfig c, Router r)
      : config(std::move(c)), router(std::move(r)), cors(config.cors_origins) {}
  const ServerConfig config;
  const Router router;
  const CorsPolicy cors;
  std::atomic<bool> draining{false};
  std::atomic<int> in_flight{0};  // requests read and not yet answered (streams included)
  // Where handlers that may block run (ServerConfig::blocking_threads); null: on the io thread.
  boost::asio::thread_pool* blocking_pool = nullptr;
};

// Builds the plain response for a request that needs no streaming: routing, 404/405/426, the
// draining 503, OPTIONS/CORS, static files, the router's guard (its denial, or its headers added
// to the handler's response), then the handler (exceptions become a 500).
// `*route` is set when a route matched. Framework-free so that unit tests can drive it.
HttpResponse dispatch(const ServerContext& ctx, HttpRequest& request, const Route** route);

// Whether a request with this method is handled on the blocking pool (all but GET/HEAD/OPTIONS).
bool handled_off_io_thread(const std::string& method);

// Runs the router's guard for a WebSocket upgrade: true when it lets `request` through (it may
// fill request.auth). A denied upgrade goes through dispatch(), which answers the denial.
bool guard_allows(const ServerContext& ctx, HttpRequest& request, const Route& route);

// Fills method/target/path/query of `request` from the raw target; false on a bad escape.
bool parse_target(std::string_view target, HttpRequest* request);

// The client's X-Request-ID when it is sane (1..200 visible ASCII characters), else a new one.
std::string request_id_for(const HttpRequest& request);

}  // namespace mlxm::http::detail
