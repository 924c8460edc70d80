#include "telemetry/otlp_exporter.h"

#include <curl/curl.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "core/env.h"
#include "core/log.h"
#include "telemetry/otlp_json.h"
#include "telemetry/otlp_metrics.h"

namespace mlxm::telemetry {
namespace {

constexpr const char* kLogfireEndpoint = "https://logfire-api.pydantic.dev";

std::string random_hex(int n_bytes) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  while (static_cast<int>(out.size()) < n_bytes * 2) {
    uint64_t bits = rng();
    for (int i = 0; i < 16 && static_cast<int>(out.size()) < n_bytes * 2; ++i) {
      out += kHex[(bits >> (i * 4)) & 15];
    }
  }
  return out;
}

size_t discard(char*, size_t size, size_t n, void*) {
  return size * n;
}

}  // namespace

std::string new_trace_id() {
  return random_hex(16);
}
std::string new_span_id() {
  return random_hex(8);
}

Result<std::optional<OtlpConfig>> otlp_config_from_env() {
  OtlpConfig c;
  auto endpoint = env_get("OTEL_EXPORTER_OTLP_ENDPOINT");
  auto logfire = env_get("LOGFIRE_TOKEN");
  if (!endpoint && !logfire) return std::optional<OtlpConfig>();
  if (endpoint) {
    c.endpoint = *endpoint;
    if (c.endpoint.rfind("http://", 0) != 0 && c.endpoint.rfind("https://", 0) != 0) {
      return invalid_argument(
          "OTEL_EXPORTER_OTLP_ENDPOINT must start with http:// or https:// (got '" + c.endpoint +
          "')");
    }
  } else {
    c.endpoint = kLogfireEndpoint;
    c.headers.emplace_back("Authorization", *logfire);
  }
  while (!c.endpoint.empty() && c.endpoint.back() == '/') c.endpoint.pop_back();
  if (auto h = env_get("OTEL_EXPORTER_OTLP_HEADERS")) {
    MLXM_ASSIGN_OR_RETURN(std::vector<std::string> pairs,
                          parse_list("OTEL_EXPORTER_OTLP_HEADERS", *h));
    for (const std::string& p : pairs) {
      size_t eq = p.find('=');
      if (eq == std::string::npos || eq == 0) {
        return invalid_argument("OTEL_EXPORTER_OTLP_HEADERS: '" + p + "' is not key=value");
      }
      c.headers.emplace_back(p.substr(0, eq), p.substr(eq + 1));
    }
  }
  c.service_name = env_string("OTEL_SERVICE_NAME", "mlx-manager");
  MLXM_ASSIGN_OR_RETURN(c.metric_interval_ms,
                        env_int("OTEL_METRIC_EXPORT_INTERVAL", c.metric_interval_ms, 1));
  return std::optional<OtlpConfig>(std::move(c));
}

std::string encode_otlp_json(const std::vector<Span>& spans, const std::string& service_name) {
  std::string out = "{\"resourceSpans\":[{\"resource\":{\"attributes\":[";
  append_otlp_attr(&out, "service.name", service_name);
  out += "]},\"scopeSpans\":[{\"scope\":{\"name\":\"mlx-manager\"},\"spans\":[";
  for (size_t i = 0; i < spans.size(); ++i) {
    const Span& s = spans[i];
    if (i > 0) out += ',';
    out += "{\"traceId\":\"" + s.trace_id + "\",\"spanId\":\"" + s.span_id + "\"";
    if (!s.parent_span_id.empty()) out += ",\"parentSpanId\":\"" + s.parent_span_id + "\"";
    out += ",\"name\":";
    append_json_string(&out, s.name);
    out += ",\"kind\":" + std::to_string(s.kind);
    out += ",\"startTimeUnixNano\":\"" + std::to_string(s.start_unix_ns) + "\"";
    out += ",\"endTimeUnixNano\":\"" + std::to_string(s.end_unix_ns) + "\"";
    out += ",\"attributes\":[";
    for (size_t a = 0; a < s.attributes.size(); ++a) {
      if (a > 0) out += ',';
      append_otlp_attr(&out, s.attributes[a].first, s.attributes[a].second);
    }
    out += "],\"status\":{\"code\":" + std::string(s.error ? "2" : "1");
    if (!s.status_message.empty()) {
      out += ",\"message\":";
      append_json_string(&out, s.status_message);
    }
    out += "}}";
  }
  out += "]}]}]}";
  return out;
}

OtlpExporter::OtlpExporter(OtlpConfig config, MetricRegistry* metrics)
    : config_(std::move(config)), metrics_(metrics) {
  start_unix_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  thread_ = std::thread([this] { run(); });
}

