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
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "grammar/grammar.h"
#include "tokenizer/tokenizer.h"

namespace mlxm::grammar {

struct TrieNode {
  uint8_t byte = 0;         // the edge from the parent
  int32_t end = 0;          // one past the last node of this subtree
  int32_t tok_begin = 0;    // tokens whose bytes end here: tokens[tok_begin, tok_end)
  int32_t tok_end = 0;
};

// A byte trie over (bytes, token id) pairs, in the layout described above.
struct ByteTrie {
  std::vector<TrieNode> nodes;  // [0] is the root
  std::vector<int32_t> tokens;
};
ByteTrie build_byte_trie(std::vector<std::pair<std::string_view, int32_t>> items);

// The vocabulary seen through one class of "plain" characters (well-formed UTF-8 characters
// other than some excluded ASCII bytes: a JSON string's content is one), for the token-mask fast
// path: a token is either wholly plain (n complete plain characters) or a plain prefix of `a`
// characters followed by a suffix that is not (a quote, a backslash, a control byte, a
// character cut by the token's end, ...). Built once per (tokenizer, class) and shared.
struct PlainIndex {
  int32_t max_chars = 0;                   // most characters in a wholly plain token
  // upto[n] (n in 0..max_chars): bitmask of the wholly plain tokens of 1..n characters.
  std::vector<std::vector<uint64_t>> upto;
  // rest[a]: the other tokens whose plain prefix has `a` characters, keyed by their suffix.
  std::vector<ByteTrie> rest;
};

class TokenTrie {
 public:
  using Node = TrieNode;

  static std::shared_ptr<const TokenTrie> build(const Tokenizer& tokenizer);
  // From explicit byte strings (id = index; empty = not a usable token). For tests.
  static std::shared_ptr<const TokenTrie> from_bytes(std::vector<std::string> token_bytes);

  int32_t vocab_size() const { return static_cast<int32_t>(bytes_.size()); }
  const std::string& token_bytes(int32_t id) const { return bytes_[id]; }
  bool usable(int32_t id) const { return !bytes_[id].empty(); }
  const std::vector<Node>& nodes() const { return trie_.nodes; }
  const std::vector<int32_t>& tokens() const { return trie_.tokens; }
  const ByteTrie& trie() const { return trie_; }

  // The vocabulary split for the plain class "UTF-8 characters except `ascii_excluded`":
  // computed on first use (tens of ms for a 128k vocabulary), then cached. Thread-safe.
  std::shared_ptr<const PlainIndex> plain_index(const ByteSet& ascii_excluded) const;

 private:
  std::vector<std::string> bytes_;  // (vocab)
  ByteTrie trie_;
  mutable std::mutex plain_mu_;
  mutable std::map<std::string, std::shared_ptr<const PlainIndex>> plain_;  // by class bits
};

// Length of the well-formed UTF-8 character at s[i] (the forms Grammar::utf8_char_except
// admits) when it is not one of `ascii_excluded`; 0 otherwise (also when cut short).
size_t plain_char_length(std::string_view s, size_t i, const ByteSet& ascii_excluded);

// The bytes of one token as it appears in decoded text (see above); "" for special tokens.
std::string token_bytes(const Tokenizer& tokenizer, int32_t id, bool byte_level);

}  // namespace mlxm::grammar
