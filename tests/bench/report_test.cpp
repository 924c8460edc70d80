// JSON schema stability, admin reader tolerance, plots.
#include "bench/report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "bench/plot.h"
#include "bench/server_info.h"

namespace mlxm::bench {
namespace {

using nlohmann::json;

std::set<std::string> keys_of(const json& j) {
  std::set<std::string> k;
  for (auto it = j.begin(); it != j.end(); ++it) k.insert(it.key());
  return k;
}

LevelResult level(bool stream, bool with_server) {
  LevelResult l;
  RequestRecord r;
  r.success = true;
  r.e2e_ms = 100;
  r.prompt_tokens = 5;
  r.completion_tokens = 3;
  if (stream) {
    r.ttft_ms = 40;
    r.itl_ms = {30, 30};
    r.chunk_at_ms = {40, 70, 100};
  }
  RequestRecord bad;
  bad.error = "HTTP 500: \xff\xfe not utf-8";
  l.requests = {r, bad};
  l.num_requests = 2;
  l.metrics = aggregate(l.requests, 0.2, 2, stream);
  if (with_server) l.server = ServerLoad{3, 2, 2, 0, true, true, true};
  return l;
}

TEST(ReportJson, LevelKeysAreStableAndNullWhenUnmeasured) {
  const std::set<std::string> expected(level_json_keys().begin(), level_json_keys().end());
  for (bool stream : {false, true}) {
    for (bool server : {false, true}) {
      json j = level_json(level(stream, server));
      EXPECT_EQ(keys_of(j), expected) << "stream " << stream << " server " << server;
      EXPECT_EQ(j["completed"], 1);
      EXPECT_EQ(j["failed"], 1);
      EXPECT_EQ(j["output_lens"], json::array({3, 0}));
      EXPECT_EQ(j["median_ttft_ms"].is_null(), !stream);
      EXPECT_EQ(j["p99_itl_ms"].is_null(), !stream);
      EXPECT_EQ(j["server_max_running"].is_null(), !server);
      EXPECT_TRUE(j["median_e2el_ms"].is_number());
    }
  }
  json s = level_json(level(true, true));
  EXPECT_DOUBLE_EQ(s["ttfts"][0].get<double>(), 0.040);  // seconds, as vLLM
  EXPECT_TRUE(s["ttfts"][1].is_null());
  EXPECT_DOUBLE_EQ(s["median_tpot_ms"].get<double>(), 30);
}

TEST(ReportJson, RunKeysAndFileRoundTrip) {
  RunReport r;
  r.options.model = "m";
  r.options.concurrency = {1, 2};
  r.prompt.name = "short";
  r.backend = "local";
  r.levels = {level(true, true), level(true, false)};
  json j = run_json(r);
  const std::set<std::string> expected(run_json_keys().begin(), run_json_keys().end());
  EXPECT_EQ(keys_of(j), expected);
  EXPECT_EQ(j["schema"], kRunSchema);
  EXPECT_EQ(j["levels"].size(), 2u);
  EXPECT_FALSE(run_json(r, false)["levels"][0].contains("ttfts"));
  const std::string path = testing::TempDir() + "/bench_report_test.json";
  ASSERT_TRUE(write_json_file(path, j).ok());  // the non-UTF-8 error text must not throw
  std::ifstream in(path);
  json back = json::parse(in);
  EXPECT_EQ(back["levels"][0]["completed"], 1);
  EXPECT_FALSE(write_json_file("/nonexistent-dir/x.json", j).ok());
  std::filesystem::remove(path);
}

TEST(ServerInfo, ReadsTolerantly) {
  json current = json::parse(R"({"object":"list","data":[
    {"id":"other","running":9},
    {"id":"m","running":3,"waiting":1,"requests_in_flight":4,"weight_bytes":100,"kv_bytes":200,
     "kv_blocks":{"used":5,"total":50}}]})");
  ModelLoad m = read_model_load(current, "m");
  EXPECT_TRUE(m.found);
  EXPECT_EQ(m.running, 3);
  EXPECT_EQ(m.waiting, 1);
  EXPECT_EQ(m.in_flight, 4);
  EXPECT_EQ(m.weight_bytes, 100);
  EXPECT_EQ(m.kv_blocks_used, 5);
  EXPECT_EQ(m.kv_blocks_total, 50);
  EXPECT_TRUE(m.backend.empty());
  // A pool-style view: a bare array, stats nested, some fields missing, a device label.
  json pool = json::parse(
      R"([{"model":"m","device":"cpu","stats":{"running":2},"memory":{"weight_bytes":7}}])");
  ModelLoad p = read_model_load(pool, "m");
  EXPECT_TRUE(p.found);
  EXPECT_EQ(p.running, 2);
  EXPECT_EQ(p.weight_bytes, 7);
  EXPECT_FALSE(p.waiting);
  EXPECT_EQ(p.backend, "cpu");
  EXPECT_FALSE(read_model_load(pool, "absent").found);
  EXPECT_FALSE(read_model_load(json("nonsense"), "m").found);
}

TEST(Plot, SvgAndHtml) {
  std::vector<LevelMetrics> ms = {level(true, false).metrics, level(true, false).metrics};
  ms[1].concurrency = 4;
  std::string svg = render_svg(ms, "model <x> & y");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("model &lt;x&gt; &amp; y"), std::string::npos);
  EXPECT_EQ(svg.find("<x>"), std::string::npos);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_GE(std::count(svg.begin(), svg.end(), '\n'), 10);
  size_t polylines = 0;
  for (size_t at = svg.find("<polyline"); at != std::string::npos;
       at = svg.find("<polyline", at + 1))
    ++polylines;
  EXPECT_EQ(polylines, 7u);  // 2 throughput + 5 latency series
  std::string html = render_html(ms, "t");
  EXPECT_NE(html.find("<table>"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>4</td>"), std::string::npos);
  EXPECT_TRUE(check_plot_path("a.svg").ok());
  EXPECT_TRUE(check_plot_path("a.html").ok());
  EXPECT_FALSE(check_plot_path("a.png").ok());
  // Non-streamed levels have no latency series but E2EL and throughput.
  std::vector<LevelMetrics> ns = {level(false, false).metrics};
  std::string svg2 = render_svg(ns, "t");
  EXPECT_NE(svg2.find("E2EL median @ 2"), std::string::npos);
  EXPECT_EQ(svg2.find("TTFT median @"), std::string::npos);
}

TEST(Summary, MentionsScalingBackendAndMemory) {
  RunReport r;
  r.prompt.name = "short";
  r.prompt.measured_tokens = 16;
  r.backend = "local";
  r.admin_available = true;
  r.before.found = true;
  r.before.weight_bytes = 3 << 20;
  r.levels = {level(true, true), level(true, true)};
  r.levels[1].metrics.output_throughput *= 2;
  std::string s = format_summary(r);
  EXPECT_NE(s.find("2.00x"), std::string::npos) << s;
  EXPECT_NE(s.find("backend: local"), std::string::npos);
  EXPECT_NE(s.find("weights 3.0 MiB"), std::string::npos);
  EXPECT_NE(s.find("16 tokens"), std::string::npos);
}

}  // namespace
}  // namespace mlxm::bench
