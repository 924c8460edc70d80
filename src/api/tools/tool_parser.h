// Tool calls in model output, per model family, complete or streamed.
//
//   kHermes      <tool_call>{"name": ..., "arguments": {...}}</tool_call>   (Qwen 2.5/3, Hermes)
//   kLlama3      {"name": ..., "parameters": {...}}, optionally after <|python_tag|>, several
//                separated by ';' or newlines                                  (Llama 3.1-3.3)
//   kMistral     [TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]  or
//                [TOOL_CALLS]name[ARGS]{...}                                   (Mistral)
//   kQwen3Coder  <tool_call><function=NAME><parameter=P>value</parameter>...</function></tool_call>
//   kJson        the whole reply is {"name", "arguments"} or an array of them
//
// ToolCallStreamer turns text deltas into content deltas and tool calls: content before a
// marker streams at once (a partial marker at the end is held back), a call is emitted when its
// body is complete (closing marker or end of output). A body that does not parse degrades to
// content — markers and all — so nothing is ever swallowed. parse_tool_calls() runs the same
// streamer over the whole text, so streamed and non-streamed results are identical.
//
// Thread-safety: the streamer is single-threaded; the free functions are pure.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlxm::api {

enum class ToolFormat { kNone, kHermes, kLlama3, kMistral, kQwen3Coder, kJson };

const char* tool_format_name(ToolFormat f);  // "none", "hermes", "llama3", "mistral", ...
std::optional<ToolFormat> parse_tool_format(std::string_view name);
// From the chat template's text (markers it renders); kJson when it mentions tools without a
// known marker, kNone when it renders no tools at all.
ToolFormat detect_tool_format(std::string_view chat_template);

struct ToolCall {
  std::string name;
  std::string arguments;  // compact JSON object text
};

// One step of streamed output: content text and/or completed tool calls, in order.
struct ToolStreamEvent {
  std::string content;          // emitted before `calls`
  std::vector<ToolCall> calls;  // completed calls
};

class ToolCallStreamer {
 public:
  // `forced`: the output is known to be tool calls only (tool_choice required/named, where the
  // grammar leaves out special-token markers): the reply is parsed as a call body from its
  // first byte. `tools` (the request's OpenAI-style tools array, may be null) gives parameter
  // types to the Qwen3-Coder parser.
  ToolCallStreamer(ToolFormat format, bool forced, nlohmann::json tools = nullptr);

  ToolStreamEvent feed(std::string_view text);
  ToolStreamEvent finish();
  bool in_call() const { return state_ == State::kInCall; }
  int n_calls() const { return n_calls_; }

 private:
  enum class State { kStart, kContent, kInCall };
  void scan(ToolStreamEvent* ev, bool final);
  bool parse_body(std::string_view body, std::vector<ToolCall>* out) const;

  ToolFormat format_;
  bool forced_;
  nlohmann::json tools_;
  State state_ = State::kStart;
  std::string buf_;     // unprocessed text (content tail or the current call's body)
  std::string pre_ws_;  // whitespace before the current call's marker
  std::string marker_;  // the opening marker of the current call ("" when none)
  int n_calls_ = 0;
};

// Whole-text convenience: content and calls.
struct ParsedToolOutput {
  std::string content;
  std::vector<ToolCall> calls;
};
ParsedToolOutput parse_tool_calls(ToolFormat format, std::string_view text, bool forced = false,
                                  const nlohmann::json& tools = nullptr);

}  // namespace mlxm::api
