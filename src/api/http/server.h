// HttpServer: the HTTP/1.1 + WebSocket server (Boost.Beast + Asio coroutines, hidden behind a
// pimpl so that this header stays framework-free). It owns N io threads, one listener, the
// router, CORS, static files and graceful shutdown:
//   begin_shutdown() (or SIGTERM/SIGINT when handle_signals): stop accepting; requests already
//   read complete for up to drain_timeout; routes with allow_while_draining (/health) still
//   answer on open connections, other new requests get 503; then every connection closes and
//   wait() returns. A second signal stops at once. SIGHUP calls config.on_sighup when set.
//
// Thread-safety: start()/wait() from one owner thread; port(), draining(), begin_shutdown()
// from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/http/router.h"
#include "core/status.h"

namespace mlxm::http {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 10242;  // 0 picks a free port; see HttpServer::port()
  int io_threads = 2;
  size_t max_header_bytes = 16 * 1024;          // larger header block -> 431
  size_t max_body_bytes = 16 * 1024 * 1024;     // larger body -> 413
  std::chrono::milliseconds read_timeout{60'000};   // to read one request once it started
  std::chrono::milliseconds idle_timeout{75'000};   // keep-alive wait for the next request
  std::chrono::milliseconds write_timeout{60'000};  // per write (a stuck reader is dropped)
  std::chrono::milliseconds drain_timeout{30'000};
  std::chrono::milliseconds websocket_idle_timeout{60'000};  // pings at half of it
  std::vector<std::string> cors_origins;  // allowed Origin values; "*" allows any; empty = off
  std::string static_dir;                 // serve unmatched GETs from here; empty = off
  bool handle_signals = true;             // SIGTERM/SIGINT start the drain
  // When set (and handle_signals), SIGHUP calls it on an io thread instead of ending the
  // process (serve: reload the live settings). It must not block for long.
  std::function<void()> on_sighup;
  // Handlers of requests other than GET/HEAD/OPTIONS (completions, model loads, admin actions)
  // run on this many separate threads, so that a handler that blocks (a model loading on first
  // use, a wait for a load) never holds an io thread. 0 runs every handler on its io thread.
  int blocking_threads = 32;
  // Tests only (MLXM_DEBUG_HANDOFF_DELAY_MS): waits this long before handing a deferred or
  // streamed response its connection, so that tests can make the producer finish first.
  std::chrono::milliseconds debug_handoff_delay{0};
};

// Reads MLX_SERVER_HOST, MLX_SERVER_PORT, MLX_SERVER_DRAIN_TIMEOUT_SECONDS,
// MLX_SERVER_CORS_ORIGINS on top of the defaults. A malformed value is an error naming it.
Result<ServerConfig> server_config_from_env();

class HttpServer {
 public:
  // REQUIRES: config.io_threads >= 1.
  HttpServer(ServerConfig config, Router router);
  ~HttpServer();  // stops at once if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the io threads. Errors: bad host, port in use, bad static dir.
  Status start();
  // The bound port (after start()).
  uint16_t port() const;
  bool draining() const;
  // Starts the graceful drain (idempotent; a second call while draining stops at once).
  void begin_shutdown();
  // Blocks until the server has stopped. Returns false when the drain timed out.
  bool wait();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlxm::http
