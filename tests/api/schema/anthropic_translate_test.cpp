// OpenAI chat <-> Anthropic messages translation: requests (system, multi-turn, tools, tool
// calls and results, stop sequences) and responses (content, tool calls, usage, stop reasons).
#include "api/schema/anthropic_translate.h"

#include <gtest/gtest.h>

namespace mlxm::api {
namespace {

ojson ok(Parsed<ojson> p) {
  if (auto* e = std::get_if<ApiError>(&p)) {
    ADD_FAILURE() << e->param << ": " << e->message;
    return nullptr;
  }
  return std::get<ojson>(std::move(p));
}

// A conversation with a system prompt, a tool call and its result, in Anthropic form.
ojson anthropic_tool_conversation() {
  return ojson::parse(R"({
    "model": "claude-x", "max_tokens": 100, "temperature": 0.2, "top_p": 0.9, "top_k": 5,
    "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use tools."}],
    "stop_sequences": ["END"], "stream": true, "metadata": {"user_id": "u1"},
    "tools": [{"name": "get_weather", "description": "Weather by city",
               "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
    "messages": [
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "hmm", "signature": "s"},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris", "unit": "C"}}]},
      {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18C"}]},
        {"type": "text", "text": "Thanks"}]}
    ]})");
}

TEST(AnthropicTranslateTest, AnthropicRequestToOpenAi) {
  ojson o = ok(anthropic_to_openai_chat(anthropic_tool_conversation()));
  const ojson expected = ojson::parse(R"({
    "model": "claude-x",
    "messages": [
      {"role": "system", "content": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use tools."}]},
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": "toolu_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"unit\":\"C\"}"}}]},
      {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
      {"role": "user", "content": "Thanks"}
    ],
    "max_tokens": 100, "temperature": 0.2, "top_p": 0.9, "top_k": 5,
    "stop": ["END"], "stream": true, "stream_options": {"include_usage": true},
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
    "tool_choice": "auto", "parallel_tool_calls": false, "user": "u1"})");
  EXPECT_EQ(o.dump(1), expected.dump(1));
}

