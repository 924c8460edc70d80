#include "cli/serve_models.h"

#include <filesystem>

#include "api/anthropic/anthropic_routes.h"
#include "api/openai/openai_routes.h"
#include "core/env.h"
#include "core/log.h"
#include "engine/device.h"

namespace mlxm::cli {

Result<ServeModels> setup_serve_models(const std::vector<std::string>& model_dirs,
                                       const std::string& device, http::Router& router,
                                       handlers::SystemDeps& system,
                                       std::shared_ptr<telemetry::RequestObserver> observer) {
  MLXM_ASSIGN_OR_RETURN(serving::ModelLoadOptions load_opts, serving::model_load_options_from_env());
  // --device cpu|cuda|auto (auto: CUDA when compiled in and a device is present).
  MLXM_ASSIGN_OR_RETURN(load_opts.engine.device, engine::resolve_device(device));
  MLXM_ASSIGN_OR_RETURN(api::OpenAiConfig api_cfg, api::openai_config_from_env());
  ServeModels out;
  out.provider = std::make_shared<serving::StaticModelProvider>(
      env_string("MLX_SERVER_DEFAULT_MODEL", ""));
  out.timers = std::make_shared<TimerThread>();
  for (const std::string& dir : model_dirs) {
    std::filesystem::path p(dir);
    std::string name = p.lexically_normal().filename().string();
    if (name.empty()) name = p.lexically_normal().parent_path().filename().string();
    auto model = serving::ModelInstance::load(name, dir, load_opts);
    if (!model.ok()) return model.status();
    out.provider->add(std::move(model).value());
  }
  auto provider = out.provider;
  system.list_models = [provider] {
    std::vector<handlers::ModelEntry> entries;
    for (const auto& m : provider->list()) entries.push_back({m->name(), m->created(), "mlx-manager"});
    return entries;
  };
  api::OpenAiDeps deps;
  deps.models = out.provider;
  deps.timers = out.timers;
  deps.config = api_cfg;
  deps.observer = observer;
  api::register_openai_routes(router, std::move(deps));
  MLXM_RETURN_IF_ERROR(api::register_anthropic_routes(router, out.provider, out.timers, observer));
  return out;
}

}  // namespace mlxm::cli
