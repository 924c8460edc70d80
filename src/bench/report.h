// JSON reports. Key names follow vLLM's `bench serve --save-result` (request_throughput,
// output_throughput, total_token_throughput, {mean,median,std,p95,p99}_{ttft,tpot,itl,e2el}_ms,
// input_lens, output_lens, ttfts, itls in seconds, errors). Every key is always present; a
// value that was not measured (TTFT of a non-streamed run, server stats without an admin
// endpoint) is null. The schema is versioned by "schema".
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "bench/runner.h"

namespace mlxm::bench {

inline constexpr const char* kRunSchema = "mlx-benchmark.run/1";
inline constexpr const char* kSuiteSchema = "mlx-benchmark.suite/1";

nlohmann::json level_json(const LevelResult& level, bool include_requests = true);
nlohmann::json run_json(const RunReport& report, bool include_requests = true);

// The keys level_json always writes (for schema tests and readers).
const std::vector<std::string>& level_json_keys();
const std::vector<std::string>& run_json_keys();

// A table of every level (req/s, output tok/s, per-request decode tok/s, scaling of the
// aggregate against the first level, median TTFT/TPOT/E2EL, server max running, failures),
// then backend, prompt size and server memory before/after. For the console.
std::string format_summary(const RunReport& report);

std::string format_bytes(int64_t bytes);  // "1.23 GiB", "45.6 MiB", "789 B"

// Writes `j` (pretty) to `path`; error naming the path when it cannot.
Status write_json_file(const std::string& path, const nlohmann::json& j);

}  // namespace mlxm::bench
