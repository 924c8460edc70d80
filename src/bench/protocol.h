// The wire side of one benchmark request: request bodies for the OpenAI chat / completions and
// Anthropic messages APIs, and reading their answers (SSE events or a whole JSON body) into
// "a content chunk arrived", usage counts, end of stream, or an error. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "bench/http_client.h"
#include "bench/sse.h"
#include "core/status.h"

namespace mlxm::bench {

enum class Api { kOpenAiChat, kOpenAiCompletions, kAnthropic };

// "openai" (chat), "openai-chat", "openai-completions" / "completions", "anthropic".
Result<Api> parse_api(const std::string& name);
const char* api_name(Api api);
const char* api_path(Api api);  // "/v1/chat/completions", "/v1/completions", "/v1/messages"

struct RequestSpec {
  std::string model;
  std::string prompt;
  int max_tokens = 256;
  bool stream = false;
  bool ignore_eos = true;  // vLLM extension (OpenAI APIs only): always max_tokens tokens
  std::optional<double> temperature;
  // OpenAI APIs: each token's logprob and this many (0-20) most likely alternatives
  // ("logprobs": true + "top_logprobs" in chat, "logprobs": N in completions).
  std::optional<int> top_logprobs;
  // OpenAI APIs: "response_format": {"type": "json_object"} (decoding constrained to JSON).
  bool json_output = false;
  std::optional<double> frequency_penalty;  // OpenAI APIs: "frequency_penalty"
};

std::string request_body(Api api, const RequestSpec& spec);
Headers request_headers(Api api, const std::string& api_key);

// What one SSE event (or a whole non-streamed body) says.
struct ReplyInfo {
  bool content = false;  // carries generated output (text, tool call, thinking)
  bool end = false;      // [DONE] (OpenAI) / message_stop (Anthropic) / a whole body
  std::optional<int64_t> prompt_tokens;
  std::optional<int64_t> completion_tokens;
  std::string error;  // the server reported an error ("" if none)
};

ReplyInfo read_stream_event(Api api, const SseEvent& ev);
ReplyInfo read_body(Api api, const std::string& body);

// "HTTP 404: The model 'x' does not exist" from a non-2xx answer (OpenAI or Anthropic shape).
std::string http_error_reason(long status, const std::string& body);

}  // namespace mlxm::bench
