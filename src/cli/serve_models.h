// The local-model part of `serve`: loads the --model directories (named after their
// directories) and registers the OpenAI endpoints over them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/handlers/system_handlers.h"
#include "api/http/router.h"
#include "core/status.h"
#include "core/timer_thread.h"
#include "telemetry/request_record.h"
#include "serving/model_provider.h"

namespace mlxm::cli {

struct ServeModels {
  std::shared_ptr<serving::StaticModelProvider> provider;
  std::shared_ptr<TimerThread> timers;
};

// Loads every directory in `model_dirs` (env MLX_SERVER_DEFAULT_MODEL names the default; with
// one model it is the default) and registers /v1/chat/completions, /v1/completions, /tokenize,
// /detokenize and /admin/models on `router`. Fills `system` so /v1/models lists them.
Result<ServeModels> setup_serve_models(const std::vector<std::string>& model_dirs,
                                       const std::string& device, http::Router& router,
                                       handlers::SystemDeps& system,
                                       std::shared_ptr<telemetry::RequestObserver> observer = nullptr);

}  // namespace mlxm::cli
