// The local-model part of `serve`: loads the --model directories (named after their
// directories) and registers the OpenAI endpoints over them.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/handlers/system_handlers.h"
#include "api/http/router.h"
#include "core/status.h"
#include "core/timer_thread.h"
#include "telemetry/request_record.h"
#include "pool/hub/download_manager.h"
#include "pool/model_pool.h"

namespace mlxm::cli {

struct ServeModels {
  std::shared_ptr<pool::ModelPool> provider;  // the model pool (a serving::ModelProvider)
  std::shared_ptr<TimerThread> timers;
  std::shared_ptr<pool::hub::DownloadManager> downloads;  // POST /api/models/download
};

// Builds the model pool: the --model directories are registered under their directory names
// and loaded at start-up while they fit the budget, other ids resolve on demand (model dirs,
// HF cache, aliases; see pool/model_resolver.h); MLX_SERVER_PRELOAD_MODELS are loaded and
// pinned. Registers /v1/chat/completions, /v1/completions, /tokenize, /detokenize, the
// Anthropic routes and the admin routes (api/admin) on `router`. Fills `system` so /v1/models
// lists loaded and loadable models. `route` (serve_cloud.h) wraps the model handlers with
// backend routing; null = local models only.
using ModelRoute = std::function<http::Handler(std::string_view api, http::Handler local)>;
Result<ServeModels> setup_serve_models(const std::vector<std::string>& model_dirs,
                                       const std::string& device, http::Router& router,
                                       handlers::SystemDeps& system,
                                       std::shared_ptr<telemetry::RequestObserver> observer = nullptr,
                                       ModelRoute route = nullptr);

}  // namespace mlxm::cli
