// OpenAI chat/completions over real HTTP against `mlx-manager serve --model <tiny q4 model>`.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "e2e/openai/openai_fixture.h"

namespace mlxm::e2e {
namespace {

using nlohmann::json;

class OpenAiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess(model_server(tiny_model_dir(), {{"MLX_SERVER_MAX_MODEL_LEN", "512"}}));
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->ok()) << server_->error(); }

  static json chat(const std::string& content, json extra = json::object()) {
    json body = {{"model", "tiny-q4"}, {"messages", {{{"role", "user"}, {"content", content}}}}};
    body.update(extra);
    return body;
  }
  static json kv_blocks() {
    auto r = server_->get("/admin/models");
    return r.json()["data"][0]["kv_blocks"];
  }

  static ServerProcess* server_;
};
ServerProcess* OpenAiTest::server_ = nullptr;

TEST_F(OpenAiTest, ModelsListed) {
  auto r = server_->get("/v1/models");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["data"][0]["id"], "tiny-q4");
  EXPECT_EQ(server_->get("/v1/models/tiny-q4").status, 200);
}

TEST_F(OpenAiTest, NonStreamingShapeAndUsage) {
  auto r = server_->post("/v1/chat/completions", chat("Hello", {{"max_tokens", 8}, {"temperature", 0}}).dump());
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "tiny-q4");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(j["choices"][0]["message"]["content"].is_string());
  const std::string finish = j["choices"][0]["finish_reason"];
  EXPECT_TRUE(finish == "length" || finish == "stop");
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 5);
  EXPECT_LE(j["usage"]["completion_tokens"].get<int>(), 8);
  EXPECT_EQ(j["usage"]["total_tokens"].get<int>(),
            j["usage"]["prompt_tokens"].get<int>() + j["usage"]["completion_tokens"].get<int>());
  EXPECT_FALSE(r.header("x-request-id").empty());
}

TEST_F(OpenAiTest, StreamingShapeWithSingleUsageChunk) {
  auto s = post_stream(*server_, "/v1/chat/completions",
                       chat("Hi", {{"max_tokens", 6}, {"temperature", 0}, {"stream", true},
                                   {"stream_options", {{"include_usage", true}}}}));
  ASSERT_EQ(s.status, 200);
  ASSERT_TRUE(s.done) << s.raw_error;
  ASSERT_GE(s.events.size(), 3u);
  EXPECT_EQ(s.events.front()["choices"][0]["delta"]["role"], "assistant");
  int n_usage = 0;
  for (size_t i = 0; i < s.events.size(); ++i) {
    const json& e = s.events[i];
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    ASSERT_TRUE(e.contains("usage"));
    if (!e["usage"].is_null()) {
      ++n_usage;
      EXPECT_EQ(i, s.events.size() - 1) << "usage must be the last chunk";
      EXPECT_TRUE(e["choices"].empty());
      EXPECT_GT(e["usage"]["completion_tokens"].get<int>(), 0);
    }
  }
  EXPECT_EQ(n_usage, 1);
  const json& fin = s.events[s.events.size() - 2];
  EXPECT_FALSE(fin["choices"][0]["finish_reason"].is_null());
  // Same prompt, not streamed, greedy: same text.
  auto r = server_->post("/v1/chat/completions", chat("Hi", {{"max_tokens", 6}, {"temperature", 0}}).dump());
  EXPECT_EQ(stream_text(s), r.json()["choices"][0]["message"]["content"].get<std::string>());
}

TEST_F(OpenAiTest, StreamingWithoutUsageOptionHasNoUsage) {
  auto s = post_stream(*server_, "/v1/chat/completions",
                       chat("Hi", {{"max_tokens", 4}, {"stream", true}}));
  ASSERT_TRUE(s.done);
  for (const auto& e : s.events) EXPECT_FALSE(e.contains("usage")) << e.dump();
}

