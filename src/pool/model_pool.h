// ModelPool: the ModelProvider behind the API handlers when models come and go (issue 7).
//
//  - get(id) resolves the id (ModelResolver), loads the model on first use and returns it.
//    Concurrent first requests share one load: the first caller loads, the others wait (up to
//    PoolConfig::load_wait) and get the same instance or the same error.
//  - Loads run one at a time. Before a load the pool estimates the model's size (safetensors
//    bytes + KV reservation + the largest runtime overhead measured so far) and, when it does not
//    fit the budget, evicts least-recently-used models that are not pinned and not in use (no
//    request in flight and no handler holding the instance). When that cannot make room, nothing
//    is evicted and get() fails with ResourceExhausted (HTTP 503 + Retry-After) naming the
//    budget, the use and the models that could not go.
//  - Accounting per loaded model is measured: weights as loaded + KV allocated (Engine) +
//    runtime bytes = resident-set growth during the load not explained by the weights (tokenizer,
//    buffers). The RSS delta is reported too as a cross-check.
//  - preload() loads and pins; unload() unpins and drops the pool's reference. A model still in
//    use when unloaded (or evicted by TTL) keeps counting against the budget ("unloading") until
//    its last request ends; a maintenance thread then frees it (never on an engine thread).
//  - Idle unload: models unused for PoolConfig::ttl (MLX_SERVER_MODEL_TTL_SECONDS, 0 = never)
//    and not pinned are unloaded by the maintenance thread.
//
// Thread-safety: every method may be called from any thread. get()/preload() block while a load
// runs (on the calling thread for the first caller).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "pool/model_resolver.h"
#include "serving/model_instance.h"
#include "serving/model_provider.h"

namespace mlxm::pool {

struct PoolConfig {
  uint64_t budget_bytes = 0;
  std::string budget_source;          // where the budget came from (for /admin/models)
  std::string default_model;          // MLX_SERVER_DEFAULT_MODEL
  std::chrono::seconds ttl{0};        // MLX_SERVER_MODEL_TTL_SECONDS; 0 = keep until evicted
  std::chrono::milliseconds load_wait{std::chrono::seconds(900)};  // waiting for another's load
  // How long a load waits for a busy model to become evictable before failing with 503.
  std::chrono::milliseconds evict_wait{1000};
  serving::ModelLoadOptions load_options;
};

// Budget, TTL and default model from the environment (see docs/configuration.md).
Result<PoolConfig> pool_config_from_env();

struct ModelStatus {
  std::string id;
  std::string dir;
  std::string source;
  std::string state;  // "loading", "loaded", "unloading" (dropped, still in use)
  bool pinned = false;
  uint64_t bytes = 0;           // accounted: weight + kv + runtime (estimate while loading)
  uint64_t weight_bytes = 0;
  uint64_t kv_bytes = 0;
  uint64_t runtime_bytes = 0;
  uint64_t rss_delta_bytes = 0;  // resident growth over the load (cross-check)
  uint64_t file_bytes = 0;       // safetensors on disk
  uint64_t progress_bytes = 0;   // loading: resident growth so far (capped at file_bytes)
  int64_t loaded_at_ms = 0;      // unix ms
  int64_t last_used_ms = 0;      // unix ms
  double load_ms = 0;
  int n_in_flight = 0;
  std::shared_ptr<serving::ModelInstance> instance;  // loaded/unloading: for KV stats
};

// One finished load attempt, handed to the load observer (e.g. for an OTLP span).
struct LoadEvent {
  std::string id;
  std::string dir;
  int64_t start_unix_ms = 0;
  double duration_ms = 0;  // the load itself (0 when it never started: no room)
  uint64_t bytes = 0;      // accounted after the load (weights + KV + runtime); 0 on failure
  uint64_t file_bytes = 0;  // safetensors on disk
  bool ok = false;
  std::string error;  // the cause when !ok
};

struct PoolStatus {
  uint64_t budget_bytes = 0;
  std::string budget_source;
  uint64_t used_bytes = 0;
  uint64_t rss_bytes = 0;
  uint64_t n_loads = 0;
  uint64_t n_evictions = 0;
  uint64_t n_load_failures = 0;
  int64_t ttl_seconds = 0;
  std::vector<ModelStatus> models;  // loading, loaded, unloading
  std::map<std::string, std::string> last_errors;  // id -> cause of the last failed load
};

class ModelPool : public serving::ModelProvider {
 public:
  ModelPool(PoolConfig config, ResolverConfig resolver);
  ~ModelPool() override;  // stops the maintenance thread, frees every model
  ModelPool(const ModelPool&) = delete;
  ModelPool& operator=(const ModelPool&) = delete;

