// Anthropic Messages response shapes (DESIGN §6, peers.md §4c): the message object, the
// streaming events (message_start, content_block_start, ping, content_block_delta,
// content_block_stop, message_delta, message_stop, error), and the streaming translation in
// both directions (OpenAI chat.completion.chunk <-> Anthropic events), as stateful but pure
// converters: JSON in, JSON out, no I/O.
// Thread-safety: the free functions are pure; one converter object per stream (not shared).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mlxm::api {

using ojson = nlohmann::ordered_json;

// "msg_" + 24 random alphanumerics.
std::string make_message_id();

struct AnthropicUsage {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
};

// {"id","type":"message","role":"assistant","model","content":[...],"stop_reason",
//  "stop_sequence","usage":{"input_tokens","output_tokens"}}. `stop_sequence` null when "".
ojson anthropic_message_json(const std::string& id, const std::string& model, ojson content,
                             const std::string& stop_reason, const std::string& stop_sequence,
                             const AnthropicUsage& usage);

// One event: the `event:` name (equal to data["type"]) and its data.
struct AnthropicEvent {
  std::string event;
  ojson data;
};

AnthropicEvent message_start_event(const std::string& id, const std::string& model,
                                   int64_t input_tokens);
AnthropicEvent content_block_start_event(int index, ojson content_block);
AnthropicEvent text_block_start_event(int index);  // {"type":"text","text":""}
AnthropicEvent ping_event();
AnthropicEvent text_delta_event(int index, const std::string& text);
AnthropicEvent thinking_delta_event(int index, const std::string& thinking);
AnthropicEvent input_json_delta_event(int index, const std::string& partial_json);
AnthropicEvent content_block_stop_event(int index);
// usage: {"output_tokens"} plus "input_tokens" when `input_tokens` is given.
AnthropicEvent message_delta_event(const std::string& stop_reason, const std::string& stop_sequence,
                                   int64_t output_tokens,
                                   std::optional<int64_t> input_tokens = std::nullopt);
AnthropicEvent message_stop_event();
AnthropicEvent error_event(const std::string& type, const std::string& message);

// JSON text with invalid UTF-8 replaced.
std::string dump_ojson(const ojson& j);

// OpenAI chat.completion.chunk stream -> Anthropic events. Blocks open lazily: text deltas go
// to a text block, each new tool call opens a tool_use block whose argument fragments become
// input_json_delta events. finish_reason and a usage chunk are remembered for message_delta.
class OpenAiToAnthropicStream {
 public:
  OpenAiToAnthropicStream(std::string message_id, std::string model, int64_t input_tokens = 0);

  // One parsed `data:` chunk (not [DONE]). An {"error": {...}} chunk becomes an error event.
  std::vector<AnthropicEvent> on_chunk(const ojson& chunk);
  // [DONE] or the end of the upstream: closes the open block, message_delta, message_stop.
  // Idempotent (later calls return nothing).
  std::vector<AnthropicEvent> finish();

 private:
  void start(std::vector<AnthropicEvent>* out);
  void close_block(std::vector<AnthropicEvent>* out);

  std::string id_, model_;
  int64_t input_tokens_ = 0;
  std::optional<int64_t> upstream_input_tokens_;
  int64_t output_tokens_ = 0;
  bool started_ = false, finished_ = false;
  int n_blocks_ = 0;     // blocks opened so far
  int open_block_ = -1;  // index of the open block, -1 when none
  bool open_is_text_ = false;
  std::map<int64_t, int> tool_block_;  // OpenAI tool_calls[].index -> block index
  std::string stop_reason_ = "end_turn";
};

// Anthropic events -> OpenAI chat.completion.chunk objects (the caller frames them as
// `data: ...` and sends `data: [DONE]` once done()). text_delta -> content,
// tool_use + input_json_delta -> tool_calls deltas, thinking_delta -> reasoning_content,
// message_delta -> the finish_reason chunk, message_stop -> the usage chunk (with
// include_usage), error -> {"error": {...}}.
class AnthropicToOpenAiStream {
 public:
  AnthropicToOpenAiStream(int64_t created, bool include_usage);

  // One event's data (its "type" names the event).
  std::vector<ojson> on_event(const ojson& event);
  bool done() const { return done_; }

 private:
  ojson chunk(ojson delta, const ojson& finish_reason) const;

  int64_t created_;
  bool include_usage_;
  std::string id_, model_;
  int64_t input_tokens_ = 0, output_tokens_ = 0, cached_tokens_ = 0;
  std::map<int64_t, int> tool_index_;  // block index -> OpenAI tool_calls index
  bool done_ = false;
};

}  // namespace mlxm::api
