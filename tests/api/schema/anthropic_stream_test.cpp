// Anthropic streaming event shapes and the stream translation in both directions.
#include "api/schema/anthropic_stream.h"

#include <gtest/gtest.h>

namespace mlxm::api {
namespace {

std::vector<std::string> names(const std::vector<AnthropicEvent>& evs) {
  std::vector<std::string> out;
  for (const auto& e : evs) {
    EXPECT_EQ(e.data["type"], e.event);  // the event name always equals data.type
    out.push_back(e.event);
  }
  return out;
}

TEST(AnthropicStreamTest, EventShapes) {
  EXPECT_EQ(
      message_start_event("msg_1", "m", 25).data.dump(),
      R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":0}}})");
  EXPECT_EQ(
      text_block_start_event(0).data.dump(),
      R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})");
  EXPECT_EQ(ping_event().data.dump(), R"({"type":"ping"})");
  EXPECT_EQ(
      text_delta_event(0, "Hi").data.dump(),
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})");
  EXPECT_EQ(
      input_json_delta_event(1, "{\"a").data.dump(),
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a"}})");
  EXPECT_EQ(content_block_stop_event(0).data.dump(), R"({"type":"content_block_stop","index":0})");
  EXPECT_EQ(
      message_delta_event("stop_sequence", "END", 15).data.dump(),
      R"({"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},"usage":{"output_tokens":15}})");
  EXPECT_EQ(
      message_delta_event("end_turn", "", 3).data.dump(),
      R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3}})");
  EXPECT_EQ(message_stop_event().data.dump(), R"({"type":"message_stop"})");
  EXPECT_EQ(error_event("overloaded_error", "busy").data.dump(),
            R"({"type":"error","error":{"type":"overloaded_error","message":"busy"}})");
  const std::string id = make_message_id();
  EXPECT_EQ(id.size(), 28u);
  EXPECT_EQ(id.rfind("msg_", 0), 0u);
  EXPECT_NE(id, make_message_id());
}

ojson chunk(ojson delta, ojson finish = nullptr) {
  return {{"id", "c"},
          {"object", "chat.completion.chunk"},
          {"choices", ojson::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}})}};
}

