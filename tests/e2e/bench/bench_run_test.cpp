// E2E: `mlx-benchmark run` and `suite` (the real binary) against the real server with the tiny
// q4 model. Checks the numbers against the server's own accounting (usage, tokens_generated,
// the running count it reports), the JSON schema, and failures instead of crashes.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "e2e/bench/bench_cli.h"
#include "e2e/harness/server_process.h"
#include "e2e/openai/openai_fixture.h"

namespace mlxm::e2e {
namespace {

using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) return json();
  return json::parse(in, nullptr, false);
}

std::string url(const ServerProcess& s) {
  return "http://127.0.0.1:" + std::to_string(s.port());
}

int64_t tokens_generated(const ServerProcess& s, const std::string& model) {
  json j = s.get("/admin/models").json();
  for (const auto& e : j["data"]) {
    if (e["id"] == model && e.contains("tokens_generated"))
      return e["tokens_generated"].get<int64_t>();
  }
  return -1;
}

// A loopback port nothing listens on (bound, then closed).
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// The keys every level carries (vLLM bench-serve names plus ours): the JSON contract.
const std::set<std::string>& level_keys() {
  static const std::set<std::string> keys = [] {
    std::set<std::string> k = {"max_concurrency",
                               "num_prompts",
                               "stream",
                               "duration",
                               "completed",
                               "failed",
                               "total_input_tokens",
                               "total_output_tokens",
                               "request_throughput",
                               "output_throughput",
                               "total_token_throughput",
                               "max_output_tokens_per_s",
                               "max_concurrent_requests",
                               "mean_decode_tps_per_request",
                               "median_decode_tps_per_request",
                               "server_samples",
                               "server_max_running",
                               "server_max_requests_in_flight",
                               "server_max_waiting",
                               "errors_by_reason",
                               "input_lens",
                               "output_lens",
                               "ttfts",
                               "itls",
                               "e2els",
                               "errors"};
    for (const char* m : {"ttft", "tpot", "itl", "e2el"}) {
      for (const char* s : {"mean", "median", "std", "p95", "p99"})
        k.insert(std::string(s) + "_" + m + "_ms");
    }
    return k;
  }();
  return keys;
}

std::set<std::string> keys_of(const json& j) {
  std::set<std::string> k;
  for (auto it = j.begin(); it != j.end(); ++it) k.insert(it.key());
  return k;
}

class BenchRunE2e : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Slow steps a little so that concurrent requests overlap long enough to be observed.
    server_ =
        new ServerProcess(model_server(tiny_model_dir(), {{"MLXM_DEBUG_STEP_DELAY_MS", "10"}}));
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->ok()) << server_->error(); }
  static ServerProcess* server_;
  const std::string model_ = "tiny-q4";
};
ServerProcess* BenchRunE2e::server_ = nullptr;

TEST_F(BenchRunE2e, StreamingTokensMatchServerAndConcurrencyIsReached) {
  const std::string out = temp_path("stream.json");
  const int64_t gen_before = tokens_generated(*server_, model_);
  ASSERT_GE(gen_before, 0);
  CmdResult r = run_bench("run -m " + model_ + " --url " + url(*server_) +
                          " --concurrency 1,4 --stream --max-tokens 24 --prompt short --runs 2"
                          " --warmup 1 --quiet --output " +
                          out);
  ASSERT_TRUE(r.exited) << r.output;
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("============ Serving Benchmark Result ============"), std::string::npos);
  json j = read_json(out);
  ASSERT_TRUE(j.is_object()) << r.output;
  EXPECT_EQ(j["schema"], "mlx-benchmark.run/1");
  EXPECT_EQ(j["backend"], "local");
  EXPECT_EQ(j["prompt"]["sized_by_server"], true);
  EXPECT_NEAR(j["prompt"]["measured_tokens"].get<int>(), 16, 2);
  ASSERT_EQ(j["levels"].size(), 2u);

  // The prompt tokens the benchmark reports are the server's count of that chat.
  json tok = server_
                 ->post("/tokenize",
                        json{{"model", model_},
                             {"messages", {{{"role", "user"}, {"content", j["prompt"]["text"]}}}}}
                            .dump())
                 .json();
  ASSERT_TRUE(tok.contains("count")) << tok.dump();

  int64_t sum_output = 0;
  const int concurrency[] = {1, 4};
  for (size_t i = 0; i < 2; ++i) {
    const json& l = j["levels"][i];
    const int c = concurrency[i];
    EXPECT_EQ(keys_of(l), level_keys());
    EXPECT_EQ(l["max_concurrency"], c);
    EXPECT_EQ(l["num_prompts"], 2 * c);
    EXPECT_EQ(l["completed"], 2 * c) << l["errors_by_reason"].dump();
    EXPECT_EQ(l["failed"], 0);
    for (size_t k = 0; k < l["output_lens"].size(); ++k) {
      EXPECT_EQ(l["output_lens"][k], 24);  // usage.completion_tokens (ignore_eos)
      EXPECT_EQ(l["input_lens"][k], tok["count"]);
      const double ttft = l["ttfts"][k].get<double>();
      const double e2e = l["e2els"][k].get<double>();
      EXPECT_GT(ttft, 0);
      EXPECT_LE(ttft, e2e);
      EXPECT_LE(l["itls"][k].size(), 23u);  // at most one gap per token after the first
      sum_output += l["output_lens"][k].get<int64_t>();
    }
    EXPECT_EQ(l["total_output_tokens"], 24 * 2 * c);
    EXPECT_LE(l["median_ttft_ms"].get<double>(), l["median_e2el_ms"].get<double>());
    EXPECT_GT(l["median_tpot_ms"].get<double>(), 0);
    // Concurrency: the client never exceeded C, and the server saw exactly C running at once.
    EXPECT_EQ(l["max_concurrent_requests"], c);
    EXPECT_GT(l["server_samples"].get<int>(), 0);
    EXPECT_EQ(l["server_max_running"], c);
    EXPECT_LE(l["server_max_requests_in_flight"].get<int>(), c);
  }
  // The server's own counter of generated tokens moved by exactly what usage reported
  // (plus the warmup request's 24).
  EXPECT_EQ(tokens_generated(*server_, model_) - gen_before, sum_output + 24);
  EXPECT_EQ(j["server"]["admin_available"], true);
  EXPECT_EQ(j["server"]["memory_after"]["listed"], true);
  EXPECT_GT(j["server"]["memory_after"]["weight_bytes"].get<int64_t>(), 0);
  std::filesystem::remove(out);
}

