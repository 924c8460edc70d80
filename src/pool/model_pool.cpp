#include "pool/model_pool.h"

#include <algorithm>
#include <filesystem>
#include <thread>

#include "core/env.h"
#include "core/log.h"
#include "pool/memory.h"

namespace mlxm::pool {

namespace fs = std::filesystem;

namespace {

uint64_t safetensors_bytes(const std::string& dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
    if (it->path().extension() != ".safetensors") continue;
    std::error_code ec2;
    uint64_t s = fs::file_size(it->path(), ec2);  // follows symlinks (HF cache blobs)
    if (!ec2) n += s;
  }
  return n;
}

std::string mib(uint64_t b) { return format_bytes(b); }

}  // namespace

Result<PoolConfig> pool_config_from_env() {
  PoolConfig c;
  MLXM_ASSIGN_OR_RETURN(MemoryBudget budget, memory_budget_from_env(total_memory_bytes()));
  c.budget_bytes = budget.bytes;
  c.budget_source = budget.source;
  c.default_model = env_string("MLX_SERVER_DEFAULT_MODEL", "");
  MLXM_ASSIGN_OR_RETURN(int64_t ttl, env_int("MLX_SERVER_MODEL_TTL_SECONDS", 0, 0, 86400 * 365));
  c.ttl = std::chrono::seconds(ttl);
  MLXM_ASSIGN_OR_RETURN(int64_t wait, env_int("MLX_SERVER_TIMEOUT_CHAT_SECONDS", 900, 1, 86400 * 7));
  c.load_wait = std::chrono::seconds(wait);
  MLXM_ASSIGN_OR_RETURN(c.load_options, serving::model_load_options_from_env());
  return c;
}

ModelPool::ModelPool(PoolConfig config, ResolverConfig resolver)
    : config_(std::move(config)), resolver_(std::move(resolver)) {
  maintenance_thread_ = std::thread([this] { maintenance(); });
}

ModelPool::~ModelPool() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  maintenance_thread_.join();
}

Result<std::string> ModelPool::default_model_id() {
  if (!config_.default_model.empty()) return config_.default_model;
  if (resolver_.config().explicit_models.size() == 1) {
    return resolver_.config().explicit_models.begin()->first;
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::string only;
  int n = 0;
  for (const auto& [id, e] : entries_) {
    if (!e.loading) {
      only = id;
      ++n;
    }
  }
  if (n == 1) return only;
  return invalid_argument("'model' is required: no default model is configured "
                          "(set MLX_SERVER_DEFAULT_MODEL)");
}

Result<std::shared_ptr<serving::ModelInstance>> ModelPool::get(const std::string& name) {
  return acquire(name, /*pin=*/false);
}

Result<std::shared_ptr<serving::ModelInstance>> ModelPool::preload(const std::string& id) {
  return acquire(id, /*pin=*/true);
}

Result<std::shared_ptr<serving::ModelInstance>> ModelPool::acquire(const std::string& name,
                                                                  bool pin) {
  std::string want = name;
  if (want.empty()) {
    MLXM_ASSIGN_OR_RETURN(want, default_model_id());
  }
  MLXM_ASSIGN_OR_RETURN(ResolvedModel resolved, resolver_.resolve(want));
  const std::string key = resolved.id;
  const TimePoint deadline = now() + config_.load_wait;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      Entry e;
      e.resolved = resolved;
      e.ticket = std::make_shared<LoadTicket>();
      e.file_bytes = safetensors_bytes(resolved.dir);
      auto kv = serving::planned_kv_bytes(resolved.dir, config_.load_options);
      e.kv_plan = kv.ok() ? *kv : config_.load_options.engine.kv_budget_bytes;
      e.last_used = now();
      e.last_used_ms = unix_ms();
      std::shared_ptr<LoadTicket> ticket = e.ticket;
      entries_.emplace(key, std::move(e));
      lock.unlock();
      run_load(key, resolved, pin);
      lock.lock();
      if (!ticket->status.ok()) return ticket->status;
      continue;  // loaded: touch it below (or reload if it was already evicted again)
    }
    Entry& e = it->second;
    if (!e.loading) {
      e.last_used = now();
      e.last_used_ms = unix_ms();
      if (pin) e.pinned = true;
      return e.instance;
    }
    std::shared_ptr<LoadTicket> ticket = e.ticket;
    if (!cv_.wait_until(lock, deadline, [&] { return ticket->done; })) {
      return deadline_exceeded("timed out waiting for the model '" + key + "' to load");
    }
    if (!ticket->status.ok()) return ticket->status;
    // Loaded: loop once more to touch/pin the entry (it may already have been evicted again,
    // in which case the loop starts another load).
  }
}

