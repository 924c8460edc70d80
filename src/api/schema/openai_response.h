// OpenAI response bodies: chat.completion, chat.completion.chunk, text_completion, usage,
// logprobs. Byte-exact shapes per DESIGN §6. Thread-safe (pure functions).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlxm::api {

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;
};

struct TokenLogprobEntry {
  std::string token;  // the token's text
  float logprob = 0;
  std::vector<TokenLogprobEntry> top;  // only on the outer entry
};

// "chatcmpl-<24 hex>", "cmpl-<24 hex>".
std::string make_completion_id(const char* prefix);

nlohmann::json usage_json(const Usage& u);

// {"content": [{token, logprob, bytes, top_logprobs: [...]}, ...]} for chat.
nlohmann::json chat_logprobs_json(const std::vector<TokenLogprobEntry>& entries);
// {"tokens", "token_logprobs", "top_logprobs", "text_offset"} for legacy completions.
nlohmann::json completion_logprobs_json(const std::vector<TokenLogprobEntry>& entries,
                                        size_t text_offset_start);

struct ChoiceResult {
  int index = 0;
  std::string text;
  std::string finish_reason;  // "stop" | "length" | "tool_calls"
  std::optional<std::vector<TokenLogprobEntry>> logprobs;
  size_t logprobs_text_offset = 0;  // legacy completions: where the generated text starts (echo)
  // Chat only: the reply's reasoning (message.reasoning_content when non-empty) and its tool
  // calls ([{id, type: "function", function: {name, arguments}}]; null or empty when none —
  // then content is null when the text is empty).
  std::string reasoning;
  nlohmann::json tool_calls;
};

std::string chat_completion_json(const std::string& id, int64_t created, const std::string& model,
                                 const std::vector<ChoiceResult>& choices, const Usage& usage);
std::string text_completion_json(const std::string& id, int64_t created, const std::string& model,
                                 const std::vector<ChoiceResult>& choices, const Usage& usage);

// One streamed chat chunk for choice `index`. `delta` is e.g. {"role":"assistant","content":""}
// or {"content":"Hel"} or {}; finish_reason "" -> null. `with_null_usage` adds "usage": null
// (every chunk but the last when stream_options.include_usage is set).
std::string chat_chunk_json(const std::string& id, int64_t created, const std::string& model,
                            int index, const nlohmann::json& delta,
                            const std::string& finish_reason, const nlohmann::json& logprobs,
                            bool with_null_usage);
// The final usage chunk: "choices": [] and the usage.
std::string chat_usage_chunk_json(const std::string& id, int64_t created, const std::string& model,
                                  const Usage& usage);
// Streamed text_completion chunks (object "text_completion").
std::string completion_chunk_json(const std::string& id, int64_t created, const std::string& model,
                                  int index, const std::string& text,
                                  const std::string& finish_reason, const nlohmann::json& logprobs,
                                  bool with_null_usage);
std::string completion_usage_chunk_json(const std::string& id, int64_t created,
                                        const std::string& model, const Usage& usage);

// JSON text with invalid UTF-8 replaced (model output may be cut mid-character only at the end).
std::string dump_json(const nlohmann::json& j);

}  // namespace mlxm::api
