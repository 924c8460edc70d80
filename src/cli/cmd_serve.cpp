// mlx-manager serve: the HTTP server. Wires the router, handlers and server from the
// environment (DESIGN §5) and flags; blocks until SIGTERM/SIGINT has drained it. SIGHUP reloads
// the live settings (docs/configuration.md).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "api/handlers/system_handlers.h"
#include "api/handlers/system_info.h"
#include "api/handlers/test_routes.h"
#include "api/http/server.h"
#include "cli/commands.h"
#include "cli/serve_audit.h"
#include "cli/serve_auth.h"
#include "cli/serve_cloud.h"
#include "cli/serve_models.h"
#include "cli/serve_settings.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/log.h"
#include "engine/device.h"

namespace mlxm::cli {
namespace {

struct ServeFlags {
  std::string host;
  int port = -1;
  int io_threads = 0;
  std::string static_dir;
  bool no_ui = false;
  std::vector<std::string> models;
  std::string device = "auto";
  bool insecure = false;  // allow a non-loopback address without an API key
};

// The built web UI when there is one: <binary dir>/web (installed next to the binary), else
// the repository's web/dist (binary in <repo>/build*/bin). Empty when neither exists.
std::string default_ui_dir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  for (const fs::path& dir : {exe.parent_path() / "web", exe.parent_path() / "../../web/dist"}) {
    if (fs::is_regular_file(dir / "index.html", ec)) return fs::weakly_canonical(dir, ec).string();
  }
  return {};
}

// The GPU for GET /api/system: [{name, total_bytes, free_bytes}], [] without one.
nlohmann::json serve_gpus_json() {
  nlohmann::json out = nlohmann::json::array();
  if (auto m = engine::cuda_memory_info(); m.ok()) {
    out.push_back(
        {{"name", m->name}, {"total_bytes", m->total_bytes}, {"free_bytes", m->free_bytes}});
  }
  return out;
}

int run_serve(const ServeFlags& flags) {
  if (Status st = init_logging(); !st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return 1;
  }
  Result<http::ServerConfig> config = http::server_config_from_env();
  if (!config.ok()) {
    std::fprintf(stderr, "error: %s\n", config.status().message().c_str());
    return 1;
  }
  Result<bool> test_routes_on = env_bool("MLX_MANAGER_TEST_ROUTES", false);
  if (!test_routes_on.ok()) {
    std::fprintf(stderr, "error: %s\n", test_routes_on.status().message().c_str());
    return 1;
  }
  http::ServerConfig cfg = std::move(config).value();
  if (!flags.host.empty()) cfg.host = flags.host;
  if (flags.port >= 0) cfg.port = flags.port;
  // Handlers that may block (model loads) run on the server's blocking pool, not on io threads.
  cfg.io_threads = flags.io_threads > 0
                       ? flags.io_threads
                       : static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 2u, 8u));
  if (!flags.static_dir.empty()) cfg.static_dir = flags.static_dir;
  if (cfg.static_dir.empty() && !flags.no_ui) cfg.static_dir = default_ui_dir();

  http::Router router;
  const http::HttpServer* server_ptr = nullptr;
  handlers::SystemDeps deps;
  deps.version = MLXM_VERSION;
  deps.is_draining = [&server_ptr] { return server_ptr != nullptr && server_ptr->draining(); };
  // Store, audit log and metrics first: the model routes report to its observer.
  Result<ServeAudit> audit = setup_serve_audit(router);
  if (!audit.ok()) {
    std::fprintf(stderr, "error: %s\n", audit.status().message().c_str());
    return 1;
  }
  // Users, sessions, API keys, rate limits: the router's guard (docs/auth.md).
  Result<ServeAuth> auth = setup_serve_auth(router, cfg.host, flags.insecure);
  if (!auth.ok()) {
    std::fprintf(stderr, "error: %s\n", auth.status().message().c_str());
    return 1;
  }
  // Cloud providers and routing rules: they wrap the model routes (declared before the server,
  // so running cloud calls end after it stopped).
  Result<ServeCloud> cloud = setup_serve_cloud(router, audit->observer);
  if (!cloud.ok()) {
    std::fprintf(stderr, "error: %s\n", cloud.status().message().c_str());
    return 1;
  }
  Result<ServeModels> models = setup_serve_models(flags.models, flags.device, router, deps,
                                                  audit->observer, cloud->route);
  if (!models.ok()) {
    std::fprintf(stderr, "error: %s\n", models.status().message().c_str());
    return 1;
  }
  add_model_metrics(*audit, models->provider);
  add_pool_metrics(*audit, models->provider);
  // GET/PUT /api/settings/server: pool budget/TTL, rate limit, log level, audit retention.
  Result<std::shared_ptr<api::ServerSettings>> settings =
      setup_serve_settings(router, *audit, *models, *auth);
  if (!settings.ok()) {
    std::fprintf(stderr, "error: %s\n", settings.status().message().c_str());
    return 1;
  }
  // SIGHUP re-reads the live settings like POST /admin/reload-config and logs the report.
  cfg.on_sighup = [s = *settings] {
    Result<nlohmann::json> report = s->reload();
    if (report.ok()) {
      MLXM_LOG_INFO("SIGHUP: settings reloaded: {}", report->dump());
    } else {
      MLXM_LOG_ERROR("SIGHUP: settings reload failed: {}", report.status().message());
    }
  };
  handlers::register_system_routes(router, std::move(deps));
  handlers::register_system_info_route(router,
                                       {.version = MLXM_VERSION,
                                        .build_type = MLXM_BUILD_TYPE,
                                        .cuda_compiled = engine::cuda_compiled(),
                                        .gpus = serve_gpus_json,
                                        .cuda_unavailable_reason = engine::cuda_unavailable_reason,
                                        .started_ms = unix_ms()});
  std::unique_ptr<handlers::TestRoutes> test_routes;  // outlives the server (declared first)
  if (*test_routes_on) {
    test_routes = std::make_unique<handlers::TestRoutes>();
    test_routes->register_routes(router);
    MLXM_LOG_WARN("test routes enabled (MLX_MANAGER_TEST_ROUTES=1)");
  }

  std::string host = cfg.host;
  std::string ui_dir = cfg.static_dir;
  int n_threads = cfg.io_threads;
  http::HttpServer server(std::move(cfg), std::move(router));
  if (Status st = server.start(); !st.ok()) {
    MLXM_LOG_ERROR("{}", st.message());
    return 1;
  }
  server_ptr = &server;
  MLXM_LOG_INFO("mlx-manager {} listening on http://{}:{} ({} io threads)", MLXM_VERSION, host,
                server.port(), n_threads);
  if (!ui_dir.empty()) {
    MLXM_LOG_INFO("web UI: http://{}:{}/ (from {})", host, server.port(), ui_dir);
  }
  bool clean = server.wait();
  audit->shutdown();  // the drain ends with every queued audit row written
  MLXM_LOG_INFO("server stopped{}", clean ? "" : " (drain timed out)");
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand("serve", "Run the HTTP server (OpenAI/Anthropic-compatible API)");
  cmd->add_option("--host", flags->host, "Address to bind (default $MLX_SERVER_HOST or 127.0.0.1)");
  cmd->add_option("--port", flags->port, "Port (default $MLX_SERVER_PORT or 10242; 0 = any free)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--io-threads", flags->io_threads, "Network threads (default: cores, at least 2, at most 8)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--static-dir", flags->static_dir,
                  "Serve files from this directory (default: the built web UI when present)");
  cmd->add_flag("--no-ui", flags->no_ui, "Do not serve the web UI");
  cmd->add_flag("--insecure", flags->insecure,
                "Allow a non-loopback --host without an API key (the API is then open to the network)");
  cmd->add_option("--model", flags->models,
                  "A model directory (HF/MLX layout) to serve under its directory name; repeatable");
  cmd->add_option("--device", flags->device, "Where to run models: auto, cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  cmd->callback([flags, exit_code] { *exit_code = run_serve(*flags); });
}

}  // namespace mlxm::cli
