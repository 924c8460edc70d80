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

 private:
  void add_route(Route route);
  std::vector<Route> routes_;
  Guard guard_;
};

}  // namespace mlxm::http
