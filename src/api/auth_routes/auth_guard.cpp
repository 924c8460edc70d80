#include "api/auth_routes/auth_guard.h"

#include <nlohmann/json.hpp>

#include "api/auth_routes/credentials.h"
#include "api/http/json.h"
#include "core/clock.h"

namespace mlxm::api {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// "/api/keys" and "/api/keys/..." but not "/api/keysmith".
bool under(std::string_view path, std::string_view prefix) {
  return path == prefix || starts_with(path, std::string(prefix) + "/");
}

void add_rate_headers(const auth::RateDecision& d, http::Headers* h) {
  h->set("X-RateLimit-Limit", std::to_string(d.limit));
  h->set("X-RateLimit-Remaining", std::to_string(d.remaining));
  h->set("X-RateLimit-Reset", std::to_string(d.reset_s));
}

class Guard {
 public:
  explicit Guard(AuthContext ctx) : c_(std::move(ctx)) {}

  http::GuardDecision operator()(http::HttpRequest& req, const http::Route&) const {
    http::GuardDecision d;
    const int64_t now_ms = unix_ms();
    switch (classify_route(req.method, req.path)) {
      case RouteClass::kPublic:
        if (req.method == "POST" &&
            (req.path == "/api/auth/login" || req.path == "/api/auth/register")) {
          rate_limit(req, "ip:" + client_ip(req), &d);
        }
        return d;
      case RouteClass::kClient: client(req, now_ms, &d); return d;
      case RouteClass::kManagement: management(req, now_ms, /*admin_only=*/false, &d); return d;
      case RouteClass::kManagementAdmin: management(req, now_ms, /*admin_only=*/true, &d); return d;
      case RouteClass::kAdmin: admin(req, now_ms, &d); return d;
    }
    return d;
  }

 private:
  // No admin token and no user: loopback clients (every client with --insecure) get in.
  bool open_by_default(const http::HttpRequest& req) const {
    return !c_.auth->has_admin_token() && !c_.auth->has_users() &&
           (c_.options.insecure || is_loopback_ip(client_ip(req)));
  }

  bool admin_token(http::HttpRequest& req) const {
    if (!c_.auth->is_admin_token(bearer_token(req))) return false;
    req.auth.admin = true;
    req.auth.username = "admin-token";
    return true;
  }

  bool session(http::HttpRequest& req, int64_t now_ms) const {
    auto s = request_session(*c_.auth, req, now_ms);
    if (!s) return false;
    req.auth.user_id = s->user.id;
    req.auth.username = s->user.username;
    req.auth.admin = s->user.is_admin;
    return true;
  }

  bool has_any_credential(const http::HttpRequest& req) const {
    return !bearer_token(req).empty() || !x_api_key(req).empty() ||
           !cookie_value(req, kSessionCookie).empty();
  }

  // Takes one request from `client`'s bucket; a refusal becomes the 429.
  void rate_limit(const http::HttpRequest& req, const std::string& client,
                  http::GuardDecision* d) const {
    if (!c_.limiter || !c_.limiter->enabled()) return;
    auth::RateDecision r = c_.limiter->check(client, now());
    add_rate_headers(r, &d->headers);
    if (!r.allowed) {
      d->deny =
          auth_error(req, 429,
                     "rate limit exceeded: " + std::to_string(r.limit) +
                         " requests per minute; retry in " + std::to_string(r.retry_after_s) + " s",
                     "rate_limited");
      d->headers.set("Retry-After", std::to_string(r.retry_after_s));
    }
  }

  void client(http::HttpRequest& req, int64_t now_ms, http::GuardDecision* d) const {
    if (c_.auth->api_keys_required()) {
      std::string key = x_api_key(req);
      if (key.empty()) key = bearer_token(req);
      if (auto id = c_.auth->verify_api_key(key, now_ms)) {
        req.auth.api_key_id = *id;
      } else if (!admin_token(req) && !session(req, now_ms)) {
        d->deny = has_any_credential(req)
                      ? auth_error(req, 401, "the API key is not valid", "invalid_api_key")
                      : auth_error(req, 401,
                                   "an API key is required: send 'Authorization: Bearer <key>' "
                                   "or 'x-api-key: <key>'",
                                   "missing_credentials");
        return;
      }
    }
    std::string who = !req.auth.api_key_id.empty() ? "key:" + req.auth.api_key_id
                      : req.auth.user_id != 0      ? "user:" + std::to_string(req.auth.user_id)
                                                   : "ip:" + client_ip(req);
    rate_limit(req, who, d);
  }

