// OTLP/HTTP export (JSON encoding, https://opentelemetry.io/docs/specs/otlp/): spans are
// queued by any thread (never blocking: a full queue drops and counts) and sent in batches by one
// background thread with libcurl to <endpoint>/v1/traces. Given a metric registry, the same thread
// also sends its instruments (otlp_metrics.h) to <endpoint>/v1/metrics every
// metric_interval_ms and once more when stopping. A failed POST backs off (1 s doubling to 30 s)
// and drops that batch (or that metrics export); serving never waits for the exporter.
//
// Configuration (otlp_config_from_env): OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://collector:4318),
// OTEL_EXPORTER_OTLP_HEADERS ("k=v,k2=v2"), OTEL_SERVICE_NAME (mlx-manager); with LOGFIRE_TOKEN
// and no endpoint, LogFire's endpoint (https://logfire-api.pydantic.dev) with the token as the
// Authorization header. OTEL_METRIC_EXPORT_INTERVAL: ms between metric exports (60000).
//
// Thread-safety: add() and the counters are thread-safe; stop() from the owner.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "core/status.h"
#include "telemetry/otlp_json.h"

namespace mlxm::telemetry {

struct OtlpConfig {
  std::string endpoint;  // base URL; traces go to endpoint + "/v1/traces"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string service_name = "mlx-manager";
  size_t max_queue = 4096;  // spans waiting; more are dropped
  size_t max_batch = 512;   // spans per POST
  int64_t flush_interval_ms = 1000;
  int64_t timeout_ms = 5000;  // per POST
  int64_t metric_interval_ms = 60'000;  // OTEL_METRIC_EXPORT_INTERVAL
};

// nullopt when neither OTEL_EXPORTER_OTLP_ENDPOINT nor LOGFIRE_TOKEN is set.
Result<std::optional<OtlpConfig>> otlp_config_from_env();

struct Span {
  std::string trace_id;        // 32 hex
  std::string span_id;         // 16 hex
  std::string parent_span_id;  // "" for a root
  std::string name;
  int kind = 1;  // 1 internal, 2 server, 3 client
  int64_t start_unix_ns = 0;
  int64_t end_unix_ns = 0;
  bool error = false;
  std::string status_message;
  std::vector<std::pair<std::string, AttrValue>> attributes;
};

// Random ids for spans (hex).
std::string new_trace_id();
std::string new_span_id();

// The OTLP JSON body ({"resourceSpans": [...]}) of `spans`.
std::string encode_otlp_json(const std::vector<Span>& spans, const std::string& service_name);

class MetricRegistry;

class OtlpExporter {
 public:
  // `metrics` (optional) must outlive stop(); its instruments are exported periodically.
  explicit OtlpExporter(OtlpConfig config, MetricRegistry* metrics = nullptr);
  ~OtlpExporter();  // stop()
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  // Queues spans; false (counted as dropped) when the queue is full or stopped.
  bool add(std::vector<Span> spans);
  // Sends what is queued (one last try), then ends the thread. Idempotent.
  void stop();
  // Blocks until every span queued before the call was sent or dropped.
  void flush();
  // Blocks until a metrics export that started after the call finished (sent or failed).
  // Returns at once without a registry or once stopped.
  void flush_metrics();

  uint64_t n_exported() const { return n_exported_.load(); }
  uint64_t n_dropped() const { return n_dropped_.load(); }
  uint64_t n_failed_posts() const { return n_failed_.load(); }  // traces and metrics
  uint64_t n_metric_exports() const { return n_metric_exports_.load(); }  // sent
  uint64_t n_metric_dropped() const { return n_metric_dropped_.load(); }  // failed exports

 private:
  void run();
  bool post(const std::string& path, const std::string& body);
  // Collects and sends the metrics (called by run() with mu_ unlocked); true when sent.
  bool export_metrics();

  const OtlpConfig config_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  std::deque<Span> queue_;
  bool stopping_ = false;
  bool exited_ = false;
  bool flush_requested_ = false;
  uint64_t n_enqueued_ = 0;
  uint64_t n_processed_ = 0;
  MetricRegistry* metrics_ = nullptr;
  int64_t start_unix_ns_ = 0;  // start of the cumulative metric series
  bool metrics_requested_ = false;
  bool metrics_in_flight_ = false;
  uint64_t n_metric_rounds_ = 0;  // exports attempted
  std::atomic<uint64_t> n_exported_{0};
  std::atomic<uint64_t> n_dropped_{0};
  std::atomic<uint64_t> n_failed_{0};
  std::atomic<uint64_t> n_metric_exports_{0};
  std::atomic<uint64_t> n_metric_dropped_{0};
  std::thread thread_;
};

}  // namespace mlxm::telemetry
