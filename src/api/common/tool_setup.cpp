#include "api/common/tool_setup.h"

#include <cstdlib>

#include "api/common/reply_text.h"
#include "api/tools/tool_grammar.h"
#include "grammar/grammar_processor.h"

namespace mlxm::api {
namespace {

std::string trim(std::string s) {
  const size_t b = s.find_first_not_of(" \t");
  const size_t e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

}  // namespace

ToolRequest tool_request_from_body(const nlohmann::ordered_json& b) {
  ToolRequest r;
  if (!b.is_object()) return r;
  if (b.contains("tools") && b["tools"].is_array()) r.tools = b["tools"];
  if (b.contains("tool_choice")) r.tool_choice = b["tool_choice"];
  if (b.contains("parallel_tool_calls") && b["parallel_tool_calls"].is_boolean()) {
    r.parallel_tool_calls = b["parallel_tool_calls"].get<bool>();
  }
  return r;
}

Result<std::optional<ToolFormat>> tool_format_override(const std::string& value,
                                                       const std::string& model_name) {
  if (trim(value).empty()) return std::optional<ToolFormat>();
  if (value.find('=') == std::string::npos) {
    auto f = parse_tool_format(trim(value));
    if (!f) return invalid_argument("MLX_SERVER_TOOL_PARSER: unknown format '" + trim(value) + "'");
    return std::optional<ToolFormat>(*f);
  }
  std::optional<ToolFormat> found;
  size_t start = 0;
  while (start <= value.size()) {
    size_t end = value.find(',', start);
    if (end == std::string::npos) end = value.size();
    const std::string entry = trim(value.substr(start, end - start));
    start = end + 1;
    if (entry.empty()) continue;
    const size_t eq = entry.rfind('=');
    if (eq == std::string::npos) {
      return invalid_argument("MLX_SERVER_TOOL_PARSER: '" + entry + "' is not MODEL=FORMAT");
    }
    auto f = parse_tool_format(trim(entry.substr(eq + 1)));
    if (!f) {
      return invalid_argument("MLX_SERVER_TOOL_PARSER: unknown format in '" + entry + "'");
    }
    if (trim(entry.substr(0, eq)) == model_name) found = *f;
  }
  return found;
}

ToolFormat model_tool_format(const serving::ModelInstance& model) {
  const char* env = std::getenv("MLX_SERVER_TOOL_PARSER");
  if (env) {
    auto o = tool_format_override(env, model.name());
    if (o.ok() && *o) return **o;
  }
  const ChatTemplate* t = model.chat_template();
  return t ? detect_tool_format(t->source()) : ToolFormat::kNone;
}

std::variant<ReplyOptions, ApiError> prepare_reply(const serving::ModelInstance& model,
                                                   const ToolRequest& req,
                                                   const std::string& prompt,
                                                   std::vector<serving::GenerationRequest*> requests) {
  ReplyOptions o;
  const ChatTemplate* tmpl = model.chat_template();
  o.reasoning = tmpl && template_has_reasoning(tmpl->source());
  o.starts_in_reasoning = o.reasoning && prompt_opens_reasoning(prompt);
  const bool has_tools = req.tools.is_array() && !req.tools.empty();
  std::string mode = "auto";
  std::string only_name;
  if (req.tool_choice.is_string()) {
    mode = req.tool_choice.get<std::string>();
  } else if (req.tool_choice.is_object()) {
    mode = "named";
    const auto& fn = req.tool_choice.contains("function") ? req.tool_choice["function"]
                                                          : req.tool_choice;
    if (fn.is_object() && fn.contains("name") && fn["name"].is_string()) {
      only_name = fn["name"].get<std::string>();
    }
  }
  if (mode == "required" || mode == "named") {
    if (!has_tools) {
      return ApiError::invalid("tool_choice", "tool_choice '" + mode + "' needs a non-empty 'tools'");
    }
  }
  if (!has_tools || mode == "none") {
    std::vector<std::string> markers = {"<think>", "</think>"};
    o.kept_marker_ids = special_marker_ids(model.tokenizer(), markers);
    return o;
  }
  o.tool_format = model_tool_format(model);
  if (o.tool_format == ToolFormat::kNone) o.tool_format = ToolFormat::kJson;
  o.tools = nlohmann::json::parse(req.tools.dump());
  o.parallel_tool_calls = req.parallel_tool_calls;
  o.kept_marker_ids = special_marker_ids(
      model.tokenizer(), {"<think>", "</think>", "<tool_call>", "</tool_call>", "<|python_tag|>",
                          "[TOOL_CALLS]", "[ARGS]"});
  if (mode == "required" || mode == "named") {
    auto g = tool_call_grammar(o.tool_format, req.tools, only_name, req.parallel_tool_calls);
    if (!g.ok()) return ApiError::invalid("tool_choice", g.status().message());
    o.tools_forced = true;
    o.starts_in_reasoning = false;  // the grammar leaves no room for a think block
    if (!requests.empty()) {
      auto cg = std::make_shared<grammar::CompiledGrammar>(*g, model.token_trie(),
                                                           requests[0]->stop_token_ids);
      for (serving::GenerationRequest* r : requests) {
        r->logits_processor = std::make_shared<grammar::GrammarProcessor>(cg);
      }
    }
  }
  return o;
}

}  // namespace mlxm::api
