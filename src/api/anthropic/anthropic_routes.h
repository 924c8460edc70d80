// Anthropic Messages API over local models:
//   POST /v1/messages               (stream and not; errors in the Anthropic shape)
//   POST /v1/messages/count_tokens  -> {"input_tokens": N}
// The conversation is translated to OpenAI-style messages (anthropic_to_openai_chat) and
// rendered through the model's chat template, so tool_use/tool_result reach the template as
// tool_calls / role "tool" messages. The `anthropic-version` header is accepted (any value) and
// `x-api-key` is accepted as the credential like `Authorization: Bearer`.
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

// The live setting timeout_chat_seconds (serving/scheduler/live_limits.h) overrides it for new
// requests when set.
struct AnthropicConfig {
  std::chrono::seconds timeout{900};  // MLX_SERVER_TIMEOUT_CHAT_SECONDS
};

// Reads the timeout from the environment; a malformed value is an error naming it.
Result<AnthropicConfig> anthropic_config_from_env();

struct AnthropicDeps {
  std::shared_ptr<serving::ModelProvider> models;
  std::shared_ptr<TimerThread> timers;
  AnthropicConfig config;
  // Receives every finished request (audit log, metrics); null = not recorded.
  std::shared_ptr<telemetry::RequestObserver> observer;
  // Backend routing (rules, cloud providers, fallback; api/routing): wraps the messages
  // handler ("anthropic.messages") and the count_tokens handler ("anthropic.count_tokens");
  // null = local models only.
  std::function<http::Handler(std::string_view api, http::Handler local)> route;
};

void register_anthropic_routes(http::Router& router, AnthropicDeps deps);

// The same with the config read from the environment (an error names a malformed variable).
Status register_anthropic_routes(
    http::Router& router, std::shared_ptr<serving::ModelProvider> models,
    std::shared_ptr<TimerThread> timers,
    std::shared_ptr<telemetry::RequestObserver> observer = nullptr,
    std::function<http::Handler(std::string_view api, http::Handler local)> route = nullptr);

}  // namespace mlxm::api