bool ModelPool::on_gpu() const {
  return config_.load_options.engine.device == engine::Device::kCuda;
}

uint64_t ModelPool::memory_in_use() const {
  return on_gpu() ? device_used_bytes() : current_rss_bytes();
}

uint64_t ModelPool::estimate_locked(const Entry& e) const {
  return e.file_bytes + e.kv_plan + runtime_estimate_;
}

uint64_t ModelPool::used_bytes_locked() const {
  uint64_t used = 0;
  for (const auto& [id, e] : entries_) used += e.bytes;
  for (const Zombie& z : zombies_) used += z.bytes;
  return used;
}

bool ModelPool::idle_locked(const Entry& e) {
  return !e.loading && !e.pinned && e.instance && e.instance.use_count() == 1 &&
         e.instance->loop().n_in_flight() == 0;
}

Status ModelPool::make_room_locked(uint64_t need, const std::string& for_id, Instances* out) {
  uint64_t used = used_bytes_locked();
  if (used + need <= config_.budget_bytes) return ok_status();
  if (need > config_.budget_bytes) {
    return resource_exhausted("the model '" + for_id + "' needs about " + mib(need) +
                              ", more than the whole memory budget of " +
                              mib(config_.budget_bytes) + " (MLX_SERVER_MAX_MEMORY_GB)");
  }
  std::vector<std::pair<TimePoint, std::string>> candidates;
  std::string busy;
  for (const auto& [id, e] : entries_) {
    if (id == for_id || e.loading) continue;
    if (idle_locked(e)) {
      candidates.emplace_back(e.last_used, id);
    } else {
      busy += (busy.empty() ? "" : ", ") + id + (e.pinned ? " (pinned)" : " (in use)");
    }
  }
  for (const Zombie& z : zombies_) busy += (busy.empty() ? "" : ", ") + z.id + " (unloading)";
  std::sort(candidates.begin(), candidates.end());
  std::vector<std::string> victims;
  uint64_t freed = 0;
  for (const auto& [t, id] : candidates) {
    if (used - freed + need <= config_.budget_bytes) break;
    victims.push_back(id);
    freed += entries_.at(id).bytes;
  }
  if (used - freed + need > config_.budget_bytes) {
    return resource_exhausted(
        "cannot load the model '" + for_id + "' (about " + mib(need) + "): the pool uses " +
        mib(used) + " of its " + mib(config_.budget_bytes) +
        " budget and no model can be evicted" + (busy.empty() ? "" : " [" + busy + "]") +
        "; retry later, unload a model or raise MLX_SERVER_MAX_MEMORY_GB");
  }
  for (const std::string& id : victims) {
    MLXM_LOG_INFO("pool: evicting '{}' ({}) to make room for '{}'", id, mib(entries_.at(id).bytes),
                  for_id);
    out->push_back(std::move(entries_.at(id).instance));
    entries_.erase(id);
    ++n_evictions_;
  }
  return ok_status();
}

