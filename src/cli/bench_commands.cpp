#include "cli/bench_commands.h"

#include <CLI/CLI.hpp>

namespace mlxm::cli {

void add_benchmark_commands(CLI::App& app, int* exit_code) {
  (void)app;
  (void)exit_code;
}

}  // namespace mlxm::cli
