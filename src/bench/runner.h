// The request driver: for each concurrency level C, `runs * C` requests with at most C in
// flight (a closed loop: C workers, each with its own keep-alive connection, send their next
// request as soon as the previous one finished), timed per request, then aggregated. While a
// level runs, a sampler polls /admin/models so the report shows the concurrency the server
// actually reached (running / requests_in_flight), not only what the client attempted.
// run_benchmark() never fails because of the server: a server that is down or answers errors
// gives failed requests with their reasons; only bad options (an unreadable @FILE) are errors.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "bench/metrics.h"
#include "bench/prompts.h"
#include "bench/protocol.h"
#include "bench/server_info.h"

namespace mlxm::bench {

struct RunOptions {
  std::string base_url = "http://127.0.0.1:10242";
  std::string model;
  Api api = Api::kOpenAiChat;
  std::string api_key;
  bool stream = false;
  int max_tokens = 256;
  bool ignore_eos = true;
  std::optional<double> temperature;  // unset: the server's default
  std::optional<int> top_logprobs;    // OpenAI APIs: logprobs with every token (RequestSpec)
  bool json_output = false;           // OpenAI APIs: JSON-constrained output (RequestSpec)
  std::optional<double> frequency_penalty;  // OpenAI APIs (RequestSpec)
  std::string prompt = "medium";  // short | medium | long | @FILE
  int runs = 5;                   // requests per concurrency slot: a level sends runs * C
  int warmup = 1;                 // sequential requests before measuring, not counted
  std::vector<int> concurrency = {1};
  long timeout_ms = 600000;     // per request
  bool progress = true;         // progress bar (only on a terminal anyway)
  int sample_interval_ms = 25;  // /admin/models polling; 0 = off
};

struct LevelResult {
  LevelMetrics metrics;
  int num_requests = 0;
  std::optional<ServerLoad> server;  // unset when /admin/models was not available
  std::vector<RequestRecord> requests;
};

struct RunReport {
  RunOptions options;
  Prompt prompt;
  std::string date;     // ISO 8601, local time
  std::string backend;  // from the server's answer (see runner.cpp)
  bool admin_available = false;
  std::string admin_note;  // why not, when not
  ModelLoad before, after;
  std::vector<std::string> warmup_errors;
  double load_average_start[3] = {0, 0, 0};  // this machine's /proc/loadavg
  double load_average_end[3] = {0, 0, 0};
  std::vector<LevelResult> levels;
};

// One request; times are measured from `level_start`. *backend_header gets the server's
// X-Backend header when it sent one. Thread-compatible (one HttpClient per thread).
RequestRecord send_request(HttpClient& client, const RunOptions& o, const std::string& prompt,
                           TimePoint level_start, std::string* backend_header = nullptr);

// Validates options (model set, runs >= 1, concurrency >= 1, max_tokens >= 1).
Status validate(const RunOptions& o);

// Runs every level; `console` (may be null) gets the result block of each level as it ends.
Result<RunReport> run_benchmark(const RunOptions& o, std::FILE* console);

}  // namespace mlxm::bench
