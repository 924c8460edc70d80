// Admin endpoints over the model pool (issue 7). Every route requires
// `Authorization: Bearer <admin_token>` when admin_token is set (401 missing, 403 wrong).
//   GET  /admin/models                         pool budget/use + per model: id, state, bytes,
//                                              pinned, last used, requests in flight, KV blocks
//   POST /admin/models/{model_id...}/preload   load and pin (model_id may contain '/')
//   POST /admin/models/{model_id...}/unload    unpin and drop
//   POST /admin/models/{model_id...}/unpin     unpin, keep loaded (404 when not loaded); the
//                                              model's status
//   DELETE /api/models/{org/name[@revision]}   remove from the HF cache (400 bad id, 404 not
//                                              cached, 409 while loaded; admin users only)
//   GET  /admin/models/{model_id...}/loading-progress   SSE: progress, ready, error
//   Aliases: POST /v1/admin/models/load/{id...}, POST /v1/admin/models/unload/{id...},
//            GET /v1/admin/models/status
// Thread-safety: handlers run on io threads; preload runs on its own thread (deferred
// response), the progress stream on a polling thread.
#pragma once

#include <memory>
#include <string>

#include "api/http/router.h"
#include "pool/model_pool.h"

namespace mlxm::api {

struct AdminDeps {
  std::shared_ptr<pool::ModelPool> pool;
  std::string admin_token;  // MLX_SERVER_ADMIN_TOKEN; "" = no auth
};

void register_admin_routes(http::Router& router, AdminDeps deps);

// The auth check shared by admin and management routes: nullopt when allowed (request.auth.admin
// set by the router's guard, no token configured, or the right Bearer token), else the 401/403.
std::optional<http::HttpResponse> check_admin_auth(const http::HttpRequest& req,
                                                   const std::string& admin_token);

// A pool error as an HTTP response: 400/404/408/503 (+ Retry-After on 503).
http::HttpResponse pool_error_response(const Status& st);

}  // namespace mlxm::api
