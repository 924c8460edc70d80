// Tool-call parsers per family on fixtures (complete, nested, unicode, several calls, malformed,
// truncated), streamed char by char == parsed whole, and the <think> splitter.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/tools/reasoning.h"
#include "api/tools/tool_parser.h"

namespace mlxm::api {
namespace {

using nlohmann::json;

// What a stream of call deltas adds up to, per call index, plus how many pieces each had.
struct Reassembled {
  std::vector<ToolCall> calls;
  std::vector<int> pieces;  // argument fragments per call
};

// Folds `deltas` into `r`, checking their order: a call begins (first, with a name) before its
// fragments, indices are 0..n-1 in order, nothing follows a call's last delta.
void fold(const std::vector<ToolCallDelta>& deltas, Reassembled* r, std::vector<bool>* closed) {
  for (const ToolCallDelta& d : deltas) {
    if (d.first) {
      ASSERT_EQ(d.index, static_cast<int>(r->calls.size()));
      ASSERT_FALSE(d.name.empty());
      r->calls.push_back({d.name, ""});
      r->pieces.push_back(0);
      closed->push_back(false);
    }
    ASSERT_GE(d.index, 0);
    ASSERT_LT(d.index, static_cast<int>(r->calls.size()));
    ASSERT_FALSE((*closed)[d.index]) << "delta after the call's last";
    r->calls[d.index].arguments += d.arguments;
    if (!d.arguments.empty()) ++r->pieces[d.index];
    if (d.last) (*closed)[d.index] = true;
  }
}

// Streams `text` in pieces of `step` bytes and returns content + calls; the deltas must add up
// to the completed calls (written to `re` when given).
ParsedToolOutput stream(ToolFormat f, const std::string& text, size_t step, bool forced = false,
                        Reassembled* re = nullptr) {
  ToolCallStreamer s(f, forced);
  ParsedToolOutput out;
  Reassembled r;
  std::vector<bool> closed;
  auto take = [&](ToolStreamEvent ev) {
    out.content += ev.content;
    for (auto& c : ev.calls) out.calls.push_back(c);
    fold(ev.deltas, &r, &closed);
  };
  for (size_t i = 0; i < text.size(); i += step) take(s.feed(text.substr(i, step)));
  take(s.finish());
  EXPECT_EQ(r.calls.size(), out.calls.size()) << text;
  for (size_t i = 0; i < r.calls.size() && i < out.calls.size(); ++i) {
    EXPECT_TRUE(closed[i]) << "call " << i << " never ended";
    EXPECT_EQ(r.calls[i].name, out.calls[i].name);
    EXPECT_EQ(r.calls[i].arguments, out.calls[i].arguments) << "step " << step;
  }
  if (re) *re = std::move(r);
  return out;
}

void expect_same_when_streamed(ToolFormat f, const std::string& text, bool forced = false) {
  const ParsedToolOutput whole = parse_tool_calls(f, text, forced);
  for (size_t step : {1u, 2u, 3u, 7u}) {
    const ParsedToolOutput s = stream(f, text, step, forced);
    EXPECT_EQ(s.content, whole.content) << "step " << step << " text " << text;
    ASSERT_EQ(s.calls.size(), whole.calls.size()) << "step " << step;
    for (size_t i = 0; i < s.calls.size(); ++i) {
      EXPECT_EQ(s.calls[i].name, whole.calls[i].name);
      EXPECT_EQ(s.calls[i].arguments, whole.calls[i].arguments);
    }
  }
}

TEST(ToolParser, HermesSingleNestedUnicode) {
  const std::string text =
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Zürich 北京 😀\", \"opts\": {\"units\": [\"c\", {\"x\": null}]}}}\n</tool_call>";
  auto out = parse_tool_calls(ToolFormat::kHermes, text);
  EXPECT_EQ(out.content, "Let me check.");
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(out.calls[0].name, "get_weather");
  const json args = json::parse(out.calls[0].arguments);
  EXPECT_EQ(args["city"], "Zürich 北京 😀");
  EXPECT_EQ(args["opts"]["units"][1]["x"], nullptr);
  expect_same_when_streamed(ToolFormat::kHermes, text);
}

TEST(ToolParser, HermesSeveralCallsAndStringArguments) {
  const std::string text =
      "<tool_call>{\"name\": \"a\", \"arguments\": {\"n\": 1}}</tool_call>\n"
      "<tool_call>{\"name\": \"b\", \"arguments\": \"{\\\"s\\\": \\\"}\\\"}\"}</tool_call>";
  auto out = parse_tool_calls(ToolFormat::kHermes, text);
  EXPECT_EQ(out.content, "");
  ASSERT_EQ(out.calls.size(), 2u);
  EXPECT_EQ(out.calls[0].arguments, "{\"n\":1}");
  EXPECT_EQ(out.calls[1].name, "b");
  EXPECT_EQ(json::parse(out.calls[1].arguments)["s"], "}");
  expect_same_when_streamed(ToolFormat::kHermes, text);
}

TEST(ToolParser, MalformedAndTruncatedDegradeToContent) {
  for (const std::string& text : {
           std::string("<tool_call>{\"name\": \"a\", \"arguments\": {\"n\": </tool_call> after"),
           std::string("<tool_call>{\"arguments\": {}}</tool_call>"),  // no name
           std::string("<tool_call>{\"name\": \"a\", \"arguments\": {\"n\": 1"),  // truncated
           std::string("<tool_call>not json at all"),
           std::string("plain <tool_ca"),
           std::string("<tool_call>{\"name\": \"a\", \"arguments\": [1]}</tool_call>"),
       }) {
    auto out = parse_tool_calls(ToolFormat::kHermes, text);
    EXPECT_TRUE(out.calls.empty()) << text;
    EXPECT_EQ(out.content, text) << text;  // nothing swallowed, nothing changed
    expect_same_when_streamed(ToolFormat::kHermes, text);
  }
}

TEST(ToolParser, HermesTruncatedButCompleteBodyIsACall) {
  // A model that stops right after the JSON (no closing tag) still made a call.
  auto out = parse_tool_calls(ToolFormat::kHermes,
                              "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n");
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(out.content, "");
}

TEST(ToolParser, MarkersNeverLeakWhileStreaming) {
  const std::string text =
      "Sure <tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call> done";
  ToolCallStreamer s(ToolFormat::kHermes, false);
  std::string content;
  int calls = 0;
  for (char c : text) {
    auto ev = s.feed(std::string(1, c));
    content += ev.content;
    calls += static_cast<int>(ev.calls.size());
    EXPECT_EQ(content.find('<'), std::string::npos) << content;
  }
  auto ev = s.finish();
  content += ev.content;
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(content, "Sure done");
}

TEST(ToolParser, Llama3JsonPythonTagAndSeveral) {
  auto a = parse_tool_calls(ToolFormat::kLlama3,
                            "{\"name\": \"search\", \"parameters\": {\"q\": \"ünï\"}}");
  ASSERT_EQ(a.calls.size(), 1u);
  EXPECT_EQ(a.calls[0].name, "search");
  EXPECT_EQ(json::parse(a.calls[0].arguments)["q"], "ünï");
  auto b = parse_tool_calls(
      ToolFormat::kLlama3,
      "<|python_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": "
      "{\"x\": [1, 2]}}");
  ASSERT_EQ(b.calls.size(), 2u);
  EXPECT_EQ(b.calls[1].arguments, "{\"x\":[1,2]}");
  EXPECT_EQ(b.content, "");
  auto c = parse_tool_calls(ToolFormat::kLlama3, "Hello {not a call}");
  EXPECT_TRUE(c.calls.empty());
  EXPECT_EQ(c.content, "Hello {not a call}");
  auto d = parse_tool_calls(ToolFormat::kLlama3, "{\"name\": \"a\", \"parameters\": {\"x\": ");
  EXPECT_TRUE(d.calls.empty());
  EXPECT_EQ(d.content, "{\"name\": \"a\", \"parameters\": {\"x\": ");
  auto e = parse_tool_calls(ToolFormat::kLlama3, "<|python_tag|>brave_search.call(query=\"x\")");
  EXPECT_TRUE(e.calls.empty());
  EXPECT_EQ(e.content, "<|python_tag|>brave_search.call(query=\"x\")");
  for (const char* t : {"{\"name\": \"a\", \"parameters\": {}}", "  {\"name\": \"a\"}  ",
                        "Hello {not a call}"}) {
    expect_same_when_streamed(ToolFormat::kLlama3, t);
  }
}

TEST(ToolParser, MistralBothSyntaxes) {
  auto a = parse_tool_calls(
      ToolFormat::kMistral,
      "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {\"k\": \"v\"}}, {\"name\": \"b\", "
      "\"arguments\": {}}]");
  ASSERT_EQ(a.calls.size(), 2u);
  EXPECT_EQ(a.calls[0].arguments, "{\"k\":\"v\"}");
  auto b = parse_tool_calls(ToolFormat::kMistral,
                            "[TOOL_CALLS]get[ARGS]{\"x\": 1}[TOOL_CALLS]put[ARGS]{\"y\": 2}");
  ASSERT_EQ(b.calls.size(), 2u);
  EXPECT_EQ(b.calls[1].name, "put");
  EXPECT_EQ(b.calls[1].arguments, "{\"y\":2}");
  auto forced = parse_tool_calls(ToolFormat::kMistral, "[{\"name\": \"a\", \"arguments\": {}}]",
                                 /*forced=*/true);
  ASSERT_EQ(forced.calls.size(), 1u);
  auto bad = parse_tool_calls(ToolFormat::kMistral, "text [TOOL_CALLS][{\"name\": ");
  EXPECT_TRUE(bad.calls.empty());
  EXPECT_EQ(bad.content, "text [TOOL_CALLS][{\"name\": ");
  expect_same_when_streamed(ToolFormat::kMistral, "text [TOOL_CALLS][{\"name\": \"a\"}]");
}

TEST(ToolParser, Qwen3CoderXmlUsesParameterTypes) {
  const json tools = json::parse(R"([{"type": "function", "function": {"name": "run",
      "parameters": {"type": "object", "properties": {"cmd": {"type": "string"},
      "n": {"type": "integer"}, "flags": {"type": "array"}}}}}])");
  const std::string text =
      "<tool_call>\n<function=run>\n<parameter=cmd>\nls -la 123\n</parameter>\n<parameter=n>\n"
      "5\n</parameter>\n<parameter=flags>\n[\"a\", \"b\"]\n</parameter>\n</function>\n"
      "</tool_call>";
  auto out = parse_tool_calls(ToolFormat::kQwen3Coder, text, false, tools);
  ASSERT_EQ(out.calls.size(), 1u);
  const json args = json::parse(out.calls[0].arguments);
  EXPECT_EQ(args["cmd"], "ls -la 123");
  EXPECT_EQ(args["n"], 5);
  EXPECT_EQ(args["flags"], json::array({"a", "b"}));
  auto bad = parse_tool_calls(ToolFormat::kQwen3Coder, "<tool_call>\n<function=run>\n<parame");
  EXPECT_TRUE(bad.calls.empty());
  EXPECT_EQ(bad.content, "<tool_call>\n<function=run>\n<parame");
}

