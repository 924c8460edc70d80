// `mlx-manager tokenize` and `mlx-manager detokenize`: the tokenizer CLI contracts.
//   tokenize --model DIR [--no-special-tokens] --jsonl   stdin: one JSON string per line;
//                                                        stdout: one JSON array of ids per line
//   tokenize --model DIR [--no-special-tokens] --text T  stdout: one JSON array of ids
//   detokenize --model DIR [--skip-special-tokens] --jsonl
//                                                        stdin: one JSON array of ids per line;
//                                                        stdout: one JSON string per line
// Bad input (a line that is not the expected JSON, an id outside the vocabulary) or a model
// that cannot be loaded: message on stderr, exit code 1. Output is flushed line by line.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "tokenizer/tokenizer.h"

namespace mlxm::cli {

namespace {

using nlohmann::json;

void write_line(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::string ids_json(const std::vector<int32_t>& ids) { return json(ids).dump(); }

std::unique_ptr<Tokenizer> load_or_report(const std::string& dir) {
  auto t = Tokenizer::load(dir);
  if (!t.ok()) {
    std::fprintf(stderr, "error: %s\n", t.status().to_string().c_str());
    return nullptr;
  }
  return std::move(t).value();
}

int run_tokenize(const std::string& model, bool no_special, bool jsonl, const std::string* text) {
  if (jsonl == (text != nullptr)) {
    std::fprintf(stderr, "error: give exactly one of --jsonl and --text\n");
    return 1;
  }
  auto tok = load_or_report(model);
  if (!tok) return 1;
  if (text != nullptr) {
    write_line(ids_json(tok->encode(*text, !no_special)));
    return 0;
  }
  std::string line;
  for (size_t n = 1; std::getline(std::cin, line); ++n) {
    const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_string()) {
      std::fprintf(stderr, "error: stdin line %zu is not a JSON string\n", n);
      return 1;
    }
    write_line(ids_json(tok->encode(j.get_ref<const std::string&>(), !no_special)));
  }
  return 0;
}

int run_detokenize(const std::string& model, bool skip_special, bool jsonl) {
  if (!jsonl) {
    std::fprintf(stderr, "error: --jsonl is required\n");
    return 1;
  }
  auto tok = load_or_report(model);
  if (!tok) return 1;
  std::string line;
  std::vector<int32_t> ids;
  for (size_t n = 1; std::getline(std::cin, line); ++n) {
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_array()) {
      std::fprintf(stderr, "error: stdin line %zu is not a JSON array of token ids\n", n);
      return 1;
    }
    ids.clear();
    for (const auto& v : j) {
      if (!v.is_number_integer() || v.get<int64_t>() < INT32_MIN || v.get<int64_t>() > INT32_MAX) {
        std::fprintf(stderr, "error: stdin line %zu: %s is not a token id\n", n, v.dump().c_str());
        return 1;
      }
      ids.push_back(v.get<int32_t>());
    }
    auto text = tok->decode(ids, skip_special);
    if (!text.ok()) {
      std::fprintf(stderr, "error: stdin line %zu: %s\n", n, text.status().message().c_str());
      return 1;
    }
    write_line(json(*text).dump(-1, ' ', false, json::error_handler_t::replace));
  }
  return 0;
}

}  // namespace

void add_tokenize_command(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("tokenize", "Text -> token ids with a model's tokenizer.json");
  auto model = std::make_shared<std::string>();
  auto text = std::make_shared<std::string>();
  auto no_special = std::make_shared<bool>(false);
  auto jsonl = std::make_shared<bool>(false);
  cmd->add_option("--model", *model, "Model directory (tokenizer.json, tokenizer_config.json)")->required();
  cmd->add_flag("--no-special-tokens", *no_special, "Do not add BOS/EOS etc. (special tokens in the text still count)");
  cmd->add_flag("--jsonl", *jsonl, "Read one JSON string per stdin line, write one JSON id array per line");
  auto* text_opt = cmd->add_option("--text", *text, "Tokenize this one string");
  cmd->callback([=] {
    *exit_code = run_tokenize(*model, *no_special, *jsonl, text_opt->count() > 0 ? text.get() : nullptr);
  });
}

void add_detokenize_command(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("detokenize", "Token ids -> text with a model's tokenizer.json");
  auto model = std::make_shared<std::string>();
  auto skip_special = std::make_shared<bool>(false);
  auto jsonl = std::make_shared<bool>(false);
  cmd->add_option("--model", *model, "Model directory (tokenizer.json, tokenizer_config.json)")->required();
  cmd->add_flag("--skip-special-tokens", *skip_special, "Drop special tokens from the text");
  cmd->add_flag("--jsonl", *jsonl, "Read one JSON id array per stdin line, write one JSON string per line");
  cmd->callback([=] { *exit_code = run_detokenize(*model, *skip_special, *jsonl); });
}

}  // namespace mlxm::cli
