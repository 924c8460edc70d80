// Unit tests of each tokenizer component against small hand-made tokenizer.json snippets.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "tokenizer/normalizers.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/tokenizer.h"

namespace mlxm {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

std::vector<std::string> pre_tokenize(const json& cfg, const std::string& text) {
  auto p = tok::make_pre_tokenizer(cfg);
  EXPECT_TRUE(p.ok()) << p.status().to_string();
  std::vector<tok::Piece> pieces{{text, true}};
  (*p)->pre_tokenize(&pieces);
  std::vector<std::string> out;
  for (auto& x : pieces) out.push_back(x.text);
  return out;
}

std::string normalize(const json& cfg, const std::string& text) {
  auto n = tok::make_normalizer(cfg);
  EXPECT_TRUE(n.ok()) << n.status().to_string();
  return (*n)->normalize(text);
}

json split(const std::string& behavior, bool invert = false) {
  return {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}};
}

using V = std::vector<std::string>;

TEST(PreTokenizerTest, SplitBehaviorsMatchRustDocs) {
  const std::string s = "the-final--countdown";
  EXPECT_EQ(pre_tokenize(split("Removed"), s), (V{"the", "final", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("Isolated"), s), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("MergedWithPrevious"), s), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("MergedWithNext"), s), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(pre_tokenize(split("Contiguous"), s), (V{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("Removed", true), s), (V{"-", "-", "-"}));
}

TEST(PreTokenizerTest, SplitRegexIsUnicodeAware) {
  json cfg = {{"type", "Split"}, {"pattern", {{"Regex", "\\p{L}+|\\s+"}}}, {"behavior", "Isolated"}, {"invert", false}};
  EXPECT_EQ(pre_tokenize(cfg, "héllo wörld!"), (V{"héllo", " ", "wörld", "!"}));
  // \s is Unicode White_Space (Oniguruma), which includes U+0085 and U+3000.
  json ws = {{"type", "Split"}, {"pattern", {{"Regex", "\\s+"}}}, {"behavior", "Removed"}, {"invert", false}};
  EXPECT_EQ(pre_tokenize(ws, "a\u0085b\u3000c"), (V{"a", "b", "c"}));
}

TEST(PreTokenizerTest, ByteLevelMapsBytesAndOptionallySplits) {
  EXPECT_EQ(pre_tokenize({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}, "a b"),
            (V{"a\xC4\xA0" "b"}));  // ' ' -> U+0120
  EXPECT_EQ(pre_tokenize({{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}}, "Hi you're"),
            (V{"\xC4\xA0Hi", "\xC4\xA0you", "'re"}));
  // Non-ASCII: each UTF-8 byte maps to one alphabet character (é = C3 A9 -> Ã ©).
  EXPECT_EQ(pre_tokenize({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}, "\xC3\xA9"),
            (V{"\xC3\x83\xC2\xA9"}));
}

TEST(PreTokenizerTest, MetaspacePrependSchemes) {
  json always = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "always"}, {"split", true}};
  EXPECT_EQ(pre_tokenize(always, "Hey friend"), (V{"\u2581Hey", "\u2581friend"}));
  json never = always;
  never["prepend_scheme"] = "never";
  EXPECT_EQ(pre_tokenize(never, "Hey friend"), (V{"Hey", "\u2581friend"}));
  json nosplit = always;
  nosplit["split"] = false;
  EXPECT_EQ(pre_tokenize(nosplit, "Hey friend"), (V{"\u2581Hey\u2581friend"}));
  json first = always;
  first["prepend_scheme"] = "first";
  EXPECT_EQ(pre_tokenize(first, "Hey"), (V{"\u2581Hey"}));
}

