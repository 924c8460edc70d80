#include "tokenizer/chat_template/chat_template.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tokenizer/chat_template/interp.h"

namespace mlxm {

struct ChatTemplate::Parsed {
  std::string source;
  std::unique_ptr<jinja::Template> tpl;
};

namespace {

using jinja::Value;

template <typename J>
Value from_json(const J& j, int depth) {
  if (depth > 512) throw jinja::TemplateException{jinja::ErrorKind::kLimit, "context JSON nested too deeply"};
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value::none();
    case nlohmann::json::value_t::boolean: return Value::boolean(j.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value::integer(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::number(static_cast<double>(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float: return Value::number(j.template get<double>());
    case nlohmann::json::value_t::string: return Value::string(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      jinja::List items;
      for (const auto& x : j) items.push_back(from_json(x, depth + 1));
      return Value::make_list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Value d = Value::make_dict();
      for (auto it = j.begin(); it != j.end(); ++it) {
        d.dict->items.emplace_back(Value::string(it.key()), from_json(it.value(), depth + 1));
      }
      return d;
    }
    default: return Value::none();
  }
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot open " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

Status error_status(TemplateErrorKind kind, const std::string& msg) {
  switch (kind) {
    case TemplateErrorKind::kSyntax: return invalid_argument("chat template syntax error: " + msg);
    case TemplateErrorKind::kRaised: return invalid_argument(msg);
    case TemplateErrorKind::kLimit: return resource_exhausted("chat template limit: " + msg);
    default: return invalid_argument("chat template error: " + msg);
  }
}

TemplateErrorKind to_kind(jinja::ErrorKind k) {
  switch (k) {
    case jinja::ErrorKind::kSyntax: return TemplateErrorKind::kSyntax;
    case jinja::ErrorKind::kRaised: return TemplateErrorKind::kRaised;
    case jinja::ErrorKind::kLimit: return TemplateErrorKind::kLimit;
    default: return TemplateErrorKind::kRuntime;
  }
}

// A special token in tokenizer_config.json: a string or an AddedToken object {"content": ...}.
const nlohmann::ordered_json* token_content(const nlohmann::ordered_json& v) {
  if (v.is_string()) return &v;
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return &v["content"];
  return nullptr;
}

}  // namespace

const char* template_error_kind_name(TemplateErrorKind kind) {
  switch (kind) {
    case TemplateErrorKind::kNone: return "none";
    case TemplateErrorKind::kSyntax: return "syntax";
    case TemplateErrorKind::kRaised: return "raise";
    case TemplateErrorKind::kRuntime: return "runtime";
    case TemplateErrorKind::kLimit: return "limit";
  }
  return "unknown";
}

Result<ChatTemplate> ChatTemplate::parse(const std::string& source, TemplateErrorKind* kind) {
  if (kind) *kind = TemplateErrorKind::kNone;
  auto p = std::make_shared<Parsed>();
  p->source = source;
  try {
    p->tpl = jinja::parse_template(source);
  } catch (const jinja::TemplateException& e) {
    if (kind) *kind = to_kind(e.kind);
    return error_status(to_kind(e.kind), e.message);
  } catch (const std::exception& e) {
    if (kind) *kind = TemplateErrorKind::kSyntax;
    return error_status(TemplateErrorKind::kSyntax, e.what());
  }
  ChatTemplate t;
  t.default_ = std::move(p);
  t.special_tokens_ = std::make_shared<nlohmann::ordered_json>(nlohmann::ordered_json::object());
  return t;
}

const std::string& ChatTemplate::source() const { return default_->source; }

Result<ChatTemplate> ChatTemplate::load(const std::string& model_dir) {
  const std::string config_path = model_dir + "/tokenizer_config.json";
  const std::string jinja_path = model_dir + "/chat_template.jinja";
  nlohmann::ordered_json config = nlohmann::ordered_json::object();
  if (file_exists(config_path)) {
    MLXM_ASSIGN_OR_RETURN(std::string text, read_file(config_path));
    config = nlohmann::ordered_json::parse(text, nullptr, false);
    if (config.is_discarded() || !config.is_object()) {
      return invalid_argument(config_path + ": not a JSON object");
    }
  }
  std::string source;
  std::string tool_source;
  bool have_tool = false;
  if (file_exists(jinja_path)) {
    MLXM_ASSIGN_OR_RETURN(source, read_file(jinja_path));
  } else if (config.contains("chat_template") && config["chat_template"].is_string()) {
    source = config["chat_template"].get<std::string>();
  } else if (config.contains("chat_template") && config["chat_template"].is_array()) {
    bool have_default = false;
    for (const auto& e : config["chat_template"]) {
      if (!e.is_object() || !e.contains("name") || !e.contains("template") || !e["name"].is_string() ||
          !e["template"].is_string()) {
        return invalid_argument(config_path + ": chat_template entries must be {name, template}");
      }
      if (e["name"] == "default") {
        source = e["template"].get<std::string>();
        have_default = true;
      } else if (e["name"] == "tool_use") {
        tool_source = e["template"].get<std::string>();
        have_tool = true;
      }
    }
    if (!have_default) return not_found(config_path + ": chat_template has no \"default\" entry");
  } else {
    return not_found("no chat template in " + model_dir +
                     " (neither chat_template.jinja nor tokenizer_config.json chat_template)");
  }
  MLXM_ASSIGN_OR_RETURN(ChatTemplate t, parse(source));
  if (have_tool) {
    MLXM_ASSIGN_OR_RETURN(ChatTemplate tt, parse(tool_source));
    t.tool_use_ = tt.default_;
  }
  auto special = std::make_shared<nlohmann::ordered_json>(nlohmann::ordered_json::object());
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                          "mask_token"}) {
    if (config.contains(key)) {
      if (const auto* c = token_content(config[key])) (*special)[key] = *c;
    }
  }
  if (config.contains("additional_special_tokens") && config["additional_special_tokens"].is_array()) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& v : config["additional_special_tokens"]) {
      if (const auto* c = token_content(v)) list.push_back(*c);
    }
    (*special)["additional_special_tokens"] = list;
  }
  t.special_tokens_ = std::move(special);
  return t;
}

Result<std::string> ChatTemplate::render(const nlohmann::json& context, TemplateErrorKind* kind) const {
  return render(nlohmann::ordered_json::parse(context.dump()), kind);
}

Result<std::string> ChatTemplate::render(const nlohmann::ordered_json& context, TemplateErrorKind* kind) const {
  if (kind) *kind = TemplateErrorKind::kNone;
  auto fail = [&](TemplateErrorKind k, const std::string& msg) -> Result<std::string> {
    if (kind) *kind = k;
    return error_status(k, msg);
  };
  if (!context.is_object()) return fail(TemplateErrorKind::kRuntime, "the render context must be a JSON object");
  const char* now_env = std::getenv("MLX_MANAGER_TEMPLATE_NOW");
  std::string now_iso = now_env ? now_env : "";
  bool has_tools = context.contains("tools") && !context["tools"].is_null();
  const Parsed& parsed = (has_tools && tool_use_) ? *tool_use_ : *default_;
  try {
    auto globals = std::make_shared<jinja::Frame>();
    jinja::install_globals(globals.get(), now_iso);
    for (auto it = special_tokens_->begin(); it != special_tokens_->end(); ++it) {
      globals->vars[it.key()] = from_json(it.value(), 0);
    }
    globals->vars["tools"] = Value::none();
    globals->vars["documents"] = Value::none();
    globals->vars["add_generation_prompt"] = Value::boolean(false);
    for (auto it = context.begin(); it != context.end(); ++it) globals->vars[it.key()] = from_json(it.value(), 0);
    jinja::Limits limits;
    limits.max_output_bytes = limits_.max_output_bytes;
    limits.max_loop_iterations = limits_.max_loop_iterations;
    limits.max_call_depth = limits_.max_call_depth;
    limits.max_steps = limits_.max_steps;
    jinja::Renderer renderer(limits, globals);
    return renderer.render(*parsed.tpl);
  } catch (const jinja::TemplateException& e) {
    return fail(to_kind(e.kind), e.message);
  } catch (const jinja::BreakSignal&) {
    return fail(TemplateErrorKind::kRuntime, "break outside of a loop");
  } catch (const std::bad_alloc&) {
    return fail(TemplateErrorKind::kLimit, "out of memory while rendering");
  } catch (const std::exception& e) {
    return fail(TemplateErrorKind::kRuntime, e.what());
  }
}

}  // namespace mlxm
