// The official OpenAI and Anthropic npm SDKs parse our tool calls, streamed and not.
#include <gtest/gtest.h>

#include "e2e/harness/command.h"
#include "e2e/tools/tools_fixture.h"

namespace mlxm::e2e {
namespace {

TEST(ToolsSdkTest, OpenAiAndAnthropicSdksParseToolCalls) {
  ServerProcess server(model_server(tiny_qwen3_dir(), {{"MLX_SERVER_MAX_MODEL_LEN", "2048"}}));
  ASSERT_TRUE(server.ok()) << server.error();
  const std::string script =
      std::string(MLXM_SOURCE_DIR) + "/tests/e2e/tools/sdk_tools_check.mjs";
  int rc = -1;
  const std::string out = run_command(
      "node " + script + " http://127.0.0.1:" + std::to_string(server.port()) + " tiny-qwen3 2>&1",
      &rc);
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  const auto& o = j["openai"];
  EXPECT_EQ(o["finish"], "tool_calls") << out;
  EXPECT_EQ(o["name"], "get_weather") << out;
  const auto args = nlohmann::json::parse(o["arguments"].get<std::string>(), nullptr, false);
  ASSERT_TRUE(args.is_object()) << out;
  EXPECT_TRUE(args.contains("city") && args.contains("unit")) << out;
  // Greedy: the SDK's stream accumulator rebuilds the same call.
  EXPECT_EQ(o["streamed_finish"], "tool_calls") << out;
  EXPECT_EQ(o["streamed_name"], o["name"]) << out;
  EXPECT_EQ(o["streamed_arguments"], o["arguments"]) << out;

  const auto& a = j["anthropic"];
  EXPECT_EQ(a["stop"], "tool_use") << out;
  EXPECT_EQ(a["block"]["type"], "tool_use") << out;
  EXPECT_EQ(a["block"]["name"], "get_weather") << out;
  EXPECT_TRUE(a["block"]["input"].is_object()) << out;
  EXPECT_EQ(a["streamed_stop"], "tool_use") << out;
  EXPECT_EQ(a["streamed_block"]["input"], a["block"]["input"]) << out;
}

}  // namespace
}  // namespace mlxm::e2e