TEST(ToolParser, BareJsonObjectOrArray) {
  auto a = parse_tool_calls(ToolFormat::kJson, "[{\"name\": \"a\", \"arguments\": {}}, "
                                               "{\"name\": \"b\", \"arguments\": {\"z\": 0}}]");
  ASSERT_EQ(a.calls.size(), 2u);
  auto b = parse_tool_calls(ToolFormat::kJson, "{\"answer\": 42}");
  EXPECT_TRUE(b.calls.empty());
  EXPECT_EQ(b.content, "{\"answer\": 42}");
}

// Forced calls (tool_choice required/named) of the JSON families stream their arguments: at
// every split the fragments add up to the final arguments, which are the model's own text
// (its key order and escapes) without whitespace outside strings.
TEST(ToolParser, ForcedJsonCallsStreamArgumentFragments) {
  const std::string args = "{\"z\": 1, \"a\": \"x y\\\" }\\u00e9\", \"n\": {\"l\": [1, 2.50, null]}}";
  const std::string compact = "{\"z\":1,\"a\":\"x y\\\" }\\u00e9\",\"n\":{\"l\":[1,2.50,null]}}";
  struct Case {
    ToolFormat f;
    std::string text;
    size_t n_calls;
  };
  const std::vector<Case> cases = {
      {ToolFormat::kHermes,
       "<tool_call>\n{\"name\": \"f\", \"arguments\": " + args + "}\n</tool_call>\n<tool_call>\n"
       "{\"name\": \"g\", \"arguments\": {}}\n</tool_call>", 2},
      {ToolFormat::kLlama3,
       "{\"name\": \"f\", \"parameters\": " + args + "}; {\"name\": \"g\", \"parameters\": {}}", 2},
      {ToolFormat::kMistral,
       "[{\"name\": \"f\", \"arguments\": " + args + "}, {\"name\": \"g\", \"arguments\": {}}]", 2},
      {ToolFormat::kJson, "[{\"name\": \"f\", \"arguments\": " + args + "}]", 1},
      {ToolFormat::kJson, "{\"name\": \"f\", \"arguments\": " + args + "}", 1},
  };
  for (const Case& c : cases) {
    for (size_t step = 1; step <= c.text.size(); ++step) {
      Reassembled r;
      const ParsedToolOutput out = stream(c.f, c.text, step, /*forced=*/true, &r);
      ASSERT_EQ(out.calls.size(), c.n_calls) << tool_format_name(c.f) << " step " << step;
      EXPECT_EQ(out.content, "") << tool_format_name(c.f) << " step " << step;
      EXPECT_EQ(out.calls[0].name, "f");
      EXPECT_EQ(out.calls[0].arguments, compact) << tool_format_name(c.f) << " step " << step;
      if (c.n_calls > 1) {
        EXPECT_EQ(out.calls[1].arguments, "{}");
      }
      if (step == 1) {
        EXPECT_EQ(r.pieces[0], static_cast<int>(compact.size())) << tool_format_name(c.f);
      }
      if (step == 4) {
        EXPECT_GT(r.pieces[0], 1) << tool_format_name(c.f);
      }
    }
    const ParsedToolOutput whole = parse_tool_calls(c.f, c.text, /*forced=*/true);
    ASSERT_EQ(whole.calls.size(), c.n_calls);
    EXPECT_EQ(whole.calls[0].arguments, compact);
  }
}

