// mlx-manager models pull|list|rm: the Hugging Face cache from the terminal.
//   models pull org/name[@revision]   download into the cache (resumable; progress bar)
//   models list [--json]              cache + model dirs: size, architecture, quantization,
//                                     loadable or why not
//   models rm org/name                remove a repo from the cache
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "core/clock.h"
#include "pool/hub/hub_client.h"
#include "pool/memory.h"
#include "pool/model_resolver.h"

namespace mlxm::cli {
namespace {

void print_progress(const pool::hub::PullProgress& p, bool tty) {
  const double frac = p.bytes_total > 0 ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total) : 0;
  if (!tty) return;
  const int width = 30;
  std::string bar(static_cast<size_t>(frac * width), '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r[%s] %5.1f%%  %s / %s  %s/s  %d/%d files  %-30.30s", bar.c_str(),
               frac * 100, pool::format_bytes(p.bytes_done).c_str(),
               pool::format_bytes(p.bytes_total).c_str(),
               pool::format_bytes(static_cast<uint64_t>(p.bytes_per_second)).c_str(),
               p.n_files_done, p.n_files, p.current_file.c_str());
  std::fflush(stderr);
}

int run_pull(const std::string& id) {
  auto cfg = pool::hub::hub_config_from_env();
  if (!cfg.ok()) {
    std::fprintf(stderr, "error: %s\n", cfg.status().message().c_str());
    return 1;
  }
  pool::hub::PullOptions o;
  std::string repo = id;
  if (size_t at = id.find('@'); at != std::string::npos) {
    repo = id.substr(0, at);
    o.revision = id.substr(at + 1);
  }
  o.allow_suffixes = pool::hub::model_file_suffixes();
  const bool tty = isatty(2) != 0;
  o.on_progress = [tty](const pool::hub::PullProgress& p) { print_progress(p, tty); };
  Timer t;
  auto snap = pool::hub::pull(*cfg, repo, o);
  if (tty) std::fprintf(stderr, "\n");
  if (!snap.ok()) {
    std::fprintf(stderr, "error: %s\n", snap.status().message().c_str());
    return 1;
  }
  std::printf("pulled %s into %s in %.1f s\n", id.c_str(), snap->c_str(), t.ms() / 1000);
  return 0;
}

int run_list(bool as_json) {
  auto rc = pool::resolver_config_from_env();
  if (!rc.ok()) {
    std::fprintf(stderr, "error: %s\n", rc.status().message().c_str());
    return 1;
  }
  auto models = pool::ModelResolver(*rc).list_available();
  if (as_json) {
    std::printf("[");
    for (size_t i = 0; i < models.size(); ++i) {
      const auto& m = models[i];
      auto esc = [](const std::string& s) {
        std::string o;
        for (char c : s) {
          if (c == '"' || c == '\\') o += '\\';
          if (static_cast<unsigned char>(c) >= 0x20) o += c;
        }
        return o;
      };
      std::printf("%s{\"id\":\"%s\",\"source\":\"%s\",\"size_bytes\":%llu,\"architecture\":\"%s\","
                  "\"quantization\":\"%s\",\"loadable\":%s,\"why_not\":\"%s\",\"path\":\"%s\"}",
                  i ? "," : "", esc(m.id).c_str(), m.source.c_str(),
                  static_cast<unsigned long long>(m.size_bytes), esc(m.architecture).c_str(),
                  esc(m.quantization).c_str(), m.loadable ? "true" : "false",
                  esc(m.why_not).c_str(), esc(m.dir).c_str());
    }
    std::printf("]\n");
    return 0;
  }
  std::printf("%-40s %-10s %10s  %-22s %-12s %s\n", "MODEL", "SOURCE", "SIZE", "ARCHITECTURE",
              "QUANT", "LOADABLE");
  for (const auto& m : models) {
    std::printf("%-40s %-10s %10s  %-22s %-12s %s\n", m.id.c_str(), m.source.c_str(),
                pool::format_bytes(m.size_bytes).c_str(), m.architecture.c_str(),
                m.quantization.c_str(), m.loadable ? "yes" : ("no: " + m.why_not).c_str());
  }
  if (models.empty()) std::printf("(no models in %s or MLX_SERVER_MODEL_DIRS)\n", rc->hf_cache.c_str());
  return 0;
}

int run_rm(const std::string& repo) {
  const std::string cache = pool::default_hf_cache_dir();
  Status st = pool::hub::remove_from_cache(cache, repo);
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return 1;
  }
  std::printf("removed %s from %s\n", repo.c_str(), cache.c_str());
  return 0;
}

}  // namespace

void add_models_command(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("models", "Manage models in the Hugging Face cache");
  cmd->require_subcommand(1);
  auto id = std::make_shared<std::string>();
  auto* pull = cmd->add_subcommand("pull", "Download org/name[@revision] from the hub (HF_ENDPOINT, HF_TOKEN)");
  pull->add_option("model", *id, "org/name[@revision]")->required();
  pull->callback([id, exit_code] { *exit_code = run_pull(*id); });
  auto as_json = std::make_shared<bool>(false);
  auto* list = cmd->add_subcommand("list", "List cached and local models (size, architecture, quantization, loadable)");
  list->add_flag("--json", *as_json, "JSON output");
  list->callback([as_json, exit_code] { *exit_code = run_list(*as_json); });
  auto rm_id = std::make_shared<std::string>();
  auto* rm = cmd->add_subcommand("rm", "Remove org/name from the Hugging Face cache");
  rm->add_option("model", *rm_id, "org/name")->required();
  rm->callback([rm_id, exit_code] { *exit_code = run_rm(*rm_id); });
}

}  // namespace mlxm::cli
