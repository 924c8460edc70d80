#include "api/admin/admin_routes.h"

#include <nlohmann/json.hpp>
#include <thread>

#include "api/http/json.h"
#include "core/clock.h"
#include "core/log.h"
#include "pool/hub/hub_client.h"

namespace mlxm::api {

using nlohmann::json;

namespace {

bool constant_time_equal(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

json model_json(const pool::ModelStatus& m) {
  json j = {{"id", m.id},
            {"path", m.dir},
            {"source", m.source},
            {"state", m.state},
            {"pinned", m.pinned},
            {"bytes", m.bytes},
            {"weight_bytes", m.weight_bytes},
            {"kv_bytes", m.kv_bytes},
            {"runtime_bytes", m.runtime_bytes},
            {"rss_delta_bytes", m.rss_delta_bytes},
            {"file_bytes", m.file_bytes},
            {"loaded_at", m.loaded_at_ms / 1000},
            {"last_used", m.last_used_ms / 1000},
            {"last_used_ms", m.last_used_ms},
            {"load_ms", m.load_ms},
            {"requests_in_flight", m.n_in_flight}};
  if (m.state == "loading") j["progress_bytes"] = m.progress_bytes;
  if (m.instance) {
    const serving::EngineLoopStats st = m.instance->loop().stats();
    const auto& e = m.instance->loop().engine();
    j["max_model_len"] = m.instance->max_model_len();
    j["running"] = st.scheduler.n_running;
    j["waiting"] = st.scheduler.n_waiting;
    j["weight_bytes"] = e.weight_bytes();
    j["kv_bytes"] = e.kv_bytes();
    j["kv_blocks"] = {{"used", st.scheduler.blocks_used},
                      {"total", st.scheduler.blocks_total},
                      {"cached", st.scheduler.blocks_cached},
                      {"block_size", e.block_size()}};
    j["prefix_cache"] = {{"hits", st.scheduler.prefix_hits}, {"queries", st.scheduler.prefix_queries}};
    j["preemptions"] = st.scheduler.n_preemptions;
    j["steps"] = st.n_steps;
    j["tokens_computed"] = st.n_tokens_computed;
    j["tokens_generated"] = st.n_tokens_generated;
    j["busy_ms"] = st.busy_ms;
    j["forward_ms"] = st.forward_ms;
    j["sample_ms"] = st.sample_ms;
    j["sink_ms"] = st.sink_ms;
    j["delivery_ms"] = st.delivery_ms;
    j["pipelined_steps"] = st.n_pipelined_steps;
  }
  return j;
}

json pool_json(const pool::PoolStatus& s) {
  json errors = json::object();
  for (const auto& [id, msg] : s.last_errors) errors[id] = msg;
  return {{"budget_bytes", s.budget_bytes},
          {"budget_source", s.budget_source},
          {"used_bytes", s.used_bytes},
          {"available_bytes", s.budget_bytes > s.used_bytes ? s.budget_bytes - s.used_bytes : 0},
          {"rss_bytes", s.rss_bytes},
          {"loads", s.n_loads},
          {"evictions", s.n_evictions},
          {"load_failures", s.n_load_failures},
          {"ttl_seconds", s.ttl_seconds},
          {"last_errors", errors}};
}

class AdminHandlers : public std::enable_shared_from_this<AdminHandlers> {
 public:
  explicit AdminHandlers(AdminDeps deps) : d_(std::move(deps)) {}

  http::HttpResponse list(http::HttpRequest& req) {
    if (auto denied = check_admin_auth(req, d_.admin_token)) return *denied;
    pool::PoolStatus s = d_.pool->status();
    json data = json::array();
    for (const auto& m : s.models) data.push_back(model_json(m));
    return http::json_response(200, json{{"object", "list"}, {"data", data}, {"pool", pool_json(s)}});
  }

  http::HttpResponse preload(http::HttpRequest& req) {
    if (auto denied = check_admin_auth(req, d_.admin_token)) return *denied;
    const std::string id = req.path_param("model_id");
    auto p = d_.pool;
    // Bad ids and loaded models are answered at once; only a real load is deferred. (This also
    // keeps a deferred send() from racing the connection's wait, see the report of issue 7.)
    auto resolved = p->resolver().resolve(id);
    if (!resolved.ok()) return pool_error_response(resolved.status());
    if (auto st = p->model_status(resolved->id); st.ok() && st->state == "loaded") {
      auto m = p->preload(id);  // pins; returns at once
      if (!m.ok()) return pool_error_response(m.status());
      auto now_st = p->model_status(resolved->id);
      json body = {{"status", "loaded"}, {"model", resolved->id}, {"pinned", true}, {"elapsed_ms", 0}};
      if (now_st.ok()) body["details"] = model_json(*now_st);
      return http::json_response(200, body);
    }
    // Loading takes a while: do it off the io thread and answer when it is done.
    return http::HttpResponse::deferred([p, id](std::shared_ptr<http::PendingResponse> pending) {
      std::thread([p, id, pending] {
        Timer t;
        auto m = p->preload(id);
        if (!m.ok()) {
          pending->send(pool_error_response(m.status()));
          return;
        }
        const std::string key = (*m)->name();
        m = Result<std::shared_ptr<serving::ModelInstance>>(internal_error("released"));
        auto st = p->model_status(key);
        json body = {{"status", "loaded"}, {"model", key}, {"pinned", true},
                     {"elapsed_ms", t.ms()}};
        if (st.ok()) body["details"] = model_json(*st);
        pending->send(http::json_response(200, body));
      }).detach();
    });
  }

  http::HttpResponse unload(http::HttpRequest& req) {
    if (auto denied = check_admin_auth(req, d_.admin_token)) return *denied;
    const std::string id = req.path_param("model_id");
    auto freed = d_.pool->unload(id);
    if (!freed.ok()) return pool_error_response(freed.status());
    return http::json_response(200, {{"status", *freed ? "unloaded" : "unloading"},
                                     {"model", id},
                                     {"memory_freed", *freed}});
  }

  http::HttpResponse unpin(http::HttpRequest& req) {
    if (auto denied = check_admin_auth(req, d_.admin_token)) return *denied;
    auto st = d_.pool->unpin(req.path_param("model_id"));
    if (!st.ok()) return pool_error_response(st.status());
    return http::json_response(200, model_json(*st));
  }

  // DELETE /api/models/{org/name[@revision]}: removes the repo (or one revision) from the HF
  // cache. Refused (409) while any revision of the repo is in the pool.
  http::HttpResponse remove(http::HttpRequest& req) {
    if (auto denied = check_admin_auth(req, d_.admin_token)) return *denied;
    if (req.auth.user_id != 0 && !req.auth.admin) {
      return http::error_response(403, "deleting a model needs an administrator",
                                  "permission_error", std::nullopt, "admin_required");
    }
    const std::string id = req.path_param("model_id");
    const size_t at = id.find('@');
    const std::string repo = id.substr(0, at);
    const std::string revision = at == std::string::npos ? "" : id.substr(at + 1);
    if (Status v = pool::ModelResolver::validate_repo_id(repo); !v.ok()) {
      return pool_error_response(invalid_argument(
          v.message() + "; only models in the Hugging Face cache (org/name[@revision]) can be deleted"));
    }
    if (at != std::string::npos) {
      if (Status v = pool::ModelResolver::validate_revision(revision); !v.ok()) {
        return pool_error_response(v);
      }
    }
    const std::string& cache = d_.pool->resolver().config().hf_cache;
    if (cache.empty()) return pool_error_response(not_found("the server has no Hugging Face cache"));
    for (const pool::ModelStatus& m : d_.pool->status().models) {
      if (m.id == repo || m.id.rfind(repo + "@", 0) == 0) {
        const std::string msg =
            m.state == "unloading"
                ? "the model '" + m.id + "' is still unloading (requests in flight); delete it "
                  "when they have ended"
                : "the model '" + m.id + "' is " + m.state + "; unload it first (POST /admin/models/" +
                      m.id + "/unload), then delete it";
        return http::error_response(409, msg, "invalid_request_error", "model", "model_loaded");
      }
    }
    Status st = revision.empty() ? pool::hub::remove_from_cache(cache, repo)
                                 : pool::hub::remove_revision_from_cache(cache, repo, revision);
    if (!st.ok()) return pool_error_response(st);
    MLXM_LOG_INFO("models: deleted '{}' from the HF cache {}", id, cache);
    return http::json_response(200, {{"id", id}, {"object", "model"}, {"deleted", true}});
  }

  // SSE: `event: progress` while loading, then `event: ready` or `event: error`.
  http::HttpResponse progress(http::HttpRequest& req) {
    if (auto denied = check_admin_auth(req, d_.admin_token)) return *denied;
    const std::string id = req.path_param("model_id");
    auto p = d_.pool;
    return http::HttpResponse::sse([p, id](std::shared_ptr<http::ResponseStream> stream) {
      std::thread([p, id, stream] {
        const TimePoint start = now();
        while (!stream->is_closed()) {
          auto st = p->model_status(id);
          if (st.ok() && st->state == "loaded") {
            stream->write(http::sse_event(model_json(*st).dump(), "ready"));
            break;
          }
          if (st.ok() && st->state == "loading") {
            json j = {{"id", st->id}, {"state", "loading"}, {"bytes_loaded", st->progress_bytes},
                      {"bytes_total", st->file_bytes}, {"elapsed_ms", ms_since(start)}};
            stream->write(http::sse_event(j.dump(), "progress"));
          } else if (!st.ok() && (st.status().code() != StatusCode::kNotFound ||
                                  ms_since(start) > 2000)) {
            // A failed load, or nothing loading this model (after a short grace period for a
            // preload that is about to start).
            json j = {{"id", id}, {"state", "error"}, {"message", st.status().message()}};
            stream->write(http::sse_event(j.dump(), "error"));
            break;
          } else if (st.ok()) {  // unloading
            json j = {{"id", id}, {"state", st->state}};
            stream->write(http::sse_event(j.dump(), "error"));
            break;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        stream->close();
      }).detach();
    });
  }

 private:
  AdminDeps d_;
};

}  // namespace

std::optional<http::HttpResponse> check_admin_auth(const http::HttpRequest& req,
                                                   const std::string& admin_token) {
  // The router's guard (api/auth_routes) already accepted the admin token or an admin's session.
  if (req.auth.admin) return std::nullopt;
  if (admin_token.empty()) return std::nullopt;
  auto auth = req.headers.get("Authorization");
  if (!auth || auth->empty()) {
    http::HttpResponse r = http::error_response(
        401, "admin endpoints need 'Authorization: Bearer <MLX_SERVER_ADMIN_TOKEN>'",
        "authentication_error", std::nullopt, "missing_admin_token");
    r.headers.set("WWW-Authenticate", "Bearer");
    return r;
  }
  const std::string prefix = "Bearer ";
  if (auth->size() <= prefix.size() || !http::iequals(auth->substr(0, prefix.size()), prefix) ||
      !constant_time_equal(auth->substr(prefix.size()), admin_token)) {
    return http::error_response(403, "the admin token is not valid", "permission_error",
                                std::nullopt, "invalid_admin_token");
  }
  return std::nullopt;
}

http::HttpResponse pool_error_response(const Status& st) {
  switch (st.code()) {
    case StatusCode::kInvalidArgument:
      return http::error_response(400, st.message(), "invalid_request_error", "model");
    case StatusCode::kNotFound:
      return http::error_response(404, st.message(), "invalid_request_error", "model",
                                  "model_not_found");
    case StatusCode::kDeadlineExceeded:
      return http::error_response(408, st.message(), "timeout_error", std::nullopt, "timeout");
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable: {
      http::HttpResponse r =
          http::error_response(503, st.message(), "server_error", std::nullopt, "overloaded");
      r.headers.set("Retry-After", "5");
      return r;
    }
    default:
      return http::error_response(st);
  }
}

void register_admin_routes(http::Router& router, AdminDeps deps) {
  auto h = std::make_shared<AdminHandlers>(std::move(deps));
  router.add("GET", "/admin/models", [h](http::HttpRequest& r) { return h->list(r); });
  router.add("GET", "/v1/admin/models/status", [h](http::HttpRequest& r) { return h->list(r); });
  router.add("POST", "/admin/models/{model_id...}/preload",
             [h](http::HttpRequest& r) { return h->preload(r); });
  router.add("POST", "/v1/admin/models/load/{model_id...}",
             [h](http::HttpRequest& r) { return h->preload(r); });
  router.add("POST", "/admin/models/{model_id...}/unload",
             [h](http::HttpRequest& r) { return h->unload(r); });
  router.add("POST", "/v1/admin/models/unload/{model_id...}",
             [h](http::HttpRequest& r) { return h->unload(r); });
  router.add("POST", "/admin/models/{model_id...}/unpin",
             [h](http::HttpRequest& r) { return h->unpin(r); });
  router.add("DELETE", "/api/models/{model_id...}",
             [h](http::HttpRequest& r) { return h->remove(r); });
  router.add("GET", "/admin/models/{model_id...}/loading-progress",
             [h](http::HttpRequest& r) { return h->progress(r); });
}

}  // namespace mlxm::api
