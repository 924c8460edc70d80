// Anthropic Messages request bodies (`POST /v1/messages`, `/v1/messages/count_tokens`) decoded
// and validated, and Anthropic-shaped errors {"type":"error","error":{"type","message"}}.
// The JSON stays in the client's key order (ordered_json) so chat templates see the objects as
// sent. Unknown fields are ignored; a wrong type or range is an ApiError naming the field.
// Thread-safe (pure functions).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "api/schema/api_error.h"
#include "api/schema/openai_request.h"  // Parsed<T>
#include "engine/sample/sampling_params.h"

namespace mlxm::api {

using ojson = nlohmann::ordered_json;

enum class AnthropicEndpoint { kMessages, kCountTokens };

struct AnthropicRequest {
  std::string model;                  // "" when omitted (the default model)
  std::optional<int32_t> max_tokens;  // always set for kMessages (required there)
  engine::SamplingParams sampling;    // temperature, top_p, top_k
  std::vector<std::string> stop_sequences;
  bool stream = false;
  std::string user_id;  // metadata.user_id
  // The same conversation as an OpenAI chat request (anthropic_to_openai_chat): system first,
  // tool_use -> tool_calls, tool_result -> role "tool" messages, tools/tool_choice in OpenAI form.
  ojson openai;
  // Extra chat template variables (a local-model extension, as on the OpenAI endpoint).
  ojson chat_template_kwargs = ojson::object();
  // thinking.type enabled/disabled: a hint passed to the template as enable_thinking (unless
  // chat_template_kwargs sets it); budget_tokens is not enforced.
  std::optional<bool> thinking;
  // The final message is from the assistant: the reply continues it (prefill).
  bool continues_assistant = false;
};

// Validates `body` for `endpoint` (max_tokens is required for kMessages only).
Parsed<AnthropicRequest> parse_anthropic_request(const ojson& body, AnthropicEndpoint endpoint);

// Anthropic error type for an error: invalid_request_error (400 and other 4xx),
// authentication_error (401), permission_error (403), not_found_error (404),
// request_too_large (413), rate_limit_error (429), timeout_error (408/504), api_error (500),
// overloaded_error (503/529).
std::string anthropic_error_type(const ApiError& e);

// {"type":"error","error":{"type","message"}}.
std::string anthropic_error_body(const ApiError& e);

}  // namespace mlxm::api
