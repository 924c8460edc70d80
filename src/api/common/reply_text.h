// One sequence's sampled tokens -> reply text: incremental detokenization (never splitting a
// UTF-8 character), special marker tokens kept as text (e.g. <|python_tag|>, [TOOL_CALLS],
// which skip_special_tokens would drop but the tool-call parser needs), and stop-string
// matching across token boundaries, remembering which stop string ended the reply.
//
// Thread-safety: none; one per generated sequence.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "serving/output/stop_matcher.h"
#include "tokenizer/tokenizer.h"

namespace mlxm::api {

class ReplyText {
 public:
  // `kept_ids`: special tokens whose text is emitted even though specials are skipped.
  ReplyText(const Tokenizer& tokenizer, std::vector<std::string> stop_strings,
            bool skip_special_tokens = true, std::vector<int32_t> kept_ids = {});

  // Text the reply continues (an assistant prefill): decoded first, output dropped, so the
  // continuation decodes as it does after it (a SentencePiece tokenizer keeps a leading space).
  void prime(std::span<const int32_t> ids);

  struct Delta {
    std::string text;      // new text safe to send (may be empty)
    bool stopped = false;  // a stop string matched: the sequence must end now
  };
  // Feeds one token id. After a stop, further tokens yield nothing.
  Delta add(int32_t token);
  // End of the sequence (EOS, length, abort): the held-back remainder.
  std::string finish();

  bool stopped() const { return stops_.stopped(); }
  const std::string& text() const { return text_; }  // everything released so far
  // The stop string that ended the reply ("" when none did).
  const std::string& stop_sequence() const { return stop_sequence_; }

 private:
  Delta feed(const std::string& piece);

  const Tokenizer* tok_;
  IncrementalDetokenizer detok_;
  std::vector<std::string> stop_strings_;
  serving::StopMatcher stops_;
  std::vector<int32_t> kept_;
  std::string raw_;   // everything decoded
  std::string text_;  // what was released (a prefix of raw_)
  std::string stop_sequence_;
};

// Special tokens of `tokenizer` whose text is one of `markers` (those that skip_special_tokens
// would otherwise drop).
std::vector<int32_t> special_marker_ids(const Tokenizer& tokenizer,
                                        const std::vector<std::string>& markers);

}  // namespace mlxm::api
