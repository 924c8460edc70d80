#include "api/handlers/system_handlers.h"

#include "api/http/json.h"

namespace mlxm::handlers {
namespace {

nlohmann::json model_json(const ModelEntry& m) {
  nlohmann::json j = {{"id", m.id}, {"object", "model"}, {"created", m.created}, {"owned_by", m.owned_by}};
  if (m.extra.is_object()) {
    for (const auto& [k, v] : m.extra.items()) j[k] = v;
  }
  return j;
}

}  // namespace

void register_system_routes(http::Router& router, SystemDeps deps) {
  auto shared = std::make_shared<SystemDeps>(std::move(deps));
  router.add(
      "GET", "/health",
      [shared](http::HttpRequest&) {
        if (shared->is_draining && shared->is_draining()) {
          return http::json_response(503, {{"status", "draining"}, {"version", shared->version}});
        }
        return http::json_response(200, {{"status", "healthy"}, {"version", shared->version}});
      },
      http::RouteOptions{.allow_while_draining = true});

  router.add("GET", "/v1/models", [shared](http::HttpRequest&) {
    nlohmann::json data = nlohmann::json::array();
    if (shared->list_models) {
      for (const ModelEntry& m : shared->list_models()) data.push_back(model_json(m));
    }
    return http::json_response(200, {{"object", "list"}, {"data", std::move(data)}});
  });

  router.add("GET", "/v1/models/{model_id...}", [shared](http::HttpRequest& req) {
    const std::string& id = req.path_param("model_id");
    if (shared->list_models) {
      for (const ModelEntry& m : shared->list_models()) {
        if (m.id == id) return http::json_response(200, model_json(m));
      }
    }
    return http::error_response(404, "The model '" + id + "' does not exist",
                                "invalid_request_error", "model", "model_not_found");
  });
}

}  // namespace mlxm::handlers
