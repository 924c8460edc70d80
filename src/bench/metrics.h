// Per-request timelines and their aggregation into the numbers vLLM's `bench serve` reports
// (same names and definitions; see docs in cmd_bench_run.cpp):
//   TTFT  first content-bearing chunk - request start            (streaming only)
//   ITL   gaps between consecutive content-bearing chunks         (streaming only)
//   TPOT  (E2EL - TTFT) / (completion_tokens - 1), requests with > 1 token (streaming only)
//   E2EL  last byte - request start
// Token counts always come from the server's `usage`, never from counting chunks.
// Percentiles interpolate linearly between order statistics (numpy's default), std is the
// population standard deviation, as in vLLM. Pure functions; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mlxm::bench {

struct RequestRecord {
  bool success = false;
  std::string error;                // why it failed ("" on success)
  int64_t prompt_tokens = 0;        // usage.prompt_tokens / input_tokens
  int64_t completion_tokens = 0;    // usage.completion_tokens / output_tokens
  double t_start_ms = 0;            // request sent, ms since the level started
  double e2e_ms = 0;                // request sent -> response complete
  std::optional<double> ttft_ms;    // unset when not streamed
  std::vector<double> itl_ms;       // gaps between content chunks (streamed)
  std::vector<double> chunk_at_ms;  // content chunk arrivals, ms since the level started
};

struct Stats {
  bool valid = false;  // false: no samples (reported as null / n/a)
  double mean = 0, median = 0, std = 0, p95 = 0, p99 = 0;
};

// Linear-interpolation percentile (p in [0, 100]) of unsorted samples; 0 for none.
double percentile(std::vector<double> samples, double p);
Stats compute_stats(const std::vector<double>& samples);

struct LevelMetrics {
  int concurrency = 1;
  bool stream = false;
  int completed = 0;  // successful requests
  int failed = 0;
  double duration_s = 0;
  int64_t total_input_tokens = 0;  // successful requests only
  int64_t total_output_tokens = 0;
  double request_throughput = 0;       // completed / duration
  double output_throughput = 0;        // output tokens / duration
  double total_token_throughput = 0;   // (input + output) / duration
  double max_output_tokens_per_s = 0;  // busiest 1 s window of content chunks (streamed)
  int max_concurrent_requests = 0;     // most requests in flight at once, client side
  Stats ttft, tpot, itl, e2el;         // ms
  Stats decode_tps_per_request;        // 1000 / TPOT of each request (tok/s)
  std::map<std::string, int> errors;   // failure reason -> count
};

LevelMetrics aggregate(const std::vector<RequestRecord>& records, double duration_s,
                       int concurrency, bool stream);

// The vLLM "Serving Benchmark Result" block (plus P95 lines), ready to print.
std::string format_result_block(const LevelMetrics& m,
                                const std::string& title = "Serving Benchmark Result");

}  // namespace mlxm::bench
