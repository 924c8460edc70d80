// Audit log, its exports and live feed, and /metrics, over the real binary serving the tiny
// model. Each test gets its own MLX_MANAGER_HOME (a fresh database).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "e2e/openai/openai_fixture.h"
#include "telemetry/prom_parser.h"

namespace mlxm::e2e {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using nlohmann::json;

constexpr const char* kSecret = "SECRET-PROMPT-7c1f9e";

struct TempHome {
  TempHome() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("mlxm-audit-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempHome() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path path;
};

std::string model_name() { return std::filesystem::path(tiny_model_dir()).filename().string(); }

json chat(const std::string& text, int max_tokens, bool stream = false) {
  return json{{"model", model_name()},
              {"messages", json::array({{{"role", "user"}, {"content", text}}})},
              {"max_tokens", max_tokens},
              {"temperature", 0},
              {"stream", stream}};
}

class AuditE2E : public ::testing::Test {
 protected:
  void start(std::map<std::string, std::string> env = {}) {
    env["MLX_MANAGER_HOME"] = home_.path.string();
    server_ = std::make_unique<ServerProcess>(model_server(tiny_model_dir(), env));
    ASSERT_TRUE(server_->ok()) << server_->error();
  }
  // Waits until the audit log holds `n` rows and returns them (newest first).
  json rows(int n, const std::string& query = "") {
    json body;
    HttpResult last;
    eventually([&] {
      last = server_->get("/admin/audit-logs?limit=1000" + query);
      body = last.json();
      return body.is_object() && body["total"] == n;
    });
    if (!body.is_object()) {
      ADD_FAILURE() << "no audit-log listing: " << last.status << " " << last.error << " "
                    << last.body.substr(0, 300) << "\n" << server_->log();
      return json::array();
    }
    EXPECT_EQ(body["total"], n) << body.dump();
    return body["data"];
  }
  // The four requests most tests need: chat, streamed chat, unknown model, malformed JSON.
  void four_requests() {
    auto r = server_->post("/v1/chat/completions", chat(std::string("hi ") + kSecret, 5).dump(),
                           {{"X-Request-ID", "audit-req-1"}});
    ASSERT_EQ(r.status, 200) << r.body;
    auto s = post_stream(*server_, "/v1/chat/completions", chat("stream please", 4, true));
    ASSERT_EQ(s.status, 200);
    ASSERT_TRUE(s.done);
    auto nf = server_->post("/v1/chat/completions",
                            json{{"model", "no-such-model"},
                                 {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}}
                                .dump());
    ASSERT_EQ(nf.status, 404);
    auto bad = server_->post("/v1/chat/completions", "{not json", {{"X-Request-ID", "audit-bad"}});
    ASSERT_EQ(bad.status, 400);
  }

