// System endpoints: GET /health, GET /v1/models, GET /v1/models/{model_id...}.
// Thread-safety: the registered handlers are safe to call from any io thread as long as the
// injected functions are.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/http/router.h"

namespace mlxm::handlers {

// One entry of GET /v1/models (OpenAI "model" object).
struct ModelEntry {
  std::string id;
  int64_t created = 0;  // unix seconds
  std::string owned_by = "mlx-manager";
};

struct SystemDeps {
  std::string version;                          // reported by /health
  std::function<bool()> is_draining;            // /health answers 503 "draining" when true
  std::function<std::vector<ModelEntry>()> list_models;  // empty list when unset
  // When set, used instead of list_models: each entry an OpenAI model object ({id, object,
  // created, owned_by}) plus extra fields (the model pool adds "loaded", "status", ...).
  std::function<std::vector<nlohmann::json>()> list_model_objects;
};

void register_system_routes(http::Router& router, SystemDeps deps);

}  // namespace mlxm::handlers
