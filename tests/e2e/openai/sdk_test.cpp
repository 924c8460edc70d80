// The official `openai` npm SDK (node) against the real server on the demo model.
#include <gtest/gtest.h>

#include "e2e/harness/command.h"
#include "e2e/openai/openai_fixture.h"

namespace mlxm::e2e {
namespace {

TEST(OpenAiSdkTest, NodeSdkChatPlainAndStreaming) {
  ServerProcess server(model_server(demo_model_dir()));
  ASSERT_TRUE(server.ok()) << server.error();
  const std::string script = std::string(MLXM_SOURCE_DIR) + "/tests/e2e/openai/sdk_check.mjs";
  int rc = -1;
  const std::string out = run_command("node " + script + " http://127.0.0.1:" +
                                  std::to_string(server.port()) + "/v1 demo 2>&1", &rc);
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  const std::string plain = j["plain"];
  EXPECT_FALSE(plain.empty());
  EXPECT_EQ(j["streamed"], plain);  // greedy: the stream concatenates to the same text
  EXPECT_EQ(j["finish"], j["plain_finish"]);
  EXPECT_EQ(j["usage"]["completion_tokens"], j["plain_usage"]["completion_tokens"]);
  EXPECT_EQ(j["usage"]["prompt_tokens"], j["plain_usage"]["prompt_tokens"]);
}

}  // namespace
}  // namespace mlxm::e2e
