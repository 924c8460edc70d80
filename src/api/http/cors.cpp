#include "api/http/cors.h"

#include "api/http/json.h"

namespace mlxm::http {
namespace {

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

}  // namespace

bool CorsPolicy::allows(const std::string& origin) const {
  for (const auto& o : origins_) {
    if (o == "*" || o == origin) return true;
  }
  return false;
}

void CorsPolicy::apply(const HttpRequest& request, HttpResponse& response) const {
  if (!enabled()) return;
  auto origin = request.headers.get("Origin");
  if (!origin || !allows(*origin)) return;
  response.headers.set("Access-Control-Allow-Origin", *origin);
  response.headers.set("Vary", "Origin");
  response.headers.set("Access-Control-Expose-Headers", "X-Request-ID");
}

HttpResponse CorsPolicy::options_response(const HttpRequest& request,
                                          const RouteMatch& match) const {
  std::vector<std::string> methods = match.allowed_methods;
  methods.push_back("OPTIONS");
  std::string allow = join(methods, ", ");
  auto origin = request.headers.get("Origin");
  auto wanted = request.headers.get("Access-Control-Request-Method");
  if (origin && wanted) {  // a preflight
    if (!allows(*origin)) {
      return error_response(403, "CORS origin not allowed: " + *origin, "invalid_request_error",
                            std::nullopt, "cors_origin_not_allowed");
    }
    HttpResponse r;
    r.status = 204;
    r.headers.set("Access-Control-Allow-Origin", *origin);
    r.headers.set("Vary", "Origin");
    r.headers.set("Access-Control-Allow-Methods", allow);
    auto req_headers = request.headers.get("Access-Control-Request-Headers");
    r.headers.set("Access-Control-Allow-Headers",
                  req_headers ? *req_headers : "Authorization, Content-Type, X-Request-ID");
    r.headers.set("Access-Control-Max-Age", "600");
    return r;
  }
  HttpResponse r;
  r.status = 204;
  r.headers.set("Allow", allow);
  return r;
}

}  // namespace mlxm::http
