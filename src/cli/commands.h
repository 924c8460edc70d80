// Subcommands of mlx-manager and mlx-benchmark. Each lives in its own cmd_*.cpp and registers
// itself on the CLI11 app; the mains only list them. A command's callback stores its exit code
// in *exit_code.
#pragma once

namespace CLI {
class App;
}

namespace mlxm::cli {

// mlx-manager
void add_version_command(CLI::App& app, int* exit_code);
void add_render_template_command(CLI::App& app, int* exit_code);
void add_serve_command(CLI::App& app, int* exit_code);
void add_tokenize_command(CLI::App& app, int* exit_code);    // cmd_tokenize.cpp
void add_detokenize_command(CLI::App& app, int* exit_code);  // cmd_tokenize.cpp
void add_models_command(CLI::App& app, int* exit_code);      // cmd_models.cpp: pull/list/rm

}  // namespace mlxm::cli
