#include "cli/serve_auth.h"

#include "api/auth_routes/auth_guard.h"
#include "api/auth_routes/auth_routes.h"
#include "api/auth_routes/credentials.h"
#include "core/env.h"
#include "core/log.h"
#include "store/database.h"

namespace mlxm::cli {

Result<ServeAuth> setup_serve_auth(http::Router& router, const std::string& host, bool insecure) {
  ServeAuth out;
  MLXM_ASSIGN_OR_RETURN(auth::AuthConfig config, auth::auth_config_from_env());
  MLXM_ASSIGN_OR_RETURN(int64_t rpm, env_int("MLX_SERVER_RATE_LIMIT_RPM", 0, 0, 1'000'000));
  MLXM_ASSIGN_OR_RETURN(std::filesystem::path home, store::manager_home());
  MLXM_ASSIGN_OR_RETURN(
      out.auth, auth::AuthService::open(home / store::kDatabaseFileName, std::move(config)));
  out.limiter = std::make_shared<auth::RateLimiter>(rpm);

  if (!api::is_loopback_host(host) && !out.auth->api_keys_required()) {
    if (!insecure) {
      return invalid_argument(
          "refusing to listen on " + host +
          " (not a loopback address) without an API key: anyone on the network could use the "
          "server. Set MLX_SERVER_API_KEYS=<key>[,<key>...] (or create a key with POST /api/keys "
          "while listening on 127.0.0.1), or pass --insecure to serve without one.");
    }
    MLXM_LOG_WARN("listening on {} with no API key (--insecure): the API is open to the network",
                  host);
  }
  api::AuthContext ctx{out.auth, out.limiter, {.insecure = insecure}};
  api::register_auth_routes(router, ctx);
  router.set_guard(api::make_auth_guard(ctx));
  MLXM_LOG_INFO(
      "auth: API keys {} ({} from MLX_SERVER_API_KEYS), users {}, admin token {}, "
      "rate limit {}",
      out.auth->api_keys_required() ? "required" : "not required", out.auth->n_env_keys(),
      out.auth->has_users() ? "registered" : "none yet",
      out.auth->has_admin_token() ? "set" : "not set",
      rpm > 0 ? std::to_string(rpm) + "/min" : "off");
  return out;
}

}  // namespace mlxm::cli