OtlpExporter::~OtlpExporter() {
  stop();
}

bool OtlpExporter::add(std::vector<Span> spans) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() + spans.size() > config_.max_queue) {
      n_dropped_.fetch_add(spans.size());
      return false;
    }
    for (Span& s : spans) queue_.push_back(std::move(s));
    n_enqueued_ += spans.size();
  }
  cv_.notify_one();
  return true;
}

void OtlpExporter::flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = n_enqueued_;
  flush_requested_ = true;
  cv_.notify_one();
  done_cv_.wait(lock, [&] { return n_processed_ >= target || exited_; });
}

void OtlpExporter::flush_metrics() {
  std::unique_lock lock(mu_);
  if (metrics_ == nullptr || stopping_) return;
  // An export already running collected before this call: wait for the one after it.
  const uint64_t target = n_metric_rounds_ + (metrics_in_flight_ ? 2 : 1);
  metrics_requested_ = true;
  cv_.notify_one();
  done_cv_.wait(lock, [&] { return n_metric_rounds_ >= target || exited_; });
}

void OtlpExporter::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool OtlpExporter::post(const std::string& path, const std::string& body) {
  const std::string url = config_.endpoint + path;
  CURL* h = curl_easy_init();
  if (h == nullptr) return false;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  for (const auto& [k, v] : config_.headers)
    headers = curl_slist_append(headers, (k + ": " + v).c_str());
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.timeout_ms));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  if (rc != CURLE_OK || status < 200 || status >= 300) {
    MLXM_LOG_DEBUG("otlp: POST {} failed: {} (HTTP {})", url, curl_easy_strerror(rc), status);
    return false;
  }
  return true;
}

bool OtlpExporter::export_metrics() {
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  return post("/v1/metrics",
              encode_otlp_metrics_json(*metrics_, config_.service_name, start_unix_ns_, now_ns));
}

void OtlpExporter::run() {
  using Clock = std::chrono::steady_clock;
  const auto metric_interval = std::chrono::milliseconds(config_.metric_interval_ms);
  auto next_metrics = Clock::now() + metric_interval;
  bool final_metrics_sent = false;
  int64_t backoff_ms = 0;
  auto fail = [&](const char* what) {
    n_failed_.fetch_add(1);
    backoff_ms = std::min<int64_t>(backoff_ms == 0 ? 1000 : backoff_ms * 2, 30'000);
    if (n_failed_.load() == 1) {
      MLXM_LOG_WARN("otlp: export to {} failed; {} are dropped while it fails", config_.endpoint,
                    what);
    }
  };
  std::unique_lock lock(mu_);
  while (true) {
    const auto t = Clock::now();
    auto deadline = t + std::chrono::milliseconds(std::max(config_.flush_interval_ms, backoff_ms));
    if (metrics_ != nullptr) {
      deadline = std::min(deadline,
                          std::max(next_metrics, t + std::chrono::milliseconds(backoff_ms)));
    }
    cv_.wait_until(lock, deadline, [&] {
      return stopping_ || queue_.size() >= config_.max_batch || flush_requested_ ||
             metrics_requested_;
    });
    if (metrics_ != nullptr && !final_metrics_sent &&
        (stopping_ || metrics_requested_ || Clock::now() >= next_metrics)) {
      final_metrics_sent = stopping_;
      metrics_requested_ = false;
      metrics_in_flight_ = true;
      lock.unlock();
      const bool ok = export_metrics();
      lock.lock();
      metrics_in_flight_ = false;
      if (ok) {
        n_metric_exports_.fetch_add(1);
        backoff_ms = 0;
      } else {
        n_metric_dropped_.fetch_add(1);
        fail("metrics");
      }
      ++n_metric_rounds_;
      next_metrics = Clock::now() + metric_interval;
      done_cv_.notify_all();
    }
    if (queue_.empty()) flush_requested_ = false;
    if (queue_.empty()) {
      if (stopping_) break;
      continue;
    }
    std::vector<Span> batch;
    while (!queue_.empty() && batch.size() < config_.max_batch) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    const bool ok = post("/v1/traces", encode_otlp_json(batch, config_.service_name));
    lock.lock();
    if (ok) {
      n_exported_.fetch_add(batch.size());
      backoff_ms = 0;
    } else {
      n_dropped_.fetch_add(batch.size());
      fail("spans");
    }
    n_processed_ += batch.size();
    done_cv_.notify_all();
    if (stopping_ && !ok) {
      n_dropped_.fetch_add(queue_.size());
      n_processed_ += queue_.size();
      queue_.clear();
    }
  }
  exited_ = true;
  done_cv_.notify_all();
}

}  // namespace mlxm::telemetry
