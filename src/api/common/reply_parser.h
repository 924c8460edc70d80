// Splits one reply's text into reasoning, content and tool calls, as it streams: the <think>
// splitter first (when the model reasons), then the family's tool-call streamer (when tools
// are parsed). Content that is only whitespace is held until real content follows; it is
// dropped when a tool call follows (the newline between text and a call) or when the whole
// content is whitespace, so streamed and non-streamed replies are identical either way.
//
// Thread-safety: none; one per generated sequence.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/tools/reasoning.h"
#include "api/tools/tool_parser.h"

namespace mlxm::api {

// How a local model's reply is read (decided per request by prepare_reply(), tool_setup.h).
struct ReplyOptions {
  ToolFormat tool_format = ToolFormat::kNone;  // kNone: tool calls are not parsed
  bool tools_forced = false;   // tool_choice required/named: the output is calls only
  bool parallel_tool_calls = true;  // false: at most one call is reported
  nlohmann::json tools;        // the request's OpenAI-style tools (parameter types)
  bool reasoning = false;      // split <think>...</think> into reasoning
  bool starts_in_reasoning = false;  // the prompt already opened the think block
  std::vector<int32_t> kept_marker_ids;  // special tokens kept as text (ReplyText)
};

// One step of a reply, in order: reasoning, then content, then the call deltas (what a stream
// sends: a call's index and name, then its argument fragments, see tool_parser.h); `calls`
// lists the calls completed in this step.
struct ReplyDelta {
  std::string reasoning;
  std::string content;
  std::vector<ToolCallDelta> call_deltas;
  std::vector<ToolCall> calls;
  bool empty() const {
    return reasoning.empty() && content.empty() && call_deltas.empty() && calls.empty();
  }
};

class ReplyParser {
 public:
  explicit ReplyParser(const ReplyOptions& options);

  ReplyDelta feed(std::string_view text);
  ReplyDelta finish();

  // Totals so far (what the non-streamed reply holds).
  const std::string& reasoning() const { return reasoning_; }
  const std::string& content() const { return content_; }
  const std::vector<ToolCall>& calls() const { return calls_; }

 private:
  void route(ReplyDelta* out, std::string reasoning, std::string content, bool final);
  void add_content(ReplyDelta* out, std::string_view text, bool final);

  std::optional<ReasoningSplitter> think_;
  std::optional<ToolCallStreamer> tools_;
  bool parallel_ = true;
  std::string held_ws_;  // whitespace-only content not yet released
  std::string reasoning_, content_;
  std::vector<ToolCall> calls_;
};

}  // namespace mlxm::api
