// Hostile templates: every limit returns an error Status (kLimit), never a crash or a hang.
#include <gtest/gtest.h>

#include "parity_util.h"
#include "tokenizer/chat_template/chat_template.h"

namespace mlxm::test {
namespace {

TemplateErrorKind render_kind(const std::string& src, std::string* msg = nullptr,
                              const ChatTemplateLimits* limits = nullptr) {
  TemplateErrorKind kind;
  Result<ChatTemplate> t = ChatTemplate::parse(src, &kind);
  if (!t.ok()) {
    if (msg) *msg = t.status().message();
    return kind;
  }
  if (limits) t->set_limits(*limits);
  Result<std::string> r = t->render(J(R"({"messages": []})"), &kind);
  if (msg) *msg = r.ok() ? *r : r.status().message();
  return kind;
}

TEST(ChatTemplateLimits, InfiniteMacroRecursion) {
  std::string msg;
  EXPECT_EQ(render_kind("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", &msg), TemplateErrorKind::kLimit);
  EXPECT_NE(msg.find("recursion"), std::string::npos) << msg;
}

TEST(ChatTemplateLimits, OutputSize) {
  ChatTemplateLimits limits;
  limits.max_output_bytes = 1 << 20;
  EXPECT_EQ(render_kind("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", nullptr, &limits),
            TemplateErrorKind::kLimit);
  EXPECT_EQ(render_kind("{{ 'x' * 100000000 }}", nullptr, &limits), TemplateErrorKind::kLimit);
  EXPECT_EQ(render_kind("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
                        nullptr, &limits),
            TemplateErrorKind::kLimit);
}

TEST(ChatTemplateLimits, LoopIterations) {
  ChatTemplateLimits limits;
  limits.max_loop_iterations = 100000;
  EXPECT_EQ(render_kind("{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}", nullptr, &limits),
            TemplateErrorKind::kLimit);
  // Default limits still stop a 10^15-iteration template quickly (steps/iterations).
  EXPECT_EQ(render_kind("{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}{% endfor %}{% endfor %}{% endfor %}"),
            TemplateErrorKind::kLimit);
}

TEST(ChatTemplateLimits, DeepNestingIsASyntaxErrorNotAStackOverflow) {
  std::string deep = "{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}";
  EXPECT_EQ(render_kind(deep), TemplateErrorKind::kSyntax);
  std::string deep_if;
  for (int k = 0; k < 5000; ++k) deep_if += "{% if true %}";
  EXPECT_EQ(render_kind(deep_if), TemplateErrorKind::kSyntax);
  std::string deep_list = "{{ " + std::string(50000, '[') + std::string(50000, ']') + " }}";
  EXPECT_EQ(render_kind(deep_list), TemplateErrorKind::kSyntax);
  std::string nots = "{{ " ;
  for (int k = 0; k < 50000; ++k) nots += "not ";
  nots += "1 }}";
  EXPECT_EQ(render_kind(nots), TemplateErrorKind::kSyntax);
}

TEST(ChatTemplateLimits, IntegerOverflowIsAnError) {
  EXPECT_EQ(render_kind("{{ 9223372036854775807 + 1 }}"), TemplateErrorKind::kRuntime);
  EXPECT_EQ(render_kind("{{ 2 ** 64 }}"), TemplateErrorKind::kRuntime);
  EXPECT_EQ(render_kind("{{ -9223372036854775807 - 2 }}"), TemplateErrorKind::kRuntime);
  EXPECT_EQ(render_kind("{{ 99999999999999999999 }}"), TemplateErrorKind::kSyntax);
}

TEST(ChatTemplateLimits, RenderErrorsMapToStatusCodes) {
  Result<ChatTemplate> t = ChatTemplate::parse("{{ raise_exception('bad input: ' ~ messages | length) }}");
  ASSERT_TRUE(t.ok());
  TemplateErrorKind kind;
  Result<std::string> r = t->render(J(R"({"messages": [1, 2]})"), &kind);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(kind, TemplateErrorKind::kRaised);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "bad input: 2");
  Result<ChatTemplate> t2 = ChatTemplate::parse("{{ messages.x.y }}");
  ASSERT_TRUE(t2.ok());
  r = t2->render(J(R"({"messages": []})"), &kind);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(kind, TemplateErrorKind::kRuntime);
  EXPECT_NE(r.status().message().find("has no attribute 'x'"), std::string::npos) << r.status().message();
  Result<ChatTemplate> t3 = ChatTemplate::parse("{% for %}", &kind);
  ASSERT_FALSE(t3.ok());
  EXPECT_EQ(kind, TemplateErrorKind::kSyntax);
}

TEST(ChatTemplateLimits, StrftimeUsesFixedNowAndRejectsMalformed) {
  Result<ChatTemplate> t = ChatTemplate::parse("{{ strftime_now('%Y-%m-%d %H:%M') }}");
  ASSERT_TRUE(t.ok());
  setenv("MLX_MANAGER_TEMPLATE_NOW", "2023-01-31T23:59:00", 1);
  EXPECT_EQ(*t->render(J("{}")), "2023-01-31 23:59");
  setenv("MLX_MANAGER_TEMPLATE_NOW", "yesterday", 1);
  Result<std::string> r = t->render(J("{}"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("MLX_MANAGER_TEMPLATE_NOW"), std::string::npos);
  setenv("MLX_MANAGER_TEMPLATE_NOW", kFixedNow, 1);
}

TEST(ChatTemplateLimits, ParseOnceRenderMany) {
  Result<ChatTemplate> t = ChatTemplate::parse("{% for m in messages %}{{ m }}{% endfor %}");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t->render(J(R"({"messages": [1, 2]})")), "12");
  EXPECT_EQ(*t->render(J(R"({"messages": ["a"]})")), "a");
  // nlohmann::json (sorted keys) is accepted too
  EXPECT_EQ(*t->render(nlohmann::json::parse(R"({"messages": [true, null]})")), "TrueNone");
}

}  // namespace
}  // namespace mlxm::test
