// OTLP trace export from the real binary to a fake collector on loopback: the spans of a chat
// request arrive (at the latest when the drain flushes the exporter) with their attributes.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>

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
  for (const auto& r : collector.received()) {
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
  EXPECT_TRUE(model_attr);
}

}  // namespace
}  // namespace mlxm::e2e
