// The cloud part of `serve`: providers and routing rules from the database (tables
// cloud_providers and routing_rules; providers.json / routing_rules.json from older versions are
// imported once and renamed *.imported), the backend router that wraps the model endpoints,
// and the /api/settings/{rules,providers} routes. Tuning from the environment:
//   MLX_SERVER_CLOUD_CONNECT_TIMEOUT_SECONDS (10), MLX_SERVER_CLOUD_READ_TIMEOUT_SECONDS (300),
//   MLX_SERVER_CLOUD_RETRY_ATTEMPTS (3), MLX_SERVER_CLOUD_RETRY_BASE_MS (250),
//   MLX_SERVER_CLOUD_RETRY_MAX_MS (4000), MLX_SERVER_CLOUD_BREAKER_FAILURES (5),
//   MLX_SERVER_CLOUD_BREAKER_COOLDOWN_SECONDS (30).
#pragma once

#include <memory>

#include "api/http/router.h"
#include "api/routing/backend_router.h"
#include "cli/serve_models.h"
#include "cloud/cloud_config.h"
#include "core/status.h"
#include "telemetry/request_record.h"

namespace mlxm::cli {

struct ServeCloud {
  std::shared_ptr<cloud::CloudConfig> config;
  std::shared_ptr<api::BackendRouter> router;
  ModelRoute route;  // for setup_serve_models
};

// Errors name the file, table or variable (unreadable or invalid config, a legacy providers
// file readable by others, a malformed variable).
Result<ServeCloud> setup_serve_cloud(http::Router& router,
                                     std::shared_ptr<telemetry::RequestObserver> observer);

}  // namespace mlxm::cli
