// A context-free grammar over bytes, the form every constraint compiles to (JSON schemas, tool
// call formats, GBNF text): rules of alternatives, each a sequence of terminals (a set of bytes)
// and references to rules. Matching is byte by byte (see Matcher), so UTF-8 is spelled out in
// the grammar itself (utf8_char() below) and any token of any tokenizer can be checked.
//
//   Grammar g;
//   int32_t digits = g.add_rule("digits");
//   g.add_alt(digits, {cls("0-9"), ref(digits)});
//   g.add_alt(digits, {cls("0-9")});
//   g.set_root(g.add_rule("root", {{lit("n="), ref(digits)}}));
//   MLXM_RETURN_IF_ERROR(g.finalize());   // undefined/left-recursive rules -> InvalidArgument
//
// Thread-safety: building is single-threaded; a finalized Grammar is immutable and may be
// shared by any number of Matchers on any threads.
#pragma once

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace mlxm::grammar {

using ByteSet = std::bitset<256>;

// One symbol of an alternative while building: a byte set or a rule reference.
struct Sym {
  bool is_rule = false;
  int32_t rule = -1;
  ByteSet bytes;
};
using Seq = std::vector<Sym>;

Sym ref(int32_t rule);
Sym byte_set(ByteSet bytes);
// A class in regex-like syntax over bytes: "a-z0-9_", a leading '^' negates; "\\-", "\\]",
// "\\\\" and "\\xHH" escape. CHECK-fails on malformed input (a programming error).
Sym cls(std::string_view spec);
// The bytes of `text`, one symbol each.
Seq lit(std::string_view text);
// Concatenation helper: seq({a, b}) flattens Seqs and Syms.
Seq cat(std::initializer_list<Seq> parts);

// Flattened element of a finalized grammar.
// A rule made by Grammar::utf8_char_except: one well-formed UTF-8 character other than the
// excluded ASCII bytes. Token masks treat such characters as interchangeable (grammar_processor.h).
struct Utf8CharRule {
  int32_t rule = -1;
  ByteSet ascii_excluded;  // only bytes < 0x80
};

struct Elem {
  enum Kind : uint8_t { kBytes, kRule, kEnd };
  Kind kind = kEnd;
  int32_t value = -1;  // kBytes: index into byte_sets(); kRule: rule id
};

class Grammar {
 public:
  // Adds a rule with no alternatives yet (add_alt later; a rule may refer to itself).
  int32_t add_rule(std::string name);
  int32_t add_rule(std::string name, std::vector<Seq> alts);
  void add_alt(int32_t rule, Seq seq);
  void set_root(int32_t rule) { root_ = rule; }

  // Rules for common shapes (each call adds rules):
  int32_t optional(Seq seq);                       // seq | ""
  int32_t star(Seq seq);                           // (seq)*
  int32_t repeat(Seq seq, int min, int max);       // seq{min,max}; max < 0: unbounded
  int32_t utf8_char_except(ByteSet ascii_excluded);  // one well-formed UTF-8 character

  // Flattens and validates: every rule defined and non-empty, no left recursion, a root set.
  Status finalize();
  bool finalized() const { return finalized_; }

  int32_t root() const { return root_; }
  int32_t n_rules() const { return static_cast<int32_t>(names_.size()); }
  const std::string& rule_name(int32_t r) const { return names_[r]; }
  // Start positions (into elems()) of rule r's alternatives.
  const std::vector<int32_t>& alts(int32_t r) const { return alt_starts_[r]; }
  const std::vector<Elem>& elems() const { return elems_; }
  const ByteSet& bytes(int32_t i) const { return byte_sets_[i]; }
  // Every rule added by utf8_char_except, in order.
  const std::vector<Utf8CharRule>& utf8_char_rules() const { return utf8_char_rules_; }
  // Readable dump (GBNF-like), for errors and tests.
  std::string to_string() const;

 private:
  std::vector<std::string> names_;
  std::vector<std::vector<Seq>> build_;  // per rule, its alternatives (before finalize)
  std::vector<std::vector<int32_t>> alt_starts_;
  std::vector<Elem> elems_;
  std::vector<ByteSet> byte_sets_;
  std::vector<Utf8CharRule> utf8_char_rules_;
  int32_t root_ = -1;
  bool finalized_ = false;
};

}  // namespace mlxm::grammar
