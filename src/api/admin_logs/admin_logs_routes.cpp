#include "api/admin_logs/admin_logs_routes.h"

#include "api/admin_logs/audit_format.h"
#include "api/http/json.h"
#include "core/env.h"
#include "telemetry/prometheus.h"

namespace mlxm::api {
namespace {

using nlohmann::json;

constexpr int64_t kMaxLimit = 1000;
constexpr size_t kExportChunkRows = 200;

// Filters from the query string; a malformed value -> 400 naming the parameter.
std::optional<http::HttpResponse> parse_filter(const http::HttpRequest& req, store::AuditFilter* f) {
  if (auto v = req.query_param("model")) f->model = *v;
  if (auto v = req.query_param("backend")) f->backend = *v;
  if (auto v = req.query_param("status")) {
    if (!store::valid_audit_status(*v)) {
      return http::error_response(400, "status must be one of success, error, timeout, cancelled",
                                  "invalid_request_error", "status");
    }
    f->status = *v;
  }
  for (const char* name : {"since", "until"}) {
    if (auto v = req.query_param(name)) {
      auto n = parse_int(name, *v, 0, INT64_MAX);
      if (!n.ok()) {
        return http::error_response(400, n.status().message() + " (Unix milliseconds)",
                                    "invalid_request_error", std::string(name));
      }
      (std::string(name) == "since" ? f->since_ms : f->until_ms) = *n;
    }
  }
  return std::nullopt;
}

std::optional<http::HttpResponse> parse_int_param(const http::HttpRequest& req, const char* name,
                                                  int64_t fallback, int64_t min, int64_t max,
                                                  int64_t* out) {
  *out = fallback;
  if (auto v = req.query_param(name)) {
    auto n = parse_int(name, *v, min, max);
    if (!n.ok()) return http::error_response(400, n.status().message(), "invalid_request_error", std::string(name));
    *out = *n;
  }
  return std::nullopt;
}

http::HttpResponse store_error(const Status& st) {
  return http::error_response(503, "audit log unavailable: " + st.message(), "server_error");
}

class AuditHandlers {
 public:
  explicit AuditHandlers(std::shared_ptr<AuditService> s) : s_(std::move(s)) {}

  http::HttpResponse list(http::HttpRequest& req) {
    store::AuditFilter f;
    if (auto e = parse_filter(req, &f)) return *e;
    int64_t limit = 0, offset = 0;
    if (auto e = parse_int_param(req, "limit", 100, 1, kMaxLimit, &limit)) return *e;
    if (auto e = parse_int_param(req, "offset", 0, 0, INT64_MAX, &offset)) return *e;
    return query_deferred([f, limit, offset](store::AuditLog& log) {
      auto page = log.query(f, limit, offset);
      if (!page.ok()) return store_error(page.status());
      json data = json::array();
      for (const auto& r : page->rows) data.push_back(audit_row_json(r));
      return http::json_response(
          200, json{{"object", "list"},
                    {"data", std::move(data)},
                    {"total", page->total},
                    {"limit", limit},
                    {"offset", offset},
                    {"has_more", offset + static_cast<int64_t>(page->rows.size()) < page->total}});
    });
  }

  http::HttpResponse stats(http::HttpRequest& req) {
    store::AuditFilter f;
    if (auto e = parse_filter(req, &f)) return *e;
    return query_deferred([f](store::AuditLog& log) {
      auto s = log.stats(f);
      if (!s.ok()) return store_error(s.status());
      return http::json_response(200, audit_stats_json(*s));
    });
  }

