// Splits streamed model text into reasoning and content at <think> ... </think> (Qwen3,
// DeepSeek-R1, QwQ and most open reasoning models). Partial markers at the end of a delta are
// held back, so a marker never leaks into either side; text before <think> and after </think>
// is content. A template that opens the think block itself (the rendered prompt ends with
// "<think>") starts the reply inside reasoning.
//
// Thread-safety: single-threaded per stream.
#pragma once

#include <string>
#include <string_view>

namespace mlxm::api {

struct ReasoningDelta {
  std::string reasoning;
  std::string content;
};

class ReasoningSplitter {
 public:
  explicit ReasoningSplitter(bool starts_in_reasoning = false,
                             std::string open = "<think>", std::string close = "</think>");
  ReasoningDelta feed(std::string_view text);
  ReasoningDelta finish();
  bool in_reasoning() const { return in_reasoning_; }

 private:
  void scan(ReasoningDelta* d, bool final);
  std::string open_, close_;
  bool in_reasoning_;
  bool seen_close_ = false;  // one think block per reply; later markers are content
  bool at_start_ = true;     // no content yet (leading whitespace before <think> is dropped)
  std::string buf_;
};

// Whether the model family reasons in <think> blocks (its chat template mentions them).
bool template_has_reasoning(std::string_view chat_template);
// Whether the rendered prompt already opened the think block.
bool prompt_opens_reasoning(std::string_view prompt);

}  // namespace mlxm::api
