#include "cloud/rules.h"

#include <gtest/gtest.h>

namespace mlxm::cloud {
namespace {

using nlohmann::json;

bool known(const std::string& n) { return n == "openai" || n == "anthropic" || n == "groq"; }

Rule rule(const json& j) {
  auto r = parse_rule(j, known);
  EXPECT_TRUE(std::holds_alternative<Rule>(r)) << (std::holds_alternative<api::ApiError>(r)
                                                       ? std::get<api::ApiError>(r).message
                                                       : "");
  return std::get<Rule>(r);
}

std::string bad_field(const json& j) {
  auto r = parse_rule(j, known);
  if (!std::holds_alternative<api::ApiError>(r)) return "(accepted)";
  EXPECT_EQ(std::get<api::ApiError>(r).http_status, 400);
  return std::get<api::ApiError>(r).param;
}

TEST(Rules, FirstEnabledMatchWinsInOrder) {
  std::vector<Rule> rs = {
      rule({{"pattern", "gpt-4o"}, {"match", "exact"}, {"backend", "openai"}, {"enabled", false}}),
      rule({{"pattern", "gpt-"}, {"match", "prefix"}, {"backend", "openai"}}),
      rule({{"pattern", "claude-.*-(sonnet|opus)"}, {"match", "regex"}, {"backend", "anthropic"},
            {"backend_model", "claude-real"}, {"fallback", {"openai:gpt-4o-mini", "local"}}}),
  };
  RuleSet set = RuleSet::compile(rs);
  auto r = set.resolve("gpt-4o");
  EXPECT_EQ(r.rule_index, 1);
  ASSERT_EQ(r.chain.size(), 1u);
  EXPECT_EQ(r.chain[0].backend, "openai");
  EXPECT_EQ(r.chain[0].model, "gpt-4o");

  r = set.resolve("claude-3-opus");
  EXPECT_EQ(r.rule_index, 2);
  ASSERT_EQ(r.chain.size(), 3u);
  EXPECT_EQ(r.chain[0].model, "claude-real");
  EXPECT_EQ(r.chain[1].backend, "openai");
  EXPECT_EQ(r.chain[1].model, "gpt-4o-mini");
  EXPECT_EQ(r.chain[2].backend, "local");
  EXPECT_EQ(r.chain[2].model, "claude-3-opus");
}

TEST(Rules, RegexMustMatchTheWholeName) {
  RuleSet set = RuleSet::compile({rule({{"pattern", "llama"}, {"match", "regex"}, {"backend", "groq"}})});
  EXPECT_EQ(set.resolve("llama").rule_index, 0);
  EXPECT_EQ(set.resolve("my-llama-3").rule_index, -1);
}

TEST(Rules, UnmatchedGoesLocal) {
  RuleSet set = RuleSet::compile({rule({{"pattern", "gpt-"}, {"match", "prefix"}, {"backend", "openai"}})});
  auto r = set.resolve("qwen3-0.6b");
  EXPECT_EQ(r.rule_index, -1);
  ASSERT_EQ(r.chain.size(), 1u);
  EXPECT_EQ(r.chain[0].backend, "local");
  EXPECT_EQ(r.chain[0].model, "qwen3-0.6b");
}

TEST(Rules, CatastrophicPatternStaysLinear) {
  // (a+)+$ backtracks exponentially in backtracking engines; RE2 answers at once.
  RuleSet set = RuleSet::compile({rule({{"pattern", "(a+)+$"}, {"match", "regex"}, {"backend", "groq"}})});
  EXPECT_EQ(set.resolve(std::string(5000, 'a') + "!").rule_index, -1);
}

TEST(Rules, ValidationNamesTheField) {
  EXPECT_EQ(bad_field({{"match", "exact"}, {"backend", "openai"}}), "pattern");
  EXPECT_EQ(bad_field({{"pattern", ""}, {"backend", "openai"}}), "pattern");
  EXPECT_EQ(bad_field({{"pattern", "a("}, {"match", "regex"}, {"backend", "openai"}}), "pattern");
  EXPECT_EQ(bad_field({{"pattern", "a"}, {"match", "glob"}, {"backend", "openai"}}), "match");
  EXPECT_EQ(bad_field({{"pattern", "a"}}), "backend");
  EXPECT_EQ(bad_field({{"pattern", "a"}, {"backend", "nobody"}}), "backend");
  EXPECT_EQ(bad_field({{"pattern", "a"}, {"backend", "openai"}, {"fallback", "local"}}), "fallback");
  EXPECT_EQ(bad_field({{"pattern", "a"}, {"backend", "openai"}, {"fallback", {"nobody:x"}}}), "fallback");
  EXPECT_EQ(bad_field({{"pattern", "a"}, {"backend", "openai"}, {"enabled", "yes"}}), "enabled");
  EXPECT_EQ(bad_field({{"pattern", "a"}, {"backend", "openai"}, {"backend_model", 3}}), "backend_model");
  EXPECT_EQ(bad_field({{"pattern", "a"}, {"backend", "openai"}, {"colour", "red"}}), "colour");
  EXPECT_EQ(bad_field({{"pattern", "a"}, {"backend", "local"}}), "(accepted)");
}

TEST(Rules, JsonRoundTrip) {
  Rule r = rule({{"pattern", "x"}, {"match", "prefix"}, {"backend", "openai"}, {"fallback", {"local"}}});
  r.id = "r_1";
  json j = rule_json(r);
  EXPECT_EQ(j["match"], "prefix");
  EXPECT_EQ(j["backend_model"], nullptr);
  Rule back = rule(j);
  EXPECT_EQ(back.id, "r_1");
  EXPECT_EQ(back.fallback, r.fallback);
}

}  // namespace
}  // namespace mlxm::cloud
