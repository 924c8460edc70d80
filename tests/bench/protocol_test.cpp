// Request bodies and reading answers of the OpenAI and Anthropic APIs.
#include "bench/protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace mlxm::bench {
namespace {

using nlohmann::json;

TEST(Protocol, ParseApi) {
  EXPECT_EQ(*parse_api("openai"), Api::kOpenAiChat);
  EXPECT_EQ(*parse_api("openai-completions"), Api::kOpenAiCompletions);
  EXPECT_EQ(*parse_api("anthropic"), Api::kAnthropic);
  EXPECT_FALSE(parse_api("ollama").ok());
}

TEST(Protocol, OpenAiStreamingBodyAsksForUsage) {
  RequestSpec s{"m", "hello", 64, true, true, std::nullopt, std::nullopt, false, std::nullopt};
  json b = json::parse(request_body(Api::kOpenAiChat, s));
  EXPECT_EQ(b["model"], "m");
  EXPECT_EQ(b["max_tokens"], 64);
  EXPECT_EQ(b["stream"], true);
  EXPECT_EQ(b["stream_options"]["include_usage"], true);
  EXPECT_EQ(b["ignore_eos"], true);
  EXPECT_EQ(b["messages"][0]["content"], "hello");
  s.stream = false;
  s.ignore_eos = false;
  b = json::parse(request_body(Api::kOpenAiCompletions, s));
  EXPECT_FALSE(b.contains("stream_options"));
  EXPECT_FALSE(b.contains("ignore_eos"));
  EXPECT_EQ(b["prompt"], "hello");
}

TEST(Protocol, TopLogprobsInEachOpenAiShape) {
  RequestSpec s{"m", "hello", 8, true, true, std::nullopt, 3, false, std::nullopt};
  json b = json::parse(request_body(Api::kOpenAiChat, s));
  EXPECT_EQ(b["logprobs"], true);
  EXPECT_EQ(b["top_logprobs"], 3);
  b = json::parse(request_body(Api::kOpenAiCompletions, s));
  EXPECT_EQ(b["logprobs"], 3);
  EXPECT_FALSE(b.contains("top_logprobs"));
  s.top_logprobs.reset();
  b = json::parse(request_body(Api::kOpenAiChat, s));
  EXPECT_FALSE(b.contains("logprobs"));
  EXPECT_FALSE(b.contains("response_format"));
  s.json_output = true;
  s.frequency_penalty = 0.5;
  b = json::parse(request_body(Api::kOpenAiCompletions, s));
  EXPECT_EQ(b["response_format"]["type"], "json_object");
  EXPECT_EQ(b["frequency_penalty"], 0.5);
}

TEST(Protocol, AnthropicBodyAndHeaders) {
  RequestSpec s{"claude", "hi", 10, true, true, std::nullopt, std::nullopt, false, std::nullopt};
  json b = json::parse(request_body(Api::kAnthropic, s));
  EXPECT_FALSE(b.contains("ignore_eos"));
  EXPECT_FALSE(b.contains("stream_options"));
  EXPECT_EQ(b["messages"][0]["role"], "user");
  Headers h = request_headers(Api::kAnthropic, "k");
  EXPECT_NE(
      std::find(h.begin(), h.end(), std::make_pair(std::string("x-api-key"), std::string("k"))),
      h.end());
  Headers o = request_headers(Api::kOpenAiChat, "k");
  EXPECT_NE(std::find(o.begin(), o.end(),
                      std::make_pair(std::string("Authorization"), std::string("Bearer k"))),
            o.end());
}

ReplyInfo oai(const std::string& data) {
  return read_stream_event(Api::kOpenAiChat, SseEvent{"", data});
}

TEST(Protocol, OpenAiChunks) {
  // The role-only first chunk is not a token: TTFT must not start there.
  EXPECT_FALSE(
      oai(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})").content);
  EXPECT_TRUE(oai(R"({"choices":[{"index":0,"delta":{"content":"Hi"}}]})").content);
  EXPECT_TRUE(oai(R"({"choices":[{"index":0,"text":"Hi"}]})").content);
  EXPECT_FALSE(oai(R"({"choices":[{"index":0,"delta":{},"finish_reason":"length"}]})").content);
  ReplyInfo u = oai(
      R"({"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46}})");
  EXPECT_FALSE(u.content);
  EXPECT_EQ(u.prompt_tokens, 12);
  EXPECT_EQ(u.completion_tokens, 34);
  EXPECT_FALSE(oai(R"({"choices":[{"delta":{"content":"x"}}],"usage":null})").completion_tokens);
  EXPECT_TRUE(oai("[DONE]").end);
  EXPECT_EQ(oai(R"({"error":{"message":"timed out","type":"timeout"}})").error,
            "timeout: timed out");
  EXPECT_NE(oai("{not json").error.find("malformed"), std::string::npos);
}

TEST(Protocol, AnthropicEvents) {
  auto ev = [](const char* e, const char* d) {
    return read_stream_event(Api::kAnthropic, SseEvent{e, d});
  };
  ReplyInfo start =
      ev("message_start",
         R"({"type":"message_start","message":{"usage":{"input_tokens":9,"output_tokens":1}}})");
  EXPECT_EQ(start.prompt_tokens, 9);
  EXPECT_FALSE(start.completion_tokens);
  EXPECT_TRUE(ev("content_block_delta",
                 R"({"type":"content_block_delta","delta":{"type":"text_delta","text":"a"}})")
                  .content);
  EXPECT_FALSE(ev("ping", R"({"type":"ping"})").content);
  EXPECT_EQ(ev("message_delta", R"({"type":"message_delta","usage":{"output_tokens":7}})")
                .completion_tokens,
            7);
  EXPECT_TRUE(ev("message_stop", R"({"type":"message_stop"})").end);
  EXPECT_EQ(
      ev("error", R"({"type":"error","error":{"type":"overloaded_error","message":"busy"}})").error,
      "overloaded_error: busy");
}

TEST(Protocol, WholeBodies) {
  ReplyInfo r = read_body(
      Api::kOpenAiChat,
      R"({"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":3,"completion_tokens":4}})");
  EXPECT_TRUE(r.error.empty());
  EXPECT_EQ(r.prompt_tokens, 3);
  EXPECT_EQ(r.completion_tokens, 4);
  ReplyInfo a = read_body(
      Api::kAnthropic,
      R"({"content":[{"type":"text","text":"x"}],"usage":{"input_tokens":5,"output_tokens":6}})");
  EXPECT_EQ(a.prompt_tokens, 5);
  EXPECT_EQ(a.completion_tokens, 6);
  EXPECT_FALSE(read_body(Api::kOpenAiChat, "<html>").error.empty());
}

TEST(Protocol, HttpErrorReason) {
  EXPECT_EQ(
      http_error_reason(
          404,
          R"({"error":{"message":"The model 'x' does not exist","type":"invalid_request_error"}})"),
      "HTTP 404: invalid_request_error: The model 'x' does not exist");
  EXPECT_EQ(http_error_reason(502, "bad gateway\n"), "HTTP 502: bad gateway");
  EXPECT_EQ(http_error_reason(500, ""), "HTTP 500");
}

}  // namespace
}  // namespace mlxm::bench
