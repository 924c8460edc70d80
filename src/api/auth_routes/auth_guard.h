// The router guard that enforces the access rules of docs/auth.md: routes are classed by path
// (public, client API, management, admin-only management, admin) and each class accepts API
// keys, user sessions and/or the admin token; the client API and login/register are rate limited
// per API key or client IP. It fills request.auth (API key id for the audit log, user, admin).
//
// Thread-safety: the guard is thread-safe (AuthService and RateLimiter are).
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "api/http/router.h"
#include "auth/auth_service.h"
#include "auth/rate_limiter.h"

namespace mlxm::api {

enum class RouteClass {
  kPublic,           // /health, /version, /metrics, /api/auth/*, /test/*
  kClient,           // /v1/* (not /v1/admin/*), /tokenize, /detokenize
  kManagement,       // /api/*
  kManagementAdmin,  // /api/users*, /api/keys*, non-GET /api/settings/*
  kAdmin,            // /admin/*, /v1/admin/*
};
RouteClass classify_route(std::string_view method, std::string_view path);

struct AuthGuardOptions {
  bool insecure = false;  // serve --insecure: loopback-only defaults open to every client
};

struct AuthContext {
  std::shared_ptr<auth::AuthService> auth;
  std::shared_ptr<auth::RateLimiter> limiter;
  AuthGuardOptions options;
};

http::Guard make_auth_guard(AuthContext ctx);

// The active session of the request (cookie first, then a Bearer token), if any.
std::optional<auth::Session> request_session(auth::AuthService& auth, const http::HttpRequest& req,
                                             int64_t now_ms);

// An auth error in the wire shape of the route (Anthropic's for /v1/messages*, else OpenAI's);
// 401 answers carry WWW-Authenticate: Bearer.
http::HttpResponse auth_error(const http::HttpRequest& req, int status, const std::string& message,
                              const std::string& code);

}  // namespace mlxm::api
