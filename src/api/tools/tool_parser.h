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
// marker streams at once (a partial marker at the end is held back). How a call streams:
//   - forced calls (tool_choice required/named) in the JSON families (hermes, llama3, mistral,
//     json): the grammar guarantees the body is a call, so the call begins (index and name) as
//     soon as its "name" string closes and its arguments stream as they are generated
//     (JsonCallScanner). `arguments` is the model's own JSON text with whitespace outside
//     strings dropped, and the fragments concatenate to it exactly. If the output is cut off
//     inside the arguments (max_tokens, a stop string), the call is completed with the text it
//     has (possibly not valid JSON, as with OpenAI's truncated calls). A body the scanner cannot
//     follow (arguments before the name, arguments as a string) is parsed whole at its end
//     instead, as in auto mode — unless a call of it had already begun streaming: the calls
//     sent stand and the rest of that body is dropped (the grammar never produces this).
//   - everything else (auto mode, and Qwen3-Coder XML) is emitted in one piece when its body is
//     complete (closing marker or end of output): until then the body may still turn out not to
//     be a call. A body that does not parse degrades to content — markers and all — so nothing
//     is ever swallowed, and no fragment of it was sent. `arguments` is then the parsed object
//     re-serialized compactly.
// parse_tool_calls() runs the same streamer over the whole text, so streamed and non-streamed
// results are identical.
//
// Thread-safety: the streamer is single-threaded; the free functions are pure.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/tools/json_call_scanner.h"

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

// A piece of a streamed call: the first of a call carries its name, every piece may carry
// arguments text, the last ends the call. A call emitted in one piece is one delta with
// first and last set and the whole arguments.
struct ToolCallDelta {
  int index = 0;          // the call's number in the reply, from 0
  bool first = false;     // the call begins: `name` is set
  bool last = false;      // the call is complete
  std::string name;
  std::string arguments;  // the next fragment of the arguments text
};

// One step of streamed output: content text, then call deltas; `calls` lists the calls that
// completed in this step (what the deltas of each add up to).
struct ToolStreamEvent {
  std::string content;               // emitted before `deltas`
  std::vector<ToolCallDelta> deltas;
  std::vector<ToolCall> calls;       // completed calls
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
  // Forced JSON calls: feeds the scanner the part of buf_ that is body (not a partial close
  // marker); at the body's end completes it. True when the scanner reported the body.
  void stream_body(ToolStreamEvent* ev, size_t body_end);
  bool end_streamed_body(ToolStreamEvent* ev);
  void add_one_piece(ToolStreamEvent* ev, size_t n_before);

  ToolFormat format_;
  bool forced_;
  nlohmann::json tools_;
  State state_ = State::kStart;
  std::string buf_;     // unprocessed text (content tail or the current call's body)
  std::string pre_ws_;  // whitespace before the current call's marker
  std::string marker_;  // the opening marker of the current call ("" when none)
  int n_calls_ = 0;
  std::optional<JsonCallScanner> scanner_;  // forced JSON calls: the current body's scanner
  size_t scanned_ = 0;                      // bytes of buf_ the scanner has seen
};

// Whole-text convenience: content and calls.
struct ParsedToolOutput {
  std::string content;
  std::vector<ToolCall> calls;
};
ParsedToolOutput parse_tool_calls(ToolFormat format, std::string_view text, bool forced = false,
                                  const nlohmann::json& tools = nullptr);

}  // namespace mlxm::api
