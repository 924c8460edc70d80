// The official `@anthropic-ai/sdk` npm package (node) against the real server on the demo model:
// plain and streamed messages, raw stream event order, count_tokens and a 400.
#include <gtest/gtest.h>

#include "e2e/harness/command.h"
#include "e2e/openai/openai_fixture.h"

namespace mlxm::e2e {
namespace {

TEST(AnthropicSdkTest, NodeSdkMessagesPlainStreamedAndCountTokens) {
  ServerProcess server(model_server(demo_model_dir()));
  ASSERT_TRUE(server.ok()) << server.error();
  const std::string script = std::string(MLXM_SOURCE_DIR) + "/tests/e2e/anthropic/sdk_check.mjs";
  int rc = -1;
  const std::string out = run_command(
      "node " + script + " http://127.0.0.1:" + std::to_string(server.port()) + " demo 2>&1", &rc);
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  const std::string plain = j["plain_text"];
  EXPECT_FALSE(plain.empty());
  EXPECT_EQ(j["plain_id"].get<std::string>().rfind("msg_", 0), 0u);
  EXPECT_EQ(j["streamed"], plain);  // greedy: the stream's text events concatenate to it
  EXPECT_EQ(j["final_text"], plain);
  EXPECT_EQ(j["final_stop"], j["plain_stop"]);
  EXPECT_EQ(j["final_usage"]["input_tokens"], j["plain_usage"]["input_tokens"]);
  EXPECT_EQ(j["final_usage"]["output_tokens"], j["plain_usage"]["output_tokens"]);
  EXPECT_EQ(j["count"], j["plain_usage"]["input_tokens"]);
  const auto& types = j["raw_types"];
  ASSERT_GE(types.size(), 7u) << types.dump();
  EXPECT_EQ(types[0], "message_start");
  EXPECT_EQ(types[1], "content_block_start");
  EXPECT_EQ(types[2], "content_block_delta");  // the SDK drops ping events itself
  EXPECT_EQ(types[types.size() - 3], "content_block_stop");
  EXPECT_EQ(types[types.size() - 2], "message_delta");
  EXPECT_EQ(types[types.size() - 1], "message_stop");
  EXPECT_EQ(j["error"]["status"], 400) << j["error"].dump();
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["name"], "BadRequestError");
}

}  // namespace
}  // namespace mlxm::e2e
