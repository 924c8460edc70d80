// The auth part of `serve` (docs/auth.md): the AuthService over the database, the rate limiter
// (MLX_SERVER_RATE_LIMIT_RPM), the /api/auth, /api/users, /api/keys routes and the router guard.
// Also the start-up rule: a non-loopback bind address with no API key configured is refused
// unless --insecure.
#pragma once

#include <memory>
#include <string>

#include "api/http/router.h"
#include "auth/auth_service.h"
#include "auth/rate_limiter.h"
#include "core/status.h"

namespace mlxm::cli {

struct ServeAuth {
  std::shared_ptr<auth::AuthService> auth;
  std::shared_ptr<auth::RateLimiter> limiter;
};

// Errors: a malformed auth variable (named), the database cannot be opened, or the bind rule
// (FailedPrecondition-like InvalidArgument with the whole explanation).
Result<ServeAuth> setup_serve_auth(http::Router& router, const std::string& host, bool insecure);

}  // namespace mlxm::cli
