#include "cli/bench_commands.h"

#include <CLI/CLI.hpp>

namespace mlxm::cli {

void add_bench_make_model_command(CLI::App& app, int* exit_code);  // cmd_bench_make_model.cpp
void add_bench_engine_command(CLI::App& app, int* exit_code);      // cmd_bench_engine.cpp
void add_bench_run_command(CLI::App& app, int* exit_code);         // cmd_bench_run.cpp
void add_bench_suite_command(CLI::App& app, int* exit_code);       // cmd_bench_suite.cpp

void add_benchmark_commands(CLI::App& app, int* exit_code) {
  add_bench_make_model_command(app, exit_code);
  add_bench_engine_command(app, exit_code);
  add_bench_run_command(app, exit_code);
  add_bench_suite_command(app, exit_code);
}

}  // namespace mlxm::cli
