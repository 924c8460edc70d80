// Turns each finished request (RequestRecord) into OTLP spans: a server span for the HTTP request
// ("POST /v1/chat/completions") with the model, backend, status and token counts, and child spans
// for the time it queued, the prefill (up to the first token), the decode, and the cloud call when
// a provider served it; a span per model load (span_for_model_load). TeeObserver hands each record
// to several observers (audit log + traces).
//
// Thread-safety: thread-safe; on_request_complete only queues spans (never blocks).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "telemetry/otlp_exporter.h"
#include "telemetry/request_record.h"

namespace mlxm::telemetry {

// The spans of one request (root first).
std::vector<Span> spans_for_request(const RequestRecord& r);

// One model load attempt (the pool's load observer fills it).
struct ModelLoadRecord {
  std::string model;
  int64_t start_unix_ms = 0;
  double duration_ms = 0;
  uint64_t bytes = 0;       // accounted after the load; 0 on failure
  uint64_t file_bytes = 0;  // safetensors on disk
  bool ok = false;
  std::string error;
};

// A root span "model load" with mlx.model, mlx.model.bytes, mlx.model.file_bytes,
// mlx.model.load_ms and mlx.outcome ("loaded" | "error", with the error as the status message).
Span span_for_model_load(const ModelLoadRecord& load);

class TraceObserver : public RequestObserver {
 public:
  explicit TraceObserver(std::shared_ptr<OtlpExporter> exporter) : exporter_(std::move(exporter)) {}
  void on_request_complete(RequestRecord record) override;

 private:
  std::shared_ptr<OtlpExporter> exporter_;
};

class TeeObserver : public RequestObserver {
 public:
  explicit TeeObserver(std::vector<std::shared_ptr<RequestObserver>> observers)
      : observers_(std::move(observers)) {}
  void on_request_complete(RequestRecord record) override;
  bool wants_content() const override;

 private:
  std::vector<std::shared_ptr<RequestObserver>> observers_;
};

}  // namespace mlxm::telemetry
