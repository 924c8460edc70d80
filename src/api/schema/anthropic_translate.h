// Protocol translation OpenAI chat completions <-> Anthropic messages: requests and responses
// (the streaming event mapping is in anthropic_stream.h). Pure functions over JSON in the
// client's key order; they validate what they read and return an ApiError (400) naming the
// offending field instead of guessing. Used by the local /v1/messages endpoint (Anthropic ->
// OpenAI-style messages for the chat template) and by cloud routing (either direction).
// Thread-safe (pure functions).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "api/schema/api_error.h"
#include "api/schema/openai_request.h"  // Parsed<T>

namespace mlxm::api {

using ojson = nlohmann::ordered_json;

struct AnthropicToOpenAiOptions {
  // Image blocks become image_url parts (data: URLs for base64) when true; a 400 when false
  // (local models take text only).
  bool allow_images = false;
};

// Anthropic messages request -> OpenAI chat request. system -> a leading system message;
// text blocks -> content (a string for one block, text parts for several); assistant tool_use ->
// tool_calls (arguments = the input as JSON text); user tool_result -> role "tool" messages
// (before the user's other content); thinking blocks dropped; tools/tool_choice converted;
// stop_sequences -> stop; stream -> stream + stream_options.include_usage; metadata.user_id ->
// user; model, max_tokens, temperature, top_p, top_k copied.
Parsed<ojson> anthropic_to_openai_chat(const ojson& body,
                                       const AnthropicToOpenAiOptions& options = {});

struct OpenAiToAnthropicOptions {
  int32_t default_max_tokens = 4096;  // Anthropic requires max_tokens; used when absent
};

// OpenAI chat request -> Anthropic messages request. system/developer messages -> system;
// tool_calls -> tool_use blocks (arguments parsed as JSON); role "tool" -> tool_result blocks
// in a user message (consecutive user-side messages merged); image_url parts -> image blocks;
// stop -> stop_sequences; temperature clamped to Anthropic's [0, 1]; tools/tool_choice,
// parallel_tool_calls, user converted. n > 1 is rejected.
Parsed<ojson> openai_chat_to_anthropic(const ojson& body,
                                       const OpenAiToAnthropicOptions& options = {});

// Anthropic message (non-streamed response) -> OpenAI chat.completion.
Parsed<ojson> anthropic_message_to_openai_chat(const ojson& message, int64_t created);
// OpenAI chat.completion -> Anthropic message (choice 0).
Parsed<ojson> openai_chat_to_anthropic_message(const ojson& completion);

// finish_reason <-> stop_reason: stop <-> end_turn (stop_sequence -> stop too), length <->
// max_tokens, tool_calls <-> tool_use, content_filter <-> refusal.
std::string openai_finish_to_anthropic_stop(const std::string& finish_reason);
std::string anthropic_stop_to_openai_finish(const std::string& stop_reason);

}  // namespace mlxm::api
