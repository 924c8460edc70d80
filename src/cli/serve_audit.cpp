#include "cli/serve_audit.h"

#include <set>

#include "api/admin_logs/admin_logs_routes.h"
#include "core/log.h"
#include "store/database.h"
#include "telemetry/trace_observer.h"

namespace mlxm::cli {

void ServeAudit::shutdown() {
  if (service) service->shutdown();
  if (exporter) {
    exporter->flush();
    exporter->stop();
    MLXM_LOG_INFO("otlp: {} spans exported, {} dropped; {} metric exports sent, {} dropped",
                  exporter->n_exported(), exporter->n_dropped(), exporter->n_metric_exports(),
                  exporter->n_metric_dropped());
  }
}

Result<ServeAudit> setup_serve_audit(http::Router& router) {
  ServeAudit a;
  a.registry = std::make_unique<telemetry::MetricRegistry>();
  a.metrics = std::make_unique<telemetry::ServingMetrics>(*a.registry);
  MLXM_ASSIGN_OR_RETURN(api::AuditServiceOptions opt, api::audit_service_options_from_env());
  MLXM_ASSIGN_OR_RETURN(std::filesystem::path home, store::manager_home());
  MLXM_ASSIGN_OR_RETURN(a.service, api::AuditService::open(home / store::kDatabaseFileName, opt,
                                                           a.metrics.get()));
  a.observer = a.service;
  MLXM_ASSIGN_OR_RETURN(std::optional<telemetry::OtlpConfig> otlp, telemetry::otlp_config_from_env());
  if (otlp) {
    MLXM_LOG_INFO("otlp: exporting traces to {}/v1/traces and metrics to {}/v1/metrics every {} ms",
                  otlp->endpoint, otlp->endpoint, otlp->metric_interval_ms);
    a.exporter = std::make_shared<telemetry::OtlpExporter>(std::move(*otlp), a.registry.get());
    a.observer = std::make_shared<telemetry::TeeObserver>(
        std::vector<std::shared_ptr<telemetry::RequestObserver>>{
            a.service, std::make_shared<telemetry::TraceObserver>(a.exporter)});
  }
  api::register_audit_log_routes(router, a.service);
  api::register_metrics_route(router, *a.registry);
  return a;
}

void add_model_metrics(ServeAudit& audit, std::shared_ptr<serving::ModelProvider> models) {
  telemetry::ServingMetrics* m = audit.metrics.get();
  auto seen = std::make_shared<std::set<std::string>>();  // used only under the collect mutex
  audit.registry->add_collect_hook([m, models, seen] {
    std::set<std::string> now;
    for (const auto& inst : models->list()) {
      const serving::EngineLoopStats st = inst->loop().stats();
      telemetry::SchedulerSnapshot s;
      s.n_running = st.scheduler.n_running;
      s.n_waiting = st.scheduler.n_waiting;
      s.blocks_used = st.scheduler.blocks_used;
      s.blocks_total = st.scheduler.blocks_total;
      s.prefix_hits = st.scheduler.prefix_hits;
      s.prefix_queries = st.scheduler.prefix_queries;
      s.n_preemptions = st.scheduler.n_preemptions;
      m->set_scheduler(inst->name(), "local", s);
      now.insert(inst->name());
    }
    for (const auto& name : *seen) {
      if (!now.count(name)) m->remove_model(name, "local");  // unloaded since the last scrape
    }
    *seen = std::move(now);
  });
}

void add_pool_metrics(ServeAudit& audit, std::shared_ptr<pool::ModelPool> pool) {
  if (!pool) return;
  if (audit.exporter) {  // a "model load" span per load attempt
    auto exporter = audit.exporter;
    pool->set_load_observer([exporter](const pool::LoadEvent& e) {
      exporter->add({telemetry::span_for_model_load({.model = e.id,
                                                     .start_unix_ms = e.start_unix_ms,
                                                     .duration_ms = e.duration_ms,
                                                     .bytes = e.bytes,
                                                     .file_bytes = e.file_bytes,
                                                     .ok = e.ok,
                                                     .error = e.error})});
    });
    // Models loaded at start-up (--model, MLX_SERVER_PRELOAD_MODELS) came before the observer.
    for (const auto& model : pool->status().models) {
      if (model.state != "loaded") continue;
      exporter->add({telemetry::span_for_model_load(
          {.model = model.id,
           .start_unix_ms = model.loaded_at_ms - static_cast<int64_t>(model.load_ms),
           .duration_ms = model.load_ms,
           .bytes = model.bytes,
           .file_bytes = model.file_bytes,
           .ok = true,
           .error = ""})});
    }
  }
  telemetry::ServingMetrics* m = audit.metrics.get();
  struct Seen {
    std::set<std::pair<std::string, int64_t>> loads;  // (model, loaded_at_ms) already counted
    std::set<std::string> loaded;                      // loaded at the previous scrape
    uint64_t n_evictions = 0;
  };
  auto seen = std::make_shared<Seen>();  // used only under the collect mutex
  seen->n_evictions = pool->status().n_evictions;
  audit.registry->add_collect_hook([m, pool, seen] {
    const pool::PoolStatus st = pool->status();
    m->set_pool_memory(static_cast<double>(st.used_bytes), static_cast<double>(st.budget_bytes));
    std::set<std::string> loaded;
    for (const auto& model : st.models) {
      if (model.state != "loaded") continue;
      loaded.insert(model.id);
      if (seen->loads.insert({model.id, model.loaded_at_ms}).second) {
        m->on_model_load(model.id, "local", model.load_ms / 1000.0);
      }
    }
    uint64_t n_new = st.n_evictions > seen->n_evictions ? st.n_evictions - seen->n_evictions : 0;
    for (const auto& id : seen->loaded) {
      if (n_new == 0) break;
      if (loaded.count(id)) continue;
      m->on_model_evict(id, "local");
      --n_new;
    }
    for (; n_new > 0; --n_new) m->on_model_evict("", "local");  // loaded and evicted unseen
    seen->n_evictions = st.n_evictions;
    seen->loaded = std::move(loaded);
  });
}

}  // namespace mlxm::cli
