// libFuzzer target: parse and render arbitrary templates under tight limits. Any input must give a
// rendered string or an error Status: no crash, no hang, no sanitizer report.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "tokenizer/chat_template/chat_template.h"

namespace {

const nlohmann::ordered_json& context() {
  static const nlohmann::ordered_json ctx = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "sys"},
      {"role": "user", "content": "héllo <think>x</think> 😀"},
      {"role": "assistant", "content": "", "tool_calls": [{"type": "function",
        "function": {"name": "f", "arguments": {"a": 1, "b": [1.5, null, true]}}}]},
      {"role": "tool", "content": "{\"r\": 2}"},
      {"role": "user", "content": [{"type": "text", "text": "t"}, {"type": "image"}]}
    ],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "add_generation_prompt": true, "enable_thinking": false, "bos_token": "<s>", "eos_token": "</s>",
    "n": 3, "f": -2.5, "s": "abc", "d": {"k": "v"}
  })");
  return ctx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::string src(reinterpret_cast<const char*>(data), size);
  mlxm::Result<mlxm::ChatTemplate> t = mlxm::ChatTemplate::parse(src);
  if (!t.ok()) return 0;
  mlxm::ChatTemplateLimits limits;
  limits.max_output_bytes = 1 << 20;
  limits.max_loop_iterations = 20000;
  limits.max_call_depth = 40;
  limits.max_steps = 200000;
  t->set_limits(limits);
  mlxm::Result<std::string> r = t->render(context());
  (void)r;
  return 0;
}
