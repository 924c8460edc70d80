// Streams tool calls written as JSON objects {"name": "...", "arguments"|"parameters": {...}}
// (one, several separated by whitespace, ';' or ',', or an array of them) byte by byte: a
// call's name is reported as soon as its "name" string closes, and its arguments object as it
// grows. The arguments text is the model's own, with whitespace outside strings dropped; the
// fragments concatenate exactly to the call's final `arguments`.
//
// Used for forced calls (tool_choice required/named), where the grammar guarantees the shape
// (name before arguments, arguments an object). Anything else makes the scanner fail(); the
// caller then falls back to parsing the whole body at its end — unless a call had already
// begun, in which case the scanner stops there (see tool_parser.h).
//
// Thread-safety: none.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mlxm::api {

struct ToolCall;
struct ToolCallDelta;

class JsonCallScanner {
 public:
  // `first_index`: the index of the first call this scanner reports.
  explicit JsonCallScanner(int first_index = 0) : next_index_(first_index) {}

  // Scans `text`; appends deltas and completed calls.
  void feed(std::string_view text, std::vector<ToolCallDelta>* deltas,
            std::vector<ToolCall>* done);
  // The body ended: a call whose arguments were cut off (output truncated) is completed with
  // the text it has.
  void finish(std::vector<ToolCallDelta>* deltas, std::vector<ToolCall>* done);

  bool failed() const { return failed_; }
  int n_begun() const { return n_begun_; }

 private:
  void scan_args(char c);
  void begin_call(std::vector<ToolCallDelta>* deltas);
  void end_call(std::vector<ToolCallDelta>* deltas, std::vector<ToolCall>* done);

  int next_index_;
  int n_begun_ = 0;
  bool failed_ = false;
  int depth_ = 0;       // nesting of {} and [] outside the arguments
  int call_depth_ = 0;  // depth inside a call object (1 or 2); 0 until the first '{'
  bool in_str_ = false, esc_ = false;
  bool expect_key_ = false;  // at call depth: the next string is a key
  std::string str_;          // the string token being read at call depth (raw, quoted)
  std::string key_;          // the last key at call depth
  std::string name_;         // the current call's name
  // Arguments of the current call.
  bool in_args_ = false;
  int args_depth_ = 0;
  std::string args_, pending_;  // all of it / not yet reported
};

}  // namespace mlxm::api
