// GBNF parsing: the grammars accept exactly their language (checked against std::regex on an
// exhaustive set of short strings), classes over code points (ranges, negation, UTF-8), escapes,
// multi-line rules and comments, and errors that name the problem and the place.
#include <gtest/gtest.h>

#include <regex>

#include "grammar/gbnf.h"
#include "grammar/matcher.h"

namespace mlxm::grammar {
namespace {

std::shared_ptr<const Grammar> must_parse(std::string_view text) {
  auto g = parse_gbnf(text);
  EXPECT_TRUE(g.ok()) << g.status().to_string();
  return g.ok() ? *g : nullptr;
}

// The whole of `s` is a sentence of g.
bool full_match(const std::shared_ptr<const Grammar>& g, std::string_view s) {
  Matcher m(g);
  return m.advance(s) && m.accepting();
}

std::string error_of(std::string_view text) {
  auto g = parse_gbnf(text);
  EXPECT_FALSE(g.ok()) << text;
  return g.ok() ? "" : g.status().message();
}

TEST(Gbnf, AcceptsExactlyTheLanguageOfAnEquivalentRegex) {
  auto g = must_parse(R"(root ::= pre ("x" | "yz")+ tail?
pre ::= [a-c]{2,3}
tail ::= [^a-z]   # one character that is not a lowercase letter
)");
  ASSERT_TRUE(g);
  const std::regex re("^[a-c]{2,3}(x|yz)+([^a-z])?$");
  const std::string alphabet = "abxyzA";
  int checked = 0, matched = 0;
  std::vector<std::string> all{""};
  for (int len = 1; len <= 6; ++len) {
    std::vector<std::string> next;
    for (const std::string& s : all) {
      if (s.size() + 1 != static_cast<size_t>(len)) continue;
      for (char c : alphabet) next.push_back(s + c);
    }
    for (const std::string& s : next) {
      const bool want = std::regex_match(s, re);
      EXPECT_EQ(full_match(g, s), want) << s;
      ++checked;
      matched += want;
    }
    all.insert(all.end(), next.begin(), next.end());
  }
  EXPECT_GT(checked, 9000);
  EXPECT_GT(matched, 20);
}

TEST(Gbnf, ClassesAreOverCodePoints) {
  auto g = must_parse(R"(root ::= [α-ω] [^a-z\u00e9] . [\x41-\x43\n])");
  ASSERT_TRUE(g);
  EXPECT_TRUE(full_match(g, "βA€B"));
  EXPECT_TRUE(full_match(g, "ω\xF0\x9F\x98\x80" "a\n"));  // [^...] takes a 4-byte character
  EXPECT_FALSE(full_match(g, "aAxB"));                    // 'a' is not in α-ω
  EXPECT_FALSE(full_match(g, "βbxB"));                    // 'b' is excluded
  EXPECT_FALSE(full_match(g, "β\xC3\xA9xB"));             // so is é
  EXPECT_FALSE(full_match(g, "βA\xED\xA0\x80" "B"));      // a surrogate is not a character
  EXPECT_FALSE(full_match(g, "βAxD"));
}

TEST(Gbnf, LiteralEscapesAndRepetitionCounts) {
  auto g = must_parse(R"(root ::= "\x41\u00e9\n\"\\" "ab"{2} "c"{1,} "d"{0,2} "e"{3,4})");
  ASSERT_TRUE(g);
  EXPECT_TRUE(full_match(g, "A\xC3\xA9\n\"\\ababccceee"));
  EXPECT_TRUE(full_match(g, "A\xC3\xA9\n\"\\ababcddeeee"));
  EXPECT_FALSE(full_match(g, "A\xC3\xA9\n\"\\abcddeee"));      // "ab"{2}
  EXPECT_FALSE(full_match(g, "A\xC3\xA9\n\"\\ababdeee"));      // "c"{1,}
  EXPECT_FALSE(full_match(g, "A\xC3\xA9\n\"\\ababcdddeee"));   // "d"{0,2}
  EXPECT_FALSE(full_match(g, "A\xC3\xA9\n\"\\ababceeeee"));    // "e"{3,4}
}

TEST(Gbnf, MultiLineRulesCommentsAndForwardReferences) {
  auto g = must_parse(R"(
# a tiny JSON-like object
root ::=
  "{" ws (
    pair
    ("," ws pair)*
  )? "}"
pair ::= key ":" ws value   # forward references are fine
key ::= "\"" [^"\\]+ "\""
value ::= [0-9]+ | "true"
  | "false"
ws ::= [ \t\n]*
)");
  ASSERT_TRUE(g);
  EXPECT_TRUE(full_match(g, "{}"));
  EXPECT_TRUE(full_match(g, "{ \"a\": 1, \"b c\":true,\n\"é\":false}"));
  EXPECT_FALSE(full_match(g, "{\"a\":1,}"));
  EXPECT_FALSE(full_match(g, "{\"\":1}"));
  // [^"\\] is a shared plain-character rule: token masks take their string fast path on it.
  EXPECT_EQ(g->utf8_char_rules().size(), 1u);
}

TEST(Gbnf, ErrorsNameTheProblemAndThePlace) {
  EXPECT_EQ(error_of("root ::= \"a\"\nb = \"c\""), "line 2, column 3: unexpected '='");
  EXPECT_NE(error_of("root ::= item").find("the rule 'item' is used but never defined"),
            std::string::npos);
  EXPECT_EQ(error_of("root ::= \"abc"), "line 1, column 14: unterminated string literal");
  EXPECT_EQ(error_of("item ::= \"a\""), "the grammar has no 'root' rule");
  EXPECT_NE(error_of("root ::= root \"a\" | \"b\"").find("left-recursive"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"\\q\"").find("unknown escape '\\q'"), std::string::npos);
  EXPECT_NE(error_of("root ::= [z-a]").find("runs backwards"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"{5000}").find("above 1000"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"" + std::string(300, 'a') + "\"{1000}").find("too large"),
            std::string::npos);
  EXPECT_NE(error_of("root ::= (\"a\" | \"b\"").find("expected ')'"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"\nroot ::= \"b\"").find("defined twice"), std::string::npos);
  EXPECT_NE(error_of("root ::= []").find("matches nothing"), std::string::npos);
  EXPECT_NE(error_of("root \"a\"").find("expected '::='"), std::string::npos);
  EXPECT_EQ(error_of("  # only a comment\n"), "the grammar is empty");
}

}  // namespace
}  // namespace mlxm::grammar
