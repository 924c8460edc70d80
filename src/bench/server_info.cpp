#include "bench/server_info.h"

#include <chrono>

namespace mlxm::bench {

using nlohmann::json;

namespace {

const json* entries_of(const json& body) {
  if (body.is_array()) return &body;
  if (!body.is_object()) return nullptr;
  for (const char* key : {"data", "models", "loaded"}) {
    if (body.contains(key) && body[key].is_array()) return &body[key];
  }
  return nullptr;
}

std::string entry_id(const json& e) {
  for (const char* key : {"id", "model", "name", "model_id"}) {
    if (e.contains(key) && e[key].is_string()) return e[key].get<std::string>();
  }
  return "";
}

// The value of `key` in the entry or one of its nested stat objects.
const json* find_field(const json& e, const char* key) {
  if (e.contains(key)) return &e[key];
  for (const char* nest : {"stats", "scheduler", "memory", "load"}) {
    if (e.contains(nest) && e[nest].is_object() && e[nest].contains(key)) return &e[nest][key];
  }
  return nullptr;
}

std::optional<int64_t> int_at(const json& e, const char* key) {
  const json* v = find_field(e, key);
  if (v && v->is_number()) return v->get<int64_t>();
  return std::nullopt;
}

}  // namespace

ModelLoad read_model_load(const json& body, const std::string& model) {
  ModelLoad m;
  const json* list = entries_of(body);
  if (!list) return m;
  for (const json& e : *list) {
    if (!e.is_object() || entry_id(e) != model) continue;
    m.found = true;
    m.running = int_at(e, "running");
    m.waiting = int_at(e, "waiting");
    m.in_flight = int_at(e, "requests_in_flight");
    m.weight_bytes = int_at(e, "weight_bytes");
    m.kv_bytes = int_at(e, "kv_bytes");
    if (const json* kv = find_field(e, "kv_blocks")) {
      if (kv->is_object()) {
        if (kv->contains("used") && (*kv)["used"].is_number())
          m.kv_blocks_used = (*kv)["used"].get<int64_t>();
        if (kv->contains("total") && (*kv)["total"].is_number())
          m.kv_blocks_total = (*kv)["total"].get<int64_t>();
      } else if (kv->is_number()) {
        m.kv_blocks_used = kv->get<int64_t>();
      }
    }
    for (const char* key : {"backend", "device"}) {
      const json* v = find_field(e, key);
      if (v && v->is_string() && m.backend.empty()) m.backend = v->get<std::string>();
    }
    break;
  }
  return m;
}

std::optional<json> fetch_admin_models(HttpClient& client, const std::string& base_url,
                                       const Headers& auth, std::string* why) {
  HttpResponse r = client.get(join_url(base_url, "/admin/models"), auth, 5000);
  if (!r.ok()) {
    if (why) *why = r.error.empty() ? "HTTP " + std::to_string(r.status) : r.error;
    return std::nullopt;
  }
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded()) {
    if (why) *why = "/admin/models did not answer JSON";
    return std::nullopt;
  }
  return j;
}

void LoadSampler::start() {
  stop_ = false;
  load_ = ServerLoad{};
  thread_ = std::thread([this] {
    HttpClient client;
    while (!stop_.load()) {
      auto t0 = std::chrono::steady_clock::now();
      if (auto body = fetch_admin_models(client, base_url_, auth_)) {
        ModelLoad m = read_model_load(*body, model_);
        if (m.found) {
          ++load_.n_samples;
          if (m.running) {
            load_.has_running = true;
            load_.max_running = std::max(load_.max_running, *m.running);
          }
          if (m.in_flight) {
            load_.has_in_flight = true;
            load_.max_in_flight = std::max(load_.max_in_flight, *m.in_flight);
          }
          if (m.waiting) {
            load_.has_waiting = true;
            load_.max_waiting = std::max(load_.max_waiting, *m.waiting);
          }
        }
      }
      std::this_thread::sleep_until(t0 + std::chrono::milliseconds(interval_ms_));
    }
  });
}

ServerLoad LoadSampler::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  return load_;
}

}  // namespace mlxm::bench
