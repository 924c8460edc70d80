// Added tokens of tokenizer.json ("added_tokens"): found in the text before the model sees it,
// leftmost-longest, with lstrip / rstrip / single_word, in two passes: tokens with
// normalized == false on the raw text, tokens with normalized == true on normalized text.
// Internal to src/tokenizer. Immutable after construction (thread-safe).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mlxm::tok {

class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = false;
};

class AddedVocabulary {
 public:
  // `normalizer` (may be null) normalizes the content of normalized tokens for matching.
  AddedVocabulary(const std::vector<AddedToken>& tokens, const Normalizer* normalizer);

  struct Split {
    size_t begin, end;  // byte range in the text
    int32_t id;         // the added token's id, or -1 for plain text
  };
  // Splits `text` (valid UTF-8) by the raw (normalized_pass == false) or normalized tokens.
  // Plain pieces may be empty only when there is no match at all (then one piece, the text).
  void split(std::string_view text, bool normalized_pass, std::vector<Split>* out) const;

 private:
  struct Trie {
    struct Node {
      int32_t token = -1;  // index into tokens_ when a token ends here
    };
    std::vector<Node> nodes{Node{}};
    std::unordered_map<uint64_t, int32_t> edges;  // (node << 8 | byte) -> child
    std::array<bool, 256> first{};
    void insert(std::string_view s, int32_t token);
  };
  std::vector<AddedToken> tokens_;
  Trie raw_, normalized_;
};

}  // namespace mlxm::tok
