// Stop strings matched across token boundaries. Text is fed as it is detokenized; the matcher
// releases only text that can no longer be the start of a stop string, so text from a stop
// string on is never sent (OpenAI semantics: the stop string itself is not included).
//
// Thread-safety: none; one per output stream.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mlxm::serving {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  struct Step {
    std::string text;      // safe to send now
    bool stopped = false;  // a stop string matched: nothing more may be sent
  };

  // Appends newly decoded text.
  Step feed(std::string_view text);

  // The stream ended for another reason (EOS, length): releases what was held back.
  std::string flush();

  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  size_t max_len_ = 0;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace mlxm::serving
