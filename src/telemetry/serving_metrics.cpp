#include "telemetry/serving_metrics.h"

namespace mlxm::telemetry {
namespace {

const std::vector<std::string> kMB = {"model", "backend"};

// vLLM's buckets (seconds / tokens).
const std::vector<double> kLatencyBuckets = {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0,
                                             15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
                                             240.0, 480.0, 960.0, 1920.0, 7680.0};
const std::vector<double> kTtftBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                          0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
                                          40.0, 80.0, 160.0, 640.0, 2560.0};
const std::vector<double> kTokenTimeBuckets = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3,
                                               0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                                               20.0, 40.0, 80.0};
const std::vector<double> kTokenCountBuckets = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000,
                                                2000, 5000, 10000, 20000, 50000, 100000};
const std::vector<double> kLoadBuckets = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640};

}  // namespace

struct ServingMetrics::Series {
  Histogram* e2e;
  Histogram* ttft;
  Histogram* tpot;
  Histogram* itl;
  Histogram* queue;
  Histogram* prompt_hist;
  Histogram* gen_hist;
  Counter* prompt_total;
  Counter* gen_total;
};

ServingMetrics::ServingMetrics(MetricRegistry& reg)
    : registry_(reg),
      requests_(reg.counter("mlx_requests_total",
                            "Finished API requests by outcome (success, error, timeout, cancelled).",
                            {"model", "backend", "status"})),
      success_(reg.counter("mlx_request_success_total",
                           "Successfully finished requests by finish reason.",
                           {"model", "backend", "finished_reason"})),
      e2e_(reg.histogram("mlx_e2e_request_latency_seconds",
                         "Histogram of end to end request latency in seconds.", kMB,
                         kLatencyBuckets)),
      ttft_(reg.histogram("mlx_time_to_first_token_seconds",
                          "Histogram of time to first token in seconds.", kMB, kTtftBuckets)),
      tpot_(reg.histogram("mlx_time_per_output_token_seconds",
                          "Histogram of time per output token in seconds.", kMB,
                          kTokenTimeBuckets)),
      itl_(reg.histogram("mlx_inter_token_latency_seconds",
                         "Histogram of inter-token latency in seconds.", kMB, kTokenTimeBuckets)),
      queue_(reg.histogram("mlx_request_queue_time_seconds",
                           "Histogram of time spent in the waiting queue in seconds.", kMB,
                           kTtftBuckets)),
      prompt_hist_(reg.histogram("mlx_request_prompt_tokens",
                                 "Number of prefill tokens processed per request.", kMB,
                                 kTokenCountBuckets)),
      gen_hist_(reg.histogram("mlx_request_generation_tokens",
                              "Number of generation tokens processed per request.", kMB,
                              kTokenCountBuckets)),
      prompt_total_(reg.counter("mlx_prompt_tokens_total", "Number of prefill tokens processed.",
                                kMB)),
      gen_total_(reg.counter("mlx_generation_tokens_total",
                             "Number of generation tokens processed.", kMB)),
      running_(reg.gauge("mlx_num_requests_running", "Number of requests in model execution.",
                         kMB)),
      waiting_(reg.gauge("mlx_num_requests_waiting", "Number of requests waiting to be processed.",
                         kMB)),
      blocks_used_(reg.gauge("mlx_kv_cache_blocks_used", "KV cache blocks in use.", kMB)),
      blocks_total_(reg.gauge("mlx_kv_cache_blocks_total", "KV cache blocks in total.", kMB)),
      kv_usage_(reg.gauge("mlx_kv_cache_usage_perc",
                          "KV-cache usage. 1 means 100 percent usage.", kMB)),
      prefix_queries_(reg.counter("mlx_prefix_cache_queries_total",
                                  "Prefix cache queries (tokens looked up).", kMB)),
      prefix_hits_(reg.counter("mlx_prefix_cache_hits_total",
                               "Prefix cache hits (tokens found cached).", kMB)),
      prefix_rate_(reg.gauge("mlx_prefix_cache_hit_rate",
                             "Prefix cache hits over queries since the model was loaded.", kMB)),
      preemptions_(reg.counter("mlx_num_preemptions_total",
                               "Cumulative number of preemptions from the engine.", kMB)),
      loads_(reg.counter("mlx_model_loads_total", "Models loaded into the pool.", kMB)),
      evictions_(reg.counter("mlx_model_evictions_total", "Models evicted from the pool.", kMB)),
      load_seconds_(reg.histogram("mlx_model_load_duration_seconds",
                                  "Histogram of model load time in seconds.", kMB, kLoadBuckets)),
      pool_used_(reg.gauge("mlx_pool_memory_used_bytes", "Memory held by loaded models.")),
      pool_budget_(reg.gauge("mlx_pool_memory_budget_bytes", "The model pool's memory budget.")),
      audit_written_(reg.counter("mlx_audit_rows_written_total",
                                 "Audit-log rows written to the database.")),
      audit_dropped_(reg.counter("mlx_audit_rows_dropped_total",
                                 "Audit-log rows dropped (queue full or write failed).")) {}

