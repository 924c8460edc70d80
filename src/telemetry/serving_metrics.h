// The server's metric set, shaped like vLLM's /metrics (names prefixed mlx_ instead of vllm:,
// labels `model` and `backend` instead of model_name):
//   per request (record()):  mlx_requests_total{status}, mlx_request_success_total{finished_reason},
//     mlx_e2e_request_latency_seconds, mlx_time_to_first_token_seconds,
//     mlx_time_per_output_token_seconds, mlx_inter_token_latency_seconds,
//     mlx_request_queue_time_seconds, mlx_request_prompt_tokens, mlx_request_generation_tokens
//     (histograms), mlx_prompt_tokens_total, mlx_generation_tokens_total (counters);
//   per model, refreshed at scrape (set_scheduler()): mlx_num_requests_running,
//     mlx_num_requests_waiting, mlx_kv_cache_blocks_used, mlx_kv_cache_blocks_total,
//     mlx_kv_cache_usage_perc, mlx_prefix_cache_queries_total, mlx_prefix_cache_hits_total,
//     mlx_prefix_cache_hit_rate, mlx_num_preemptions_total;
//   model pool: mlx_model_loads_total, mlx_model_evictions_total, mlx_model_load_duration_seconds,
//     mlx_pool_memory_used_bytes, mlx_pool_memory_budget_bytes;
//   audit store: mlx_audit_rows_written_total, mlx_audit_rows_dropped_total.
// Thread-safe; record() costs a map lookup under a mutex plus relaxed atomics.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "telemetry/metrics.h"
#include "telemetry/request_record.h"

namespace mlxm::telemetry {

struct SchedulerSnapshot {
  int64_t n_running = 0;
  int64_t n_waiting = 0;
  int64_t blocks_used = 0;
  int64_t blocks_total = 0;
  int64_t prefix_hits = 0;     // cumulative, in tokens or blocks as the scheduler counts them
  int64_t prefix_queries = 0;  // cumulative
  int64_t n_preemptions = 0;   // cumulative
};

class ServingMetrics {
 public:
  // Registers every family on `registry`, which must outlive this object.
  explicit ServingMetrics(MetricRegistry& registry);
  ~ServingMetrics();
  ServingMetrics(const ServingMetrics&) = delete;
  ServingMetrics& operator=(const ServingMetrics&) = delete;

  void record(const RequestRecord& r);
  void set_scheduler(const std::string& model, const std::string& backend,
                     const SchedulerSnapshot& s);
  // Forgets the per-model gauges of a model that is no longer loaded.
  void remove_model(const std::string& model, const std::string& backend);

  void on_model_load(const std::string& model, const std::string& backend, double seconds);
  void on_model_evict(const std::string& model, const std::string& backend);
  void set_pool_memory(double used_bytes, double budget_bytes);
  void set_audit_counts(uint64_t written, uint64_t dropped);

  MetricRegistry& registry() { return registry_; }

 private:
  struct Series;
  Series& series(const std::string& model, const std::string& backend);

  MetricRegistry& registry_;
  Family& requests_;
  Family& success_;
  Family& e2e_;
  Family& ttft_;
  Family& tpot_;
  Family& itl_;
  Family& queue_;
  Family& prompt_hist_;
  Family& gen_hist_;
  Family& prompt_total_;
  Family& gen_total_;
  Family& running_;
  Family& waiting_;
  Family& blocks_used_;
  Family& blocks_total_;
  Family& kv_usage_;
  Family& prefix_queries_;
  Family& prefix_hits_;
  Family& prefix_rate_;
  Family& preemptions_;
  Family& loads_;
  Family& evictions_;
  Family& load_seconds_;
  Family& pool_used_;
  Family& pool_budget_;
  Family& audit_written_;
  Family& audit_dropped_;

  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Series>> series_;
};

}  // namespace mlxm::telemetry
