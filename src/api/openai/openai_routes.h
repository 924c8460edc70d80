// OpenAI-compatible endpoints over local models:
//   POST /v1/chat/completions, POST /v1/completions,
//   POST /tokenize, POST /detokenize (vLLM / llama-server style),
//   (/v1/models lives in api/handlers, GET /admin/models with KV use per model in api/admin).
// Thread-safety: handlers run on io threads; all shared state is thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string_view>

#include "api/http/router.h"
#include "core/status.h"
#include "core/timer_thread.h"
#include "serving/model_provider.h"
#include "telemetry/request_record.h"

namespace mlxm::api {

// The live settings timeout_chat_seconds / timeout_completions_seconds
// (serving/scheduler/live_limits.h) override these for new requests when set.
struct OpenAiConfig {
  std::chrono::seconds chat_timeout{900};         // MLX_SERVER_TIMEOUT_CHAT_SECONDS
  std::chrono::seconds completions_timeout{600};  // MLX_SERVER_TIMEOUT_COMPLETIONS_SECONDS
};

// Reads the timeouts from the environment; a malformed value is an error naming it.
Result<OpenAiConfig> openai_config_from_env();

struct OpenAiDeps {
  std::shared_ptr<serving::ModelProvider> models;
  std::shared_ptr<TimerThread> timers;
  OpenAiConfig config;
  // Receives every finished request (audit log, metrics); null = not recorded.
  std::shared_ptr<telemetry::RequestObserver> observer;
  // Backend routing (rules, cloud providers, fallback; api/routing): wraps the chat and
  // completions handlers ("openai.chat", "openai.completions"); null = local models only.
  std::function<http::Handler(std::string_view api, http::Handler local)> route;
};

void register_openai_routes(http::Router& router, OpenAiDeps deps);

}  // namespace mlxm::api