TEST(PreTokenizerTest, DigitsPunctuationWhitespace) {
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", true}}, "ab123c"), (V{"ab", "1", "2", "3", "c"}));
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", false}}, "ab123c4"), (V{"ab", "123", "c", "4"}));
  EXPECT_EQ(pre_tokenize({{"type", "Punctuation"}}, "Hey!? you"), (V{"Hey", "!", "?", " you"}));
  EXPECT_EQ(pre_tokenize({{"type", "Whitespace"}}, "Hey man!! How's it?"),
            (V{"Hey", "man", "!!", "How", "'", "s", "it", "?"}));
  EXPECT_EQ(pre_tokenize({{"type", "WhitespaceSplit"}}, " a\tb\n\nc "), (V{"a", "b", "c"}));
  EXPECT_EQ(pre_tokenize({{"type", "Sequence"}, {"pretokenizers", {{{"type", "WhitespaceSplit"}}, {{"type", "Digits"}, {"individual_digits", true}}}}},
                         "x12 y"),
            (V{"x", "1", "2", "y"}));
}

TEST(NormalizerTest, Components) {
  EXPECT_EQ(normalize({{"type", "NFC"}}, "e\u0301"), "\u00e9");
  EXPECT_EQ(normalize({{"type", "NFD"}}, "\u00e9"), "e\u0301");
  EXPECT_EQ(normalize({{"type", "NFKC"}}, "\uFB01\u2460"), "fi1");
  EXPECT_EQ(normalize({{"type", "Lowercase"}}, "ÀB\u0130c"), "àbi\u0307c");
  EXPECT_EQ(normalize({{"type", "Strip"}, {"strip_left", true}, {"strip_right", false}}, " \t a b \n"), "a b \n");
  EXPECT_EQ(normalize({{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}, "\u3000ab\u00a0"), "ab");
  EXPECT_EQ(normalize({{"type", "Prepend"}, {"prepend", "\u2581"}}, "a"), "\u2581a");
  EXPECT_EQ(normalize({{"type", "Prepend"}, {"prepend", "\u2581"}}, ""), "");
  EXPECT_EQ(normalize({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}, "a b  c"),
            "a\u2581b\u2581\u2581c");
  EXPECT_EQ(normalize({{"type", "Replace"}, {"pattern", {{"Regex", "\\d+"}}}, {"content", "#"}}, "a12b3"), "a#b#");
  EXPECT_EQ(normalize({{"type", "Sequence"},
                       {"normalizers", {{{"type", "Prepend"}, {"prepend", "_"}}, {{"type", "Lowercase"}}}}},
                      "AB"),
            "_ab");
}

// --- Whole tokenizers from hand-made tokenizer.json -------------------------------------------

// A byte-level BPE: vocab over the GPT-2 alphabet, merges building "hello" and "Ġworld".
json byte_level_json() {
  json vocab = json::object();
  int id = 0;
  for (const char* t : {"h", "e", "l", "o", "w", "r", "d", "\xC4\xA0", "!", "he", "ll", "hell", "hello", "\xC4\xA0w",
                        "or", "\xC4\xA0wor", "ld", "\xC4\xA0world"}) {
    vocab[t] = id++;
  }
  return {{"version", "1.0"},
          {"added_tokens", {{{"id", 18}, {"content", "<|end|>"}, {"special", true}, {"normalized", false}},
                            {{"id", 19}, {"content", "<|bos|>"}, {"special", true}, {"normalized", false}}}},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", {
              {{"type", "Split"}, {"pattern", {{"Regex", " ?\\p{L}+|\\s+|[^\\s\\p{L}]+"}}}, {"behavior", "Isolated"}, {"invert", false}},
              {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}},
          {"post_processor", {{"type", "TemplateProcessing"},
                              {"single", {{{"SpecialToken", {{"id", "<|bos|>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                              {"special_tokens", {{"<|bos|>", {{"id", "<|bos|>"}, {"ids", {19}}, {"tokens", {"<|bos|>"}}}}}}}},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"h e", "l l", "he ll", "hell o", "\xC4\xA0 w", "o r", "\xC4\xA0w or", "l d", "\xC4\xA0wor ld"}}}}};
}

std::unique_ptr<Tokenizer> make(const json& tj, const json& cfg = json()) {
  auto t = Tokenizer::from_json(tj.dump(), cfg.is_null() ? "" : cfg.dump());
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t.ok() ? std::move(t).value() : nullptr;
}

TEST(TokenizerTest, ByteLevelBpeMergesByRank) {
  auto t = make(byte_level_json());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->encode("hello world!", false), (Ids{12, 17, 8}));
  EXPECT_EQ(t->encode("hello world!", true), (Ids{19, 12, 17, 8}));
  EXPECT_EQ(t->encode("hello<|end|>hell", false), (Ids{12, 18, 11}));
  EXPECT_EQ(t->encode("lol", false), (Ids{2, 3, 2}));
  EXPECT_EQ(*t->decode(Ids{19, 12, 17, 8, 18}, false), "<|bos|>hello world!<|end|>");
  EXPECT_EQ(*t->decode(Ids{19, 12, 17, 8, 18}, true), "hello world!");
  EXPECT_EQ(t->vocab_size(), 20);
  EXPECT_EQ(t->token_to_id("hello"), 12);
  EXPECT_EQ(t->token_to_id("<|end|>"), 18);
  EXPECT_EQ(t->id_to_token(17), "\xC4\xA0world");
  EXPECT_FALSE(t->id_to_token(20).has_value());
  EXPECT_TRUE(t->is_special(18));
  EXPECT_FALSE(t->is_special(12));
  auto bad = t->decode(Ids{1, 20}, false);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(TokenizerTest, ByteLevelFastPathEqualsGenericPipeline) {
  auto fast = make(byte_level_json());
  json tj = byte_level_json();
  // A third (empty) pre-tokenizer disables the Split+ByteLevel fast path.
  tj["pre_tokenizer"]["pretokenizers"].push_back({{"type", "Sequence"}, {"pretokenizers", json::array()}});
  auto generic = make(tj);
  for (const std::string text : {"hello world!", "  hello\n\nworld  ", "héllo wörld 123 !!", "", "<|end|>hello"}) {
    EXPECT_EQ(fast->encode(text, true), generic->encode(text, true)) << text;
  }
}

TEST(TokenizerTest, IgnoreMergesTakesWholeWordsFromVocab) {
  json tj = byte_level_json();
  // "hlo" is in the vocab but not reachable by merges.
  tj["model"]["vocab"]["hlo"] = 20;
  auto without = make(tj);
  EXPECT_EQ(without->encode("hlo", false), (Ids{0, 2, 3}));
  tj["model"]["ignore_merges"] = true;
  auto with = make(tj);
  EXPECT_EQ(with->encode("hlo", false), (Ids{20}));
}

// SentencePiece-style: Prepend/Replace normalizer, byte_fallback, Llama-2-like decoder.
json spm_json(bool byte_fallback, bool fuse_unk) {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"<0xE4>", 3}, {"<0xB8>", 4}, {"<0xAD>", 5},
                {"\u2581", 6}, {"a", 7}, {"b", 8}, {"\u2581a", 9}, {"\u2581b", 10}, {"ab", 11}, {"\u2581ab", 12}};
  return {{"added_tokens", {{{"id", 0}, {"content", "<unk>"}, {"special", true}},
                            {{"id", 1}, {"content", "<s>"}, {"special", true}},
                            {{"id", 2}, {"content", "</s>"}, {"special", true}}}},
          {"normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "Prepend"}, {"prepend", "\u2581"}},
                                                                {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}}},
          {"pre_tokenizer", nullptr},
          {"post_processor", {{"type", "TemplateProcessing"},
                              {"single", "<s> $A"},
                              {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
          {"decoder", {{"type", "Sequence"}, {"decoders", {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                                                          {{"type", "ByteFallback"}}, {{"type", "Fuse"}},
                                                          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
          {"model", {{"type", "BPE"}, {"unk_token", "<unk>"}, {"byte_fallback", byte_fallback}, {"fuse_unk", fuse_unk},
                     {"vocab", vocab}, {"merges", json::array({json::array({"\u2581", "a"}), json::array({"\u2581", "b"}), json::array({"a", "b"}),
                                           json::array({"\u2581a", "b"})})}}}};
}

TEST(TokenizerTest, MetaspaceByteFallback) {
  auto t = make(spm_json(true, true));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->encode("ab b", true), (Ids{1, 12, 10}));
  EXPECT_EQ(t->encode("a 中", false), (Ids{9, 6, 3, 4, 5}));
  EXPECT_EQ(*t->decode(Ids{1, 9, 6, 3, 4, 5}, true), "a 中");
  EXPECT_EQ(*t->decode(Ids{1, 9, 6, 3, 4, 5}, false), "<s> a 中");
  // An incomplete byte run decodes to U+FFFD (maximal subpart), never to invalid UTF-8.
  EXPECT_EQ(*t->decode(Ids{7, 3, 4}, false), "a\uFFFD");
  EXPECT_EQ(*t->decode(Ids{7, 5, 5}, false), "a\uFFFD\uFFFD");
}

TEST(TokenizerTest, UnknownCharactersAndFuseUnk) {
  auto fused = make(spm_json(false, true));
  EXPECT_EQ(fused->encode("a中中b", false), (Ids{9, 0, 8}));
  auto unfused = make(spm_json(false, false));
  EXPECT_EQ(unfused->encode("a中中b", false), (Ids{9, 0, 0, 8}));
}

TEST(TokenizerTest, SubwordPrefixAndSuffix) {
  json tj = {{"model", {{"type", "BPE"}, {"continuing_subword_prefix", "##"}, {"end_of_word_suffix", "</w>"},
                        {"vocab", {{"a", 0}, {"##b", 1}, {"##c</w>", 2}, {"ab", 3}, {"abc</w>", 4}, {"c</w>", 5}}},
                        {"merges", {"a ##b", "ab ##c</w>"}}}},
             {"pre_tokenizer", {{"type", "WhitespaceSplit"}}}};
  auto t = make(tj);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->encode("abc c", false), (Ids{4, 5}));
  // The last character is looked up as "##b</w>", which is not in the vocab; without an unk
  // token it is dropped (as in the Rust crate).
  EXPECT_EQ(t->encode("ab", false), (Ids{0}));
}

TEST(TokenizerTest, AddedTokenStripAndSingleWord) {
  json tj = byte_level_json();
  tj["added_tokens"].push_back({{"id", 20}, {"content", "<m>"}, {"special", false}, {"lstrip", true}, {"rstrip", true}, {"normalized", false}});
  tj["added_tokens"].push_back({{"id", 21}, {"content", "he"}, {"special", false}, {"single_word", true}, {"normalized", false}});
  auto t = make(tj);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->encode("hello  <m>  hello", false), (Ids{12, 20, 12}));  // spaces around <m> absorbed
  EXPECT_EQ(t->encode("he hello", false), (Ids{21, 7, 12}));            // "he" only as a word
  EXPECT_FALSE(t->is_special(20));
  EXPECT_EQ(*t->decode(Ids{12, 20, 12}, true), "hello<m>hello");  // non-special kept when skipping
}

TEST(TokenizerTest, NormalizedAddedTokensMatchAfterNormalization) {
  json tj = byte_level_json();
  tj["normalizer"] = {{"type", "Lowercase"}};
  tj["added_tokens"].push_back({{"id", 20}, {"content", "wOrLd"}, {"special", false}, {"normalized", true}});
  auto t = make(tj);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->encode("HELLO World", false), (Ids{12, 7, 20}));
}

TEST(TokenizerTest, PostProcessorFromConfigForLlamaClass) {
  json cfg = {{"tokenizer_class", "LlamaTokenizer"}, {"bos_token", "<s>"}, {"eos_token", {{"content", "</s>"}}},
              {"add_bos_token", true}, {"add_eos_token", true}};
  auto t = make(spm_json(true, true), cfg);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 2);
  EXPECT_EQ(t->encode("a", true), (Ids{1, 9, 2}));
  EXPECT_EQ(t->encode("a", false), (Ids{9}));
  // Other classes keep tokenizer.json's post-processor.
  cfg["tokenizer_class"] = "PreTrainedTokenizerFast";
  EXPECT_EQ(make(spm_json(true, true), cfg)->encode("a", true), (Ids{1, 9}));
}

TEST(TokenizerTest, InvalidUtf8InputIsReplaced) {
  auto t = make(spm_json(true, true));
  // 0xFF -> U+FFFD, which is not in the vocab: byte fallback needs <0xEF><0xBF><0xBD> -> unk.
  const auto ids = t->encode(std::string("a\xFF", 2), false);
  EXPECT_EQ(ids, (Ids{9, 0}));
}

TEST(TokenizerTest, UnsupportedComponentsNameThemselves) {
  auto expect_error = [](json tj, const std::string& needle) {
    auto r = Tokenizer::from_json(tj.dump(), "");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().to_string();
  };
  json tj = byte_level_json();
  tj["model"]["type"] = "Unigram";
  expect_error(tj, "Unigram");
  tj = byte_level_json();
  tj["normalizer"] = {{"type", "Precompiled"}};
  expect_error(tj, "Precompiled");
  tj = byte_level_json();
  tj["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  expect_error(tj, "BertPreTokenizer");
  tj = byte_level_json();
  tj["decoder"] = {{"type", "CTC"}};
  expect_error(tj, "CTC");
  tj = byte_level_json();
  tj["model"]["merges"].push_back("x y");
  expect_error(tj, "not in the vocab");
  tj = byte_level_json();
  tj["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  expect_error(tj, "(unclosed");
  EXPECT_FALSE(Tokenizer::from_json("{not json", "").ok());
  EXPECT_FALSE(Tokenizer::from_json(R"({"model": {"type": "BPE", "vocab": [1]}})", "").ok());
  auto missing = Tokenizer::load("/nonexistent/dir");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(IncrementalDetokenizerTest, HoldsPartialBytesAndMatchesDecode) {
  auto t = make(spm_json(true, true));
  IncrementalDetokenizer d(*t, true);
  EXPECT_EQ(*d.add(1), "");       // <s> skipped
  EXPECT_EQ(*d.add(9), "a");      // "▁a" at the start: leading space stripped
  EXPECT_EQ(*d.add(6), " ");      // "▁"
  EXPECT_EQ(*d.add(3), "");       // first byte of 中: held
  EXPECT_EQ(*d.add(4), "");       // second byte: held
  EXPECT_EQ(*d.add(5), "中");     // complete
  EXPECT_EQ(*d.add(10), " b");
  EXPECT_FALSE(d.add(99).ok());   // bad id: error, state unchanged
  EXPECT_EQ(*d.add(3), "");
  EXPECT_EQ(d.finish(), "\uFFFD");  // an incomplete tail is flushed at the end
}

TEST(IncrementalDetokenizerTest, KeepsSpecialTokensWhenAsked) {
  auto t = make(byte_level_json());
  IncrementalDetokenizer d(*t, false);
  std::string s;
  for (int32_t id : Ids{19, 12, 17, 18, 8}) s += *d.add(id);
  s += d.finish();
  EXPECT_EQ(s, "<|bos|>hello world<|end|>!");
}

TEST(TokenizerTest, ConcurrentEncodeIsConsistent) {
  auto t = make(byte_level_json());
  const std::string text = "hello world! hello hello world lol";
  const Ids expected = t->encode(text, true);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i)
        if (t->encode(text, true) != expected) ++bad;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace mlxm
