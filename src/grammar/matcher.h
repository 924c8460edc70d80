// Incremental recognizer of a Grammar, byte by byte: a pushdown automaton that keeps every
// live parse (a set of stacks) so ambiguous grammars work. A stack is a head (the terminal to
// match next) plus a chain of continuation nodes in a shared arena; advancing copies nothing
// but the heads, so the mask builder can explore a token trie and roll back cheaply.
//
// Cost: advance(byte) is O(#heads + rule expansions); a JSON-schema grammar keeps 1..4 heads.
// Thread-safety: a Matcher is single-threaded; the Grammar it borrows is shared and immutable.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "grammar/grammar.h"

namespace mlxm::grammar {

class Matcher {
 public:
  struct Head {
    int32_t pos;     // index into grammar.elems() of a kBytes element
    int32_t parent;  // continuation node in the arena, -1 = bottom of the stack
    bool operator==(const Head&) const = default;
  };

  // At the start of the root rule. REQUIRES: grammar->finalized().
  explicit Matcher(std::shared_ptr<const Grammar> grammar);

  // Consumes bytes; false (state unchanged) when they are not a prefix of a sentence.
  bool advance(std::string_view bytes);
  // The input so far is a complete sentence (the grammar may still allow more).
  bool accepting() const { return accepting_; }
  // No byte may follow (accepting() tells whether that is a success).
  bool at_end() const { return heads_.empty(); }
  // Bytes that may come next.
  ByteSet next_bytes() const { return next_bytes(heads_); }
  // A canonical key of the parse state: equal keys accept the same continuations.
  std::string state_key() const { return state_key(heads_, accepting_); }
  // The same for any heads of this matcher (e.g. ones made by step()).
  std::string state_key(std::span<const Head> heads, bool accepting) const;
  // Drops arena nodes no stack refers to (call after accepting a token).
  void compact();

  // Low-level access for the token-mask builder: advance `in` by one byte into *out (cleared
  // first) and *accepting; arena nodes made on the way stay until truncate_arena().
  void step(std::span<const Head> in, uint8_t byte, std::vector<Head>* out, bool* accepting);
  ByteSet next_bytes(std::span<const Head> heads) const;
  const std::vector<Head>& heads() const { return heads_; }
  size_t arena_size() const { return arena_.size(); }
  void truncate_arena(size_t n) { arena_.resize(n); }
  const Grammar& grammar() const { return *g_; }

  static constexpr size_t kMaxHeads = 512;  // more live parses than this: the rest are dropped

 private:
  struct Node {
    int32_t pos;     // where to continue in the parent alternative
    int32_t parent;  // -1 = bottom
  };
  void expand(int32_t pos, int32_t parent, std::vector<Head>* out, bool* accepting, int depth);

  std::shared_ptr<const Grammar> g_;
  std::vector<Node> arena_;
  std::vector<Head> heads_;
  bool accepting_ = false;
  std::vector<Head> scratch_;
};

}  // namespace mlxm::grammar