  // ModelProvider: the model `name` ("" = the default model), loading it if needed.
  // InvalidArgument for a malformed/escaping id, NotFound when it exists nowhere,
  // ResourceExhausted when it cannot fit, DeadlineExceeded when another caller's load took
  // longer than load_wait, or the load's own error.
  Result<std::shared_ptr<serving::ModelInstance>> get(const std::string& name) override;
  // Loaded models (not those loading or unloading).
  std::vector<std::shared_ptr<serving::ModelInstance>> list() override;

  // Loads (if needed) and pins `id`: never evicted, not unloaded by the TTL.
  Result<std::shared_ptr<serving::ModelInstance>> preload(const std::string& id);
  // Unpins and drops `id`. NotFound when it is not loaded; Unavailable while it is loading.
  // Returns true when the memory was freed at once, false when requests still use it.
  Result<bool> unload(const std::string& id);
  // Unpins `id` and keeps it loaded (it may be evicted and idle-unloaded again). NotFound when it
  // is not loaded; Unavailable while it is loading. Returns its status after the change.
  Result<ModelStatus> unpin(const std::string& id);

  void set_keep_alive(const std::string& name, std::chrono::seconds keep_alive) override;

  PoolStatus status();
  // Changes the memory budget and the idle TTL live (/api/settings/server). A lower budget takes
  // effect at the next load (models are not evicted by this call); `source` names where it came
  // from for /admin/models. REQUIRES: budget_bytes > 0.
  void set_budget_and_ttl(uint64_t budget_bytes, std::chrono::seconds ttl, std::string source);
  // One model's status (loading/loaded/unloading), or NotFound (with the last load error when
  // the last load failed).
  Result<ModelStatus> model_status(const std::string& id);

  // Called on the loading thread after every load attempt (success or failure), outside the
  // pool's locks; it must not block. Replaces any previous observer.
  void set_load_observer(std::function<void(const LoadEvent&)> observer);

  const ModelResolver& resolver() const { return resolver_; }
  // Fixed fields only: budget_bytes, budget_source and ttl may change (read them from status()).
  const PoolConfig& config() const { return config_; }

 private:
  struct LoadTicket {
    bool done = false;
    Status status;
  };
  struct Entry {
    ResolvedModel resolved;
    bool loading = true;
    std::shared_ptr<LoadTicket> ticket;
    std::shared_ptr<serving::ModelInstance> instance;
    bool pinned = false;
    TimePoint last_used;
    int64_t last_used_ms = 0;
    int64_t loaded_at_ms = 0;
    double load_ms = 0;
    uint64_t bytes = 0, weight_bytes = 0, kv_bytes = 0, runtime_bytes = 0, rss_delta = 0;
    uint64_t file_bytes = 0, rss_at_start = 0;
    uint64_t kv_plan = 0;  // the KV bytes its load will reserve (planned_kv_bytes)
    std::optional<std::chrono::seconds> keep_alive;  // a request's keep_alive; else config ttl
  };
  struct Zombie {
    std::string id;
    std::shared_ptr<serving::ModelInstance> instance;
    uint64_t bytes = 0;
  };
  using Instances = std::vector<std::shared_ptr<serving::ModelInstance>>;

  Result<std::shared_ptr<serving::ModelInstance>> acquire(const std::string& name, bool pin);
  Result<std::string> default_model_id();
  // Loads `key` on this thread (the entry exists, loading). Fills the ticket, wakes waiters.
  void run_load(const std::string& key, const ResolvedModel& resolved, bool pin);
  bool on_gpu() const;  // models load onto the CUDA device
  // Memory in use now where models live: RSS for CPU models, device memory for CUDA models.
  uint64_t memory_in_use() const;
  // The pool key of `id`: itself when loaded under that name, else its resolved id (aliases,
  // "@main" spellings; unchanged when unknown). InvalidArgument for ids that cannot be valid.
  Result<std::string> pool_key(const std::string& id);
  // REQUIRES: mu_ held. The bytes a load of `e` is accounted before it is measured.
  uint64_t estimate_locked(const Entry& e) const;
  // REQUIRES: mu_ held. Picks LRU victims so that `need` more bytes fit; moves them into *out.
  Status make_room_locked(uint64_t need, const std::string& for_id, Instances* out);
  uint64_t used_bytes_locked() const;
  static bool idle_locked(const Entry& e);
  void maintenance();

  PoolConfig config_;  // budget_bytes, budget_source and ttl change under mu_ (set_budget_and_ttl)
  const ModelResolver resolver_;

  std::mutex load_mu_;  // one load at a time (budget decisions and RSS deltas stay clean)
  std::mutex mu_;
  std::condition_variable cv_;  // a load finished
  std::map<std::string, Entry> entries_;
  std::vector<Zombie> zombies_;
  std::map<std::string, std::string> last_errors_;
  uint64_t runtime_estimate_ = 0;  // largest runtime_bytes measured so far
  uint64_t n_loads_ = 0, n_evictions_ = 0, n_load_failures_ = 0;
  std::function<void(const LoadEvent&)> load_observer_;  // guarded by mu_

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread maintenance_thread_;
};

}  // namespace mlxm::pool