TEST(AnthropicStreamTest, OpenAiChunksToAnthropicEvents) {
  OpenAiToAnthropicStream s("msg_x", "m", 12);
  std::vector<AnthropicEvent> all;
  auto add = [&](std::vector<AnthropicEvent> evs) {
    for (auto& e : evs) all.push_back(std::move(e));
  };
  add(s.on_chunk(chunk({{"role", "assistant"}, {"content", ""}})));
  add(s.on_chunk(chunk({{"content", "Hel"}})));
  add(s.on_chunk(chunk({{"content", "lo"}})));
  add(s.on_chunk(chunk(
      {{"tool_calls",
        ojson::parse(
            R"([{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}])")}})));
  add(s.on_chunk(chunk(
      {{"tool_calls", ojson::parse(R"([{"index":0,"function":{"arguments":"{\"q\":"}}])")}})));
  add(s.on_chunk(
      chunk({{"tool_calls", ojson::parse(R"([{"index":0,"function":{"arguments":"1}"}}])")}})));
  add(s.on_chunk(chunk(ojson::object(), "tool_calls")));
  add(s.on_chunk(
      ojson::parse(R"({"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":9}})")));
  add(s.finish());
  EXPECT_TRUE(s.finish().empty());
  EXPECT_EQ(names(all), (std::vector<std::string>{
                            "message_start", "ping", "content_block_start", "content_block_delta",
                            "content_block_delta", "content_block_stop", "content_block_start",
                            "content_block_delta", "content_block_delta", "content_block_stop",
                            "message_delta", "message_stop"}));
  EXPECT_EQ(all[0].data["message"]["usage"]["input_tokens"], 12);
  EXPECT_EQ(all[3].data["delta"]["text"], "Hel");
  EXPECT_EQ(
      all[6].data.dump(),
      R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_1","name":"f","input":{}}})");
  EXPECT_EQ(all[7].data["delta"]["partial_json"], "{\"q\":");
  EXPECT_EQ(all[8].data["index"], 1);
  EXPECT_EQ(
      all[10].data.dump(),
      R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":12,"output_tokens":9}})");
}

TEST(AnthropicStreamTest, OpenAiErrorChunkAndEmptyStream) {
  OpenAiToAnthropicStream s("msg_y", "m");
  auto evs = s.on_chunk(ojson::parse(R"({"error":{"message":"boom","code":503}})"));
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data.dump(),
            R"({"type":"error","error":{"type":"overloaded_error","message":"boom"}})");
  EXPECT_TRUE(s.finish().empty());
  OpenAiToAnthropicStream empty("msg_z", "m");
  EXPECT_EQ(names(empty.finish()),
            (std::vector<std::string>{"message_start", "ping", "message_delta", "message_stop"}));
}

TEST(AnthropicStreamTest, AnthropicEventsToOpenAiChunks) {
  AnthropicToOpenAiStream s(1700000000, /*include_usage=*/true);
  std::vector<ojson> all;
  for (
      const char* e :
      {R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"c","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"output_tokens":1}}})",
       R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})",
       R"({"type":"ping"})",
       R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})",
       R"({"type":"content_block_stop","index":0})",
       R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}})",
       R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":1}"}})",
       R"({"type":"content_block_stop","index":1})",
       R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":11}})",
       R"({"type":"message_stop"})"}) {
    EXPECT_FALSE(s.done());
    for (auto& c : s.on_event(ojson::parse(e))) all.push_back(std::move(c));
  }
  EXPECT_TRUE(s.done());
  ASSERT_EQ(all.size(), 6u);
  EXPECT_EQ(
      all[0].dump(),
      R"({"id":"msg_1","object":"chat.completion.chunk","created":1700000000,"model":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null})");
  EXPECT_EQ(all[1]["choices"][0]["delta"].dump(), R"({"content":"Hi"})");
  EXPECT_EQ(
      all[2]["choices"][0]["delta"].dump(),
      R"({"tool_calls":[{"index":0,"id":"toolu_1","type":"function","function":{"name":"f","arguments":""}}]})");
  EXPECT_EQ(all[3]["choices"][0]["delta"].dump(),
            R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]})");
  EXPECT_EQ(all[4]["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(all[5]["choices"].size(), 0u);
  EXPECT_EQ(
      all[5]["usage"].dump(),
      R"({"prompt_tokens":20,"completion_tokens":11,"total_tokens":31,"prompt_tokens_details":{"cached_tokens":0}})");
}

TEST(AnthropicStreamTest, AnthropicErrorEventAndGarbage) {
  AnthropicToOpenAiStream s(0, false);
  EXPECT_TRUE(s.on_event(ojson("garbage")).empty());
  EXPECT_TRUE(s.on_event(ojson::parse(R"({"type":"content_block_delta","delta":5})")).empty());
  auto out = s.on_event(ojson::parse(
      R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(
      out[0].dump(),
      R"({"error":{"message":"Overloaded","type":"overloaded_error","param":null,"code":null}})");
  EXPECT_TRUE(s.done());
}

}  // namespace
}  // namespace mlxm::api

namespace mlxm::api {
namespace {

TEST(AnthropicStreamTest, MalformedChunksAndEventsNeverThrow) {
  const char* inputs[] = {
      R"(null)",
      R"(5)",
      R"({"choices": 3})",
      R"({"choices": [null, 4]})",
      R"({"choices": [{"delta": {"content": 5, "tool_calls": [null, {"index": "x", "function": 3}]}}]})",
      R"({"choices": [{"index": 0, "delta": {"tool_calls": 3}, "finish_reason": 7}]})",
      R"({"usage": {"completion_tokens": "x"}, "error": 3})",
      R"({"error": {"code": "x"}})",
      R"({"type": "message_start", "message": 5})",
      R"({"type": "message_start", "message": {"usage": 3}})",
      R"({"type": "content_block_start", "content_block": {"type": "tool_use", "id": 3}})",
      R"({"type": "content_block_delta", "index": "0", "delta": {"type": "input_json_delta"}})",
      R"({"type": "message_delta", "delta": 3, "usage": {"output_tokens": "x"}})",
      R"({"type": "error", "error": 3})",
      R"({"type": 5})",
  };
  for (const char* text : inputs) {
    const ojson j = ojson::parse(text);
    EXPECT_NO_THROW({
      OpenAiToAnthropicStream a("msg", "m");
      (void)a.on_chunk(j);
      (void)a.finish();
      AnthropicToOpenAiStream b(0, true);
      (void)b.on_event(j);
      (void)b.on_event(ojson::parse(R"({"type": "message_stop"})"));
    }) << text;
  }
}

}  // namespace
}  // namespace mlxm::api
