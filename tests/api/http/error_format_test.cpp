// Router::set_error_format: which paths an error format covers, and the OpenAI default.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/http/router.h"

namespace mlxm::http {
namespace {

using nlohmann::json;

Router with_formats() {
  Router r;
  r.set_error_format("/v1/messages", [](const ErrorInfo& e) {
    return json{{"shape", "short"}, {"status", e.status}, {"message", e.message}}.dump();
  });
  r.set_error_format("/v1/messages/special", [](const ErrorInfo& e) {
    return json{{"shape", "long"}, {"code", e.code.value_or("")}}.dump();
  });
  return r;
}

TEST(ErrorFormat, CoversThePrefixAndWholeSegmentsBelowIt) {
  const Router r = with_formats();
  const ErrorInfo e{404, "nope", "invalid_request_error", std::nullopt, "not_found"};
  for (const char* path : {"/v1/messages", "/v1/messages/count_tokens", "/v1/messages/a/b"}) {
    HttpResponse res = r.error_response(path, e);
    EXPECT_EQ(res.status, 404) << path;
    EXPECT_EQ(res.headers.get("Content-Type"), "application/json");
    EXPECT_EQ(json::parse(res.body)["shape"], "short") << path;
    EXPECT_EQ(json::parse(res.body)["message"], "nope");
  }
  // The longest covering prefix wins.
  HttpResponse special = r.error_response("/v1/messages/special/x", e);
  EXPECT_EQ(json::parse(special.body)["shape"], "long");
  EXPECT_EQ(json::parse(special.body)["code"], "not_found");
}

TEST(ErrorFormat, OtherPathsGetTheOpenAiShape) {
  const Router r = with_formats();
  const ErrorInfo e{405, "wrong method", "invalid_request_error", std::nullopt, "method_not_allowed"};
  for (const char* path : {"/v1/messagesx", "/v1/chat/completions", "/", ""}) {
    HttpResponse res = r.error_response(path, e);
    EXPECT_EQ(res.status, 405);
    json j = json::parse(res.body);
    EXPECT_EQ(j["error"]["message"], "wrong method") << path;
    EXPECT_EQ(j["error"]["code"], "method_not_allowed");
    EXPECT_TRUE(j["error"]["param"].is_null());
    EXPECT_FALSE(j.contains("shape"));
  }
}

}  // namespace
}  // namespace mlxm::http
