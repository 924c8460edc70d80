// Tools and reasoning for a local model's request: which tool-call format the model speaks
// (detected from its chat template, overridable per model with MLX_SERVER_TOOL_PARSER), the
// request's tool_choice (auto / none / required / a named function — the last two enforced by
// a tool-call grammar attached to every choice), parallel_tool_calls, and whether the reply
// reasons in <think> blocks. Protocol-neutral: both the OpenAI and Anthropic endpoints pass
// their request in OpenAI form.
//
// Thread-safety: pure functions; the processors they attach run on the model's engine thread.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "api/common/reply_parser.h"
#include "api/schema/api_error.h"
#include "serving/engine_loop.h"
#include "serving/model_instance.h"

namespace mlxm::api {

struct ToolRequest {
  nlohmann::ordered_json tools;        // OpenAI-style tools array, or null
  nlohmann::ordered_json tool_choice;  // "auto" | "none" | "required" | {"type":"function",...} | null
  bool parallel_tool_calls = true;
};

// tools, tool_choice and parallel_tool_calls of a validated OpenAI-style body, in key order.
ToolRequest tool_request_from_body(const nlohmann::ordered_json& body);

// MLX_SERVER_TOOL_PARSER: "FORMAT" for every model, or "MODEL=FORMAT,MODEL=FORMAT" per model
// (FORMAT: hermes, llama3, mistral, qwen3_coder, json, none). Unset: detected from the template.
// InvalidArgument naming the bad entry.
Result<std::optional<ToolFormat>> tool_format_override(const std::string& env_value,
                                                       const std::string& model_name);

// The model's tool-call format: the override, else detected from its chat template.
ToolFormat model_tool_format(const serving::ModelInstance& model);

// Reads a validated request's tools for `model`: when tool_choice forces a call, attaches a
// grammar processor to each of `requests` (replacing a response_format constraint). `prompt`
// is the rendered prompt (whether the template opened a think block). A 400 ApiError
// (param "tool_choice") when the forced call cannot be built (unknown tool, unsupported schema).
std::variant<ReplyOptions, ApiError> prepare_reply(const serving::ModelInstance& model,
                                                   const ToolRequest& tools,
                                                   const std::string& prompt,
                                                   std::vector<serving::GenerationRequest*> requests);

}  // namespace mlxm::api
