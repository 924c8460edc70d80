// Reads what the server says about a model from `GET /admin/models`. The reader is tolerant:
// the body may be {"data": [...]}, {"models": [...]} or a bare array; fields are read where
// present (top level of the entry or nested under "stats" / "scheduler" / "memory"), and
// missing ones stay unset, so a reworked admin view degrades to "not reported", not an error.
// Also: a sampler thread that polls it during a run to see the concurrency the server reached.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "bench/http_client.h"

namespace mlxm::bench {

struct ModelLoad {
  bool found = false;  // the model is listed
  std::optional<int64_t> running, waiting, in_flight;
  std::optional<int64_t> weight_bytes, kv_bytes, kv_blocks_used, kv_blocks_total;
  std::string backend;  // "backend" or "device" of the entry, "" when not reported
};

ModelLoad read_model_load(const nlohmann::json& admin_body, const std::string& model);

// GET {base}/admin/models; nullopt (and *why) when it is not available.
std::optional<nlohmann::json> fetch_admin_models(HttpClient& client, const std::string& base_url,
                                                 const Headers& auth, std::string* why = nullptr);

// The most the server reported while sampling.
struct ServerLoad {
  int n_samples = 0;  // successful samples that listed the model
  int64_t max_running = 0, max_in_flight = 0, max_waiting = 0;
  bool has_running = false, has_in_flight = false, has_waiting = false;
};

// Polls /admin/models every `interval_ms` on its own thread between start() and stop().
// start()/stop() from one thread; stop() joins.
class LoadSampler {
 public:
  LoadSampler(std::string base_url, std::string model, Headers auth, int interval_ms = 25)
      : base_url_(std::move(base_url)),
        model_(std::move(model)),
        auth_(std::move(auth)),
        interval_ms_(interval_ms) {}
  ~LoadSampler() { stop(); }
  void start();
  ServerLoad stop();

 private:
  std::string base_url_, model_;
  Headers auth_;
  int interval_ms_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  ServerLoad load_;
};

}  // namespace mlxm::bench
