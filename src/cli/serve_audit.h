// The observability part of `serve`: the metric registry with the serving metric set, the
// audit log service (SQLite at $MLX_MANAGER_HOME/mlx-manager.db) and their routes
// (/metrics, /admin/audit-logs*, /admin/ws/audit-logs). `observer` is what the API handlers
// report finished requests to; with OTEL_EXPORTER_OTLP_ENDPOINT or LOGFIRE_TOKEN it also turns
// them into OTLP trace spans, and the registry's instruments are exported as OTLP metrics.
// shutdown() runs after the HTTP server drained: it writes every
// queued audit row and sends the queued spans before the process exits.
#pragma once

#include <memory>

#include "api/admin_logs/audit_service.h"
#include "api/http/router.h"
#include "core/status.h"
#include "pool/model_pool.h"
#include "serving/model_provider.h"
#include "telemetry/metrics.h"
#include "telemetry/otlp_exporter.h"
#include "telemetry/serving_metrics.h"

namespace mlxm::cli {

struct ServeAudit {
  std::unique_ptr<telemetry::MetricRegistry> registry;
  std::unique_ptr<telemetry::ServingMetrics> metrics;
  std::shared_ptr<api::AuditService> service;
  std::shared_ptr<telemetry::RequestObserver> observer;  // service (+ traces when exported)
  std::shared_ptr<telemetry::OtlpExporter> exporter;  // OTLP traces+metrics; null when not set
  void shutdown();
};

Result<ServeAudit> setup_serve_audit(http::Router& router);

// Refreshes the per-model scheduler gauges (running, waiting, KV blocks, prefix cache,
// preemptions) from `models` at every scrape.
void add_model_metrics(ServeAudit& audit, std::shared_ptr<serving::ModelProvider> models);

// Feeds the pool metrics at every scrape: mlx_pool_memory_used_bytes / _budget_bytes, and, for
// loads and evictions that happened since the last scrape, mlx_model_loads_total and
// mlx_model_load_duration_seconds (per load) and mlx_model_evictions_total (pool evictions,
// attributed to the models that disappeared meanwhile; "" when it was never seen loaded).
// With an OTLP exporter, each load attempt also becomes a "model load" span.
void add_pool_metrics(ServeAudit& audit, std::shared_ptr<pool::ModelPool> pool);

}  // namespace mlxm::cli
