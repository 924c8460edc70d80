#include "api/admin/download_routes.h"

#include <nlohmann/json.hpp>
#include <cstdlib>
#include <thread>

#include "api/admin/admin_routes.h"
#include "api/http/json.h"

namespace mlxm::api {

using nlohmann::json;

namespace {

json job_json(const pool::hub::DownloadStatus& s) {
  json j = {{"id", s.id},
            {"model", s.revision == "main" ? s.repo : s.repo + "@" + s.revision},
            {"repo", s.repo},
            {"revision", s.revision},
            {"status", s.state},
            {"bytes_total", s.progress.bytes_total},
            {"bytes_done", s.progress.bytes_done},
            {"files_total", s.progress.n_files},
            {"files_done", s.progress.n_files_done},
            {"current_file", s.progress.current_file},
            {"bytes_per_second", s.progress.bytes_per_second},
            {"created_ms", s.created_ms},
            {"updated_ms", s.updated_ms}};
  if (!s.error.empty()) j["error"] = s.error;
  if (!s.snapshot.empty()) j["path"] = s.snapshot;
  return j;
}

http::HttpResponse job_error(const Status& st) {
  if (st.code() == StatusCode::kAlreadyExists) {
    return http::error_response(409, st.message(), "invalid_request_error", std::nullopt, "conflict");
  }
  return http::error_response(st);
}

}  // namespace

void register_download_routes(http::Router& router,
                              std::shared_ptr<pool::hub::DownloadManager> downloads,
                              std::string admin_token) {
  auto d = downloads;
  auto token = std::make_shared<std::string>(std::move(admin_token));
  router.add("POST", "/api/models/download", [d, token](http::HttpRequest& req) {
    if (auto denied = check_admin_auth(req, *token)) return *denied;
    http::JsonBody b = http::parse_json_body(req, true);
    if (!b.ok()) return *b.error;
    std::string model;
    if (b.value.contains("model") && b.value["model"].is_string()) model = b.value["model"];
    else if (b.value.contains("model_id") && b.value["model_id"].is_string()) model = b.value["model_id"];
    if (model.empty()) return http::error_response(400, "'model' (org/name[@revision]) is required", "invalid_request_error", "model");
    if (b.value.contains("revision") && b.value["revision"].is_string() && model.find('@') == std::string::npos) {
      model += "@" + b.value["revision"].get<std::string>();
    }
    auto job = d->start(model);
    if (!job.ok()) return job_error(job.status());
    return http::json_response(202, job_json(*job));
  });
  router.add("GET", "/api/models/search", [d, token](http::HttpRequest& req) {
    if (auto denied = check_admin_auth(req, *token)) return *denied;
    pool::hub::SearchQuery q;
    auto param = [&req](const char* k) {
      auto it = req.query.find(k);
      return it == req.query.end() ? std::string() : it->second;
    };
    q.text = param("q");
    if (q.text.empty() || q.text.size() > 200) {
      return http::error_response(400, "'q' (the search text, 1 to 200 characters) is required",
                                  "invalid_request_error", "q");
    }
    if (std::string l = param("limit"); !l.empty()) {
      char* end = nullptr;
      const long v = std::strtol(l.c_str(), &end, 10);
      if (*end != '\0' || v < 1 || v > 100) {
        return http::error_response(400, "'limit' must be an integer from 1 to 100",
                                    "invalid_request_error", "limit");
      }
      q.limit = static_cast<int>(v);
    }
    q.filter = param("filter");
    auto found = pool::hub::search_models(d->config(), q);
    if (!found.ok()) {
      if (found.status().code() == StatusCode::kInvalidArgument) {
        return http::error_response(400, found.status().message(), "invalid_request_error");
      }
      // Offline or unreachable hub, or an answer we cannot read: the hub is unavailable.
      return http::error_response(503, "hub search is unavailable: " + found.status().message(),
                                  "server_error", std::nullopt, "hub_unavailable");
    }
    json data = json::array();
    for (const auto& m : *found) {
      data.push_back({{"id", m.id},
                      {"downloads", m.downloads},
                      {"likes", m.likes},
                      {"last_modified", m.last_modified},
                      {"tags", m.tags}});
    }
    return http::json_response(200, json{{"object", "list"}, {"data", data}});
  });
  router.add("GET", "/api/models/downloads", [d, token](http::HttpRequest& req) {
    if (auto denied = check_admin_auth(req, *token)) return *denied;
    json data = json::array();
    for (const auto& s : d->list()) data.push_back(job_json(s));
    return http::json_response(200, json{{"object", "list"}, {"data", data}});
  });
  router.add("GET", "/api/models/downloads/{id}", [d, token](http::HttpRequest& req) {
    if (auto denied = check_admin_auth(req, *token)) return *denied;
    auto job = d->get(req.path_param("id"));
    if (!job.ok()) return job_error(job.status());
    return http::json_response(200, job_json(*job));
  });
  for (const char* action : {"pause", "resume", "cancel"}) {
    const std::string a = action;
    router.add("POST", "/api/models/downloads/{id}/" + a, [d, token, a](http::HttpRequest& req) {
      if (auto denied = check_admin_auth(req, *token)) return *denied;
      const std::string id = req.path_param("id");
      auto job = a == "pause" ? d->pause(id) : a == "resume" ? d->resume(id) : d->cancel(id);
      if (!job.ok()) return job_error(job.status());
      return http::json_response(200, job_json(*job));
    });
  }
  router.add("GET", "/api/models/downloads/{id}/progress", [d, token](http::HttpRequest& req) {
    if (auto denied = check_admin_auth(req, *token)) return *denied;
    const std::string id = req.path_param("id");
    auto first = d->get(id);
    if (!first.ok()) return job_error(first.status());
    return http::HttpResponse::sse([d, id](std::shared_ptr<http::ResponseStream> stream) {
      std::thread([d, id, stream] {
        int64_t last_update = -1;
        while (!stream->is_closed()) {
          auto s = d->get(id);
          if (!s.ok()) break;
          if (s->state != "running") {
            stream->write(http::sse_event(job_json(*s).dump(), s->state));
            break;
          }
          if (s->updated_ms != last_update) {
            last_update = s->updated_ms;
            stream->write(http::sse_event(job_json(*s).dump(), "progress"));
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        stream->close();
      }).detach();
    });
  });
}

}  // namespace mlxm::api
