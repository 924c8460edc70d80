// ReplyParser: reasoning, content and tool calls from a reply, streamed in arbitrary pieces
// and whole; MLX_SERVER_TOOL_PARSER parsing.
#include "api/common/reply_parser.h"

#include <gtest/gtest.h>

#include "api/common/tool_setup.h"

namespace mlxm::api {
namespace {

struct Whole {
  std::string reasoning, content;
  std::vector<ToolCall> calls;
  std::vector<ToolCall> streamed;  // the call deltas reassembled by index
  int n_fragments = 0;             // argument fragments over all calls
};

// Feeds `text` in pieces of `step` bytes and collects every delta.
Whole run(const ReplyOptions& o, const std::string& text, size_t step) {
  ReplyParser p(o);
  Whole w;
  auto add = [&](const ReplyDelta& d) {
    w.reasoning += d.reasoning;
    w.content += d.content;
    for (const auto& c : d.calls) w.calls.push_back(c);
    for (const auto& cd : d.call_deltas) {
      if (cd.first) {
        EXPECT_EQ(cd.index, static_cast<int>(w.streamed.size()));
        w.streamed.push_back({cd.name, ""});
      }
      ASSERT_LT(cd.index, static_cast<int>(w.streamed.size()));
      w.streamed[cd.index].arguments += cd.arguments;
      if (!cd.arguments.empty()) ++w.n_fragments;
    }
  };
  for (size_t i = 0; i < text.size(); i += step) add(p.feed(text.substr(i, step)));
  add(p.finish());
  EXPECT_EQ(w.reasoning, p.reasoning());
  EXPECT_EQ(w.content, p.content());
  EXPECT_EQ(w.calls.size(), p.calls().size());
  EXPECT_EQ(w.streamed.size(), p.calls().size());
  for (size_t k = 0; k < w.streamed.size() && k < p.calls().size(); ++k) {
    EXPECT_EQ(w.streamed[k].name, p.calls()[k].name);
    EXPECT_EQ(w.streamed[k].arguments, p.calls()[k].arguments);
  }
  return w;
}

ReplyOptions hermes_thinking() {
  ReplyOptions o;
  o.tool_format = ToolFormat::kHermes;
  o.reasoning = true;
  return o;
}

TEST(ReplyParserTest, ReasoningContentAndCallsAtEveryPieceSize) {
  const std::string text =
      "<think>\nweigh options\n</think>\n\nLet me check.\n<tool_call>\n"
      "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich\"}}\n</tool_call>\n"
      "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";
  for (size_t step : {1, 2, 3, 7, 1000}) {
    Whole w = run(hermes_thinking(), text, step);
    EXPECT_EQ(w.reasoning.find("weigh options") != std::string::npos, true) << step;
    EXPECT_EQ(w.content, "Let me check.") << step;
    ASSERT_EQ(w.calls.size(), 2u) << step;
    EXPECT_EQ(w.calls[0].name, "get_weather");
    EXPECT_EQ(nlohmann::json::parse(w.calls[0].arguments)["city"], "Zürich");
    EXPECT_EQ(w.calls[1].name, "get_time");
    EXPECT_EQ(w.calls[1].arguments, "{}");
  }
}

TEST(ReplyParserTest, MalformedCallDegradesToContent) {
  const std::string text = "Sure <tool_call>{\"name\": oops}</tool_call> done";
  Whole w = run(hermes_thinking(), text, 3);
  EXPECT_TRUE(w.calls.empty());
  EXPECT_NE(w.content.find("<tool_call>"), std::string::npos);
  EXPECT_NE(w.content.find("done"), std::string::npos);
}

TEST(ReplyParserTest, TruncatedCallDegradesToContent) {
  const std::string text = "<tool_call>\n{\"name\": \"f\", \"argum";
  Whole w = run(hermes_thinking(), text, 4);
  EXPECT_TRUE(w.calls.empty());
  EXPECT_EQ(w.content, text);
}

TEST(ReplyParserTest, NoParallelKeepsTheFirstCallOnly) {
  ReplyOptions o = hermes_thinking();
  o.parallel_tool_calls = false;
  const std::string text =
      "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>\n"
      "<tool_call>{\"name\": \"b\", \"arguments\": {}}</tool_call>";
  Whole w = run(o, text, 5);
  ASSERT_EQ(w.calls.size(), 1u);
  EXPECT_EQ(w.calls[0].name, "a");
  EXPECT_EQ(w.content, "");
}

TEST(ReplyParserTest, PlainTextPassesThroughWithoutToolsOrReasoning) {
  const std::string text = "  <tool_call> is just text here\n";
  Whole w = run(ReplyOptions{}, text, 2);
  EXPECT_EQ(w.content, text);
  EXPECT_TRUE(w.calls.empty());
}

TEST(ReplyParserTest, WhitespaceOnlyContentIsDropped) {
  Whole w = run(hermes_thinking(), "<think>x</think>\n\n", 1);
  EXPECT_EQ(w.reasoning, "x");
  EXPECT_EQ(w.content, "");
}

TEST(ReplyParserTest, ForcedOutputIsParsedFromTheFirstByte) {
  ReplyOptions o;
  o.tool_format = ToolFormat::kLlama3;
  o.tools_forced = true;
  Whole w = run(o, "{\"name\": \"f\", \"parameters\": {\"x\": [1, 2]}}", 3);
  ASSERT_EQ(w.calls.size(), 1u);
  EXPECT_EQ(w.calls[0].arguments, "{\"x\":[1,2]}");
}

TEST(ReplyParserTest, ForcedCallsStreamArgumentFragmentsAndNoParallelDropsTheRest) {
  ReplyOptions o;
  o.tool_format = ToolFormat::kHermes;
  o.tools_forced = true;
  o.parallel_tool_calls = false;
  const std::string text =
      "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"q\": \"long text\", \"n\": 12}}\n"
      "</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {\"z\": 1}}\n</tool_call>";
  for (size_t step : {1u, 3u, 8u}) {
    Whole w = run(o, text, step);
    ASSERT_EQ(w.calls.size(), 1u);
    EXPECT_EQ(w.calls[0].arguments, "{\"q\":\"long text\",\"n\":12}");
    EXPECT_GT(w.n_fragments, 1) << step;
    EXPECT_EQ(w.content, "");
  }
}

TEST(ToolFormatOverrideTest, GlobalAndPerModel) {
  EXPECT_FALSE(*tool_format_override("", "m"));
  EXPECT_EQ(**tool_format_override("llama3", "m"), ToolFormat::kLlama3);
  auto per = tool_format_override("a=hermes, m=mistral", "m");
  ASSERT_TRUE(per.ok());
  EXPECT_EQ(**per, ToolFormat::kMistral);
  EXPECT_FALSE(*tool_format_override("a=hermes", "m"));
  EXPECT_FALSE(tool_format_override("nonsense", "m").ok());
  EXPECT_FALSE(tool_format_override("a=bogus", "m").ok());
  EXPECT_FALSE(tool_format_override("a=hermes,junk", "m").ok());
}

}  // namespace
}  // namespace mlxm::api
