// OTLP export from the real binary to a fake collector on loopback: the spans of a chat request
// arrive (at the latest when the drain flushes the exporter) with their attributes; a model loaded
// by a first request gives a "model load" span; the metrics arrive at /v1/metrics.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "e2e/openai/openai_fixture.h"
#include "telemetry/fake_collector.h"

namespace mlxm::e2e {
namespace {

using nlohmann::json;

TEST(OtlpE2E, ChatRequestSpansReachTheCollector) {
  mlxm::testing::FakeCollector collector;
  ServerProcess server(
      model_server(tiny_model_dir(), {{"OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()},
                                      {"OTEL_EXPORTER_OTLP_HEADERS", "x-team=mlx"}}));
  ASSERT_TRUE(server.ok()) << server.error();
  const std::string model = std::filesystem::path(tiny_model_dir()).filename().string();
  json body = {{"model", model},
               {"messages", json::array({{{"role", "user"}, {"content", "hello"}}})},
               {"max_tokens", 3}};
  ASSERT_EQ(server.post("/v1/chat/completions", body.dump()).status, 200);
  server.signal(SIGTERM);
  ASSERT_EQ(server.wait_exit(20000), 0);

  std::vector<std::string> names;
  bool model_attr = false;
  bool drain_metrics = false;
  for (const auto& r : collector.received()) {
    if (r.target == "/v1/metrics") {  // the drain's last metrics export
      drain_metrics = true;
      EXPECT_NE(r.headers.find("x-team: mlx"), std::string::npos) << r.headers;
      continue;
    }
    EXPECT_EQ(r.target, "/v1/traces");
    EXPECT_NE(r.headers.find("x-team: mlx"), std::string::npos) << r.headers;
    json j = json::parse(r.body);
    for (const auto& s : j["resourceSpans"][0]["scopeSpans"][0]["spans"]) {
      names.push_back(s["name"]);
      for (const auto& a : s["attributes"]) {
        if (a["key"] == "gen_ai.request.model" && a["value"]["stringValue"] == model)
          model_attr = true;
      }
    }
  }
  auto has = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  EXPECT_TRUE(has("POST /v1/chat/completions")) << server.log();
  EXPECT_TRUE(has("prefill"));
  EXPECT_TRUE(has("decode"));
  EXPECT_TRUE(has("model load"));  // the --model load at start-up
  EXPECT_TRUE(model_attr);
  EXPECT_TRUE(drain_metrics);
}

std::set<std::string> metric_names(const mlxm::testing::Received& r) {
  std::set<std::string> out;
  json j = json::parse(r.body);
  for (const auto& m : j["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]) out.insert(m["name"]);
  return out;
}

TEST(OtlpE2E, FirstRequestLoadSpanAndPeriodicMetrics) {
  mlxm::testing::FakeCollector collector;
  const std::filesystem::path dir(tiny_model_dir());
  const std::string model = dir.filename().string();
  ServerOptions o;
  o.test_routes = false;
  o.startup_timeout_ms = 30000;
  // No --model: the model loads when the first request names it.
  o.env = {{"MLX_SERVER_MODEL_DIRS", dir.parent_path().string()},
           {"OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()},
           {"OTEL_METRIC_EXPORT_INTERVAL", "200"}};
  ServerProcess server(o);
  ASSERT_TRUE(server.ok()) << server.error();
  json body = {{"model", model},
               {"messages", json::array({{{"role", "user"}, {"content", "hello"}}})},
               {"max_tokens", 3}};
  ASSERT_EQ(server.post("/v1/chat/completions", body.dump()).status, 200) << server.log();
  // A periodic export (before the drain) that already counts the request and the load.
  bool periodic = false;
  for (int i = 0; i < 300 && !periodic; ++i) {
    for (const auto& r : collector.received()) {
      if (r.target != "/v1/metrics") continue;
      auto names = metric_names(r);
      if (names.count("mlx_requests_total") && names.count("mlx_model_loads_total")) {
        periodic = true;
      }
    }
    if (!periodic) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(periodic) << server.log();
  server.signal(SIGTERM);
  ASSERT_EQ(server.wait_exit(20000), 0);

  bool load_span = false;
  std::set<std::string> names;
  for (const auto& r : collector.received()) {
    if (r.target == "/v1/metrics") {
      auto n = metric_names(r);
      names.insert(n.begin(), n.end());
      continue;
    }
    ASSERT_EQ(r.target, "/v1/traces");
    json j = json::parse(r.body);
    for (const auto& s : j["resourceSpans"][0]["scopeSpans"][0]["spans"]) {
      if (s["name"] != "model load") continue;
      std::map<std::string, json> a;
      for (const auto& x : s["attributes"]) a[x["key"]] = x["value"];
      EXPECT_EQ(a["mlx.model"]["stringValue"], model);
      EXPECT_EQ(a["mlx.outcome"]["stringValue"], "loaded");
      EXPECT_GT(std::stoll(a["mlx.model.bytes"]["intValue"].get<std::string>()), 0);
      EXPECT_GT(a["mlx.model.load_ms"]["doubleValue"].get<double>(), 0);
      EXPECT_EQ(s["status"]["code"], 1);
      load_span = true;
    }
  }
  EXPECT_TRUE(load_span) << server.log();
  for (const char* n : {"mlx_requests_total", "mlx_prompt_tokens_total",
                        "mlx_time_to_first_token_seconds", "mlx_model_loads_total",
                        "mlx_pool_memory_used_bytes"}) {
    EXPECT_TRUE(names.count(n)) << n;
  }
}

}  // namespace
}  // namespace mlxm::e2e