TEST_F(OpenAiTest, StopStringAcrossTokenBoundaries) {
  // Learn the greedy tokens, then stop on a string that spans two of them.
  json body = chat("Tell me", {{"max_tokens", 12}, {"temperature", 0}, {"logprobs", true}});
  auto r = server_->post("/v1/chat/completions", body.dump());
  ASSERT_EQ(r.status, 200);
  const json toks = r.json()["choices"][0]["logprobs"]["content"];
  const std::string full = r.json()["choices"][0]["message"]["content"];
  std::string stop;
  size_t stop_at = std::string::npos;
  std::string prefix;
  for (size_t i = 0; i + 1 < toks.size(); ++i) {
    const std::string a = toks[i]["token"], b = toks[i + 1]["token"];
    prefix += a;
    if (a.size() >= 2 && b.size() >= 2 && i >= 1) {
      stop = a.substr(a.size() - 1) + b.substr(0, 1);
      stop_at = full.find(stop);
      if (stop_at != std::string::npos) break;
    }
  }
  ASSERT_NE(stop_at, std::string::npos) << "no token pair to split in: " << full;
  body["stop"] = {stop};
  body.erase("logprobs");
  auto s = server_->post("/v1/chat/completions", body.dump());
  EXPECT_EQ(s.json()["choices"][0]["message"]["content"], full.substr(0, stop_at));
  EXPECT_EQ(s.json()["choices"][0]["finish_reason"], "stop");
  body["stream"] = true;
  auto st = post_stream(*server_, "/v1/chat/completions", body);
  EXPECT_EQ(stream_text(st), full.substr(0, stop_at));
  EXPECT_EQ(st.events.back()["choices"][0]["finish_reason"], "stop");
}

TEST_F(OpenAiTest, NChoices) {
  auto r = server_->post("/v1/chat/completions",
                         chat("Hello", {{"max_tokens", 5}, {"n", 3}, {"seed", 11}}).dump());
  ASSERT_EQ(r.status, 200) << r.body;
  json c = r.json()["choices"];
  ASSERT_EQ(c.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c[i]["index"], i);
  auto s = post_stream(*server_, "/v1/chat/completions",
                       chat("Hello", {{"max_tokens", 5}, {"n", 2}, {"stream", true}, {"seed", 11}}));
  ASSERT_TRUE(s.done);
  EXPECT_EQ(stream_text(s, 0), c[0]["message"]["content"].get<std::string>());
  EXPECT_EQ(stream_text(s, 1), c[1]["message"]["content"].get<std::string>());
}