// The first delta of a streamed call carries the name and no arguments yet, as soon as the
// name is complete.
TEST(ToolParser, ForcedCallBeginsWhenItsNameIsKnown) {
  ToolCallStreamer s(ToolFormat::kHermes, /*forced=*/true);
  EXPECT_TRUE(s.feed("<tool_call>\n{\"name\": \"get_wea").deltas.empty());
  ToolStreamEvent ev = s.feed("ther\", \"arguments\": {\"ci");
  ASSERT_EQ(ev.deltas.size(), 2u);
  EXPECT_TRUE(ev.deltas[0].first);
  EXPECT_EQ(ev.deltas[0].name, "get_weather");
  EXPECT_EQ(ev.deltas[0].arguments, "");
  EXPECT_EQ(ev.deltas[1].arguments, "{\"ci");
  EXPECT_TRUE(ev.calls.empty());
  ev = s.feed("ty\": \"Bern\"}}\n</tool_call>");
  ASSERT_EQ(ev.calls.size(), 1u);
  EXPECT_EQ(ev.calls[0].arguments, "{\"city\":\"Bern\"}");
  ASSERT_FALSE(ev.deltas.empty());
  EXPECT_TRUE(ev.deltas.back().last);
}

// Forced output cut off inside the arguments (max_tokens, a stop string): the call was begun,
// so it ends with the text it has, in both the streamed and the whole-text results.
TEST(ToolParser, ForcedCallCutOffEndsWithWhatItHas) {
  const std::string text = "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": \"a b";
  for (size_t step : {1u, 3u, 100u}) {
    const ParsedToolOutput out = stream(ToolFormat::kHermes, text, step, /*forced=*/true);
    ASSERT_EQ(out.calls.size(), 1u);
    EXPECT_EQ(out.calls[0].arguments, "{\"x\":\"a b");
    EXPECT_EQ(out.content, "");
  }
  EXPECT_EQ(parse_tool_calls(ToolFormat::kHermes, text, true).calls[0].arguments, "{\"x\":\"a b");
  // Cut off before the arguments began: nothing was sent, so the body degrades to content.
  const auto early = parse_tool_calls(ToolFormat::kHermes, "<tool_call>\n{\"name\": \"a\"", true);
  EXPECT_TRUE(early.calls.empty());
  EXPECT_EQ(early.content, "<tool_call>\n{\"name\": \"a\"");
}