TEST(AnthropicTranslateTest, ToolChoiceVariantsAndImages) {
  auto with = [](ojson extra) {
    ojson b = {{"max_tokens", 5}, {"messages", {{{"role", "user"}, {"content", "x"}}}}};
    for (auto it = extra.begin(); it != extra.end(); ++it) b[it.key()] = it.value();
    return b;
  };
  EXPECT_EQ(ok(anthropic_to_openai_chat(with({{"tool_choice", {{"type", "any"}}}})))["tool_choice"],
            "required");
  EXPECT_EQ(
      ok(anthropic_to_openai_chat(with({{"tool_choice", {{"type", "none"}}}})))["tool_choice"],
      "none");
  EXPECT_EQ(ok(anthropic_to_openai_chat(
                with({{"tool_choice", {{"type", "tool"}, {"name", "f"}}}})))["tool_choice"]
                .dump(),
            R"({"type":"function","function":{"name":"f"}})");
  ojson img = with({{"messages", ojson::parse(R"([{"role":"user","content":[
      {"type":"image","source":{"type":"base64","media_type":"image/png","data":"QUJD"}},
      {"type":"text","text":"What is this?"}]}])")}});
  auto rejected = anthropic_to_openai_chat(img);
  ASSERT_TRUE(std::holds_alternative<ApiError>(rejected));
  EXPECT_EQ(std::get<ApiError>(rejected).param, "messages[0].content[0]");
  ojson allowed = ok(anthropic_to_openai_chat(img, {.allow_images = true}));
  EXPECT_EQ(
      allowed["messages"][0]["content"].dump(),
      R"([{"type":"image_url","image_url":{"url":"data:image/png;base64,QUJD"}},{"type":"text","text":"What is this?"}])");
  // An assistant turn with only a tool call has null content; a user turn of only tool results
  // produces no empty user message.
  ojson calls = with({{"messages", ojson::parse(R"([{"role":"user","content":"go"},
      {"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]},
      {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"done","is_error":false}]}])")}});
  ojson c = ok(anthropic_to_openai_chat(calls));
  ASSERT_EQ(c["messages"].size(), 3u);
  EXPECT_TRUE(c["messages"][1]["content"].is_null());
  EXPECT_EQ(c["messages"][1]["tool_calls"][0]["function"]["arguments"], "{}");
  EXPECT_EQ(c["messages"][2].dump(), R"({"role":"tool","tool_call_id":"t","content":"done"})");
}

TEST(AnthropicTranslateTest, OpenAiRequestToAnthropic) {
  ojson openai = ojson::parse(R"({
    "model": "gpt-x", "max_completion_tokens": 50, "temperature": 1.7, "top_p": 0.5,
    "stop": "STOP", "stream": true, "user": "u2", "parallel_tool_calls": false,
    "tools": [{"type": "function", "function": {"name": "f", "description": "d",
               "parameters": {"type": "object"}}}],
    "tool_choice": {"type": "function", "function": {"name": "f"}},
    "messages": [
      {"role": "system", "content": "Sys one."},
      {"role": "developer", "content": [{"type": "text", "text": "Sys two."}]},
      {"role": "user", "content": [{"type": "text", "text": "look"},
                                   {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAA"}}]},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "r1"},
      {"role": "user", "content": "more"}
    ]})");
  ojson a = ok(openai_chat_to_anthropic(openai));
  const ojson expected = ojson::parse(R"({
    "model": "gpt-x", "max_tokens": 50, "system": "Sys one.\n\nSys two.",
    "messages": [
      {"role": "user", "content": [{"type": "text", "text": "look"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAA"}}]},
      {"role": "assistant", "content": [{"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1", "content": "r1"},
                                   {"type": "text", "text": "more"}]}
    ],
    "temperature": 1.0, "top_p": 0.5, "stop_sequences": ["STOP"], "stream": true,
    "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": true},
    "metadata": {"user_id": "u2"}})");
  EXPECT_EQ(a.dump(1), expected.dump(1));

  ojson minimal = {{"messages", {{{"role", "user"}, {"content", "x"}}}}};
  EXPECT_EQ(ok(openai_chat_to_anthropic(minimal, {.default_max_tokens = 77}))["max_tokens"], 77);
  auto bad_args =
      openai_chat_to_anthropic(ojson::parse(R"({"messages":[{"role":"assistant","tool_calls":[
      {"id":"c","type":"function","function":{"name":"f","arguments":"{not json"}}]}]})"));
  ASSERT_TRUE(std::holds_alternative<ApiError>(bad_args));
  EXPECT_EQ(std::get<ApiError>(bad_args).param, "messages[0].tool_calls[0].function.arguments");
  auto n2 = openai_chat_to_anthropic(
      ojson{{"n", 2}, {"messages", {{{"role", "user"}, {"content", "x"}}}}});
  ASSERT_TRUE(std::holds_alternative<ApiError>(n2));
  EXPECT_EQ(std::get<ApiError>(n2).param, "n");
}

TEST(AnthropicTranslateTest, RoundTripKeepsTheConversation) {
  ojson a = anthropic_tool_conversation();
  ojson back = ok(openai_chat_to_anthropic(ok(anthropic_to_openai_chat(a))));
  EXPECT_EQ(back["system"], "Be brief.\nUse tools.");
  EXPECT_EQ(
      back["messages"][1]["content"][1].dump(),
      R"({"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris","unit":"C"}})");
  EXPECT_EQ(back["messages"][2]["content"][0]["type"], "tool_result");
  EXPECT_EQ(back["messages"][2]["content"][1]["text"], "Thanks");
  EXPECT_EQ(back["tools"][0]["input_schema"], a["tools"][0]["input_schema"]);
  EXPECT_EQ(back["tool_choice"].dump(), R"({"type":"auto","disable_parallel_tool_use":true})");
  EXPECT_EQ(back["stop_sequences"], a["stop_sequences"]);
  EXPECT_EQ(back["max_tokens"], 100);
}

TEST(AnthropicTranslateTest, ResponsesBothWays) {
  ojson msg = ojson::parse(R"({"id": "msg_1", "type": "message", "role": "assistant", "model": "c",
    "content": [{"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {"q": "x"}}],
    "stop_reason": "tool_use", "stop_sequence": null,
    "usage": {"input_tokens": 10, "cache_read_input_tokens": 4, "output_tokens": 7}})");
  ojson o = ok(anthropic_message_to_openai_chat(msg, 1700000000));
  EXPECT_EQ(
      o.dump(),
      R"({"id":"msg_1","object":"chat.completion","created":1700000000,"model":"c","choices":[{"index":0,"message":{"role":"assistant","content":"Let me check.","tool_calls":[{"id":"toolu_9","type":"function","function":{"name":"f","arguments":"{\"q\":\"x\"}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":14,"completion_tokens":7,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":4}}})");
  ojson back = ok(openai_chat_to_anthropic_message(o));
  EXPECT_EQ(
      back.dump(),
      R"({"id":"msg_1","type":"message","role":"assistant","model":"c","content":[{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_9","name":"f","input":{"q":"x"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":14,"output_tokens":7}})");
  // Malformed upstream bodies are errors, not crashes.
  EXPECT_TRUE(std::holds_alternative<ApiError>(anthropic_message_to_openai_chat(ojson("x"), 0)));
  EXPECT_TRUE(
      std::holds_alternative<ApiError>(openai_chat_to_anthropic_message(ojson{{"choices", 3}})));
  ojson odd = ok(anthropic_message_to_openai_chat(
      ojson::parse(R"({"content":[{"type":"text","text":5}],"usage":{"input_tokens":"x"}})"), 0));
  EXPECT_EQ(odd["usage"]["prompt_tokens"], 0);
}

TEST(AnthropicTranslateTest, StopReasonMapping) {
  EXPECT_EQ(openai_finish_to_anthropic_stop("stop"), "end_turn");
  EXPECT_EQ(openai_finish_to_anthropic_stop("length"), "max_tokens");
  EXPECT_EQ(openai_finish_to_anthropic_stop("tool_calls"), "tool_use");
  EXPECT_EQ(openai_finish_to_anthropic_stop("content_filter"), "refusal");
  EXPECT_EQ(anthropic_stop_to_openai_finish("end_turn"), "stop");
  EXPECT_EQ(anthropic_stop_to_openai_finish("stop_sequence"), "stop");
  EXPECT_EQ(anthropic_stop_to_openai_finish("max_tokens"), "length");
  EXPECT_EQ(anthropic_stop_to_openai_finish("tool_use"), "tool_calls");
  EXPECT_EQ(anthropic_stop_to_openai_finish("refusal"), "content_filter");
}

}  // namespace
}  // namespace mlxm::api

namespace mlxm::api {
namespace {

// Hostile or malformed bodies give an ApiError (or a result), never an exception or a crash.
TEST(AnthropicTranslateTest, MalformedInputNeverThrows) {
  const char* bodies[] = {
      R"(null)",
      R"([])",
      R"("x")",
      R"({})",
      R"({"messages": {}})",
      R"({"messages": [1]})",
      R"({"messages": [{"role": 1}]})",
      R"({"messages": [{"role": "user", "content": 5}]})",
      R"({"messages": [{"role": "user", "content": [5]}]})",
      R"({"messages": [{"role": "user", "content": [{"type": 5}]}]})",
      R"({"messages": [{"role": "user", "content": [{"type": "image"}]}]})",
      R"({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url"}}]}]})",
      R"({"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": 7}]}]})",
      R"({"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "image"}]}]}]})",
      R"({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": 3}]}]})",
      R"({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": 5}}]}]})",
      R"({"messages": [{"role": "assistant", "tool_calls": [null]}]})",
      R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}]})",
      R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:x;base64"}}]}]})",
      R"({"messages": [{"role": "user", "content": "x"}], "system": [{"type": "text", "text": 1}]})",
      R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"name": "f", "input_schema": {}, "description": 4}]})",
      R"({"messages": [{"role": "user", "content": "x"}], "tools": [null], "tool_choice": "auto"})",
      R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "function"}})",
      R"({"messages": [{"role": "user", "content": "x"}], "stop": 4, "stop_sequences": [1], "n": "2"})",
      R"({"messages": [{"role": "user", "content": "x"}], "metadata": {"user_id": []}, "max_tokens": "9"})",
      R"({"content": 1, "choices": [{"message": 1}], "usage": []})",
      R"({"content": [1, {"type": "tool_use", "input": 2}], "usage": {"output_tokens": -1}})",
      R"({"choices": [{"message": {"content": 1, "tool_calls": [1, {"function": 2}, {"function": {"arguments": 3}}]}}]})",
  };
  for (const char* text : bodies) {
    const ojson b = ojson::parse(text);
    EXPECT_NO_THROW({
      (void)anthropic_to_openai_chat(b);
      (void)anthropic_to_openai_chat(b, {.allow_images = true});
      (void)openai_chat_to_anthropic(b);
      (void)anthropic_message_to_openai_chat(b, 0);
      (void)openai_chat_to_anthropic_message(b);
    }) << text;
  }
}

}  // namespace
}  // namespace mlxm::api
