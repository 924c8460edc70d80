// Constrained decoding: a Grammar applied to the logits as a per-step token mask.
//
//   auto cg = std::make_shared<CompiledGrammar>(grammar, trie, eos_ids);   // per request
//   request.logits_processor = std::make_shared<GrammarProcessor>(cg);     // per sequence
//
// The mask of a parse state is the set of tokens whose bytes the matcher accepts from it: a
// depth-first walk over the token trie that advances the matcher byte by byte and prunes a
// subtree as soon as its prefix is rejected. Masks are cached per state key in the
// CompiledGrammar (JSON string bodies, literal keys, whitespace: the same states recur), so a
// warm step costs a hash lookup plus one pass over the row. End-of-sequence ids are allowed
// exactly when the output so far is a complete sentence; special tokens never are otherwise.
//
// String fast path: inside a run of "plain" characters (a Grammar::utf8_char_except rule such
// as a JSON string's content) nearly every token is allowed and the walk would visit the whole
// trie. There, characters are interchangeable, so the mask is computed from the tokenizer's
// PlainIndex instead: the wholly plain tokens of at most K characters (one precomputed bitmask;
// K is how many more characters the state admits, found by stepping one character at a time,
// unbounded when a step returns to the same state, as maxLength-free strings do), plus walks of
// the small suffix tries of the other tokens from the state after their plain prefix. States
// where plain characters are not interchangeable (a mixed or ambiguous state) use the walk.
//
// Thread-safety: a CompiledGrammar is used by the sequences of one request, on one engine
// thread (its cache is unsynchronised); a GrammarProcessor belongs to one sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/sample/logits_processor.h"
#include "grammar/grammar.h"
#include "grammar/matcher.h"
#include "grammar/token_trie.h"

namespace mlxm::grammar {

// One bit per token id.
using TokenMask = std::vector<uint64_t>;

class CompiledGrammar {
 public:
  // REQUIRES: grammar->finalized().
  CompiledGrammar(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const TokenTrie> trie,
                  std::vector<int32_t> eos_ids);

  const std::shared_ptr<const Grammar>& grammar() const { return grammar_; }
  const TokenTrie& trie() const { return *trie_; }
  const std::vector<int32_t>& eos_ids() const { return eos_ids_; }

  // The tokens `m` accepts next (EOS not included). Cached by m.state_key().
  const TokenMask& mask(Matcher& m);
  // Uncached computation (benchmarks, tests).
  void compute_mask(Matcher& m, TokenMask* out);
  // On by default; off computes every mask by the trie walk (benchmarks, tests).
  void set_string_fast_path(bool on) { fast_strings_ = on; }

  size_t cache_hits() const { return hits_; }
  size_t cache_misses() const { return misses_; }
  // Masks computed by the string fast path (the others by the walk).
  size_t fast_masks() const { return fast_masks_; }

  static constexpr size_t kMaxCachedMasks = 1024;

 private:
  struct PlainRule {
    std::vector<int32_t> alt_starts;  // sorted
    ByteSet lead;                     // bytes that start one of its characters
    uint8_t canonical = 0;            // an ASCII character of the class
    std::shared_ptr<const PlainIndex> index;
  };
  enum class PlainState { kPlain, kNone, kMixed };

  void walk(Matcher& m, const ByteTrie& trie, int32_t node, size_t depth, TokenMask* out);
  // Every head that may take a byte of rule.lead is at the start of one of its alternatives
  // (all of them present, one shared continuation): kPlain; no head takes such a byte: kNone.
  PlainState classify(std::span<const Matcher::Head> heads, const PlainRule& rule) const;
  // The fast path above; false (out untouched) when the state is not a plain one.
  bool plain_mask(Matcher& m, TokenMask* out);

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const TokenTrie> trie_;
  std::vector<int32_t> eos_ids_;
  std::unordered_map<std::string, TokenMask> cache_;
  std::vector<std::vector<Matcher::Head>> heads_by_depth_;
  std::vector<PlainRule> plain_rules_;
  std::vector<std::vector<Matcher::Head>> chain_;  // plain_mask: the state after a characters
  bool fast_strings_ = true;
  size_t hits_ = 0, misses_ = 0, fast_masks_ = 0;
};

class GrammarProcessor : public engine::LogitsProcessor {
 public:
  explicit GrammarProcessor(std::shared_ptr<CompiledGrammar> grammar);

  bool process(std::span<float> logits) override;
  // The mask process() applies (the state's cached mask, plus the EOS ids when complete).
  bool allowed(int32_t vocab, std::vector<uint64_t>* bits) override;
  void accept(int32_t token) override;

  const Matcher& matcher() const { return matcher_; }
  // The sampled tokens so far formed a complete sentence (or EOS was accepted).
  bool complete() const { return matcher_.accepting(); }
  // A token outside the mask was accepted (a bug upstream); the processor then stops.
  bool failed() const { return failed_; }

 private:
  std::shared_ptr<CompiledGrammar> cg_;
  Matcher matcher_;
  bool done_ = false;
  bool failed_ = false;
};

}  // namespace mlxm::grammar
