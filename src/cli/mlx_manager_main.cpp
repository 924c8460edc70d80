// mlx-manager: the server and model manager. The composition root: wires modules together.
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"MLX Manager: local LLM inference server and model manager"};
  app.require_subcommand(1);
  int exit_code = 0;
  mlxm::cli::add_version_command(app, &exit_code);
  mlxm::cli::add_render_template_command(app, &exit_code);
  mlxm::cli::add_serve_command(app, &exit_code);
  mlxm::cli::add_tokenize_command(app, &exit_code);
  mlxm::cli::add_detokenize_command(app, &exit_code);
  mlxm::cli::add_models_command(app, &exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
