// mlx-benchmark: benchmarks of the engine and the server.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/bench_commands.h"

int main(int argc, char** argv) {
  CLI::App app{"mlx-benchmark: measure MLX Manager (engine offline, server over HTTP)"};
  int exit_code = 0;
  mlxm::cli::add_benchmark_commands(app, &exit_code);
  CLI11_PARSE(app, argc, argv);
  if (app.get_subcommands().empty()) {
    std::fputs(app.help().c_str(), stdout);
  }
  return exit_code;
}
