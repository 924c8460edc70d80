#include "api/schema/openai_request.h"

#include <gtest/gtest.h>

namespace mlxm::api {
namespace {

using nlohmann::json;

template <typename T>
const ApiError& error_of(const Parsed<T>& p) {
  EXPECT_TRUE(std::holds_alternative<ApiError>(p));
  return std::get<ApiError>(p);
}

TEST(OpenAiRequestTest, MinimalChat) {
  auto p = parse_chat_completion_request(json::parse(R"({"messages":[{"role":"user","content":"hi"}]})"));
  ASSERT_TRUE(std::holds_alternative<ChatCompletionRequest>(p));
  const auto& r = std::get<ChatCompletionRequest>(p);
  EXPECT_EQ(r.gen.model, "");
  EXPECT_EQ(r.gen.n, 1);
  EXPECT_FALSE(r.gen.stream);
  EXPECT_EQ(r.messages[0]["content"], "hi");
}

TEST(OpenAiRequestTest, AllSamplingFields) {
  auto p = parse_chat_completion_request(json::parse(R"({
    "model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}],
    "max_completion_tokens":7,"temperature":0.5,"top_p":0.9,"top_k":40,"min_p":0.05,
    "presence_penalty":0.1,"frequency_penalty":-0.2,"repetition_penalty":1.1,"seed":42,"n":3,
    "stop":["a","b"],"logit_bias":{"12":-100,"7":5.5},"logprobs":true,"top_logprobs":3,
    "stream":true,"stream_options":{"include_usage":true},"user":"x","unknown_field":{"a":1}})"));
  ASSERT_TRUE(std::holds_alternative<ChatCompletionRequest>(p));
  const auto& g = std::get<ChatCompletionRequest>(p).gen;
  EXPECT_EQ(g.max_tokens, 7);
  EXPECT_FLOAT_EQ(g.sampling.temperature, 0.5f);
  EXPECT_EQ(g.sampling.top_k, 40);
  EXPECT_EQ(g.sampling.seed, 42u);
  EXPECT_EQ(g.n, 3);
  EXPECT_EQ(g.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(g.sampling.logit_bias.size(), 2u);
  EXPECT_EQ(g.sampling.top_logprobs, 3);
  EXPECT_TRUE(g.include_usage);
}

TEST(OpenAiRequestTest, ContentPartsFlattenAndImagesRejected) {
  auto p = parse_chat_completion_request(json::parse(
      R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]})"));
  ASSERT_TRUE(std::holds_alternative<ChatCompletionRequest>(p));
  EXPECT_EQ(std::get<ChatCompletionRequest>(p).messages[0]["content"], "ab");
  auto img = parse_chat_completion_request(json::parse(
      R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})"));
  EXPECT_EQ(error_of(img).param, "messages[0].content");
  EXPECT_NE(error_of(img).message.find("image_url"), std::string::npos);
}

TEST(OpenAiRequestTest, FieldErrorsNameTheField) {
  struct Case {
    const char* body;
    const char* param;
  };
  const Case cases[] = {
      {R"({})", "messages"},
      {R"({"messages":[]})", "messages"},
      {R"({"messages":"hi"})", "messages"},
      {R"({"messages":[{"content":"x"}]})", "messages[0].role"},
      {R"({"messages":[{"role":"wizard","content":"x"}]})", "messages[0].role"},
      {R"({"messages":[{"role":"user"}]})", "messages[0].content"},
      {R"({"messages":[{"role":"user","content":"x"}],"temperature":"hot"})", "temperature"},
      {R"({"messages":[{"role":"user","content":"x"}],"temperature":3})", "temperature"},
      {R"({"messages":[{"role":"user","content":"x"}],"top_p":0})", "top_p"},
      {R"({"messages":[{"role":"user","content":"x"}],"max_tokens":0})", "max_tokens"},
      {R"({"messages":[{"role":"user","content":"x"}],"max_tokens":1.5})", "max_tokens"},
      {R"({"messages":[{"role":"user","content":"x"}],"n":0})", "n"},
      {R"({"messages":[{"role":"user","content":"x"}],"stop":5})", "stop"},
      {R"({"messages":[{"role":"user","content":"x"}],"stop":[1]})", "stop"},
      {R"({"messages":[{"role":"user","content":"x"}],"logit_bias":{"a":1}})", "logit_bias"},
      {R"({"messages":[{"role":"user","content":"x"}],"logit_bias":{"1":101}})", "logit_bias"},
      {R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":2})", "top_logprobs"},
      {R"({"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":21})", "top_logprobs"},
      {R"({"messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}})", "stream_options"},
      {R"({"messages":[{"role":"user","content":"x"}],"stream":"yes"})", "stream"},
      {R"({"messages":[{"role":"user","content":"x"}],"model":5})", "model"},
      {R"({"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema"}})", "response_format"},
  };
  for (const auto& c : cases) {
    auto p = parse_chat_completion_request(json::parse(c.body));
    ASSERT_TRUE(std::holds_alternative<ApiError>(p)) << c.body;
    EXPECT_EQ(std::get<ApiError>(p).param, c.param) << c.body;
    EXPECT_EQ(std::get<ApiError>(p).http_status, 400);
    EXPECT_FALSE(std::get<ApiError>(p).message.empty());
  }
}

TEST(OpenAiRequestTest, CompletionPrompts) {
  auto one = parse_completion_request(json::parse(R"({"prompt":"hello","echo":true,"logprobs":2})"));
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(one));
  EXPECT_EQ(std::get<CompletionRequest>(one).prompts.size(), 1u);
  EXPECT_TRUE(std::get<CompletionRequest>(one).echo);
  EXPECT_EQ(std::get<CompletionRequest>(one).gen.sampling.top_logprobs, 2);

  auto ids = parse_completion_request(json::parse(R"({"prompt":[1,2,3]})"));
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(ids));
  EXPECT_EQ(std::get<std::vector<int32_t>>(std::get<CompletionRequest>(ids).prompts[0]),
            (std::vector<int32_t>{1, 2, 3}));

  auto many = parse_completion_request(json::parse(R"({"prompt":["a",[4,5],"b"]})"));
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(many));
  EXPECT_EQ(std::get<CompletionRequest>(many).prompts.size(), 3u);

  EXPECT_EQ(error_of(parse_completion_request(json::parse(R"({"prompt":[1,-2]})"))).param, "prompt");
  EXPECT_EQ(error_of(parse_completion_request(json::parse(R"({"prompt":{}})"))).param, "prompt");
  EXPECT_EQ(error_of(parse_completion_request(json::parse(R"({})"))).param, "prompt");
  EXPECT_EQ(error_of(parse_completion_request(json::parse(R"({"prompt":"x","logprobs":9})"))).param,
            "logprobs");
}

}  // namespace
}  // namespace mlxm::api
