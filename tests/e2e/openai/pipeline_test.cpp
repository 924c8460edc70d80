// Pipelined engine steps over real HTTP: `mlx-manager serve` with MLX_SERVER_PIPELINE=1 (on the
// CPU engine the step runs at submit, so this checks the loop's bookkeeping, not overlap)
// answers greedy streams, concurrent or not, with the same text as MLX_SERVER_PIPELINE=0.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "e2e/openai/openai_fixture.h"

namespace mlxm::e2e {
namespace {

using nlohmann::json;

json greedy_chat(int i) {
  return {{"model", "tiny-q4"},
          {"messages", {{{"role", "user"}, {"content", "pipeline prompt " + std::to_string(i)}}}},
          {"max_tokens", 10 + 3 * i},
          {"temperature", 0},
          {"ignore_eos", true},
          {"stream", true}};
}

// The streamed texts of 6 concurrent greedy requests, then the loop's step counters.
std::vector<std::string> serve_all(const std::string& pipeline, json* model_stats) {
  ServerProcess server(model_server(tiny_model_dir(), {{"MLX_SERVER_MAX_MODEL_LEN", "512"},
                                                        {"MLX_SERVER_PIPELINE", pipeline}}));
  EXPECT_TRUE(server.ok()) << server.error();
  if (!server.ok()) return {};
  std::vector<std::string> texts(6);
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      SseRead s = post_stream(server, "/v1/chat/completions", greedy_chat(i));
      EXPECT_EQ(s.status, 200) << s.raw_error;
      EXPECT_TRUE(s.done) << i;
      texts[static_cast<size_t>(i)] = stream_text(s);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(eventually([&] {
    return server.get("/admin/models").json()["data"][0]["kv_blocks"]["used"] == 0;
  }));
  *model_stats = server.get("/admin/models").json()["data"][0];
  return texts;
}

TEST(OpenAiPipelineTest, PipelinedStepsServeTheSameGreedyStreams) {
  json piped_stats, plain_stats;
  const auto piped = serve_all("1", &piped_stats);
  const auto plain = serve_all("0", &plain_stats);
  ASSERT_EQ(piped.size(), 6u);
  ASSERT_EQ(plain.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_FALSE(plain[i].empty()) << i;
    EXPECT_EQ(piped[i], plain[i]) << "request " << i;
  }
  EXPECT_GT(piped_stats["pipelined_steps"].get<int>(), 0) << piped_stats.dump();
  EXPECT_EQ(plain_stats["pipelined_steps"].get<int>(), 0) << plain_stats.dump();
}

TEST(OpenAiPipelineTest, BadPipelineSettingIsRefusedAtStartup) {
  ServerOptions o = model_server(tiny_model_dir(), {{"MLX_SERVER_PIPELINE", "maybe"}});
  o.wait_healthy = false;
  ServerProcess server(o);
  const auto code = server.wait_exit(10000);
  ASSERT_TRUE(code.has_value()) << "the server did not exit";
  EXPECT_NE(*code, 0);
  EXPECT_NE(server.log().find("MLX_SERVER_PIPELINE"), std::string::npos) << server.log();
  EXPECT_NE(server.log().find("maybe"), std::string::npos) << server.log();
}

}  // namespace
}  // namespace mlxm::e2e
