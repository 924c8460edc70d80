// The auth endpoints (contract in docs/auth.md):
//   GET  /api/auth/status, POST /api/auth/register, /api/auth/login, /api/auth/logout,
//   GET  /api/auth/me;
//   GET  /api/users, POST /api/users/{id}/approve, DELETE /api/users/{id}   (admin; the guard
//        checks);
//   POST /api/keys, GET /api/keys, DELETE /api/keys/{id}                      (admin; the guard
//        checks).
// Thread-safety: handlers run on io (or blocking-pool) threads; AuthService is thread-safe.
#pragma once

#include "api/auth_routes/auth_guard.h"
#include "api/http/router.h"

namespace mlxm::api {

void register_auth_routes(http::Router& router, AuthContext ctx);

}  // namespace mlxm::api