TEST_F(BenchRunE2e, NonStreamingAndHtmlPlot) {
  const std::string out = temp_path("nostream.json");
  const std::string plot = temp_path("plot.html");
  CmdResult r = run_bench("run -m " + model_ + " --url " + url(*server_) +
                          " --concurrency 2 --max-tokens 8 --prompt medium --runs 2 --warmup 0"
                          " --api openai-completions --quiet --output " +
                          out + " --plot " + plot);
  ASSERT_TRUE(r.exited);
  ASSERT_EQ(r.code, 0) << r.output;
  json j = read_json(out);
  const json& l = j["levels"][0];
  EXPECT_EQ(keys_of(l), level_keys());
  EXPECT_EQ(l["completed"], 4);
  EXPECT_EQ(l["total_output_tokens"], 32);
  EXPECT_TRUE(l["median_ttft_ms"].is_null());  // not measurable without streaming
  EXPECT_TRUE(l["p99_itl_ms"].is_null());
  EXPECT_TRUE(l["median_e2el_ms"].is_number());
  EXPECT_EQ(j["endpoint"], "/v1/completions");
  EXPECT_NEAR(j["prompt"]["measured_tokens"].get<int>(), 50, 2);
  std::ifstream in(plot);
  std::string html((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>2</td>"), std::string::npos);
  std::filesystem::remove(out);
  std::filesystem::remove(plot);
}

TEST_F(BenchRunE2e, UnknownModelIsReportedAsFailures) {
  const std::string out = temp_path("404.json");
  CmdResult r = run_bench(
      "run -m no-such-model --url " + url(*server_) +
      " --concurrency 2 --stream --max-tokens 4 --prompt short --runs 1 --quiet --output " + out);
  ASSERT_TRUE(r.exited) << r.output;
  EXPECT_EQ(r.code, 1) << r.output;
  json j = read_json(out);
  ASSERT_TRUE(j.is_object()) << r.output;
  const json& l = j["levels"][0];
  EXPECT_EQ(keys_of(l), level_keys());
  EXPECT_EQ(l["completed"], 0);
  EXPECT_EQ(l["failed"], 2);
  ASSERT_EQ(l["errors_by_reason"].size(), 1u) << l["errors_by_reason"].dump();
  EXPECT_EQ(l["errors_by_reason"].begin().key().rfind("HTTP 404", 0), 0u);
  EXPECT_EQ(l["errors_by_reason"].begin().value(), 2);
  EXPECT_NE(r.output.find("Failed requests:                         2"), std::string::npos);
  std::filesystem::remove(out);
}

TEST(BenchRunDown, ServerDownIsReportedAsFailures) {
  const std::string out = temp_path("down.json");
  CmdResult r = run_bench(
      "run -m any --url http://127.0.0.1:" + std::to_string(free_port()) +
      " --concurrency 1,2 --stream --max-tokens 4 --prompt short --runs 2 --quiet --output " + out);
  ASSERT_TRUE(r.exited) << r.output;
  EXPECT_EQ(r.code, 1) << r.output;
  json j = read_json(out);
  ASSERT_TRUE(j.is_object()) << r.output;
  EXPECT_EQ(j["backend"], "unknown");
  EXPECT_EQ(j["prompt"]["sized_by_server"], false);
  EXPECT_EQ(j["server"]["admin_available"], false);
  ASSERT_EQ(j["levels"].size(), 2u);
  EXPECT_EQ(j["levels"][0]["failed"], 2);
  EXPECT_EQ(j["levels"][1]["failed"], 4);
  for (const auto& l : j["levels"]) {
    EXPECT_EQ(keys_of(l), level_keys());
    EXPECT_EQ(l["completed"], 0);
    for (const auto& e : l["errors"])
      EXPECT_EQ(e.get<std::string>().rfind("connection: ", 0), 0u) << e;
  }
  std::filesystem::remove(out);
}

TEST(BenchRunArgs, BadOptionsExitTwo) {
  EXPECT_EQ(run_bench("run -m x --concurrency 0").code, 2);
  EXPECT_EQ(run_bench("run -m x --concurrency 1,abc").code, 2);
  EXPECT_EQ(run_bench("run -m x --api grpc").code, 2);
  EXPECT_EQ(run_bench("run -m x --plot out.png").code, 2);
  EXPECT_EQ(run_bench("run -m x --prompt huge --url http://127.0.0.1:1").code, 2);
  EXPECT_EQ(run_bench("run -m x --prompt @/nonexistent/file --url http://127.0.0.1:1").code, 2);
}

TEST_F(BenchRunE2e, SuiteRunsAvailableModelsAndSkipsMissingOnes) {
  const std::string out = temp_path("suite.json");
  CmdResult r =
      run_bench("suite --url " + url(*server_) + " --models small=" + model_ +
                ",large=mlx-community/Not-Here-4bit --runs 1 --max-tokens 6 --prompt short"
                " --concurrency 1,2 --quiet --output " +
                out);
  ASSERT_TRUE(r.exited) << r.output;
  EXPECT_EQ(r.code, 0) << r.output;
  json j = read_json(out);
  ASSERT_TRUE(j.is_object()) << r.output;
  EXPECT_EQ(j["schema"], "mlx-benchmark.suite/1");
  ASSERT_EQ(j["results"].size(), 2u);
  const json& ok = j["results"][0];
  EXPECT_EQ(ok["tier"], "small");
  EXPECT_EQ(ok["status"], "ok");
  ASSERT_EQ(ok["runs"].size(), 2u);  // not streaming, streaming
  EXPECT_EQ(ok["runs"][0]["stream"], false);
  EXPECT_EQ(ok["runs"][1]["stream"], true);
  for (const auto& run : ok["runs"]) {
    ASSERT_EQ(run["levels"].size(), 2u);
    for (const auto& l : run["levels"]) {
      EXPECT_EQ(l["failed"], 0);
      EXPECT_EQ(l["total_output_tokens"], 6 * l["max_concurrency"].get<int>());
    }
  }
  const json& skipped = j["results"][1];
  EXPECT_EQ(skipped["status"], "skipped");
  EXPECT_EQ(skipped["reason"].get<std::string>().rfind("HTTP 404", 0), 0u) << skipped["reason"];
  EXPECT_TRUE(skipped["runs"].empty());
  EXPECT_NE(r.output.find("skipped: HTTP 404"), std::string::npos) << r.output;
  std::filesystem::remove(out);
}

TEST_F(BenchRunE2e, AnthropicMessagesApi) {
  auto probe =
      server_->post("/v1/messages",
                    json{{"model", model_},
                         {"max_tokens", 1},
                         {"messages", {{{"role", "user"}, {"content", "hi"}}}}}
                        .dump(),
                    {{"Content-Type", "application/json"}, {"anthropic-version", "2023-06-01"}});
  if (probe.status == 404 && probe.body.find("model") == std::string::npos) {
    GTEST_SKIP() << "the server has no /v1/messages";
  }
  const std::string out = temp_path("anthropic.json");
  CmdResult r =
      run_bench("run -m " + model_ + " --url " + url(*server_) +
                " --api anthropic --concurrency 2 --stream --max-tokens 12 --prompt short --runs 1"
                " --warmup 0 --quiet --output " +
                out);
  ASSERT_TRUE(r.exited) << r.output;
  ASSERT_EQ(r.code, 0) << r.output;
  json j = read_json(out);
  const json& l = j["levels"][0];
  EXPECT_EQ(l["completed"], 2) << l["errors_by_reason"].dump();
  for (size_t k = 0; k < l["output_lens"].size(); ++k) {
    EXPECT_GT(l["output_lens"][k].get<int>(), 0);   // message_delta usage.output_tokens
    EXPECT_LE(l["output_lens"][k].get<int>(), 12);  // Anthropic has no ignore_eos
    EXPECT_GT(l["input_lens"][k].get<int>(), 0);    // message_start usage.input_tokens
    EXPECT_LE(l["ttfts"][k].get<double>(), l["e2els"][k].get<double>());
  }
  std::filesystem::remove(out);
}

}  // namespace
}  // namespace mlxm::e2e
