// The vocabulary as bytes, in a trie, for building token masks: each token's decoded bytes
// (byte-level BPE unmapped from its printable alphabet, byte-fallback "<0xHH>" pieces as one
// byte, SentencePiece "▁" as a space), special tokens left out. Built once per tokenizer
// (ModelInstance caches it) and shared read-only.
//
// Layout: nodes in depth-first preorder; node i's children start at i + 1 and each child's
// `end` is the index after its subtree, so a walk touches memory sequentially.
// Thread-safety: immutable after build().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace mlxm::grammar {

class TokenTrie {
 public:
  struct Node {
    uint8_t byte = 0;         // the edge from the parent
    int32_t end = 0;          // one past the last node of this subtree
    int32_t tok_begin = 0;    // tokens whose bytes end here: tokens()[tok_begin, tok_end)
    int32_t tok_end = 0;
  };

  static std::shared_ptr<const TokenTrie> build(const Tokenizer& tokenizer);
  // From explicit byte strings (id = index; empty = not a usable token). For tests.
  static std::shared_ptr<const TokenTrie> from_bytes(std::vector<std::string> token_bytes);

  int32_t vocab_size() const { return static_cast<int32_t>(bytes_.size()); }
  const std::string& token_bytes(int32_t id) const { return bytes_[id]; }
  bool usable(int32_t id) const { return !bytes_[id].empty(); }
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }

 private:
  void build_trie();
  std::vector<std::string> bytes_;  // (vocab)
  std::vector<Node> nodes_;         // [0] is the root
  std::vector<int32_t> tokens_;
};

// The bytes of one token as it appears in decoded text (see above); "" for special tokens.
std::string token_bytes(const Tokenizer& tokenizer, int32_t id, bool byte_level);

}  // namespace mlxm::grammar
