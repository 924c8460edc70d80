#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.h"
#include "core/cpu_features.h"

namespace mlxm::cli {

void add_version_command(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("version", "Print version, build type, CPU features and backends");
  cmd->callback([exit_code] {
    const CpuFeatures& f = cpu_features();
    std::printf("mlx-manager %s\n", MLXM_VERSION);
    std::printf("build type:   %s\n", MLXM_BUILD_TYPE);
    std::printf("cpu:          %s\n", f.model_name.empty() ? "unknown" : f.model_name.c_str());
    std::printf("cores:        %d physical, %d logical\n", f.n_physical_cores, f.n_logical_cores);
    std::printf("cpu features: %s\n", cpu_features_string(f).c_str());
    std::printf("cuda:         %s\n", MLXM_HAVE_CUDA ? "compiled in" : "not compiled in");
    *exit_code = 0;
  });
}

}  // namespace mlxm::cli