void ModelPool::run_load(const std::string& key, const ResolvedModel& resolved, bool pin) {
  std::lock_guard<std::mutex> load_lock(load_mu_);
  Instances victims;
  Status st;
  uint64_t rss0 = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& e = entries_.at(key);
    const uint64_t estimate = estimate_locked(e);
    st = make_room_locked(estimate, key, &victims);
    if (st.ok()) e.bytes = estimate;  // the estimate counts while loading
  }
  // Models busy only for a moment (a response just sent, its session not yet released) should
  // not turn into a 503: retry for up to evict_wait before giving up.
  const TimePoint give_up = now() + config_.evict_wait;
  while (st.code() == StatusCode::kResourceExhausted && now() < give_up &&
         st.message().find("whole memory budget") == std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::lock_guard<std::mutex> lock(mu_);
    Entry& e = entries_.at(key);
    const uint64_t estimate = estimate_locked(e);
    st = make_room_locked(estimate, key, &victims);
    if (st.ok()) e.bytes = estimate;
  }
  victims.clear();  // frees the evicted models here, outside mu_ (joins their engine threads)
  release_free_memory();
  Result<std::shared_ptr<serving::ModelInstance>> inst =
      st.ok() ? Result<std::shared_ptr<serving::ModelInstance>>(internal_error("not loaded")) : st;
  Timer timer;
  const int64_t start_ms = unix_ms();
  if (st.ok()) {
    rss0 = memory_in_use();
    {
      std::lock_guard<std::mutex> lock(mu_);
      entries_.at(key).rss_at_start = rss0;
    }
    inst = serving::ModelInstance::load(key, resolved.dir, config_.load_options);
  }
  const uint64_t rss1 = memory_in_use();
  std::shared_ptr<LoadTicket> ticket;
  LoadEvent event;
  event.id = key;
  event.dir = resolved.dir;
  event.start_unix_ms = start_ms;
  event.duration_ms = st.ok() ? timer.ms() : 0.0;
  std::function<void(const LoadEvent&)> observer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    observer = load_observer_;
    auto it = entries_.find(key);
    MLXM_CHECK(it != entries_.end());
    ticket = it->second.ticket;
    ticket->done = true;
    if (!inst.ok()) {
      ticket->status = inst.status();
      last_errors_[key] = inst.status().message();
      ++n_load_failures_;
      event.file_bytes = it->second.file_bytes;
      event.error = inst.status().message();
      entries_.erase(it);
      MLXM_LOG_WARN("pool: loading '{}' failed: {}", key, inst.status().message());
    } else {
      Entry& e = it->second;
      const auto& eng = (*inst)->loop().engine();
      e.instance = *inst;
      e.loading = false;
      e.pinned = pin;
      e.load_ms = timer.ms();
      e.loaded_at_ms = unix_ms();
      e.last_used = now();
      e.last_used_ms = unix_ms();
      e.weight_bytes = eng.weight_bytes();
      e.kv_bytes = eng.kv_bytes();
      e.rss_delta = rss1 > rss0 ? rss1 - rss0 : 0;
      // Resident growth counts the weights (and the KV pages touched so far); on a GPU the
      // whole reservation is allocated up front, so the KV is part of the growth there.
      const uint64_t counted = e.weight_bytes + (on_gpu() ? e.kv_bytes : 0);
      e.runtime_bytes = e.rss_delta > counted ? e.rss_delta - counted : 0;
      e.bytes = e.weight_bytes + e.kv_bytes + e.runtime_bytes;
      runtime_estimate_ = std::max(runtime_estimate_, e.runtime_bytes);
      e.ticket.reset();  // waiters hold their own reference
      last_errors_.erase(key);
      ++n_loads_;
      event.ok = true;
      event.bytes = e.bytes;
      event.file_bytes = e.file_bytes;
      // The estimate may have been low: evict more if the measured size overshoots.
      uint64_t used = used_bytes_locked();
      if (used > config_.budget_bytes) {
        Status more = make_room_locked(0, key, &victims);
        if (!more.ok()) {
          MLXM_LOG_WARN("pool: '{}' measured {} (estimated lower); the pool is over budget: {}",
                        key, mib(e.bytes), more.message());
        }
      }
      MLXM_LOG_INFO("pool: loaded '{}' in {:.0f} ms: {} (weights {}, KV {}, runtime {}; RSS +{}); "
                    "pool {} of {}",
                    key, e.load_ms, mib(e.bytes), mib(e.weight_bytes), mib(e.kv_bytes),
                    mib(e.runtime_bytes), mib(e.rss_delta), mib(used_bytes_locked()),
                    mib(config_.budget_bytes));
    }
  }
  cv_.notify_all();
  victims.clear();
  if (observer) observer(event);
}