  http::HttpResponse export_rows(http::HttpRequest& req) {
    store::AuditFilter f;
    if (auto e = parse_filter(req, &f)) return *e;
    const std::string format = req.query_param("format").value_or("jsonl");
    if (format != "jsonl" && format != "csv") {
      return http::error_response(400, "format must be jsonl or csv", "invalid_request_error", "format");
    }
    const std::string order = req.query_param("order").value_or("desc");
    if (order != "asc" && order != "desc") {
      return http::error_response(400, "order must be asc or desc", "invalid_request_error", "order");
    }
    const bool csv = format == "csv";
    const bool oldest_first = order == "asc";
    http::HttpResponse r;
    r.headers.set("Content-Type", csv ? "text/csv; charset=utf-8" : "application/x-ndjson");
    r.headers.set("Content-Disposition",
                  std::string("attachment; filename=\"audit-logs.") + format + "\"");
    r.headers.set("Cache-Control", "no-cache");
    std::weak_ptr<AuditService> weak = s_;
    r.on_stream = [weak, f, csv, oldest_first](std::shared_ptr<http::ResponseStream> stream) {
      auto s = weak.lock();
      if (!s || !s->post_query([stream, f, csv, oldest_first](store::AuditLog& log) {
            std::string chunk = csv ? audit_csv_header() : "";
            size_t n = 0;
            Status st = log.for_each(f, oldest_first, [&](const store::AuditRow& row) {
              if (csv) {
                chunk += audit_csv_line(row);
              } else {
                chunk += audit_row_json(row).dump(-1, ' ', false, json::error_handler_t::replace);
                chunk += '\n';
              }
              if (++n % kExportChunkRows == 0) {
                if (!stream->write(std::move(chunk))) return false;  // the client went away
                chunk.clear();
              }
              return true;
            });
            if (!chunk.empty()) stream->write(std::move(chunk));
            (void)st;  // a failure mid-stream can only end the body early
            stream->close();
          })) {
        stream->close();
      }
    };
    return r;
  }

  void websocket(const http::HttpRequest&, std::shared_ptr<http::WebSocketConnection> conn) {
    auto sub = s_->feed().subscribe(conn);
    std::weak_ptr<AuditService> weak = s_;
    const int64_t n = s_->feed().options().backlog;
    s_->post_query([weak, sub, n](store::AuditLog& log) {
      auto s = weak.lock();
      if (!s) return;
      std::vector<store::AuditRow> rows;
      if (n > 0) {
        auto page = log.query({}, n, 0);
        if (page.ok()) rows = std::move(page->rows);
      }
      s->feed().deliver_backlog(sub, rows);
    });
  }

 private:
  // Runs `fn` on the query thread (never an io thread) and answers with its response.
  http::HttpResponse query_deferred(std::function<http::HttpResponse(store::AuditLog&)> fn) {
    std::weak_ptr<AuditService> weak = s_;
    return http::HttpResponse::deferred([weak, fn](std::shared_ptr<http::PendingResponse> p) {
      auto s = weak.lock();
      if (!s || !s->post_query([p, fn](store::AuditLog& log) { p->send(fn(log)); })) {
        p->send(http::error_response(503, "the audit log is shutting down", "server_error"));
      }
    });
  }

  std::shared_ptr<AuditService> s_;
};

}  // namespace

void register_audit_log_routes(http::Router& router, std::shared_ptr<AuditService> service) {
  auto h = std::make_shared<AuditHandlers>(std::move(service));
  router.add("GET", "/admin/audit-logs", [h](http::HttpRequest& r) { return h->list(r); });
  router.add("GET", "/admin/audit-logs/stats", [h](http::HttpRequest& r) { return h->stats(r); });
  router.add("GET", "/admin/audit-logs/export",
             [h](http::HttpRequest& r) { return h->export_rows(r); });
  router.add_websocket("/admin/ws/audit-logs",
                       [h](const http::HttpRequest& r, std::shared_ptr<http::WebSocketConnection> c) {
                         h->websocket(r, std::move(c));
                       });
}

void register_metrics_route(http::Router& router, telemetry::MetricRegistry& registry) {
  telemetry::MetricRegistry* reg = &registry;
  router.add(
      "GET", "/metrics",
      [reg](http::HttpRequest&) {
        return http::HttpResponse::text(200, telemetry::encode_prometheus(*reg),
                                        std::string(telemetry::kPrometheusContentType));
      },
      http::RouteOptions{.allow_while_draining = true});
}

}  // namespace mlxm::api
