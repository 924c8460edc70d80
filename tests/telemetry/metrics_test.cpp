#include "telemetry/metrics.h"

#include <gtest/gtest.h>

#include <thread>

#include "telemetry/prom_parser.h"
#include "telemetry/prometheus.h"
#include "telemetry/serving_metrics.h"

namespace mlxm::telemetry {
namespace {

using testing::parse_prometheus_text;

TEST(Histogram, BucketsAreLessOrEqualAndCumulative) {
  Histogram h({1.0, 2.0, 5.0});
  for (double v : {0.5, 1.0, 1.5, 2.0, 3.0, 7.0}) h.observe(v);
  auto s = h.snapshot();
  ASSERT_EQ(s.cumulative.size(), 4u);
  EXPECT_EQ(s.cumulative[0], 2u);  // 0.5, 1.0
  EXPECT_EQ(s.cumulative[1], 4u);  // + 1.5, 2.0
  EXPECT_EQ(s.cumulative[2], 5u);  // + 3.0
  EXPECT_EQ(s.cumulative[3], 6u);  // + 7.0 (+Inf)
  EXPECT_EQ(s.count, 6u);
  EXPECT_DOUBLE_EQ(s.sum, 15.0);
  h.observe(std::nan(""));  // ignored
  EXPECT_EQ(h.snapshot().count, 6u);
}

TEST(MetricRegistry, ConcurrentUpdatesAreNotLost) {
  MetricRegistry reg;
  Family& c = reg.counter("t_total", "help", {"k"});
  Family& h = reg.histogram("t_seconds", "help", {"k"}, {0.5});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Counter& mine = c.counter({t % 2 ? "odd" : "even"});
      Histogram& hist = h.histogram({"x"});
      for (int i = 0; i < 10000; ++i) {
        mine.inc();
        hist.observe(i % 2 ? 0.25 : 1.0);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.counter({"odd"}).value(), 20000);
  EXPECT_EQ(c.counter({"even"}).value(), 20000);
  auto s = h.histogram({"x"}).snapshot();
  EXPECT_EQ(s.count, 40000u);
  EXPECT_EQ(s.cumulative[0], 20000u);
}

TEST(MetricRegistry, ReRegistrationReturnsTheSameFamily) {
  MetricRegistry reg;
  Family& a = reg.gauge("g", "help", {"model"});
  Family& b = reg.gauge("g", "help", {"model"});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(reg.families().size(), 1u);
}

TEST(MetricRegistryDeathTest, ConflictsAndBadNamesAbort) {
  MetricRegistry reg;
  reg.gauge("g", "help", {"model"});
  EXPECT_DEATH(reg.counter("g", "help", {"model"}), "registered twice");
  EXPECT_DEATH(reg.counter("bad-name", "help"), "bad metric name");
  EXPECT_DEATH(reg.counter("ok", "help", {"__reserved"}), "bad label name");
  EXPECT_DEATH(reg.histogram("h", "help", {"le"}, {1.0}), "le");
  EXPECT_DEATH(reg.histogram("h2", "help", {}, {2.0, 1.0}), "");
}

TEST(Prometheus, EncodesEveryTypeInAParseableWay) {
  MetricRegistry reg;
  reg.counter("mlx_x_total", "A counter with a \\ backslash\nand a newline.", {"model", "backend"})
      .counter({"we\"ird\\name\n", "local"})
      .inc(3);
  reg.gauge("mlx_g", "A gauge.").gauge({}).set(-2.5);
  Family& h = reg.histogram("mlx_h_seconds", "A histogram.", {"model"}, {0.1, 1.0});
  h.histogram({"m"}).observe(0.05);
  h.histogram({"m"}).observe(0.5);
  h.histogram({"m"}).observe(50);
  reg.counter("mlx_empty_total", "No children yet.", {"model"});
  std::string text = encode_prometheus(reg);

  auto p = parse_prometheus_text(text);
  ASSERT_TRUE(p.ok()) << p.error << "\n" << text;
  EXPECT_EQ(p.families.at("mlx_x_total").type, "counter");
  EXPECT_EQ(p.value("mlx_x_total", {{"model", "we\"ird\\name\n"}, {"backend", "local"}}), 3);
  EXPECT_EQ(p.value("mlx_g", {}), -2.5);
  EXPECT_EQ(p.value("mlx_h_seconds_bucket", {{"model", "m"}, {"le", "0.1"}}), 1);
  EXPECT_EQ(p.value("mlx_h_seconds_bucket", {{"model", "m"}, {"le", "1"}}), 2);
  EXPECT_EQ(p.value("mlx_h_seconds_bucket", {{"model", "m"}, {"le", "+Inf"}}), 3);
  EXPECT_EQ(p.value("mlx_h_seconds_count", {{"model", "m"}}), 3);
  EXPECT_DOUBLE_EQ(p.value("mlx_h_seconds_sum", {{"model", "m"}}), 50.55);
  EXPECT_TRUE(p.families.at("mlx_empty_total").samples.empty());
  EXPECT_NE(text.find("# HELP mlx_x_total A counter with a \\\\ backslash\\nand a newline.\n"),
            std::string::npos);
}

TEST(Prometheus, CollectHooksRunBeforeEncoding) {
  MetricRegistry reg;
  Family& g = reg.gauge("mlx_running", "r", {"model"});
  int calls = 0;
  reg.add_collect_hook([&] { g.gauge({"a"}).set(++calls); });
  auto p1 = parse_prometheus_text(encode_prometheus(reg));
  auto p2 = parse_prometheus_text(encode_prometheus(reg));
  ASSERT_TRUE(p1.ok() && p2.ok());
  EXPECT_EQ(p1.value("mlx_running", {{"model", "a"}}), 1);
  EXPECT_EQ(p2.value("mlx_running", {{"model", "a"}}), 2);
}

TEST(Prometheus, ValueFormatting) {
  EXPECT_EQ(format_prometheus_value(3), "3");
  EXPECT_EQ(format_prometheus_value(-0.25), "-0.25");
  EXPECT_EQ(format_prometheus_value(1e20), "1e+20");
  EXPECT_EQ(format_prometheus_value(INFINITY), "+Inf");
  EXPECT_EQ(format_prometheus_value(-INFINITY), "-Inf");
  EXPECT_EQ(format_prometheus_value(NAN), "NaN");
}

// The strict parser must itself reject malformed text, or the tests above prove nothing.
TEST(PromParser, RejectsMalformedExpositions) {
  const char* bad[] = {
      "x 1",                                                            // no final newline
      "bad-name 1\n",                                                   // bad name
      "x{a=\"1\",a=\"2\"} 1\n",                                         // duplicate label
      "x{a=\"\\q\"} 1\n",                                               // bad escape
      "x 1\nx 2\n",                                                     // duplicate series
      "# TYPE x counter\nx -1\n",                                       // negative counter
      "# TYPE x gauge\n# TYPE x counter\nx 1\n",                        // two TYPE lines
      "x 1\n# TYPE x gauge\n",                                          // TYPE after samples
      "# TYPE x gauge\nx{a=\"1\"} 1\n# TYPE y gauge\ny 1\nx{a=\"2\"} 1\n",  // split family
      "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
      "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",  // no +Inf
      "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",  // count mismatch
      "x abc\n",                                                        // bad value
  };
  for (const char* t : bad) EXPECT_FALSE(parse_prometheus_text(t).ok()) << t;
  EXPECT_TRUE(parse_prometheus_text("# HELP x h\n# TYPE x gauge\nx{a=\"b\"} 1 1700000000\n").ok());
}

TEST(ServingMetrics, RecordFillsTheVllmShapedFamilies) {
  MetricRegistry reg;
  ServingMetrics m(reg);
  RequestRecord r;
  r.model = "tiny";
  r.backend = "local";
  r.finish_reason = "length";
  r.duration_ms = 300;
  r.queue_ms = 10;
  r.ttft_ms = 100;
  r.prompt_tokens = 7;
  r.completion_tokens = 5;
  r.inter_token_ms = {50, 50, 50, 50};
  m.record(r);
  RequestRecord bad;  // a 404 that never reached a model
  bad.outcome = RequestOutcome::kError;
  bad.http_status = 404;
  m.record(bad);
  m.set_scheduler("tiny", "local", {2, 1, 30, 120, 16, 64, 3});

  auto p = parse_prometheus_text(encode_prometheus(reg));
  ASSERT_TRUE(p.ok()) << p.error;
  const std::map<std::string, std::string> mb = {{"model", "tiny"}, {"backend", "local"}};
  EXPECT_EQ(p.value("mlx_requests_total", {{"model", "tiny"}, {"backend", "local"}, {"status", "success"}}), 1);
  EXPECT_EQ(p.value("mlx_requests_total", {{"model", ""}, {"backend", ""}, {"status", "error"}}), 1);
  EXPECT_EQ(p.value("mlx_request_success_total",
                    {{"model", "tiny"}, {"backend", "local"}, {"finished_reason", "length"}}), 1);
  EXPECT_EQ(p.value("mlx_prompt_tokens_total", mb), 7);
  EXPECT_EQ(p.value("mlx_generation_tokens_total", mb), 5);
  EXPECT_DOUBLE_EQ(p.value("mlx_e2e_request_latency_seconds_sum", mb), 0.3);
  EXPECT_DOUBLE_EQ(p.value("mlx_time_to_first_token_seconds_sum", mb), 0.1);
  EXPECT_DOUBLE_EQ(p.value("mlx_time_per_output_token_seconds_sum", mb), 0.05);
  EXPECT_EQ(p.value("mlx_inter_token_latency_seconds_count", mb), 4);
  EXPECT_DOUBLE_EQ(p.value("mlx_request_queue_time_seconds_sum", mb), 0.01);
  EXPECT_EQ(p.value("mlx_num_requests_running", mb), 2);
  EXPECT_EQ(p.value("mlx_num_requests_waiting", mb), 1);
  EXPECT_DOUBLE_EQ(p.value("mlx_kv_cache_usage_perc", mb), 0.25);
  EXPECT_DOUBLE_EQ(p.value("mlx_prefix_cache_hit_rate", mb), 0.25);
  EXPECT_EQ(p.value("mlx_num_preemptions_total", mb), 3);
  m.remove_model("tiny", "local");
  auto p2 = parse_prometheus_text(encode_prometheus(reg));
  ASSERT_TRUE(p2.ok());
  EXPECT_TRUE(std::isnan(p2.value("mlx_num_requests_running", mb)));
}

TEST(RequestRecord, TokensPerSecondIsTheDecodeRate) {
  RequestRecord r;
  r.completion_tokens = 11;
  r.ttft_ms = 100;
  r.duration_ms = 1100;
  EXPECT_DOUBLE_EQ(r.tokens_per_second(), 10.0);
  r.completion_tokens = 0;
  EXPECT_EQ(r.tokens_per_second(), 0);
}

}  // namespace
}  // namespace mlxm::telemetry
