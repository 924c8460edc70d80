#include "api/handlers/test_routes.h"

#include <chrono>

#include "api/http/json.h"
#include "core/env.h"

namespace mlxm::handlers {
namespace {

// ?name=<int> within [lo, hi], else a 400.
std::optional<http::HttpResponse> int_param(const http::HttpRequest& req, const std::string& name,
                                            int64_t fallback, int64_t lo, int64_t hi,
                                            int64_t* out) {
  auto text = req.query_param(name);
  if (!text) {
    *out = fallback;
    return std::nullopt;
  }
  auto v = parse_int(name, *text, lo, hi);
  if (!v.ok()) return http::error_response(400, v.status().message(), "invalid_request_error", name);
  *out = *v;
  return std::nullopt;
}

}  // namespace

TestRoutes::~TestRoutes() {
  {
    std::lock_guard lock(block_mu_);
    stopping_ = true;
  }
  block_cv_.notify_all();
  std::lock_guard lock(mu_);
  for (auto& t : threads_) t.join();
}

void TestRoutes::spawn(std::function<void()> work) {
  std::lock_guard lock(mu_);
  threads_.emplace_back(std::move(work));
}

void TestRoutes::register_routes(http::Router& router) {
  router.add("GET", "/test/sse", [this](http::HttpRequest& req) {
    int64_t n = 0, interval_ms = 0;
    if (auto err = int_param(req, "n", 5, 0, 100000, &n)) return *err;
    if (auto err = int_param(req, "interval_ms", 50, 0, 60000, &interval_ms)) return *err;
    return http::HttpResponse::sse([this, n, interval_ms](std::shared_ptr<http::ResponseStream> s) {
      sse_started_++;
      s->on_close([this] { sse_disconnects_++; });
      spawn([this, s, n, interval_ms] {
        for (int64_t i = 0; i < n; ++i) {
          if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
          if (stopping_ || !s->write(http::sse_event(nlohmann::json({{"index", i}}).dump()))) {
            sse_aborted_++;
            return;
          }
        }
        s->write(http::sse_event("[DONE]"));
        s->close();
        sse_completed_++;
      });
    });
  });

  router.add("GET", "/test/stats", [this](http::HttpRequest&) {
    int64_t blocked = 0;
    {
      std::lock_guard lock(block_mu_);
      blocked = blocked_;
    }
    return http::json_response(200, {{"blocked", blocked},
                                     {"sse_started", sse_started_.load()},
                                     {"sse_completed", sse_completed_.load()},
                                     {"sse_disconnects", sse_disconnects_.load()},
                                     {"sse_aborted", sse_aborted_.load()},
                                     {"ws_messages", ws_messages_.load()},
                                     {"ws_disconnects", ws_disconnects_.load()}});
  });

  router.add("GET", "/test/slow", [this](http::HttpRequest& req) {
    int64_t ms = 0;
    if (auto err = int_param(req, "ms", 500, 0, 600000, &ms)) return *err;
    std::string rid = req.request_id;
    return http::HttpResponse::deferred([this, ms](std::shared_ptr<http::PendingResponse> p) {
      spawn([this, p, ms] {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < until && !stopping_ && !p->is_closed()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        p->send(http::json_response(200, {{"slept_ms", ms}}));
      });
    });
  });

  // Blocks the handler's own thread, as a model loading on first use does.
  router.add("POST", "/test/block", [this](http::HttpRequest& req) {
    int64_t ms = 0;
    if (auto err = int_param(req, "ms", 10000, 0, 600000, &ms)) return *err;
    const auto t0 = std::chrono::steady_clock::now();
    std::unique_lock lock(block_mu_);
    const int64_t seen = releases_;
    ++blocked_;
    block_cv_.wait_until(lock, t0 + std::chrono::milliseconds(ms),
                         [&] { return releases_ != seen || stopping_.load(); });
    --blocked_;
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - t0);
    return http::json_response(200, {{"released", releases_ != seen},
                                     {"blocked_ms", waited.count()}});
  });
  router.add("POST", "/test/release", [this](http::HttpRequest&) {
    {
      std::lock_guard lock(block_mu_);
      ++releases_;
    }
    block_cv_.notify_all();
    return http::json_response(200, {{"released", true}});
  });

  router.add("POST", "/test/echo-json", [](http::HttpRequest& req) {
    http::JsonBody body = http::parse_json_body(req);
    if (!body.ok()) return *body.error;
    return http::json_response(200, {{"echo", body.value}});
  });

  router.add_websocket("/test/ws-echo", [this](const http::HttpRequest&,
                                               std::shared_ptr<http::WebSocketConnection> ws) {
    std::weak_ptr<http::WebSocketConnection> weak = ws;
    ws->on_message([this, weak](std::string msg) {
      ws_messages_++;
      auto conn = weak.lock();
      if (!conn) return;
      if (msg == "close") {
        conn->close();
        return;
      }
      conn->send("echo: " + msg);
    });
    ws->on_close([this] { ws_disconnects_++; });
  });
}

}  // namespace mlxm::handlers
