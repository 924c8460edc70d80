// Anthropic Messages request parsing/validation and the Anthropic error shape.
#include "api/schema/anthropic_request.h"

#include <gtest/gtest.h>

namespace mlxm::api {
namespace {

ojson body(ojson extra = ojson::object()) {
  ojson b = {{"model", "m"},
             {"max_tokens", 64},
             {"messages", ojson::array({{{"role", "user"}, {"content", "Hi"}}})}};
  for (auto it = extra.begin(); it != extra.end(); ++it) b[it.key()] = it.value();
  return b;
}

AnthropicRequest ok(const ojson& b, AnthropicEndpoint ep = AnthropicEndpoint::kMessages) {
  auto p = parse_anthropic_request(b, ep);
  if (auto* e = std::get_if<ApiError>(&p)) ADD_FAILURE() << e->message;
  return std::get<AnthropicRequest>(p);
}

ApiError err(const ojson& b, AnthropicEndpoint ep = AnthropicEndpoint::kMessages) {
  auto p = parse_anthropic_request(b, ep);
  EXPECT_TRUE(std::holds_alternative<ApiError>(p)) << b.dump();
  return std::holds_alternative<ApiError>(p) ? std::get<ApiError>(p) : ApiError{};
}

TEST(AnthropicRequestTest, ScalarsAndDefaults) {
  AnthropicRequest r = ok(body({{"temperature", 0.5},
                                {"top_p", 0.9},
                                {"top_k", 40},
                                {"stop_sequences", {"END", "\n\n"}},
                                {"stream", true},
                                {"metadata", {{"user_id", "u-1"}}}}));
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(*r.max_tokens, 64);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.9f);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_EQ(r.stop_sequences, (std::vector<std::string>{"END", "\n\n"}));
  EXPECT_TRUE(r.stream);
  EXPECT_EQ(r.user_id, "u-1");
  EXPECT_FALSE(r.continues_assistant);
  EXPECT_EQ(r.openai["messages"][0]["content"], "Hi");

