#include "api/schema/openai_response.h"

#include <gtest/gtest.h>

#include "api/schema/api_error.h"

namespace mlxm::api {
namespace {

using nlohmann::json;

TEST(OpenAiResponseTest, ChunkShapes) {
  json first = json::parse(chat_chunk_json("chatcmpl-x", 7, "m", 0,
                                           {{"role", "assistant"}, {"content", ""}}, "",
                                           nullptr, false));
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  EXPECT_FALSE(first.contains("usage"));
  json last = json::parse(chat_chunk_json("chatcmpl-x", 7, "m", 0, json::object(), "stop",
                                          nullptr, true));
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(last["usage"].is_null());
  json usage = json::parse(chat_usage_chunk_json("chatcmpl-x", 7, "m", {9, 12, 4}));
  EXPECT_TRUE(usage["choices"].is_array() && usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["total_tokens"], 21);
  EXPECT_EQ(usage["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
}

TEST(OpenAiResponseTest, CompletionWithLogprobs) {
  ChoiceResult c;
  c.text = "ab";
  c.finish_reason = "length";
  c.logprobs = std::vector<TokenLogprobEntry>{{"a", -0.5f, {{"a", -0.5f, {}}, {"b", -1.0f, {}}}},
                                              {"b", -0.25f, {}}};
  json j = json::parse(chat_completion_json("chatcmpl-1", 1, "m", {c}, {3, 2, 0}));
  EXPECT_EQ(j["choices"][0]["message"]["content"], "ab");
  EXPECT_EQ(j["choices"][0]["logprobs"]["content"][0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(j["choices"][0]["logprobs"]["content"][0]["bytes"], json::array({97}));
  json t = json::parse(text_completion_json("cmpl-1", 1, "m", {c}, {3, 2, 0}));
  EXPECT_EQ(t["choices"][0]["logprobs"]["text_offset"], json::array({0, 1}));
}

TEST(OpenAiResponseTest, InvalidUtf8IsReplacedNotThrown) {
  ChoiceResult c;
  c.text = "ok\xe2\x82";
  c.finish_reason = "length";
  EXPECT_NO_THROW(json::parse(chat_completion_json("id", 1, "m", {c}, {})));
}

TEST(ApiErrorTest, StatusMapping) {
  EXPECT_EQ(api_error_from_status(out_of_range("too long")).code, "context_length_exceeded");
  EXPECT_EQ(api_error_from_status(resource_exhausted("busy")).http_status, 503);
  EXPECT_EQ(api_error_from_status(deadline_exceeded("slow")).http_status, 408);
  EXPECT_EQ(api_error_from_status(not_found("model")).http_status, 404);
  json body = json::parse(openai_error_body(ApiError::invalid("temperature", "bad")));
  EXPECT_EQ(body["error"]["param"], "temperature");
  EXPECT_TRUE(body["error"]["code"].is_null());
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
}

}  // namespace
}  // namespace mlxm::api
