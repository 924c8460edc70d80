// Chat templates: a Jinja2 interpreter that renders Hugging Face chat templates byte-identically to
// Python jinja2 configured as transformers configures it (ImmutableSandboxedEnvironment,
// trim_blocks, lstrip_blocks, loopcontrols, transformers' tojson, raise_exception, strftime_now).
//
// Thread-safety: a ChatTemplate is immutable after load/parse; render() may be called from many
// threads at once.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <memory>
#include <string>

#include "core/status.h"

namespace mlxm {

namespace jinja {
struct Template;
}

enum class TemplateErrorKind {
  kNone,
  kSyntax,   // the template does not parse (load/parse time)
  kRaised,   // the template called raise_exception(msg): a client error, HTTP 400 with msg
  kRuntime,  // a Python-level error while rendering (undefined attribute access, type errors...)
  kLimit,    // a render limit was hit (output size, loop iterations, recursion, steps)
};

// Render limits against hostile templates. Defaults are far above what real templates need.
struct ChatTemplateLimits {
  size_t max_output_bytes = 64u << 20;
  int64_t max_loop_iterations = 1'000'000;
  int max_call_depth = 200;
  int64_t max_steps = 50'000'000;
};

class ChatTemplate {
 public:
  // Loads the template of a model directory: `chat_template.jinja` if present, else
  // `chat_template` of tokenizer_config.json (a string, or a list of {name, template}: "default"
  // is used, "tool_use" when the context has tools and that entry exists). Special tokens of
  // tokenizer_config.json (bos_token, eos_token, ...) become template variables, as in transformers.
  static Result<ChatTemplate> load(const std::string& model_dir);
  // Parses template source directly (no special-token variables).
  static Result<ChatTemplate> parse(const std::string& source, TemplateErrorKind* kind = nullptr);

  // Renders with `context` ({messages, tools?, documents?, add_generation_prompt?, ...extra}).
  // As transformers does, tools/documents default to None and add_generation_prompt to false.
  // Object key order is kept with ordered_json (as Python dicts keep it); nlohmann::json sorts keys.
  // Errors: kInvalidArgument for kRaised (message exactly as raised) and kRuntime,
  // kResourceExhausted for kLimit; `kind` (optional) receives the error kind.
  // MLX_MANAGER_TEMPLATE_NOW (ISO date-time) fixes what strftime_now() sees.
  Result<std::string> render(const nlohmann::ordered_json& context, TemplateErrorKind* kind = nullptr) const;
  Result<std::string> render(const nlohmann::json& context, TemplateErrorKind* kind = nullptr) const;

  void set_limits(const ChatTemplateLimits& limits) { limits_ = limits; }
  const std::string& source() const;
  bool has_tool_use_variant() const { return tool_use_ != nullptr; }

 private:
  struct Parsed;
  std::shared_ptr<const Parsed> default_;
  std::shared_ptr<const Parsed> tool_use_;  // optional named "tool_use" template
  std::shared_ptr<const nlohmann::ordered_json> special_tokens_;
  ChatTemplateLimits limits_;
};

const char* template_error_kind_name(TemplateErrorKind kind);

}  // namespace mlxm
