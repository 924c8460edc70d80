// Turns one sequence's sampled tokens into text deltas: incremental detokenization (never
// splitting a UTF-8 character) followed by stop-string matching across token boundaries.
//
// Thread-safety: none; one per generated sequence.
#pragma once

#include <string>
#include <vector>

#include "serving/output/stop_matcher.h"
#include "tokenizer/tokenizer.h"

namespace mlxm::serving {

class TextOutput {
 public:
  TextOutput(const Tokenizer& tokenizer, std::vector<std::string> stop_strings,
             bool skip_special_tokens = true);

  struct Delta {
    std::string text;      // new text safe to send (may be empty)
    bool stopped = false;  // a stop string matched: the sequence must end now
  };

  // Feeds one token id. After a stop, further tokens yield nothing.
  Delta add(int32_t token);
  // End of the sequence (EOS, length, abort): the held-back remainder.
  std::string finish();

  bool stopped() const { return stops_.stopped(); }
  const std::string& text() const { return text_; }  // everything sent so far

 private:
  IncrementalDetokenizer detok_;
  StopMatcher stops_;
  std::string text_;
};

}  // namespace mlxm::serving