ServingMetrics::~ServingMetrics() = default;

ServingMetrics::Series& ServingMetrics::series(const std::string& model,
                                               const std::string& backend) {
  std::lock_guard lock(mu_);
  auto key = std::make_pair(model, backend);
  auto it = series_.find(key);
  if (it != series_.end()) return *it->second;
  const LabelValues lv = {model, backend};
  auto s = std::make_unique<Series>(Series{
      &e2e_.histogram(lv), &ttft_.histogram(lv), &tpot_.histogram(lv), &itl_.histogram(lv),
      &queue_.histogram(lv), &prompt_hist_.histogram(lv), &gen_hist_.histogram(lv),
      &prompt_total_.counter(lv), &gen_total_.counter(lv)});
  Series& ref = *s;
  series_.emplace(key, std::move(s));
  return ref;
}

void ServingMetrics::record(const RequestRecord& r) {
  // A request that never reached a backend is counted under model "" (a client-chosen name
  // must not create label values).
  requests_.counter({r.backend.empty() ? "" : r.model, r.backend, request_outcome_name(r.outcome)})
      .inc();
  // Requests that never reached a model (a 400/404 before scheduling) only count above.
  if (r.model.empty() || r.queue_ms < 0) return;
  Series& s = series(r.model, r.backend);
  if (r.outcome == RequestOutcome::kSuccess) {
    success_.counter({r.model, r.backend, r.finish_reason}).inc();
  }
  s.e2e->observe(r.duration_ms / 1000.0);
  s.queue->observe(r.queue_ms / 1000.0);
  if (r.ttft_ms >= 0) s.ttft->observe(r.ttft_ms / 1000.0);
  if (r.ttft_ms >= 0 && r.completion_tokens > 1 && r.duration_ms > r.ttft_ms) {
    s.tpot->observe((r.duration_ms - r.ttft_ms) / 1000.0 /
                    static_cast<double>(r.completion_tokens - 1));
  }
  for (float gap : r.inter_token_ms) s.itl->observe(gap / 1000.0);
  s.prompt_hist->observe(static_cast<double>(r.prompt_tokens));
  s.gen_hist->observe(static_cast<double>(r.completion_tokens));
  s.prompt_total->inc(static_cast<double>(r.prompt_tokens));
  s.gen_total->inc(static_cast<double>(r.completion_tokens));
}

void ServingMetrics::set_scheduler(const std::string& model, const std::string& backend,
                                   const SchedulerSnapshot& s) {
  const LabelValues lv = {model, backend};
  running_.gauge(lv).set(static_cast<double>(s.n_running));
  waiting_.gauge(lv).set(static_cast<double>(s.n_waiting));
  blocks_used_.gauge(lv).set(static_cast<double>(s.blocks_used));
  blocks_total_.gauge(lv).set(static_cast<double>(s.blocks_total));
  kv_usage_.gauge(lv).set(s.blocks_total > 0 ? static_cast<double>(s.blocks_used) /
                                                   static_cast<double>(s.blocks_total)
                                             : 0.0);
  prefix_queries_.counter(lv).set_total(static_cast<double>(s.prefix_queries));
  prefix_hits_.counter(lv).set_total(static_cast<double>(s.prefix_hits));
  prefix_rate_.gauge(lv).set(s.prefix_queries > 0 ? static_cast<double>(s.prefix_hits) /
                                                        static_cast<double>(s.prefix_queries)
                                                  : 0.0);
  preemptions_.counter(lv).set_total(static_cast<double>(s.n_preemptions));
}

void ServingMetrics::remove_model(const std::string& model, const std::string& backend) {
  const LabelValues lv = {model, backend};
  for (Family* f : {&running_, &waiting_, &blocks_used_, &blocks_total_, &kv_usage_,
                    &prefix_queries_, &prefix_hits_, &prefix_rate_, &preemptions_}) {
    f->remove(lv);
  }
}

void ServingMetrics::on_model_load(const std::string& model, const std::string& backend,
                                   double seconds) {
  loads_.counter({model, backend}).inc();
  load_seconds_.histogram({model, backend}).observe(seconds);
}

void ServingMetrics::on_model_evict(const std::string& model, const std::string& backend) {
  evictions_.counter({model, backend}).inc();
}

void ServingMetrics::set_pool_memory(double used_bytes, double budget_bytes) {
  pool_used_.gauge({}).set(used_bytes);
  pool_budget_.gauge({}).set(budget_bytes);
}

void ServingMetrics::set_audit_counts(uint64_t written, uint64_t dropped) {
  audit_written_.counter({}).set_total(static_cast<double>(written));
  audit_dropped_.counter({}).set_total(static_cast<double>(dropped));
}

}  // namespace mlxm::telemetry
