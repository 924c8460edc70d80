#include "api/tools/tool_grammar.h"

#include <algorithm>

#include "api/tools/json_schema_grammar.h"

namespace mlxm::api {
namespace {

using grammar::ByteSet;
using grammar::cat;
using grammar::Grammar;
using grammar::lit;
using grammar::ref;
using grammar::Seq;
using json = nlohmann::ordered_json;

struct Tool {
  std::string name;
  json parameters;
};

// Qwen3-Coder: <parameter=P>\nvalue\n</parameter>\n for each property (required always).
Result<int32_t> xml_params(Grammar& g, const json& schema) {
  const int32_t none = g.add_rule("params_end", {{}});
  if (!schema.is_object() || !schema.contains("properties") || !schema["properties"].is_object()) {
    return none;
  }
  std::vector<std::string> required;
  if (schema.contains("required") && schema["required"].is_array()) {
    for (const json& r : schema["required"]) {
      if (r.is_string()) required.push_back(r.get<std::string>());
    }
  }
  ByteSet lt;
  for (int b = 0; b < 0x20; ++b) {
    if (b != '\n' && b != '\t') lt.set(static_cast<size_t>(b));
  }
  lt.set('<');
  const json& props = schema["properties"];
  std::vector<std::pair<int32_t, bool>> items;
  for (auto it = props.begin(); it != props.end(); ++it) {
    int32_t value;
    const json& ps = it.value();
    bool string_enum = ps.is_object() && ps.contains("enum") && ps["enum"].is_array() &&
                       !ps["enum"].empty();
    if (string_enum) {
      for (const json& e : ps["enum"]) string_enum = string_enum && e.is_string();
    }
    if (string_enum) {  // written raw, as the parser reads string parameters
      std::vector<Seq> alts;
      for (const json& e : ps["enum"]) alts.push_back(lit(e.get<std::string>()));
      value = g.add_rule("enum", std::move(alts));
    } else if (ps.is_object() && ps.value("type", json()) == "string") {
      const int max = ps.contains("maxLength") && ps["maxLength"].is_number_integer()
                          ? std::min(ps["maxLength"].get<int>(), 4096)
                          : -1;
      value = g.repeat({ref(g.utf8_char_except(lt))}, 0, max);
    } else {
      MLXM_ASSIGN_OR_RETURN(value, add_json_schema_rules(g, ps, schema));
    }
    const int32_t item = g.add_rule(
        "param", {cat({lit("<parameter=" + it.key() + ">\n"), {ref(value)},
                       lit("\n</parameter>\n")})});
    const bool req = std::find(required.begin(), required.end(), it.key()) != required.end();
    items.emplace_back(item, req);
  }
  int32_t tail = none;
  for (size_t i = items.size(); i-- > 0;) {
    std::vector<Seq> alts{{ref(items[i].first), ref(tail)}};
    if (!items[i].second) alts.push_back({ref(tail)});
    tail = g.add_rule("params", std::move(alts));
  }
  return tail;
}

Result<int32_t> call_rule(Grammar& g, ToolFormat format, const Tool& t) {
  if (format == ToolFormat::kQwen3Coder) {
    MLXM_ASSIGN_OR_RETURN(int32_t params, xml_params(g, t.parameters));
    return g.add_rule("call", {cat({lit("<tool_call>\n<function=" + t.name + ">\n"),
                                    {ref(params)}, lit("</function>\n</tool_call>")})});
  }
  MLXM_ASSIGN_OR_RETURN(int32_t args, add_json_schema_rules(g, t.parameters, t.parameters));
  const int32_t ws = json_ws_rule(g);
  const char* key = format == ToolFormat::kLlama3 ? "\"parameters\"" : "\"arguments\"";
  Seq obj = cat({lit("{"), {ref(ws)}, lit("\"name\""), {ref(ws)}, lit(":"), {ref(ws)},
                 lit(json(t.name).dump()), {ref(ws)}, lit(","), {ref(ws)}, lit(key), {ref(ws)},
                 lit(":"), {ref(ws), ref(args), ref(ws)}, lit("}")});
  if (format == ToolFormat::kHermes) {
    return g.add_rule("call", {cat({lit("<tool_call>\n"), obj, lit("\n</tool_call>")})});
  }
  return g.add_rule("call", {std::move(obj)});
}

}  // namespace

Result<std::shared_ptr<const Grammar>> tool_call_grammar(ToolFormat format, const json& tools,
                                                        const std::string& only_name,
                                                        bool parallel) {
  if (format == ToolFormat::kNone) format = ToolFormat::kJson;
  std::vector<Tool> list;
  if (tools.is_array()) {
    for (const json& t : tools) {
      const json* f = t.is_object() && t.contains("function") ? &t["function"] : &t;
      if (!f->is_object() || !(*f).contains("name") || !(*f)["name"].is_string()) continue;
      const std::string name = (*f)["name"].get<std::string>();
      if (!only_name.empty() && name != only_name) continue;
      json params = f->contains("parameters") && (*f)["parameters"].is_object()
                        ? (*f)["parameters"]
                        : json{{"type", "object"}};
      list.push_back({name, std::move(params)});
    }
  }
  if (list.empty()) {
    return invalid_argument(only_name.empty() ? "tool_choice requires at least one tool"
                                              : "tool_choice names '" + only_name +
                                                    "', which is not in 'tools'");
  }
  auto g = std::make_shared<Grammar>();
  std::vector<Seq> alts;
  for (const Tool& t : list) {
    auto r = call_rule(*g, format, t);
    if (!r.ok()) {
      return invalid_argument("the parameters of tool '" + t.name +
                              "' cannot be enforced: " + r.status().message());
    }
    alts.push_back({ref(*r)});
  }
  const int32_t call = g->add_rule("any_call", std::move(alts));
  int32_t root;
  const bool array = format == ToolFormat::kMistral || (format == ToolFormat::kJson && parallel);
  const char* sep = format == ToolFormat::kHermes || format == ToolFormat::kQwen3Coder ? "\n"
                    : format == ToolFormat::kLlama3                                   ? "; "
                                                                                      : ", ";
  Seq body{ref(call)};
  if (parallel) body.push_back(ref(g->star(cat({lit(sep), {ref(call)}}))));
  if (array) {
    root = g->add_rule("root", {cat({lit("["), body, lit("]")})});
  } else {
    root = g->add_rule("root", {std::move(body)});
  }
  g->set_root(root);
  MLXM_RETURN_IF_ERROR(g->finalize());
  return std::shared_ptr<const Grammar>(std::move(g));
}

}  // namespace mlxm::api
