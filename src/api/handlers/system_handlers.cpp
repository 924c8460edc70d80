#include "api/handlers/system_handlers.h"

#include "api/http/json.h"

namespace mlxm::handlers {
namespace {

nlohmann::json model_json(const ModelEntry& m) {
  return {{"id", m.id}, {"object", "model"}, {"created", m.created}, {"owned_by", m.owned_by}};
}

std::vector<nlohmann::json> model_objects(const SystemDeps& d) {
  std::vector<nlohmann::json> out;
  if (d.list_model_objects) return d.list_model_objects();
  if (d.list_models) {
    for (const ModelEntry& m : d.list_models()) out.push_back(model_json(m));
  }
  return out;
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
    for (nlohmann::json& m : model_objects(*shared)) data.push_back(std::move(m));
    return http::json_response(200, {{"object", "list"}, {"data", std::move(data)}});
  });

  router.add("GET", "/v1/models/{model_id...}", [shared](http::HttpRequest& req) {
    const std::string& id = req.path_param("model_id");
    for (const nlohmann::json& m : model_objects(*shared)) {
      if (m.value("id", "") == id) return http::json_response(200, m);
    }
    return http::error_response(404, "The model '" + id + "' does not exist",
                                "invalid_request_error", "model", "model_not_found");
  });
}

}  // namespace mlxm::handlers
