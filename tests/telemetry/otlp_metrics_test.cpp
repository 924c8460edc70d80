// OTLP metrics: the JSON encoding of the registry (shape per the OTLP JSON spec), the periodic
// export to a fake collector's /v1/metrics, failures that drop and count, the final export when
// the exporter stops, and the "model load" span.
#include "telemetry/otlp_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "core/env.h"
#include "telemetry/fake_collector.h"
#include "telemetry/otlp_exporter.h"
#include "telemetry/trace_observer.h"

namespace mlxm::telemetry {
namespace {

using mlxm::testing::FakeCollector;
using nlohmann::json;

void fill(MetricRegistry& reg) {
  reg.counter("mlx_requests_total", "Requests.", {"model", "status"})
      .counter({"tiny", "200"})
      .inc(3);
  reg.counter("mlx_requests_total", "Requests.", {"model", "status"})
      .counter({"tiny", "500"})
      .inc(1);
  reg.gauge("mlx_pool_memory_used_bytes", "Pool memory.").gauge({}).set(1024);
  Histogram& h = reg.histogram("mlx_ttft_seconds", "TTFT.", {"model"}, {0.1, 1.0}).histogram({"tiny"});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(0.7);
  h.observe(5.0);
  reg.counter("mlx_unused_total", "Never incremented (no children).", {"model"});
}

const json* metric(const json& body, const std::string& name) {
  for (const auto& m : body["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]) {
    if (m["name"] == name) return &m;
  }
  return nullptr;
}

std::map<std::string, std::string> attrs(const json& point) {
  std::map<std::string, std::string> out;
  for (const auto& a : point["attributes"]) out[a["key"]] = a["value"]["stringValue"];
  return out;
}

TEST(OtlpMetrics, EncodingFollowsTheOtlpJsonShape) {
  MetricRegistry reg;
  fill(reg);
  json j = json::parse(encode_otlp_metrics_json(reg, "svc", 1'000, 2'000));
  const json& rm = j["resourceMetrics"][0];
  EXPECT_EQ(rm["resource"]["attributes"][0]["key"], "service.name");
  EXPECT_EQ(rm["resource"]["attributes"][0]["value"]["stringValue"], "svc");
  EXPECT_EQ(rm["scopeMetrics"][0]["scope"]["name"], "mlx-manager");
  EXPECT_EQ(rm["scopeMetrics"][0]["metrics"].size(), 3u);  // the family without children is out
  EXPECT_EQ(metric(j, "mlx_unused_total"), nullptr);

  const json* c = metric(j, "mlx_requests_total");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ((*c)["description"], "Requests.");
  EXPECT_EQ((*c)["sum"]["isMonotonic"], true);
  EXPECT_EQ((*c)["sum"]["aggregationTemporality"], 2);  // cumulative
  ASSERT_EQ((*c)["sum"]["dataPoints"].size(), 2u);
  std::map<std::string, double> by_status;
  for (const auto& p : (*c)["sum"]["dataPoints"]) {
    EXPECT_EQ(p["startTimeUnixNano"], "1000");
    EXPECT_EQ(p["timeUnixNano"], "2000");
    auto a = attrs(p);
    EXPECT_EQ(a["model"], "tiny");
    by_status[a["status"]] = p["asDouble"];
  }
  EXPECT_EQ(by_status["200"], 3);
  EXPECT_EQ(by_status["500"], 1);

  const json* g = metric(j, "mlx_pool_memory_used_bytes");
  ASSERT_NE(g, nullptr);
  EXPECT_FALSE(g->contains("sum"));
  ASSERT_EQ((*g)["gauge"]["dataPoints"].size(), 1u);
  EXPECT_EQ((*g)["gauge"]["dataPoints"][0]["asDouble"], 1024);
  EXPECT_TRUE((*g)["gauge"]["dataPoints"][0]["attributes"].empty());
  EXPECT_EQ((*g)["gauge"]["dataPoints"][0]["timeUnixNano"], "2000");

  const json* h = metric(j, "mlx_ttft_seconds");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ((*h)["histogram"]["aggregationTemporality"], 2);
  const json& hp = (*h)["histogram"]["dataPoints"][0];
  EXPECT_EQ(attrs(hp)["model"], "tiny");
  EXPECT_EQ(hp["count"], "4");  // uint64 as a string (proto3 JSON)
  EXPECT_DOUBLE_EQ(hp["sum"].get<double>(), 6.25);
  // Per-bucket counts (not cumulative): <=0.1, <=1, +Inf.
  EXPECT_EQ(hp["bucketCounts"], json::array({"1", "2", "1"}));
  EXPECT_EQ(hp["explicitBounds"], json::array({0.1, 1.0}));
}

TEST(OtlpMetrics, NonFiniteValuesAndOddLabelsStayValidJson) {
  MetricRegistry reg;
  reg.gauge("g", "G.", {"name"}).gauge({"quote\" and\nnewline"}).set(2);
  reg.gauge("g", "G.", {"name"}).gauge({"nan"}).set(std::numeric_limits<double>::quiet_NaN());
  reg.gauge("inf", "Inf.").gauge({}).set(std::numeric_limits<double>::infinity());
  json j = json::parse(encode_otlp_metrics_json(reg, "svc", 0, 1));
  const json* g = metric(j, "g");
  ASSERT_NE(g, nullptr);
  ASSERT_EQ((*g)["gauge"]["dataPoints"].size(), 1u);  // the NaN point is left out
  EXPECT_EQ(attrs((*g)["gauge"]["dataPoints"][0])["name"], "quote\" and\nnewline");
  EXPECT_EQ(metric(j, "inf"), nullptr);
}

TEST(OtlpMetrics, CollectHooksRunBeforeEachExport) {
  MetricRegistry reg;
  Gauge& g = reg.gauge("mlx_hooked", "Set by a hook.").gauge({});
  int n = 0;
  reg.add_collect_hook([&] { g.set(++n); });
  json a = json::parse(encode_otlp_metrics_json(reg, "svc", 0, 1));
  json b = json::parse(encode_otlp_metrics_json(reg, "svc", 0, 2));
  EXPECT_EQ((*metric(a, "mlx_hooked"))["gauge"]["dataPoints"][0]["asDouble"], 1);
  EXPECT_EQ((*metric(b, "mlx_hooked"))["gauge"]["dataPoints"][0]["asDouble"], 2);
}

ModelLoadRecord load_of(const std::string& model) {
  ModelLoadRecord r;
  r.model = model;
  r.ok = true;
  return r;
}

OtlpConfig config_for(const FakeCollector& c, int64_t metric_interval_ms) {
  OtlpConfig cfg;
  cfg.endpoint = c.endpoint();
  cfg.flush_interval_ms = 20;
  cfg.timeout_ms = 2000;
  cfg.metric_interval_ms = metric_interval_ms;
  return cfg;
}

std::vector<mlxm::testing::Received> to(const std::vector<mlxm::testing::Received>& all,
                                        const std::string& target) {
  std::vector<mlxm::testing::Received> out;
  for (const auto& r : all)
    if (r.target == target) out.push_back(r);
  return out;
}

TEST(OtlpMetrics, ExporterSendsMetricsToTheCollector) {
  FakeCollector collector;
  MetricRegistry reg;
  fill(reg);
  OtlpExporter exporter(config_for(collector, 600'000), &reg);  // only on request and at stop
  exporter.flush_metrics();
  EXPECT_EQ(exporter.n_metric_exports(), 1u);
  auto got = to(collector.received(), "/v1/metrics");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].headers.find("Content-Type: application/json"), std::string::npos);
  json j = json::parse(got[0].body);
  std::set<std::string> names;
  for (const auto& m : j["resourceMetrics"][0]["scopeMetrics"][0]["metrics"])
    names.insert(m["name"]);
  EXPECT_EQ(names, (std::set<std::string>{"mlx_requests_total", "mlx_pool_memory_used_bytes",
                                          "mlx_ttft_seconds"}));
  // Stopping sends the last values once more (the drain's flush).
  reg.counter("mlx_requests_total", "Requests.", {"model", "status"}).counter({"tiny", "200"}).inc();
  exporter.stop();
  EXPECT_EQ(exporter.n_metric_exports(), 2u);
  got = to(collector.received(), "/v1/metrics");
  ASSERT_EQ(got.size(), 2u);
  json last = json::parse(got[1].body);
  double total_200 = 0;
  for (const auto& p : (*metric(last, "mlx_requests_total"))["sum"]["dataPoints"]) {
    if (attrs(p)["status"] == "200") total_200 = p["asDouble"];
  }
  EXPECT_EQ(total_200, 4);
  exporter.flush_metrics();  // stopped: returns at once
}

TEST(OtlpMetrics, ExportsRepeatEveryInterval) {
  FakeCollector collector;
  MetricRegistry reg;
  fill(reg);
  OtlpExporter exporter(config_for(collector, 30), &reg);
  // Two timed exports (waited for by polling the counter, not by timing assertions).
  for (int i = 0; i < 500 && exporter.n_metric_exports() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(exporter.n_metric_exports(), 2u);
  exporter.stop();
  EXPECT_GE(to(collector.received(), "/v1/metrics").size(), 3u);  // + the final one
}

TEST(OtlpMetrics, FailedExportsAreDroppedAndCounted) {
  FakeCollector collector(503);
  MetricRegistry reg;
  fill(reg);
  OtlpExporter exporter(config_for(collector, 600'000), &reg);
  exporter.flush_metrics();
  EXPECT_EQ(exporter.n_metric_exports(), 0u);
  EXPECT_EQ(exporter.n_metric_dropped(), 1u);
  EXPECT_GE(exporter.n_failed_posts(), 1u);
  // Spans still queue and are handled while metrics fail.
  EXPECT_TRUE(exporter.add({span_for_model_load(load_of("m"))}));
  exporter.flush();
  EXPECT_EQ(exporter.n_dropped(), 1u);
  exporter.stop();
  EXPECT_EQ(exporter.n_metric_dropped(), 2u);  // the final export failed too
}

TEST(OtlpMetrics, NoRegistryMeansNoMetricsPosts) {
  FakeCollector collector;
  OtlpExporter exporter(config_for(collector, 10));
  exporter.flush_metrics();  // returns at once
  exporter.stop();
  EXPECT_TRUE(to(collector.received(), "/v1/metrics").empty());
}

TEST(OtlpMetrics, IntervalComesFromTheEnvironment) {
  ::setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318", 1);
  ::unsetenv("OTEL_METRIC_EXPORT_INTERVAL");
  auto c = otlp_config_from_env();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->metric_interval_ms, 60'000);
  ::setenv("OTEL_METRIC_EXPORT_INTERVAL", "1500", 1);
  c = otlp_config_from_env();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->metric_interval_ms, 1500);
  for (const char* bad : {"0", "-5", "soon"}) {
    ::setenv("OTEL_METRIC_EXPORT_INTERVAL", bad, 1);
    c = otlp_config_from_env();
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_NE(c.status().message().find("OTEL_METRIC_EXPORT_INTERVAL"), std::string::npos)
        << c.status().message();
  }
  ::unsetenv("OTEL_METRIC_EXPORT_INTERVAL");
  ::unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
}

TEST(OtlpMetrics, ModelLoadSpan) {
  Span ok = span_for_model_load({.model = "tiny",
                                 .start_unix_ms = 1'700'000'000'000,
                                 .duration_ms = 250,
                                 .bytes = 123,
                                 .file_bytes = 100,
                                 .ok = true,
                                 .error = ""});
  EXPECT_EQ(ok.name, "model load");
  EXPECT_FALSE(ok.error);
  EXPECT_EQ(ok.end_unix_ns - ok.start_unix_ns, 250'000'000);
  json j = json::parse(encode_otlp_json({ok}, "svc"));
  const json& s = j["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  std::map<std::string, json> a;
  for (const auto& x : s["attributes"]) a[x["key"]] = x["value"];
  EXPECT_EQ(a["mlx.model"]["stringValue"], "tiny");
  EXPECT_EQ(a["mlx.model.bytes"]["intValue"], "123");
  EXPECT_EQ(a["mlx.model.file_bytes"]["intValue"], "100");
  EXPECT_EQ(a["mlx.model.load_ms"]["doubleValue"], 250.0);
  EXPECT_EQ(a["mlx.outcome"]["stringValue"], "loaded");
  EXPECT_EQ(s["status"]["code"], 1);
  ModelLoadRecord failed = load_of("x");
  failed.ok = false;
  failed.error = "no config.json";
  Span bad = span_for_model_load(failed);
  EXPECT_TRUE(bad.error);
  EXPECT_EQ(bad.status_message, "no config.json");
}

}  // namespace
}  // namespace mlxm::telemetry
