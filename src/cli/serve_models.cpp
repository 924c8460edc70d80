#include "cli/serve_models.h"

#include <filesystem>
#include <map>

#include "api/admin/admin_routes.h"
#include "api/admin/download_routes.h"
#include "api/anthropic/anthropic_routes.h"
#include "api/openai/openai_routes.h"
#include "core/env.h"
#include "core/log.h"
#include "engine/device.h"
#include "pool/memory.h"

namespace mlxm::cli {

namespace {

std::vector<nlohmann::json> list_models(pool::ModelPool& p) {
  std::vector<nlohmann::json> out;
  std::map<std::string, bool> loaded;
  auto object = [](const std::string& id, int64_t created) {
    return nlohmann::json{{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "mlx-manager"}};
  };
  for (const auto& m : p.status().models) {
    if (m.state != "loaded") continue;
    nlohmann::json e = object(m.id, m.loaded_at_ms / 1000);
    e["loaded"] = true;
    e["status"] = "loaded";
    e["pinned"] = m.pinned;
    e["bytes"] = m.bytes;
    loaded[m.id] = true;
    out.push_back(std::move(e));
  }
  for (const auto& a : p.resolver().list_available()) {
    if (loaded.count(a.id)) continue;
    nlohmann::json e = object(a.id, 0);
    e["loaded"] = false;
    e["status"] = a.loadable ? "available" : "unloadable";
    e["source"] = a.source;
    e["size_bytes"] = a.size_bytes;
    if (!a.loadable) e["reason"] = a.why_not;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

Result<ServeModels> setup_serve_models(const std::vector<std::string>& model_dirs,
                                       const std::string& device, http::Router& router,
                                       handlers::SystemDeps& system,
                                       std::shared_ptr<telemetry::RequestObserver> observer,
                                       ModelRoute route) {
  MLXM_ASSIGN_OR_RETURN(api::OpenAiConfig api_cfg, api::openai_config_from_env());
  MLXM_ASSIGN_OR_RETURN(pool::PoolConfig pool_cfg, pool::pool_config_from_env());
  // --device cpu|cuda|auto (auto: CUDA when compiled in and a device is present).
  MLXM_ASSIGN_OR_RETURN(pool_cfg.load_options.engine.device, engine::resolve_device(device));
  if (pool_cfg.load_options.engine.device == engine::Device::kCuda) {
    // CUDA models live in device memory: the budget is a share of the GPU's.
    MLXM_ASSIGN_OR_RETURN(engine::DeviceMemory gpu, engine::cuda_memory_info());
    MLXM_ASSIGN_OR_RETURN(pool::MemoryBudget b, pool::device_memory_budget_from_env(gpu.total_bytes));
    pool_cfg.budget_bytes = b.bytes;
    pool_cfg.budget_source = b.source;
  }
  MLXM_ASSIGN_OR_RETURN(pool::ResolverConfig resolver_cfg, pool::resolver_config_from_env());
  MLXM_ASSIGN_OR_RETURN(std::vector<std::string> preload, env_list("MLX_SERVER_PRELOAD_MODELS"));
  std::vector<std::string> names;
  for (const std::string& dir : model_dirs) {
    std::filesystem::path p(dir);
    std::string name = p.lexically_normal().filename().string();
    if (name.empty()) name = p.lexically_normal().parent_path().filename().string();
    if (!std::filesystem::is_directory(dir)) return not_found("--model " + dir + ": no such directory");
    resolver_cfg.explicit_models[name] = dir;
    names.push_back(name);
  }
  ServeModels out;
  out.provider = std::make_shared<pool::ModelPool>(pool_cfg, resolver_cfg);
  out.timers = std::make_shared<TimerThread>();
  MLXM_LOG_INFO("model pool: budget {} ({}), TTL {} s, HF cache {}",
                pool::format_bytes(pool_cfg.budget_bytes), pool_cfg.budget_source,
                pool_cfg.ttl.count(), resolver_cfg.hf_cache);
  for (const std::string& id : preload) {
    auto m = out.provider->preload(id);
    if (!m.ok()) return m.status().with_context("MLX_SERVER_PRELOAD_MODELS: " + id);
  }
  for (const std::string& name : names) {  // --model: loaded now while they fit
    auto m = out.provider->get(name);
    if (!m.ok() && m.status().code() == StatusCode::kResourceExhausted) {
      MLXM_LOG_WARN("--model {}: not loaded at start-up ({}); it loads on first use", name,
                    m.status().message());
    } else if (!m.ok()) {
      return m.status();
    }
  }
  auto provider = out.provider;
  system.list_model_objects = [provider] { return list_models(*provider); };
  api::OpenAiDeps deps;
  deps.models = out.provider;
  deps.timers = out.timers;
  deps.config = api_cfg;
  deps.observer = observer;
  deps.route = route;
  api::register_openai_routes(router, std::move(deps));
  MLXM_RETURN_IF_ERROR(
      api::register_anthropic_routes(router, out.provider, out.timers, observer, route));
  api::AdminDeps admin;
  admin.pool = out.provider;
  admin.admin_token = env_string("MLX_SERVER_ADMIN_TOKEN", "");
  const std::string admin_token = admin.admin_token;
  api::register_admin_routes(router, std::move(admin));
  MLXM_ASSIGN_OR_RETURN(pool::hub::HubConfig hub_cfg, pool::hub::hub_config_from_env());
  out.downloads = std::make_shared<pool::hub::DownloadManager>(hub_cfg);
  api::register_download_routes(router, out.downloads, admin_token);
  return out;
}

}  // namespace mlxm::cli