  void management(http::HttpRequest& req, int64_t now_ms, bool admin_only,
                  http::GuardDecision* d) const {
    if (admin_token(req)) return;
    if (session(req, now_ms)) {
      if (admin_only && !req.auth.admin) {
        d->deny = auth_error(req, 403, "this endpoint is for administrators", "admin_required");
      }
      return;
    }
    if (open_by_default(req)) return;
    if (!c_.auth->has_users() && !c_.auth->has_admin_token()) {
      d->deny = auth_error(req, 401,
                           "no user exists yet: register the first user from the server's own "
                           "machine (loopback)",
                           "not_loopback");
    } else if (has_any_credential(req)) {
      d->deny = auth_error(req, 401, "the session is not valid or has expired; log in again",
                           "invalid_session");
    } else {
      d->deny = auth_error(req, 401, "log in first (POST /api/auth/login)", "missing_credentials");
    }
  }

  void admin(http::HttpRequest& req, int64_t now_ms, http::GuardDecision* d) const {
    if (admin_token(req)) return;
    if (session(req, now_ms)) {
      if (!req.auth.admin) {
        d->deny = auth_error(req, 403, "admin endpoints are for administrators", "admin_required");
      }
      return;
    }
    if (open_by_default(req)) return;
    if (!c_.auth->has_users() && !c_.auth->has_admin_token()) {
      d->deny = auth_error(req, 401,
                           "admin endpoints are only open to loopback clients until "
                           "MLX_SERVER_ADMIN_TOKEN is set or a user is registered",
                           "not_loopback");
    } else if (!bearer_token(req).empty()) {
      d->deny = auth_error(req, 403, "the admin token is not valid", "invalid_admin_token");
    } else {
      d->deny = auth_error(req, 401,
                           "admin endpoints need 'Authorization: Bearer <MLX_SERVER_ADMIN_TOKEN>' "
                           "or an administrator's session",
                           "missing_credentials");
    }
  }

  AuthContext c_;
};

}  // namespace

RouteClass classify_route(std::string_view method, std::string_view path) {
  if (under(path, "/admin") || under(path, "/v1/admin")) return RouteClass::kAdmin;
  if (under(path, "/v1") || path == "/tokenize" || path == "/detokenize")
    return RouteClass::kClient;
  if (under(path, "/api/auth")) return RouteClass::kPublic;
  if (under(path, "/api/users") || under(path, "/api/keys")) return RouteClass::kManagementAdmin;
  if (under(path, "/api/settings") && method != "GET" && method != "HEAD") {
    return RouteClass::kManagementAdmin;
  }
  if (under(path, "/api")) return RouteClass::kManagement;
  return RouteClass::kPublic;
}

http::Guard make_auth_guard(AuthContext ctx) {
  auto g = std::make_shared<Guard>(std::move(ctx));
  return [g](http::HttpRequest& req, const http::Route& route) { return (*g)(req, route); };
}

std::optional<auth::Session> request_session(auth::AuthService& auth, const http::HttpRequest& req,
                                             int64_t now_ms) {
  if (std::string c = cookie_value(req, kSessionCookie); !c.empty()) {
    if (auto s = auth.session_user(c, now_ms)) return s;
  }
  std::string bearer = bearer_token(req);
  // API keys and the admin token are not session tokens: skip the lookup for them.
  if (bearer.empty() || starts_with(bearer, auth::kApiKeyPrefix) || auth.is_admin_token(bearer)) {
    return std::nullopt;
  }
  return auth.session_user(bearer, now_ms);
}

http::HttpResponse auth_error(const http::HttpRequest& req, int status, const std::string& message,
                              const std::string& code) {
  const std::string type = status == 401   ? "authentication_error"
                           : status == 429 ? "rate_limit_error"
                                           : "permission_error";
  http::HttpResponse r;
  if (under(req.path, "/v1/messages")) {
    r = http::json_response(status,
                            {{"type", "error"}, {"error", {{"type", type}, {"message", message}}}});
  } else {
    r = http::error_response(status, message, type, std::nullopt, code);
  }
  if (status == 401) r.headers.set("WWW-Authenticate", "Bearer");
  return r;
}

}  // namespace mlxm::api
