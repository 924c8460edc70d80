// Subcommands of mlx-benchmark, one cmd_bench_*.cpp each.
#pragma once

namespace CLI {
class App;
}

namespace mlxm::cli {

// Registers every mlx-benchmark subcommand (add one line per command in bench_commands.cpp).
void add_benchmark_commands(CLI::App& app, int* exit_code);

}  // namespace mlxm::cli