  AnthropicRequest d = ok(body());
  EXPECT_FLOAT_EQ(d.sampling.temperature, 1.0f);  // Anthropic's default
  EXPECT_FALSE(d.stream);
}

TEST(AnthropicRequestTest, MaxTokensRequiredForMessagesOnly) {
  ojson b = body();
  b.erase("max_tokens");
  ApiError e = err(b);
  EXPECT_EQ(e.http_status, 400);
  EXPECT_EQ(e.param, "max_tokens");
  EXPECT_NE(e.message.find("max_tokens"), std::string::npos);
  AnthropicRequest c = ok(b, AnthropicEndpoint::kCountTokens);
  EXPECT_FALSE(c.max_tokens);
  EXPECT_EQ(err(body({{"max_tokens", 0}})).param, "max_tokens");
  EXPECT_EQ(err(body({{"max_tokens", "10"}})).param, "max_tokens");
  EXPECT_EQ(err(body({{"max_tokens", 1.5}})).param, "max_tokens");
}

TEST(AnthropicRequestTest, RangesAndTypesNameTheField) {
  EXPECT_EQ(err(body({{"temperature", 1.5}})).param, "temperature");  // Anthropic: [0, 1]
  EXPECT_EQ(err(body({{"temperature", "hot"}})).param, "temperature");
  EXPECT_EQ(err(body({{"top_p", 0}})).param, "top_p");
  EXPECT_EQ(err(body({{"top_k", -1}})).param, "top_k");
  EXPECT_EQ(err(body({{"stop_sequences", "END"}})).param, "stop_sequences");
  EXPECT_EQ(err(body({{"stop_sequences", {"a", 1}}})).param, "stop_sequences");
  EXPECT_EQ(err(body({{"stop_sequences", {""}}})).param, "stop_sequences");
  EXPECT_EQ(err(body({{"stream", "yes"}})).param, "stream");
  EXPECT_EQ(err(body({{"metadata", "x"}})).param, "metadata");
  EXPECT_EQ(err(body({{"metadata", {{"user_id", 5}}}})).param, "metadata.user_id");
  EXPECT_EQ(err(body({{"model", 5}})).param, "model");
  EXPECT_EQ(err(ojson::array()).http_status, 400);
}

TEST(AnthropicRequestTest, MessagesAndBlocksValidated) {
  EXPECT_EQ(err(body({{"messages", ojson::array()}})).param, "messages");
  EXPECT_EQ(err(body({{"messages", {{{"role", "system"}, {"content", "x"}}}}})).param,
            "messages[0].role");
  EXPECT_EQ(err(body({{"messages", {{{"role", "user"}}}}})).param, "messages[0].content");
  EXPECT_EQ(
      err(body({{"messages", {{{"role", "user"}, {"content", {{{"type", "text"}}}}}}}})).param,
      "messages[0].content[0].text");
  ApiError img = err(
      body({{"messages",
             {{{"role", "user"},
               {"content",
                {{{"type", "image"},
                  {"source",
                   {{"type", "base64"}, {"media_type", "image/png"}, {"data", "AAAA"}}}}}}}}}}));
  EXPECT_EQ(img.http_status, 400);
  EXPECT_EQ(img.param, "messages[0].content[0]");
  EXPECT_NE(img.message.find("image"), std::string::npos) << img.message;
  EXPECT_NE(img.message.find("not supported"), std::string::npos) << img.message;
  EXPECT_EQ(
      err(body({{"messages", {{{"role", "user"}, {"content", {{{"type", "document"}}}}}}}})).param,
      "messages[0].content[0]");
  EXPECT_EQ(err(body({{"messages",
                       {{{"role", "user"},
                         {"content", {{{"type", "tool_use"}, {"id", "a"}, {"name", "f"}}}}}}}}))
                .param,
            "messages[0].content[0]");
  EXPECT_EQ(err(body({{"system", 5}})).param, "system");
  EXPECT_EQ(err(body({{"system", {{{"type", "image"}}}}})).param, "system[0]");
  EXPECT_EQ(err(body({{"tools", {{{"name", "f"}}}}})).param, "tools[0].input_schema");
  EXPECT_EQ(
      err(body({{"tools", {{{"type", "web_search_20250305"}, {"name", "web_search"}}}}})).param,
      "tools[0].type");
  EXPECT_EQ(err(body({{"tool_choice", {{"type", "sometimes"}}}})).param, "tool_choice.type");
  EXPECT_EQ(err(body({{"tool_choice", {{"type", "tool"}}}})).param, "tool_choice.name");
}

TEST(AnthropicRequestTest, AssistantPrefillIsDetected) {
  AnthropicRequest r = ok(body({{"messages",
                                 {{{"role", "user"}, {"content", "Count"}},
                                  {{"role", "assistant"}, {"content", "1, 2,"}}}}}));
  EXPECT_TRUE(r.continues_assistant);
}

TEST(AnthropicErrorTest, ShapeAndTypes) {
  ApiError e = ApiError::invalid("max_tokens", "max_tokens: Field required");
  auto j = ojson::parse(anthropic_error_body(e));
  EXPECT_EQ(
      j.dump(),
      R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}})");
  auto type_of = [](int status) {
    return anthropic_error_type(ApiError{status, "x", "m", "", ""});
  };
  EXPECT_EQ(type_of(401), "authentication_error");
  EXPECT_EQ(type_of(403), "permission_error");
  EXPECT_EQ(type_of(404), "not_found_error");
  EXPECT_EQ(type_of(408), "timeout_error");
  EXPECT_EQ(type_of(413), "request_too_large");
  EXPECT_EQ(type_of(429), "rate_limit_error");
  EXPECT_EQ(type_of(500), "api_error");
  EXPECT_EQ(type_of(503), "overloaded_error");
  EXPECT_EQ(type_of(529), "overloaded_error");
  EXPECT_EQ(type_of(422), "invalid_request_error");
}

}  // namespace
}  // namespace mlxm::api