void ModelPool::set_load_observer(std::function<void(const LoadEvent&)> observer) {
  std::lock_guard<std::mutex> lock(mu_);
  load_observer_ = std::move(observer);
}

std::vector<std::shared_ptr<serving::ModelInstance>> ModelPool::list() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<serving::ModelInstance>> out;
  for (const auto& [id, e] : entries_) {
    if (!e.loading) out.push_back(e.instance);
  }
  return out;
}

Result<std::string> ModelPool::pool_key(const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (entries_.count(id)) return id;
  }
  auto r = resolver_.resolve(id);
  if (r.ok()) return r->id;
  if (r.status().code() == StatusCode::kInvalidArgument) return r.status();
  return id;  // unknown: the caller reports it as not loaded
}

Result<bool> ModelPool::unload(const std::string& id) {
  MLXM_ASSIGN_OR_RETURN(const std::string key, pool_key(id));
  Instances drop;
  bool freed = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return not_found("the model '" + id + "' is not loaded");
    Entry& e = it->second;
    if (e.loading) return unavailable("the model '" + id + "' is loading; unload it when it is ready");
    if (e.instance.use_count() == 1 && e.instance->loop().n_in_flight() == 0) {
      drop.push_back(std::move(e.instance));
    } else {
      zombies_.push_back(Zombie{key, std::move(e.instance), e.bytes});
      freed = false;
    }
    entries_.erase(it);
  }
  drop.clear();
  release_free_memory();
  MLXM_LOG_INFO("pool: unloaded '{}'{}", key, freed ? "" : " (frees when its requests end)");
  return freed;
}

Result<ModelStatus> ModelPool::unpin(const std::string& id) {
  MLXM_ASSIGN_OR_RETURN(const std::string key, pool_key(id));
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return not_found("the model '" + id + "' is not loaded");
    if (it->second.loading) {
      return unavailable("the model '" + id + "' is loading; unpin it when it is ready");
    }
    it->second.pinned = false;
    it->second.last_used = now();  // the idle TTL counts from the unpin at the earliest
  }
  MLXM_LOG_INFO("pool: unpinned '{}'", key);
  return model_status(key);
}

void ModelPool::set_keep_alive(const std::string& name, std::chrono::seconds keep_alive) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  it->second.keep_alive = keep_alive;
  it->second.last_used = now();  // counted from the end of this request at the earliest
}

void ModelPool::set_budget_and_ttl(uint64_t budget_bytes, std::chrono::seconds ttl,
                                   std::string source) {
  MLXM_CHECK(budget_bytes > 0);
  std::lock_guard<std::mutex> lock(mu_);
  config_.budget_bytes = budget_bytes;
  config_.budget_source = std::move(source);
  config_.ttl = ttl;
}

