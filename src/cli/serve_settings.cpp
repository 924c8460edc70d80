#include "cli/serve_settings.h"

#include <spdlog/spdlog.h>

#include "store/database.h"

namespace mlxm::cli {
namespace {

using nlohmann::json;
constexpr int64_t kMiB = 1024 * 1024;

}  // namespace

Result<std::shared_ptr<api::ServerSettings>> setup_serve_settings(http::Router& router,
                                                                  ServeAudit& audit,
                                                                  ServeModels& models,
                                                                  ServeAuth& auth) {
  MLXM_ASSIGN_OR_RETURN(std::filesystem::path home, store::manager_home());
  MLXM_ASSIGN_OR_RETURN(std::shared_ptr<api::ServerSettings> s,
                        api::ServerSettings::open(home / store::kDatabaseFileName));
  if (auto pool = models.provider) {
    s->add(api::integer_setting(
        "pool_budget_mb", "Memory budget of the model pool; a lower value applies at the next load",
        "MiB", 1, int64_t{1} << 30,
        [pool] { return json(static_cast<int64_t>(pool->status().budget_bytes) / kMiB); },
        [pool](const json& v) {
          pool->set_budget_and_ttl(static_cast<uint64_t>(v.get<int64_t>()) * kMiB,
                                   std::chrono::seconds(pool->status().ttl_seconds), "settings");
        }));
    s->add(api::integer_setting(
        "model_ttl_seconds", "Unload models idle this long (0 = keep until evicted)", "seconds", 0,
        30 * 86400, [pool] { return json(pool->status().ttl_seconds); },
        [pool](const json& v) {
          pool::PoolStatus st = pool->status();
          pool->set_budget_and_ttl(st.budget_bytes, std::chrono::seconds(v.get<int64_t>()),
                                   st.budget_source);
        }));
  }
  auto limiter = auth.limiter;
  s->add(api::integer_setting(
      "rate_limit_rpm", "Requests per minute per API key or client address (0 = off)",
      "requests/minute", 0, 1'000'000, [limiter] { return json(limiter->rpm()); },
      [limiter](const json& v) { limiter->set_rpm(v.get<int64_t>()); }));
  s->add(api::choice_setting(
      "log_level", "Server log level", {"trace", "debug", "info", "warn", "error", "off"},
      [] {
        auto sv = spdlog::level::to_string_view(spdlog::get_level());
        std::string name(sv.data(), sv.size());
        return json(name == "warning" ? "warn" : name);
      },
      [](const json& v) { spdlog::set_level(spdlog::level::from_str(v.get<std::string>())); }));
  if (audit.service) {
    store::AuditWriter* w = &audit.service->writer();
    s->add(api::integer_setting(
        "audit_retention_days", "Delete audit rows older than this (0 = keep)", "days", 0, 36500,
        [w] { return json(w->retention_days()); },
        [w](const json& v) { w->set_retention(v.get<int64_t>(), w->max_bytes()); }));
    s->add(api::integer_setting(
        "audit_max_mb", "Cap on the database size; the oldest audit rows go first (0 = none)",
        "MiB", 0, int64_t{1} << 24, [w] { return json(w->max_bytes() / kMiB); },
        [w](const json& v) { w->set_retention(w->retention_days(), v.get<int64_t>() * kMiB); }));
  }
  MLXM_RETURN_IF_ERROR(s->load_persisted());
  api::register_server_settings_routes(router, s);
  return s;
}

}  // namespace mlxm::cli