// A forced body of another shape (arguments before the name, string arguments) cannot stream;
// it is parsed whole at its end like an auto call, and still yields the call.
TEST(ToolParser, ForcedBodyOfAnotherShapeFallsBackToOnePiece) {
  for (const std::string body : {"{\"arguments\": {\"b\": 1, \"a\": 2}, \"name\": \"f\"}",
                                 "{\"name\": \"f\", \"arguments\": \"{\\\"b\\\": 1, \\\"a\\\": 2}\"}"}) {
    const std::string text = "<tool_call>\n" + body + "\n</tool_call>";
    for (size_t step : {1u, 5u}) {
      Reassembled r;
      const ParsedToolOutput out = stream(ToolFormat::kHermes, text, step, true, &r);
      ASSERT_EQ(out.calls.size(), 1u) << body;
      EXPECT_EQ(out.calls[0].arguments, "{\"a\":2,\"b\":1}");
      EXPECT_EQ(r.pieces[0], 1) << "one piece";
    }
  }
  // Once a call of a body has streamed, what the scanner cannot follow after it is dropped.
  for (size_t step : {1u, 4u, 100u}) {
    const ParsedToolOutput out = stream(
        ToolFormat::kLlama3, "{\"name\": \"a\", \"parameters\": {\"x\": 1}}] trailing", step, true);
    ASSERT_EQ(out.calls.size(), 1u);
    EXPECT_EQ(out.calls[0].arguments, "{\"x\":1}");
    EXPECT_EQ(out.content, "");
  }
  const auto bad = parse_tool_calls(ToolFormat::kHermes, "<tool_call>oops</tool_call>", true);
  EXPECT_TRUE(bad.calls.empty());
  EXPECT_EQ(bad.content, "<tool_call>oops</tool_call>");
}

