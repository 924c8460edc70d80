#include <random>

#include "api/http/detail/context.h"
#include "api/http/json.h"
#include "api/http/static_files.h"
#include "core/log.h"

namespace mlxm::http::detail {

bool parse_target(std::string_view target, HttpRequest* request) {
  request->target = std::string(target);
  size_t q = target.find('?');
  std::string_view raw_path = target.substr(0, q);
  auto path = percent_decode(raw_path, /*plus_is_space=*/false);
  if (!path) return false;
  request->path = std::move(*path);
  if (q == std::string_view::npos) return true;
  std::string_view query = target.substr(q + 1);
  size_t start = 0;
  while (start <= query.size()) {
    size_t amp = query.find('&', start);
    std::string_view pair =
        query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      auto key = percent_decode(pair.substr(0, eq), true);
      auto value = eq == std::string_view::npos ? std::optional<std::string>("")
                                                : percent_decode(pair.substr(eq + 1), true);
      if (!key || !value) return false;
      request->query.emplace(std::move(*key), std::move(*value));  // first value wins
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return true;
}

std::string request_id_for(const HttpRequest& request) {
  if (auto sent = request.headers.get("X-Request-ID")) {
    bool sane = !sent->empty() && sent->size() <= 200;
    for (char c : *sent) sane = sane && c > 0x20 && c < 0x7f;
    if (sane) return *sent;
  }
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "req_";
  uint64_t bits = rng();
  for (int i = 0; i < 16; ++i) id += kHex[(bits >> (i * 4)) & 15];
  return id;
}

// The route's handler (or the 426 of a WebSocket route reached without an upgrade); an
// exception becomes a 500.
HttpResponse call_route(const Router& router, const Route& route, HttpRequest& request) {
  if (route.websocket) {
    HttpResponse r = router.error_response(
        request.path, {426, "This endpoint needs a WebSocket upgrade.", "invalid_request_error",
                       std::nullopt, "upgrade_required"});
    r.headers.set("Upgrade", "websocket");
    return r;
  }
  try {
    return route.handler(request);
  } catch (const std::exception& e) {
    MLXM_LOG_ERROR("handler for {} {} threw: {}", request.method, route.pattern, e.what());
  } catch (...) {
    MLXM_LOG_ERROR("handler for {} {} threw a non-exception", request.method, route.pattern);
  }
  return router.error_response(request.path,
                               {500, "Internal server error.", "server_error", std::nullopt, std::nullopt});
}

HttpResponse dispatch(const ServerContext& ctx, HttpRequest& request, const Route** route) {
  *route = nullptr;
  if (request.method == "OPTIONS") {
    RouteMatch any = ctx.router.match("", request.path);
    if (any.kind == RouteMatch::Kind::kNotFound) {
      return ctx.router.error_response(request.path,
                                       {404, "Invalid URL (OPTIONS " + request.path + ")",
                                        "invalid_request_error", std::nullopt, "not_found"});
    }
    return ctx.cors.options_response(request, any);
  }
  RouteMatch m = ctx.router.match(request.method, request.path);
  if (m.kind == RouteMatch::Kind::kNotFound) {
    if (!ctx.config.static_dir.empty() && request.method == "GET") {
      if (auto file = serve_static_file(ctx.config.static_dir, request.path)) return *file;
    }
    return ctx.router.error_response(
        request.path, {404, "Invalid URL (" + request.method + " " + request.path + ")",
                       "invalid_request_error", std::nullopt, "not_found"});
  }
  if (m.kind == RouteMatch::Kind::kMethodNotAllowed) {
    std::string allow;
    for (const auto& meth : m.allowed_methods) allow += (allow.empty() ? "" : ", ") + meth;
    HttpResponse r = ctx.router.error_response(
        request.path,
        {405, "Method " + request.method + " not allowed for " + request.path + "; allowed: " + allow,
         "invalid_request_error", std::nullopt, "method_not_allowed"});
    r.headers.set("Allow", allow);
    return r;
  }
  *route = m.route;
  if (ctx.draining.load() && !m.route->options.allow_while_draining) {
    HttpResponse r = ctx.router.error_response(
        request.path,
        {503, "The server is shutting down.", "server_error", std::nullopt, "server_draining"});
    r.headers.set("Retry-After", "5");
    return r;
  }
  request.path_params = std::move(m.params);
  Headers guard_headers;
  if (const Guard& guard = ctx.router.guard()) {
    GuardDecision d = guard(request, *m.route);
    if (d.deny) {
      for (const auto& [k, v] : d.headers.entries()) d.deny->headers.add(k, v);
      return std::move(*d.deny);
    }
    guard_headers = std::move(d.headers);
  }
  HttpResponse response = call_route(ctx.router, *m.route, request);
  for (const auto& [k, v] : guard_headers.entries()) response.headers.add(k, v);
  return response;
}

bool handled_off_io_thread(const std::string& method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

bool guard_allows(const ServerContext& ctx, HttpRequest& request, const Route& route) {
  const Guard& guard = ctx.router.guard();
  return !guard || !guard(request, route).deny.has_value();
}

}  // namespace mlxm::http::detail
