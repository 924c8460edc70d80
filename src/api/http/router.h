// Router: (method, path pattern) -> handler. Patterns are '/'-separated segments, each a literal,
// "{name}" (one non-empty segment) or "{name...}" (one or more segments, '/' included, so a
// model id like "org/model" fits: "/v1/models/{model_id...}", "/admin/models/{id...}/preload").
// When several routes match, the one with the most literal segments wins.
//
// Thread-safety: build it on one thread, then share it read-only (match() is const).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http/http_types.h"

namespace mlxm::http {

struct RouteOptions {
  // Served while the server drains (e.g. /health, which then reports "draining").
  bool allow_while_draining = false;
};

struct Route {
  struct Segment {
    enum class Kind { kLiteral, kParam, kRest } kind;
    std::string text;  // the literal, or the parameter name
  };
  std::string method;
  std::string pattern;
  std::vector<Segment> segments;
  Handler handler;                   // set for plain routes
  WebSocketHandler websocket;        // set for WebSocket routes (method GET)
  RouteOptions options;
  int n_literals = 0;
  int n_rest = 0;  // "{x...}" segments
};

struct RouteMatch {
  enum class Kind { kFound, kNotFound, kMethodNotAllowed };
  Kind kind = Kind::kNotFound;
  const Route* route = nullptr;                 // kFound
  std::map<std::string, std::string> params;    // kFound
  std::vector<std::string> allowed_methods;     // kMethodNotAllowed (and kFound): sorted
};

// A guard's verdict on one request, taken after routing and before the handler (WebSocket
// upgrades included): `deny` is sent instead of calling the handler; `headers` are added to the
// response either way (e.g. X-RateLimit-*). The guard may fill request.auth.
struct GuardDecision {
  std::optional<HttpResponse> deny;
  Headers headers;
};
// Runs on io threads, concurrently: it must be thread-safe and return promptly.
using Guard = std::function<GuardDecision(HttpRequest& request, const Route& route)>;

// An error the HTTP layer answers by itself, before or instead of a handler: 404/405 from
// routing, 413/431/400 while reading the request, the draining 503, the 426 of a WebSocket
// route, a handler that threw (500). `type`/`param`/`code` are OpenAI's.
struct ErrorInfo {
  int status = 500;
  std::string message;
  std::string type = "invalid_request_error";
  std::optional<std::string> param;
  std::optional<std::string> code;
};
// Renders such an error for an API with its own error shape (e.g. Anthropic's); returns the
// JSON body. Runs on io threads and blocking-pool threads: it must be thread-safe.
using ErrorFormat = std::function<std::string(const ErrorInfo& error)>;

class Router {
 public:
  // REQUIRES: `pattern` starts with '/', has well-formed "{name}"/"{name...}" segments with
  // unique names, and (method, pattern) was not added before. Violations abort (bugs).
  void add(std::string method, std::string pattern, Handler handler, RouteOptions options = {});
  void add_websocket(std::string pattern, WebSocketHandler handler, RouteOptions options = {});

  // `path` is the percent-decoded path without the query.
  RouteMatch match(std::string_view method, std::string_view path) const;

  // True when some route matches `path` with any method.
  bool has_path(std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

  // Installs the guard consulted before every matched route's handler (one guard; a later call
  // replaces it). Without one every route is open.
  void set_guard(Guard guard) { guard_ = std::move(guard); }
  const Guard& guard() const { return guard_; }

  // Errors of the HTTP layer for paths under `prefix` (the path itself or below it, whole
  // segments: "/v1/messages" covers "/v1/messages/count_tokens", not "/v1/messagesx") are
  // rendered by `format`; the longest covering prefix wins. Other paths get OpenAI errors.
  // REQUIRES: `prefix` starts with '/' and does not end with '/'.
  void set_error_format(std::string prefix, ErrorFormat format);

  // The error response for a request to `path` (percent-decoded, no query): JSON from the
  // covering ErrorFormat, else the OpenAI shape (http::error_response).
  HttpResponse error_response(std::string_view path, const ErrorInfo& error) const;

 private:
  void add_route(Route route);
  std::vector<Route> routes_;
  Guard guard_;
  std::vector<std::pair<std::string, ErrorFormat>> error_formats_;
};

}  // namespace mlxm::http