// In auto mode a body may still turn out not to be a call, so calls come in one piece when
// complete, and a body that fails sent nothing before it went out as content.
TEST(ToolParser, AutoCallsComeInOnePieceAndFailuresSendNoFragments) {
  const std::string good =
      "Sure.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"k\": [1, 2, 3]}}\n</tool_call>";
  for (size_t step : {1u, 2u, 9u}) {
    Reassembled r;
    const ParsedToolOutput out = stream(ToolFormat::kHermes, good, step, false, &r);
    ASSERT_EQ(out.calls.size(), 1u);
    EXPECT_EQ(out.calls[0].arguments, "{\"k\":[1,2,3]}");
    EXPECT_EQ(r.pieces[0], 1);
  }
  for (const std::string bad :
       {"<tool_call>\n{\"name\": \"f\", \"arguments\": {\"k\": [1, 2",
        "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"k\" 1}}\n</tool_call> after",
        "{\"name\": \"f\", \"parameters\": {\"x\": "}) {
    for (ToolFormat f : {ToolFormat::kHermes, ToolFormat::kLlama3}) {
      ToolCallStreamer s(f, /*forced=*/false);
      std::string content;
      for (size_t i = 0; i < bad.size(); ++i) {
        ToolStreamEvent ev = s.feed(bad.substr(i, 1));
        EXPECT_TRUE(ev.deltas.empty()) << bad;
        content += ev.content;
      }
      ToolStreamEvent ev = s.finish();
      EXPECT_TRUE(ev.deltas.empty()) << bad;
      EXPECT_TRUE(ev.calls.empty()) << bad;
      EXPECT_EQ(content + ev.content, bad);
    }
  }
}