  TempHome home_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(AuditE2E, EveryRequestIsRecordedWithItsFields) {
  start();
  four_requests();
  json data = rows(4);
  ASSERT_EQ(data.size(), 4u);
  // Newest first.
  for (size_t i = 1; i < data.size(); ++i) EXPECT_GE(data[i - 1]["timestamp_ms"], data[i]["timestamp_ms"]);
  const json& bad = data[0];
  EXPECT_EQ(bad["request_id"], "audit-bad");
  EXPECT_EQ(bad["status"], "error");
  EXPECT_EQ(bad["http_status"], 400);
  EXPECT_EQ(bad["error_type"], "invalid_request_error");
  EXPECT_FALSE(bad["error_message"].get<std::string>().empty());
  const json& nf = data[1];
  EXPECT_EQ(nf["http_status"], 404);
  EXPECT_EQ(nf["model"], "no-such-model");
  const json& st = data[2];
  EXPECT_EQ(st["stream"], true);
  EXPECT_EQ(st["status"], "success");
  EXPECT_EQ(st["completion_tokens"], 4);
  const json& c = data[3];
  EXPECT_EQ(c["request_id"], "audit-req-1");
  EXPECT_EQ(c["endpoint"], "/v1/chat/completions");
  EXPECT_EQ(c["method"], "POST");
  EXPECT_EQ(c["model"], model_name());
  EXPECT_EQ(c["backend"], "local");
  EXPECT_EQ(c["status"], "success");
  EXPECT_EQ(c["http_status"], 200);
  EXPECT_EQ(c["stream"], false);
  EXPECT_EQ(c["completion_tokens"], 5);
  EXPECT_GT(c["prompt_tokens"].get<int>(), 5);
  EXPECT_TRUE(c["ttft_ms"].is_number());
  EXPECT_TRUE(c["queue_ms"].is_number());
  EXPECT_GE(c["duration_ms"].get<double>(), c["ttft_ms"].get<double>());
  EXPECT_GT(c["tokens_per_second"].get<double>(), 0);
  EXPECT_EQ(c["client_address"].get<std::string>().rfind("127.0.0.1:", 0), 0u);
  EXPECT_TRUE(c["api_key_id"].is_null());
  EXPECT_TRUE(c["prompt_content"].is_null());
  EXPECT_TRUE(c["response_content"].is_null());

  // Filters and pagination.
  EXPECT_EQ(rows(2, "&status=error").size(), 2u);
  EXPECT_EQ(rows(2, "&model=" + model_name()).size(), 2u);
  auto page = server_->get("/admin/audit-logs?limit=1&offset=1").json();
  EXPECT_EQ(page["data"][0]["id"], data[1]["id"]);
  EXPECT_EQ(page["has_more"], true);
  const int64_t t = c["timestamp_ms"];
  EXPECT_EQ(rows(1, "&until=" + std::to_string(t + 1) + "&since=" + std::to_string(t)).size(), 1u);
  EXPECT_EQ(server_->get("/admin/audit-logs?status=bogus").status, 400);
  EXPECT_EQ(server_->get("/admin/audit-logs?limit=0").status, 400);
  EXPECT_EQ(server_->get("/admin/audit-logs?since=yesterday").status, 400);

  auto stats = server_->get("/admin/audit-logs/stats").json();
  EXPECT_EQ(stats["total_requests"], 4);
  EXPECT_EQ(stats["by_status"]["success"], 2);
  EXPECT_EQ(stats["by_status"]["error"], 2);
  EXPECT_EQ(stats["completion_tokens"], 9);

  // The prompt never reaches the database (file, WAL) when content capture is off.
  for (const char* f : {"mlx-manager.db", "mlx-manager.db-wal"}) {
    std::ifstream in(home_.path / f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(ss.str().find(kSecret), std::string::npos) << f;
  }
}

// RFC 4180: fields separated by commas, records by CRLF, quoted fields with "" for a quote.
std::vector<std::vector<std::string>> parse_csv(const std::string& text, std::string* error) {
  std::vector<std::vector<std::string>> out;
  std::vector<std::string> rec;
  std::string field;
  size_t i = 0;
  bool quoted = false, field_started = false;
  while (i < text.size()) {
    char ch = text[i];
    if (quoted) {
      if (ch == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        ++i;
        if (i < text.size() && text[i] != ',' && text[i] != '\r') {
          *error = "text after a closing quote at " + std::to_string(i);
          return {};
        }
        continue;
      }
      field += ch;
      ++i;
      continue;
    }
    if (ch == '"') {
      if (field_started) {
        *error = "quote inside an unquoted field at " + std::to_string(i);
        return {};
      }
      quoted = field_started = true;
      ++i;
    } else if (ch == ',') {
      rec.push_back(std::move(field));
      field.clear();
      field_started = false;
      ++i;
    } else if (ch == '\r') {
      if (i + 1 >= text.size() || text[i + 1] != '\n') {
        *error = "bare CR at " + std::to_string(i);
        return {};
      }
      rec.push_back(std::move(field));
      field.clear();
      field_started = false;
      out.push_back(std::move(rec));
      rec.clear();
      i += 2;
    } else if (ch == '\n') {
      *error = "bare LF outside quotes at " + std::to_string(i);
      return {};
    } else {
      field += ch;
      field_started = true;
      ++i;
    }
  }
  if (quoted || !rec.empty() || !field.empty()) *error = "unterminated last record";
  return out;
}

std::string csv_value(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return v.dump();
}

TEST_F(AuditE2E, CsvAndJsonlExportsParseBackToTheSameRows) {
  start({{"MLX_SERVER_AUDIT_CONTENT", "true"}});  // content with quotes/newlines exercises quoting
  four_requests();
  auto q = server_->post("/v1/completions",
                         json{{"model", model_name()}, {"prompt", "a \"quoted\", line\r\nnext"},
                              {"max_tokens", 3}}.dump());
  ASSERT_EQ(q.status, 200) << q.body;
  json data = rows(5);

  auto jsonl = server_->get("/admin/audit-logs/export?format=jsonl");
  ASSERT_EQ(jsonl.status, 200);
  EXPECT_NE(jsonl.headers["content-type"].find("application/x-ndjson"), std::string::npos);
  std::istringstream lines(jsonl.body);
  std::string line;
  size_t n = 0;
  while (std::getline(lines, line)) {
    ASSERT_LT(n, data.size());
    EXPECT_EQ(json::parse(line), data[n]) << line;
    ++n;
  }
  EXPECT_EQ(n, data.size());

  auto csv = server_->get("/admin/audit-logs/export?format=csv");
  ASSERT_EQ(csv.status, 200);
  std::string err;
  auto recs = parse_csv(csv.body, &err);
  ASSERT_TRUE(err.empty()) << err;
  ASSERT_EQ(recs.size(), data.size() + 1);
  const auto& header = recs[0];
  for (size_t r = 0; r < data.size(); ++r) {
    ASSERT_EQ(recs[r + 1].size(), header.size());
    for (size_t k = 0; k < header.size(); ++k) {
      const json& v = data[r][header[k] == "timestamp_ms" ? "timestamp_ms" : header[k]];
      if (v.is_number_float()) {
        EXPECT_EQ(std::stod(recs[r + 1][k]), v.get<double>()) << header[k];
      } else {
        EXPECT_EQ(recs[r + 1][k], csv_value(v)) << header[k];
      }
    }
  }
  // Content capture on: the prompt is kept (and it is the only way it gets in).
  EXPECT_NE(data[4]["prompt_content"].get<std::string>().find(kSecret), std::string::npos);
  EXPECT_TRUE(data[4]["response_content"].is_string());
  // Oldest first and filtered.
  auto asc = server_->get("/admin/audit-logs/export?format=jsonl&order=asc&status=success");
  std::istringstream l2(asc.body);
  std::vector<json> got;
  while (std::getline(l2, line)) got.push_back(json::parse(line));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got.front()["request_id"], "audit-req-1");
  EXPECT_EQ(server_->get("/admin/audit-logs/export?format=xml").status, 400);
}

TEST_F(AuditE2E, WebSocketFeedSendsBacklogThenLiveRows) {
  start();
  auto first = server_->post("/v1/chat/completions", chat("before", 2).dump(), {{"X-Request-ID", "ws-before"}});
  ASSERT_EQ(first.status, 200);
  rows(1);
  net::io_context ioc;
  websocket::stream<net::ip::tcp::socket> ws(ioc);
  ws.next_layer().connect({net::ip::make_address("127.0.0.1"), server_->port()});
  ws.handshake("127.0.0.1", "/admin/ws/audit-logs");
  auto read = [&] {
    beast::flat_buffer buf;
    ws.read(buf);
    return json::parse(beast::buffers_to_string(buf.data()));
  };
  json b = read();
  EXPECT_EQ(b["type"], "audit_log");
  EXPECT_EQ(b["backlog"], true);
  EXPECT_EQ(b["data"]["request_id"], "ws-before");
  auto live = server_->post("/v1/chat/completions", chat("after", 2).dump(), {{"X-Request-ID", "ws-live"}});
  ASSERT_EQ(live.status, 200);
  json m = read();
  while (m["type"] == "ping") m = read();
  EXPECT_EQ(m["backlog"], false);
  EXPECT_EQ(m["data"]["request_id"], "ws-live");
  EXPECT_EQ(m["data"]["status"], "success");
  EXPECT_GT(m["data"]["id"].get<int64_t>(), b["data"]["id"].get<int64_t>());
  ws.close(websocket::close_code::normal);
}

TEST_F(AuditE2E, MetricsEndpointIsStrictPrometheusText) {
  start();
  four_requests();
  rows(4);
  auto r = server_->get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.headers["content-type"].find("text/plain; version=0.0.4"), std::string::npos);
  auto p = mlxm::testing::parse_prometheus_text(r.body);
  ASSERT_TRUE(p.ok()) << p.error << "\n" << r.body;
  const std::map<std::string, std::string> mb = {{"model", model_name()}, {"backend", "local"}};
  auto with = [&](std::map<std::string, std::string> extra) {
    auto l = mb;
    l.insert(extra.begin(), extra.end());
    return l;
  };
  EXPECT_EQ(p.value("mlx_requests_total", with({{"status", "success"}})), 2);
  EXPECT_EQ(p.value("mlx_requests_total", {{"model", ""}, {"backend", ""}, {"status", "error"}}), 2);
  EXPECT_EQ(p.value("mlx_generation_tokens_total", mb), 9);
  EXPECT_GT(p.value("mlx_prompt_tokens_total", mb), 0);
  EXPECT_EQ(p.value("mlx_request_success_total", with({{"finished_reason", "length"}})), 2);
  EXPECT_EQ(p.value("mlx_e2e_request_latency_seconds_count", mb), 2);
  EXPECT_EQ(p.value("mlx_time_to_first_token_seconds_count", mb), 2);
  EXPECT_EQ(p.value("mlx_time_per_output_token_seconds_count", mb), 2);
  EXPECT_EQ(p.value("mlx_inter_token_latency_seconds_count", mb), 4 + 3);
  EXPECT_EQ(p.value("mlx_num_requests_running", mb), 0);
  EXPECT_EQ(p.value("mlx_num_requests_waiting", mb), 0);
  EXPECT_GT(p.value("mlx_kv_cache_blocks_total", mb), 0);
  EXPECT_EQ(p.value("mlx_audit_rows_written_total", {}), 4);
  EXPECT_EQ(p.value("mlx_audit_rows_dropped_total", {}), 0);
  for (const char* f : {"mlx_prefix_cache_hits_total", "mlx_prefix_cache_queries_total",
                        "mlx_prefix_cache_hit_rate", "mlx_kv_cache_usage_perc",
                        "mlx_num_preemptions_total", "mlx_request_queue_time_seconds",
                        "mlx_model_loads_total", "mlx_pool_memory_used_bytes"}) {
    EXPECT_TRUE(p.families.count(f)) << f;
  }
}

TEST_F(AuditE2E, DrainOnShutdownWritesQueuedRows) {
  start();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(server_->post("/v1/chat/completions", chat("bye", 1).dump()).status, 200);
  }
  server_->signal(SIGTERM);
  ASSERT_EQ(server_->wait_exit(20000), 0);
  // Reopen the same home: every row is there.
  start();
  EXPECT_EQ(rows(3).size(), 3u);
}

}  // namespace
}  // namespace mlxm::e2e