TEST_F(OpenAiTest, SeededRequestSameAloneAndAmongConcurrentOthers) {
  json mine = chat("A seeded question", {{"max_tokens", 12}, {"seed", 42}, {"temperature", 1.0}});
  auto alone = server_->post("/v1/chat/completions", mine.dump());
  ASSERT_EQ(alone.status, 200);
  std::vector<std::thread> threads;
  std::vector<std::string> texts(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      json body = i == 3 ? mine
                         : chat("other prompt number " + std::to_string(i),
                                {{"max_tokens", 20}, {"seed", 100 + i}, {"temperature", 0.9}});
      auto r = server_->post("/v1/chat/completions", body.dump());
      if (r.status == 200) texts[static_cast<size_t>(i)] = r.json()["choices"][0]["message"]["content"];
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(texts[3], alone.json()["choices"][0]["message"]["content"].get<std::string>());
}

TEST_F(OpenAiTest, SixtyFourConcurrentStreamsAllComplete) {
  std::atomic<int> completed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 64; ++i) {
    threads.emplace_back([&, i] {
      auto s = post_stream(*server_, "/v1/chat/completions",
                           chat("stream " + std::to_string(i),
                                {{"max_tokens", 8}, {"stream", true}, {"seed", i}}));
      if (s.status == 200 && s.done && !s.events.empty()) ++completed;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(completed.load(), 64);
  EXPECT_TRUE(eventually([] { return kv_blocks()["used"] == 0; }));
}

TEST_F(OpenAiTest, ClientDisconnectReturnsKvBlocks) {
  auto conn = server_->connect();
  ASSERT_TRUE(conn);
  json body = chat("long stream", {{"max_tokens", 400}, {"ignore_eos", true}, {"stream", true}});
  conn->send_request("POST", "/v1/chat/completions", body.dump());
  ASSERT_EQ(conn->read_head().status, 200);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(conn->next_sse_data());
  EXPECT_GT(kv_blocks()["used"].get<int>(), 0);
  conn->close();
  EXPECT_TRUE(eventually([] { return kv_blocks()["used"] == 0; }, 10000)) << kv_blocks().dump();
  auto models = server_->get("/admin/models").json();
  EXPECT_EQ(models["data"][0]["requests_in_flight"], 0);
}

TEST_F(OpenAiTest, ErrorsNameTheProblem) {
  auto bad_json = server_->post("/v1/chat/completions", "{not json");
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_TRUE(bad_json.json()["error"]["message"].is_string());

  auto bad_field = server_->post("/v1/chat/completions", chat("x", {{"temperature", "hot"}}).dump());
  EXPECT_EQ(bad_field.status, 400);
  EXPECT_EQ(bad_field.json()["error"]["param"], "temperature");

  auto no_model = server_->post("/v1/chat/completions", chat("x", {{"model", "nope"}}).dump());
  EXPECT_EQ(no_model.status, 404);
  EXPECT_EQ(no_model.json()["error"]["code"], "model_not_found");

  std::string long_prompt;
  for (int i = 0; i < 700; ++i) long_prompt += "word ";
  auto too_long = server_->post("/v1/chat/completions", chat(long_prompt).dump());
  EXPECT_EQ(too_long.status, 400);
  const std::string msg = too_long.json()["error"]["message"];
  EXPECT_NE(msg.find("512"), std::string::npos) << msg;
  EXPECT_EQ(too_long.json()["error"]["code"], "context_length_exceeded");

  auto too_many = server_->post("/v1/chat/completions", chat("x", {{"max_tokens", 600}}).dump());
  EXPECT_EQ(too_many.status, 400);

  std::string huge(17 * 1024 * 1024, 'a');
  auto big = server_->post("/v1/chat/completions", huge);
  EXPECT_EQ(big.status, 413);
}

TEST_F(OpenAiTest, CompletionsPromptsEchoAndTokenIds) {
  auto r = server_->post("/v1/completions",
                         json({{"prompt", {"The cat", "A dog"}}, {"max_tokens", 4}, {"temperature", 0},
                               {"echo", true}}).dump());
  ASSERT_EQ(r.status, 200) << r.body;
  json c = r.json()["choices"];
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0]["text"].get<std::string>().rfind("The cat", 0), 0u);
  EXPECT_EQ(c[1]["text"].get<std::string>().rfind("A dog", 0), 0u);
  EXPECT_EQ(r.json()["object"], "text_completion");

  auto tok = server_->post("/tokenize", json({{"prompt", "The cat"}}).dump());
  ASSERT_EQ(tok.status, 200);
  auto ids = tok.json()["tokens"];
  auto by_ids = server_->post("/v1/completions",
                              json({{"prompt", ids}, {"max_tokens", 4}, {"temperature", 0}}).dump());
  ASSERT_EQ(by_ids.status, 200);
  EXPECT_EQ("The cat" + by_ids.json()["choices"][0]["text"].get<std::string>(),
            c[0]["text"].get<std::string>());
  auto detok = server_->post("/detokenize", json({{"tokens", ids}}).dump());
  EXPECT_EQ(detok.json()["prompt"], "<|begin_of_text|>The cat");
  auto bad = server_->post("/v1/completions", json({{"prompt", {1, 99999999}}}).dump());
  EXPECT_EQ(bad.status, 400);
}

TEST(OpenAiTimeoutTest, NonStreamingGets408AndStreamGetsErrorEvent) {
  ServerProcess server(model_server(tiny_model_dir(), {{"MLX_SERVER_TIMEOUT_CHAT_SECONDS", "1"},
                                                        {"MLXM_DEBUG_STEP_DELAY_MS", "20"}}));
  ASSERT_TRUE(server.ok()) << server.error();
  json body = {{"messages", {{{"role", "user"}, {"content", "slow"}}}},
               {"max_tokens", 300}, {"ignore_eos", true}};
  auto r = server.post("/v1/chat/completions", body.dump());
  EXPECT_EQ(r.status, 408) << r.body;
  EXPECT_EQ(r.json()["error"]["code"], "timeout");
  body["stream"] = true;
  auto s = post_stream(server, "/v1/chat/completions", body);
  ASSERT_EQ(s.status, 200);
  ASSERT_FALSE(s.events.empty());
  EXPECT_TRUE(s.events.back().contains("error")) << s.events.back().dump();
  EXPECT_FALSE(s.done);
  EXPECT_TRUE(eventually([&] {
    return server.get("/admin/models").json()["data"][0]["kv_blocks"]["used"] == 0;
  }));
}

}  // namespace
}  // namespace mlxm::e2e
