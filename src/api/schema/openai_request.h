// OpenAI request bodies decoded into native structs and validated (DESIGN §3 step 1).
// Unknown fields are ignored; a wrong type or range is an ApiError naming the field.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "api/schema/api_error.h"
#include "engine/sample/sampling_params.h"

namespace mlxm::api {

// Fields shared by chat and text completions.
struct GenerationFields {
  std::string model;  // "" when omitted (the default model is used)
  std::optional<int32_t> max_tokens;  // max_tokens or max_completion_tokens
  engine::SamplingParams sampling;
  std::vector<std::string> stop;
  int n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool ignore_eos = false;     // vLLM extension
  std::string user;
  // llama-server extension: a GBNF grammar the output must follow (compiled and enforced by
  // api/common/constrain). Never together with a JSON response_format or a forced tool call.
  std::optional<std::string> grammar;
};

struct ChatCompletionRequest {
  GenerationFields gen;
  nlohmann::json messages;  // validated array; content parts flattened to strings
  nlohmann::json tools;     // null when absent; each {"type":"function","function":{"name",...}}
  nlohmann::json tool_choice;  // null, "auto" | "none" | "required" | {"type":"function","function":{"name"}}
  bool parallel_tool_calls = true;
  bool add_generation_prompt = true;
  nlohmann::json chat_template_kwargs = nlohmann::json::object();
  // null or {"type": "text" | "json_object" | "json_schema", "json_schema": {...}}; enforced
  // while decoding (api/common/constrain.h).
  nlohmann::json response_format;
};

// A prompt of /v1/completions: text or token ids.
using Prompt = std::variant<std::string, std::vector<int32_t>>;

struct CompletionRequest {
  GenerationFields gen;
  std::vector<Prompt> prompts;  // one per input prompt
  bool echo = false;
};

// The result of parsing: the request or the error to send.
template <typename T>
using Parsed = std::variant<T, ApiError>;

Parsed<ChatCompletionRequest> parse_chat_completion_request(const nlohmann::json& body);
Parsed<CompletionRequest> parse_completion_request(const nlohmann::json& body);

}  // namespace mlxm::api
