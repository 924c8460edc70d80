#include "cli/serve_settings.h"

#include <spdlog/spdlog.h>

#include "api/openai/openai_routes.h"
#include "serving/model_instance.h"
#include "serving/scheduler/live_limits.h"
#include "store/database.h"

namespace mlxm::cli {
namespace {

using nlohmann::json;
constexpr int64_t kMiB = 1024 * 1024;

api::SettingField with_env(api::SettingField f, std::string var) {
  f.env_var = std::move(var);
  return f;
}

// Request timeouts and batching limits (serving/scheduler/live_limits.h): the value configured
// at start-up until a live value is set.
Status add_live_limits(api::ServerSettings& s) {
  MLXM_ASSIGN_OR_RETURN(api::OpenAiConfig timeouts, api::openai_config_from_env());
  MLXM_ASSIGN_OR_RETURN(serving::ModelLoadOptions load, serving::model_load_options_from_env());
  serving::LiveLimits* live = &serving::live_limits();
  const int64_t chat = timeouts.chat_timeout.count();
  const int64_t comp = timeouts.completions_timeout.count();
  s.add(with_env(
      api::integer_setting(
          "timeout_chat_seconds",
          "Time limit of a chat request (OpenAI chat, Anthropic messages); applies to new requests",
          "seconds", 1, 86400 * 7,
          [live, chat] { return json(serving::live_or(std::chrono::seconds(chat), live->chat_timeout_seconds.load()).count()); },
          [live](const json& v) { live->chat_timeout_seconds.store(v.get<int64_t>()); }),
      "MLX_SERVER_TIMEOUT_CHAT_SECONDS"));
  s.add(with_env(
      api::integer_setting(
          "timeout_completions_seconds",
          "Time limit of a text completion request; applies to new requests", "seconds", 1,
          86400 * 7,
          [live, comp] { return json(serving::live_or(std::chrono::seconds(comp), live->completions_timeout_seconds.load()).count()); },
          [live](const json& v) { live->completions_timeout_seconds.store(v.get<int64_t>()); }),
      "MLX_SERVER_TIMEOUT_COMPLETIONS_SECONDS"));
  // At most the configured values: each model's KV cache is reserved for that many sequences
  // at load, so a live limit can only lower them (loaded models from their next step).
  const int batch = load.scheduler.max_num_seqs;
  const int queued = load.scheduler.max_waiting;
  s.add(with_env(
      api::integer_setting(
          "max_batch_size",
          "Sequences generated together per model, at most the start-up value "
          "(MLX_SERVER_BATCH_MAX_BATCH_SIZE); loaded models from their next step",
          "sequences", 1, batch,
          [live, batch] { return json(serving::capped_by_live(batch, live->max_batch_size.load())); },
          [live](const json& v) { live->max_batch_size.store(static_cast<int>(v.get<int64_t>())); }),
      "MLX_SERVER_BATCH_MAX_BATCH_SIZE"));
  s.add(with_env(
      api::integer_setting(
          "max_queued_requests",
          "Requests waiting per model before 503, at most the start-up value "
          "(MLX_SERVER_MAX_QUEUED_REQUESTS); applies to new requests",
          "requests", 1, queued,
          [live, queued] { return json(serving::capped_by_live(queued, live->max_queued_requests.load())); },
          [live](const json& v) { live->max_queued_requests.store(static_cast<int>(v.get<int64_t>())); }),
      "MLX_SERVER_MAX_QUEUED_REQUESTS"));
  return ok_status();
}

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
    s->add(with_env(api::integer_setting(
        "model_ttl_seconds", "Unload models idle this long (0 = keep until evicted)", "seconds", 0,
        30 * 86400, [pool] { return json(pool->status().ttl_seconds); },
        [pool](const json& v) {
          pool::PoolStatus st = pool->status();
          pool->set_budget_and_ttl(st.budget_bytes, std::chrono::seconds(v.get<int64_t>()),
                                   st.budget_source);
        }), "MLX_SERVER_MODEL_TTL_SECONDS"));
  }
  auto limiter = auth.limiter;
  s->add(with_env(api::integer_setting(
      "rate_limit_rpm", "Requests per minute per API key or client address (0 = off)",
      "requests/minute", 0, 1'000'000, [limiter] { return json(limiter->rpm()); },
      [limiter](const json& v) { limiter->set_rpm(v.get<int64_t>()); }), "MLX_SERVER_RATE_LIMIT_RPM"));
  s->add(with_env(api::choice_setting(
      "log_level", "Server log level", {"trace", "debug", "info", "warn", "error", "off"},
      [] {
        auto sv = spdlog::level::to_string_view(spdlog::get_level());
        std::string name(sv.data(), sv.size());
        return json(name == "warning" ? "warn" : name);
      },
      [](const json& v) { spdlog::set_level(spdlog::level::from_str(v.get<std::string>())); }),
      "MLX_MANAGER_LOG_LEVEL"));
  if (audit.service) {
    store::AuditWriter* w = &audit.service->writer();
    s->add(with_env(api::integer_setting(
        "audit_retention_days", "Delete audit rows older than this (0 = keep)", "days", 0, 36500,
        [w] { return json(w->retention_days()); },
        [w](const json& v) { w->set_retention(v.get<int64_t>(), w->max_bytes()); }),
        "MLX_SERVER_AUDIT_RETENTION_DAYS"));
    s->add(with_env(api::integer_setting(
        "audit_max_mb", "Cap on the database size; the oldest audit rows go first (0 = none)",
        "MiB", 0, int64_t{1} << 24, [w] { return json(w->max_bytes() / kMiB); },
        [w](const json& v) { w->set_retention(w->retention_days(), v.get<int64_t>() * kMiB); }),
        "MLX_SERVER_AUDIT_MAX_MB"));
  }
  MLXM_RETURN_IF_ERROR(add_live_limits(*s));
  MLXM_RETURN_IF_ERROR(s->load_persisted());
  api::register_server_settings_routes(router, s);
  return s;
}

}  // namespace mlxm::cli
