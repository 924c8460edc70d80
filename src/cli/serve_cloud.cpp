#include "cli/serve_cloud.h"

#include "api/settings/settings_routes.h"
#include "auth/secret_box.h"
#include "cloud/cloud_import.h"
#include "cloud/cloud_storage.h"
#include "core/env.h"
#include "core/log.h"
#include "store/database.h"

namespace mlxm::cli {

namespace {

Result<cloud::CloudOptions> cloud_options_from_env() {
  cloud::CloudOptions o;
  MLXM_ASSIGN_OR_RETURN(int64_t connect, env_int("MLX_SERVER_CLOUD_CONNECT_TIMEOUT_SECONDS", 10, 1, 600));
  MLXM_ASSIGN_OR_RETURN(int64_t read, env_int("MLX_SERVER_CLOUD_READ_TIMEOUT_SECONDS", 300, 1, 86400));
  MLXM_ASSIGN_OR_RETURN(int64_t attempts, env_int("MLX_SERVER_CLOUD_RETRY_ATTEMPTS", 3, 1, 10));
  MLXM_ASSIGN_OR_RETURN(int64_t base, env_int("MLX_SERVER_CLOUD_RETRY_BASE_MS", 250, 1, 60000));
  MLXM_ASSIGN_OR_RETURN(int64_t max, env_int("MLX_SERVER_CLOUD_RETRY_MAX_MS", 4000, 1, 600000));
  MLXM_ASSIGN_OR_RETURN(int64_t failures, env_int("MLX_SERVER_CLOUD_BREAKER_FAILURES", 5, 1, 1000));
  MLXM_ASSIGN_OR_RETURN(int64_t cooldown, env_int("MLX_SERVER_CLOUD_BREAKER_COOLDOWN_SECONDS", 30, 1, 86400));
  o.http.connect_timeout_ms = connect * 1000;
  o.http.read_timeout_ms = read * 1000;
  o.retry.max_attempts = static_cast<int>(attempts);
  o.retry.base_delay = std::chrono::milliseconds(base);
  o.retry.max_delay = std::chrono::milliseconds(std::max(base, max));
  o.breaker.failure_threshold = static_cast<int>(failures);
  o.breaker.cooldown = std::chrono::seconds(cooldown);
  return o;
}

}  // namespace

Result<ServeCloud> setup_serve_cloud(http::Router& router,
                                     std::shared_ptr<telemetry::RequestObserver> observer) {
  MLXM_ASSIGN_OR_RETURN(cloud::CloudOptions options, cloud_options_from_env());
  MLXM_ASSIGN_OR_RETURN(options.home, store::manager_home());
  // Provider keys are stored sealed with the server's secret key ($MLX_MANAGER_HOME/secret.key).
  auto box = auth::SecretBox::open_default();
  if (!box.ok()) return box.status().with_context("the secret key for stored provider keys");
  auto shared_box = std::make_shared<const auth::SecretBox>(std::move(box).value());
  options.cipher = cloud::KeyCipher{
      [shared_box](std::string_view plain) { return shared_box->seal(plain); },
      [shared_box](std::string_view sealed) { return shared_box->open(sealed); }};
  // Providers and rules live in the database; files from older versions are imported once.
  MLXM_ASSIGN_OR_RETURN(options.storage,
                        cloud::DatabaseCloudStorage::open(options.home / store::kDatabaseFileName));
  MLXM_RETURN_IF_ERROR(cloud::import_cloud_files(options, *options.storage).status());
  ServeCloud out;
  MLXM_ASSIGN_OR_RETURN(out.config, cloud::CloudConfig::open(std::move(options)));
  out.router = std::make_shared<api::BackendRouter>(out.config, std::move(observer));
  auto backend_router = out.router;
  out.route = [backend_router](std::string_view api, http::Handler local) -> http::Handler {
    if (api == "anthropic.count_tokens") return backend_router->wrap_count_tokens(std::move(local));
    auto which = api::BackendRouter::api_from_name(api);
    if (!which) return local;
    return backend_router->wrap(*which, std::move(local));
  };
  api::register_settings_routes(router, api::SettingsDeps{out.config, nullptr});
  auto snap = out.config->snapshot();
  MLXM_LOG_INFO("cloud routing: {} provider(s), {} rule(s)", snap->providers.size(),
                snap->rules->rules().size());
  return out;
}

}  // namespace mlxm::cli