// Qwen3-Coder XML is not JSON: a forced call still comes in one piece when it is complete.
TEST(ToolParser, Qwen3CoderForcedCallIsOnePiece) {
  const std::string text =
      "<tool_call>\n<function=run>\n<parameter=n>\n3\n</parameter>\n</function>\n</tool_call>";
  Reassembled r;
  const ParsedToolOutput out = stream(ToolFormat::kQwen3Coder, text, 1, true, &r);
  ASSERT_EQ(out.calls.size(), 1u);
  EXPECT_EQ(out.calls[0].arguments, "{\"n\":3}");
  EXPECT_EQ(r.pieces[0], 1);
}

TEST(ToolParser, DetectsFamilyFromTemplate) {
  EXPECT_EQ(detect_tool_format("{% for t in tools %}<tool_call>{{ t }}</tool_call>{% endfor %}"),
            ToolFormat::kHermes);
  EXPECT_EQ(detect_tool_format("<tool_call>\n<function=x>\n<parameter=y>"),
            ToolFormat::kQwen3Coder);
  EXPECT_EQ(detect_tool_format("[AVAILABLE_TOOLS]{{ tools }}[TOOL_CALLS]"), ToolFormat::kMistral);
  EXPECT_EQ(detect_tool_format("<|start_header_id|>{% if tools %}<|python_tag|>"),
            ToolFormat::kLlama3);
  EXPECT_EQ(detect_tool_format("{% if tools %}{{ tools | tojson }}{% endif %}"), ToolFormat::kJson);
  EXPECT_EQ(detect_tool_format("{{ messages }}"), ToolFormat::kNone);
  EXPECT_EQ(parse_tool_format("qwen3_coder"), ToolFormat::kQwen3Coder);
  EXPECT_FALSE(parse_tool_format("nope").has_value());
}

ReasoningDelta split_all(const std::string& text, size_t step, bool starts_in = false) {
  ReasoningSplitter s(starts_in);
  ReasoningDelta all;
  for (size_t i = 0; i < text.size(); i += step) {
    auto d = s.feed(text.substr(i, step));
    EXPECT_EQ(d.reasoning.find("think>"), std::string::npos) << d.reasoning;
    EXPECT_EQ(d.content.find("think>"), std::string::npos) << d.content;
    all.reasoning += d.reasoning;
    all.content += d.content;
  }
  auto d = s.finish();
  all.reasoning += d.reasoning;
  all.content += d.content;
  return all;
}

TEST(Reasoning, SplitsThinkBlockAtEveryChunking) {
  const std::string text = "<think>\nx < y, so 2 > 1\n</think>\n\nThe answer is 4.";
  for (size_t step : {1u, 2u, 5u, 100u}) {
    const auto d = split_all(text, step);
    EXPECT_EQ(d.reasoning, "\nx < y, so 2 > 1\n") << step;
    EXPECT_EQ(d.content, "The answer is 4.") << step;
  }
}

TEST(Reasoning, StartsInsideWhenThePromptOpenedIt) {
  const auto d = split_all("plan</think>done", 3, /*starts_in=*/true);
  EXPECT_EQ(d.reasoning, "plan");
  EXPECT_EQ(d.content, "done");
  EXPECT_TRUE(prompt_opens_reasoning("<|im_start|>assistant\n<think>\n"));
  EXPECT_FALSE(prompt_opens_reasoning("<think>\n\n</think>\n\n"));
  EXPECT_FALSE(prompt_opens_reasoning("hello"));
}

TEST(Reasoning, NoThinkBlockIsAllContentAndUnclosedIsAllReasoning) {
  const auto a = split_all("just <thin text", 1);
  EXPECT_EQ(a.content, "just <thin text");
  EXPECT_EQ(a.reasoning, "");
  const auto b = split_all("<think>never closed", 2);
  EXPECT_EQ(b.reasoning, "never closed");
  EXPECT_EQ(b.content, "");
  const auto c = split_all("<think>a</think>b<think>c</think>", 1);
  EXPECT_EQ(c.reasoning, "a");
  EXPECT_EQ(c.content, "b<think>c</think>");
}

}  // namespace
}  // namespace mlxm::api
