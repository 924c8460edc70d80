// mlx-manager render-template --model DIR: renders the model's chat template.
// Contract: stdin is one JSON object {messages, tools?, add_generation_prompt? (default true),
// ...extra variables}; stdout is exactly the rendered text (nothing appended); a template error
// exits 1 with the message on stderr.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "tokenizer/chat_template/chat_template.h"

namespace mlxm::cli {

void add_render_template_command(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("render-template",
                                 "Render a model's chat template: JSON context on stdin, text on stdout");
  auto model_dir = std::make_shared<std::string>();
  cmd->add_option("--model", *model_dir, "Model directory (tokenizer_config.json / chat_template.jinja)")
      ->required();
  cmd->callback([exit_code, model_dir] {
    std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    nlohmann::ordered_json context = nlohmann::ordered_json::parse(input, nullptr, false);
    if (context.is_discarded() || !context.is_object()) {
      std::fprintf(stderr, "render-template: stdin must be one JSON object\n");
      *exit_code = 1;
      return;
    }
    if (!context.contains("add_generation_prompt")) context["add_generation_prompt"] = true;
    Result<ChatTemplate> tpl = ChatTemplate::load(*model_dir);
    if (!tpl.ok()) {
      std::fprintf(stderr, "%s\n", tpl.status().message().c_str());
      *exit_code = 1;
      return;
    }
    Result<std::string> text = tpl->render(context);
    if (!text.ok()) {
      std::fprintf(stderr, "%s\n", text.status().message().c_str());
      *exit_code = 1;
      return;
    }
    std::fwrite(text->data(), 1, text->size(), stdout);
    std::fflush(stdout);
    *exit_code = 0;
  });
}

}  // namespace mlxm::cli
