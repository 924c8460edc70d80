// The OTLP/HTTP exporter against a fake collector on loopback (a plain HTTP server that records
// each POST), and the spans made from a request record.
#include "telemetry/otlp_exporter.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "telemetry/fake_collector.h"
#include "telemetry/trace_observer.h"

namespace mlxm::telemetry {
namespace {

using nlohmann::json;

using mlxm::testing::FakeCollector;

RequestRecord chat_record() {
  RequestRecord r;
  r.request_id = "req_abc";
  r.t_start_unix_ms = 1'700'000'000'000;
  r.method = "POST";
  r.endpoint = "/v1/chat/completions";
  r.model = "tiny";
  r.backend = "local";
  r.http_status = 200;
  r.finish_reason = "stop";
  r.duration_ms = 100;
  r.queue_ms = 5;
  r.ttft_ms = 30;
  r.prompt_tokens = 12;
  r.completion_tokens = 8;
  r.api_key_id = "key_1";
  return r;
}

OtlpConfig config_for(const FakeCollector& c) {
  OtlpConfig cfg;
  cfg.endpoint = c.endpoint();
  cfg.headers = {{"Authorization", "test-token"}};
  cfg.flush_interval_ms = 20;
  cfg.timeout_ms = 2000;
  return cfg;
}

const json* find_attr(const json& span, const std::string& key) {
  for (const auto& a : span["attributes"]) {
    if (a["key"] == key) return &a["value"];
  }
  return nullptr;
}

TEST(Otlp, SpansOfARequestNestUnderTheServerSpan) {
  auto spans = spans_for_request(chat_record());
  ASSERT_EQ(spans.size(), 4u);  // request, queue, prefill, decode
  EXPECT_EQ(spans[0].name, "POST /v1/chat/completions");
  EXPECT_EQ(spans[0].kind, 2);
  EXPECT_EQ(spans[0].end_unix_ns - spans[0].start_unix_ns, 100'000'000);
  EXPECT_EQ(spans[1].name, "queue");
  EXPECT_EQ(spans[2].name, "prefill");
  EXPECT_EQ(spans[2].start_unix_ns - spans[0].start_unix_ns, 5'000'000);
  EXPECT_EQ(spans[2].end_unix_ns - spans[0].start_unix_ns, 30'000'000);
  EXPECT_EQ(spans[3].name, "decode");
  for (size_t i = 1; i < spans.size(); ++i) {
    EXPECT_EQ(spans[i].trace_id, spans[0].trace_id);
    EXPECT_EQ(spans[i].parent_span_id, spans[0].span_id);
  }
  EXPECT_EQ(spans[0].trace_id.size(), 32u);
  EXPECT_EQ(spans[0].span_id.size(), 16u);
  RequestRecord cloud = chat_record();
  cloud.backend = "openai";
  cloud.queue_ms = -1;
  auto cs = spans_for_request(cloud);
  EXPECT_EQ(cs.back().name, "cloud call");
  EXPECT_EQ(cs.back().kind, 3);
  RequestRecord failed = chat_record();
  failed.outcome = RequestOutcome::kError;
  failed.error_message = "bad \"input\"\n";
  failed.ttft_ms = -1;
  failed.queue_ms = -1;
  auto fs = spans_for_request(failed);
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_TRUE(fs[0].error);
  // The JSON encoding escapes and parses back.
  json j = json::parse(encode_otlp_json(fs, "svc"));
  EXPECT_EQ(j["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["status"]["message"],
            "bad \"input\"\n");
  EXPECT_EQ(j["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["status"]["code"], 2);
}

TEST(Otlp, ExportReachesTheCollectorWithSpansAndAttributes) {
  FakeCollector collector;
  auto exporter = std::make_shared<OtlpExporter>(config_for(collector));
  TraceObserver observer(exporter);
  observer.on_request_complete(chat_record());
  observer.on_request_complete(chat_record());
  exporter->flush();
  EXPECT_EQ(exporter->n_exported(), 8u);
  EXPECT_EQ(exporter->n_dropped(), 0u);
  auto got = collector.received();
  ASSERT_GE(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/v1/traces");
  EXPECT_NE(got[0].headers.find("Authorization: test-token"), std::string::npos) << got[0].headers;
  EXPECT_NE(got[0].headers.find("Content-Type: application/json"), std::string::npos);
  size_t n_spans = 0;
  bool saw_root = false;
  for (const auto& r : got) {
    json body = json::parse(r.body);
    const json& rs = body["resourceSpans"][0];
    EXPECT_EQ(rs["resource"]["attributes"][0]["key"], "service.name");
    for (const auto& s : rs["scopeSpans"][0]["spans"]) {
      ++n_spans;
      if (s["name"] != "POST /v1/chat/completions") continue;
      saw_root = true;
      EXPECT_EQ(s["kind"], 2);
      ASSERT_NE(find_attr(s, "gen_ai.request.model"), nullptr);
      EXPECT_EQ((*find_attr(s, "gen_ai.request.model"))["stringValue"], "tiny");
      EXPECT_EQ((*find_attr(s, "gen_ai.usage.output_tokens"))["intValue"], "8");
      EXPECT_EQ((*find_attr(s, "http.response.status_code"))["intValue"], "200");
      EXPECT_EQ((*find_attr(s, "mlx.api_key_id"))["stringValue"], "key_1");
      EXPECT_EQ(s["startTimeUnixNano"], "1700000000000000000");
    }
  }
  EXPECT_EQ(n_spans, 8u);
  EXPECT_TRUE(saw_root);
  exporter->stop();
}

TEST(Otlp, FailuresDropAndCountButNeverBlock) {
  FakeCollector collector(500);
  OtlpExporter exporter(config_for(collector));
  EXPECT_TRUE(exporter.add(spans_for_request(chat_record())));
  exporter.flush();
  EXPECT_EQ(exporter.n_exported(), 0u);
  EXPECT_EQ(exporter.n_dropped(), 4u);
  EXPECT_GE(exporter.n_failed_posts(), 1u);
  exporter.stop();
  EXPECT_FALSE(exporter.add(spans_for_request(chat_record())));  // stopped
}

TEST(Otlp, UnreachableCollectorAndAFullQueue) {
  OtlpConfig cfg;
  cfg.endpoint = "http://127.0.0.1:1";  // nothing listens there
  cfg.flush_interval_ms = 600'000;      // nothing is sent before flush(): the queue stays full
  cfg.max_queue = 4;
  OtlpExporter exporter(cfg);
  EXPECT_TRUE(exporter.add(spans_for_request(chat_record())));   // 4 spans: fits
  EXPECT_FALSE(exporter.add(spans_for_request(chat_record())));  // would exceed: dropped
  exporter.flush();
  EXPECT_EQ(exporter.n_exported(), 0u);
  EXPECT_EQ(exporter.n_dropped(), 8u);
  exporter.stop();
}

}  // namespace
}  // namespace mlxm::telemetry
