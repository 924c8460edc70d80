#include "api/http/router.h"

#include <algorithm>
#include <set>

#include "api/http/json.h"
#include "core/check.h"

namespace mlxm::http {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(path.substr(start));
      return out;
    }
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

std::vector<Route::Segment> parse_pattern(const std::string& pattern) {
  MLXM_CHECK_MSG(!pattern.empty() && pattern.front() == '/', "route pattern must start with '/'");
  std::vector<Route::Segment> out;
  std::set<std::string> names;
  for (std::string_view seg : split_path(pattern)) {
    if (!seg.empty() && seg.front() == '{') {
      MLXM_CHECK_MSG(seg.size() >= 3 && seg.back() == '}', "malformed route parameter");
      std::string_view name = seg.substr(1, seg.size() - 2);
      Route::Segment::Kind kind = Route::Segment::Kind::kParam;
      if (name.size() > 3 && name.substr(name.size() - 3) == "...") {
        kind = Route::Segment::Kind::kRest;
        name.remove_suffix(3);
      }
      MLXM_CHECK_MSG(!name.empty() && name.find_first_of("{}/.") == std::string_view::npos,
                     "malformed route parameter name");
      MLXM_CHECK_MSG(names.insert(std::string(name)).second, "duplicate route parameter name");
      out.push_back({kind, std::string(name)});
    } else {
      MLXM_CHECK_MSG(seg.find_first_of("{}") == std::string_view::npos,
                     "braces inside a literal route segment");
      out.push_back({Route::Segment::Kind::kLiteral, std::string(seg)});
    }
  }
  return out;
}

// Backtracking match of pattern segments [i_pat..] against path segments [i_path..].
bool match_from(const std::vector<Route::Segment>& pat, size_t i_pat,
                const std::vector<std::string_view>& path, size_t i_path,
                std::map<std::string, std::string>* params) {
  if (i_pat == pat.size()) return i_path == path.size();
  if (i_path == path.size()) return false;
  const Route::Segment& seg = pat[i_pat];
  switch (seg.kind) {
    case Route::Segment::Kind::kLiteral:
      return seg.text == path[i_path] && match_from(pat, i_pat + 1, path, i_path + 1, params);
    case Route::Segment::Kind::kParam:
      if (path[i_path].empty()) return false;
      if (!match_from(pat, i_pat + 1, path, i_path + 1, params)) return false;
      (*params)[seg.text] = std::string(path[i_path]);
      return true;
    case Route::Segment::Kind::kRest: {
      // Longest first: the segments that must follow are matched by the rest of the pattern.
      for (size_t end = path.size(); end > i_path; --end) {
        if (!match_from(pat, i_pat + 1, path, end, params)) continue;
        std::string value;
        for (size_t k = i_path; k < end; ++k) {
          if (k > i_path) value += '/';
          value += path[k];
        }
        if (value.empty()) return false;
        (*params)[seg.text] = std::move(value);
        return true;
      }
      return false;
    }
  }
  return false;
}

}  // namespace

void Router::add_route(Route route) {
  route.segments = parse_pattern(route.pattern);
  route.n_literals = static_cast<int>(
      std::count_if(route.segments.begin(), route.segments.end(), [](const Route::Segment& s) {
        return s.kind == Route::Segment::Kind::kLiteral;
      }));
  route.n_rest = static_cast<int>(
      std::count_if(route.segments.begin(), route.segments.end(), [](const Route::Segment& s) {
        return s.kind == Route::Segment::Kind::kRest;
      }));
  for (const Route& r : routes_) {
    MLXM_CHECK_MSG(!(r.method == route.method && r.pattern == route.pattern), "duplicate route");
  }
  routes_.push_back(std::move(route));
}

void Router::add(std::string method, std::string pattern, Handler handler, RouteOptions options) {
  MLXM_CHECK(handler != nullptr);
  Route r;
  r.method = std::move(method);
  r.pattern = std::move(pattern);
  r.handler = std::move(handler);
  r.options = options;
  add_route(std::move(r));
}

void Router::add_websocket(std::string pattern, WebSocketHandler handler, RouteOptions options) {
  MLXM_CHECK(handler != nullptr);
  Route r;
  r.method = "GET";
  r.pattern = std::move(pattern);
  r.websocket = std::move(handler);
  r.options = options;
  add_route(std::move(r));
}

RouteMatch Router::match(std::string_view method, std::string_view path) const {
  RouteMatch out;
  if (path.empty() || path.front() != '/') return out;
  std::vector<std::string_view> segs = split_path(path);
  std::set<std::string> methods;
  int best_score = -1;
  for (const Route& r : routes_) {
    std::map<std::string, std::string> params;
    if (!match_from(r.segments, 0, segs, 0, &params)) continue;
    methods.insert(r.method);
    if (r.method != method) continue;
    // More literal segments win; then fewer parameters (a "{x}" beats a "{x...}" tie).
    int n_params = static_cast<int>(r.segments.size()) - r.n_literals;
    int score = r.n_literals * 1000 - n_params - 100 * r.n_rest;
    if (score > best_score) {
      best_score = score;
      out.route = &r;
      out.params = std::move(params);
    }
  }
  out.allowed_methods.assign(methods.begin(), methods.end());
  if (out.route != nullptr) {
    out.kind = RouteMatch::Kind::kFound;
  } else if (!methods.empty()) {
    out.kind = RouteMatch::Kind::kMethodNotAllowed;
  }
  return out;
}

bool Router::has_path(std::string_view path) const {
  return match("", path).kind != RouteMatch::Kind::kNotFound;
}

void Router::set_error_format(std::string prefix, ErrorFormat format) {
  MLXM_CHECK_MSG(!prefix.empty() && prefix.front() == '/' && prefix.back() != '/',
                 "error format prefix must start with '/' and not end with '/'");
  error_formats_.emplace_back(std::move(prefix), std::move(format));
}

HttpResponse Router::error_response(std::string_view path, const ErrorInfo& error) const {
  const ErrorFormat* best = nullptr;
  size_t best_len = 0;
  for (const auto& [prefix, format] : error_formats_) {
    const bool covers = path.substr(0, prefix.size()) == prefix &&
                        (path.size() == prefix.size() || path[prefix.size()] == '/');
    if (covers && prefix.size() >= best_len) {
      best = &format;
      best_len = prefix.size();
    }
  }
  if (!best) return http::error_response(error.status, error.message, error.type, error.param, error.code);
  return HttpResponse::text(error.status, (*best)(error), "application/json");
}

}  // namespace mlxm::http