PoolStatus ModelPool::status() {
  PoolStatus s;
  const uint64_t rss = current_rss_bytes();
  const uint64_t in_use = memory_in_use();  // where the models live: load progress
  std::lock_guard<std::mutex> lock(mu_);
  s.budget_bytes = config_.budget_bytes;
  s.budget_source = config_.budget_source;
  s.used_bytes = used_bytes_locked();
  s.rss_bytes = rss;
  s.n_loads = n_loads_;
  s.n_evictions = n_evictions_;
  s.n_load_failures = n_load_failures_;
  s.ttl_seconds = config_.ttl.count();
  s.last_errors = last_errors_;
  for (const auto& [id, e] : entries_) {
    ModelStatus m;
    m.id = id;
    m.dir = e.resolved.dir;
    m.source = e.resolved.source;
    m.state = e.loading ? "loading" : "loaded";
    m.pinned = e.pinned;
    m.bytes = e.bytes;
    m.weight_bytes = e.weight_bytes;
    m.kv_bytes = e.kv_bytes;
    m.runtime_bytes = e.runtime_bytes;
    m.rss_delta_bytes = e.rss_delta;
    m.file_bytes = e.file_bytes;
    if (e.loading && e.rss_at_start > 0) {
      m.progress_bytes =
          std::min(e.file_bytes, in_use > e.rss_at_start ? in_use - e.rss_at_start : 0);
    } else if (!e.loading) {
      m.progress_bytes = e.file_bytes;
    }
    m.loaded_at_ms = e.loaded_at_ms;
    m.last_used_ms = e.last_used_ms;
    m.load_ms = e.load_ms;
    m.instance = e.instance;
    m.n_in_flight = e.instance ? e.instance->loop().n_in_flight() : 0;
    s.models.push_back(std::move(m));
  }
  for (const Zombie& z : zombies_) {
    ModelStatus m;
    m.id = z.id;
    m.dir = z.instance->path();
    m.state = "unloading";
    m.bytes = z.bytes;
    m.instance = z.instance;
    m.n_in_flight = z.instance->loop().n_in_flight();
    s.models.push_back(std::move(m));
  }
  return s;
}

Result<ModelStatus> ModelPool::model_status(const std::string& id) {
  std::string key = id;
  if (auto r = resolver_.resolve(id); r.ok()) key = r->id;
  PoolStatus s = status();
  for (ModelStatus& m : s.models) {
    if (m.id == key || m.id == id) return std::move(m);
  }
  auto err = s.last_errors.find(key);
  if (err != s.last_errors.end()) return unavailable("loading '" + key + "' failed: " + err->second);
  return not_found("the model '" + id + "' is not loaded");
}

void ModelPool::maintenance() {
  std::unique_lock<std::mutex> stop_lock(stop_mu_);
  while (!stopping_) {
    stop_cv_.wait_for(stop_lock, std::chrono::milliseconds(200));
    if (stopping_) break;
    Instances drop;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Unloaded models whose last request ended: free them here, off the engine threads.
      for (auto it = zombies_.begin(); it != zombies_.end();) {
        if (it->instance.use_count() == 1 && it->instance->loop().n_in_flight() == 0) {
          drop.push_back(std::move(it->instance));
          it = zombies_.erase(it);
        } else {
          ++it;
        }
      }
      // Idle unloads: a request's keep_alive for that model, else MLX_SERVER_MODEL_TTL_SECONDS
      // (0 = off; a keep_alive of 0 unloads as soon as the model is idle, < 0 never).
      const TimePoint t = now();
      for (auto it = entries_.begin(); it != entries_.end();) {
        Entry& e = it->second;
        // A model in use counts as used now: idle time starts when its last request ends.
        if (!e.loading && e.instance &&
            (e.instance.use_count() > 1 || e.instance->loop().n_in_flight() > 0)) {
          e.last_used = t;
          e.last_used_ms = unix_ms();
        }
        const bool by_request = e.keep_alive.has_value();
        const std::chrono::seconds ttl = by_request ? *e.keep_alive : config_.ttl;
        const bool expires = by_request ? ttl.count() >= 0 : ttl.count() > 0;
        if (expires && idle_locked(e) && e.last_used <= t - ttl) {
          MLXM_LOG_INFO("pool: unloading '{}' after {} s idle ({})", it->first, ttl.count(),
                        by_request ? "the request's keep_alive" : "MLX_SERVER_MODEL_TTL_SECONDS");
          drop.push_back(std::move(it->second.instance));
          it = entries_.erase(it);
        } else {
          ++it;
        }
      }
    }
    if (!drop.empty()) {
      stop_lock.unlock();
      drop.clear();
      release_free_memory();
      stop_lock.lock();
    }
  }
}

}  // namespace mlxm::pool
