#include "api/tools/json_schema_grammar.h"

#include <map>
#include <optional>

namespace mlxm::api {
namespace {

using grammar::ByteSet;
using grammar::cat;
using grammar::cls;
using grammar::Grammar;
using grammar::lit;
using grammar::ref;
using grammar::Seq;
using json = nlohmann::ordered_json;

constexpr int kMaxDepth = 64;

class SchemaCompiler {
 public:
  SchemaCompiler(Grammar& g, const json& root) : g_(g), root_(root) {}

  Result<int32_t> compile(const json& s, int depth) {
    if (depth > kMaxDepth) return invalid_argument("the JSON schema is nested too deeply");
    if (s.is_boolean()) {
      if (!s.get<bool>()) return invalid_argument("the JSON schema 'false' admits no value");
      return any_value();
    }
    if (!s.is_object()) return invalid_argument("a JSON schema must be an object or a boolean");
    if (auto it = s.find("$ref"); it != s.end()) return compile_ref(*it, depth);
    if (auto it = s.find("const"); it != s.end()) {
      return g_.add_rule("const", {lit(it->dump())});
    }
    if (auto it = s.find("enum"); it != s.end()) {
      if (!it->is_array() || it->empty()) {
        return invalid_argument("'enum' must be a non-empty array");
      }
      std::vector<Seq> alts;
      for (const json& v : *it) alts.push_back(lit(v.dump()));
      return g_.add_rule("enum", std::move(alts));
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (auto it = s.find(key); it != s.end()) {
        if (!it->is_array() || it->empty()) {
          return invalid_argument(std::string("'") + key + "' must be a non-empty array");
        }
        std::vector<Seq> alts;
        for (const json& sub : *it) {
          MLXM_ASSIGN_OR_RETURN(int32_t r, compile(sub, depth + 1));
          alts.push_back({ref(r)});
        }
        return g_.add_rule(key, std::move(alts));
      }
    }
    if (auto it = s.find("allOf"); it != s.end()) {
      if (!it->is_array() || it->size() != 1) {
        return invalid_argument("'allOf' is supported with exactly one schema");
      }
      return compile((*it)[0], depth + 1);
    }
    auto t = s.find("type");
    if (t == s.end()) {
      if (s.contains("properties")) return compile_typed(s, "object", depth);
      if (s.contains("items")) return compile_typed(s, "array", depth);
      return any_value();
    }
    if (t->is_array()) {
      if (t->empty()) return invalid_argument("'type' must not be an empty array");
      std::vector<Seq> alts;
      for (const json& name : *t) {
        if (!name.is_string()) return invalid_argument("'type' entries must be strings");
        MLXM_ASSIGN_OR_RETURN(int32_t r, compile_typed(s, name.get<std::string>(), depth));
        alts.push_back({ref(r)});
      }
      return g_.add_rule("types", std::move(alts));
    }
    if (!t->is_string()) return invalid_argument("'type' must be a string or an array");
    return compile_typed(s, t->get<std::string>(), depth);
  }

  int32_t ws() {
    if (ws_ < 0) {
      const int32_t spaces = g_.repeat(lit(" "), 0, 16);
      ws_ = g_.add_rule("ws", {{}, lit(" "), cat({lit("\n"), {ref(spaces)}})});
    }
    return ws_;
  }

  int32_t any_value() {
    if (value_ >= 0) return value_;
    value_ = g_.add_rule("value");
    const int32_t obj = any_object(), arr = g_.add_rule("array");
    // array ::= "[" ws ( value ws ( "," ws value ws )* )? "]"
    const int32_t more = g_.star(cat({lit(","), {ref(ws()), ref(value_), ref(ws())}}));
    const int32_t items = g_.optional({ref(value_), ref(ws()), ref(more)});
    g_.add_alt(arr, cat({lit("["), {ref(ws()), ref(items)}, lit("]")}));
    g_.add_alt(value_, {ref(obj)});
    g_.add_alt(value_, {ref(arr)});
    g_.add_alt(value_, {ref(string_rule(0, -1))});
    g_.add_alt(value_, {ref(number(false, true))});
    g_.add_alt(value_, lit("true"));
    g_.add_alt(value_, lit("false"));
    g_.add_alt(value_, lit("null"));
    return value_;
  }

  int32_t any_object() {
    if (object_ >= 0) return object_;
    object_ = g_.add_rule("object");
    if (value_ < 0) any_value();  // defines value_, which refers back to object_
    const int32_t kv = g_.add_rule(
        "member", {cat({{ref(string_rule(0, -1)), ref(ws())}, lit(":"),
                        {ref(ws()), ref(value_), ref(ws())}})});
    const int32_t more = g_.star(cat({lit(","), {ref(ws()), ref(kv)}}));
    const int32_t members = g_.optional({ref(kv), ref(more)});
    g_.add_alt(object_, cat({lit("{"), {ref(ws()), ref(members)}, lit("}")}));
    return object_;
  }

 private:
  Result<int32_t> compile_ref(const json& r, int depth) {
    if (!r.is_string()) return invalid_argument("'$ref' must be a string");
    const std::string path = r.get<std::string>();
    if (auto it = refs_.find(path); it != refs_.end()) return it->second;
    if (path.rfind("#", 0) != 0) {
      return invalid_argument("only local $refs (\"#/...\") are supported, got '" + path + "'");
    }
    const json* target = nullptr;
    try {
      const json::json_pointer ptr(path.substr(1));
      if (root_.contains(ptr)) target = &root_.at(ptr);
    } catch (const std::exception&) {
    }
    if (!target) return invalid_argument("the $ref '" + path + "' does not resolve");
    const int32_t rule = g_.add_rule("ref");
    refs_.emplace(path, rule);  // before compiling: recursive schemas refer back to it
    MLXM_ASSIGN_OR_RETURN(int32_t body, compile(*target, depth + 1));
    g_.add_alt(rule, {ref(body)});
    return rule;
  }

  static std::optional<int64_t> int_field(const json& s, const char* key) {
    auto it = s.find(key);
    if (it == s.end() || !it->is_number()) return std::nullopt;
    return static_cast<int64_t>(it->get<double>());
  }

  Result<int32_t> compile_typed(const json& s, const std::string& type, int depth) {
    if (type == "string") {
      const int64_t lo = int_field(s, "minLength").value_or(0);
      const int64_t hi = int_field(s, "maxLength").value_or(-1);
      if (lo < 0 || lo > 4096 || hi > 4096 || (hi >= 0 && hi < lo) ||
          int_field(s, "maxLength").value_or(0) < 0) {
        return invalid_argument("string minLength/maxLength must be within 0..4096");
      }
      return string_rule(static_cast<int>(lo), static_cast<int>(hi));
    }
    if (type == "integer" || type == "number") {
      const auto min = s.find("minimum");
      const bool non_negative = min != s.end() && min->is_number() && min->get<double>() >= 0;
      return number(type == "number", !non_negative);
    }
    if (type == "boolean") return g_.add_rule("boolean", {lit("true"), lit("false")});
    if (type == "null") return g_.add_rule("null", {lit("null")});
    if (type == "object") return compile_object(s, depth);
    if (type == "array") return compile_array(s, depth);
    return invalid_argument("unknown JSON schema type '" + type + "'");
  }

  Result<int32_t> compile_object(const json& s, int depth) {
    auto props = s.find("properties");
    if (props == s.end() || !props->is_object() || props->empty()) {
      auto ap = s.find("additionalProperties");
      if (ap != s.end() && ap->is_boolean() && !ap->get<bool>()) {
        return g_.add_rule("empty_object", {cat({lit("{"), {ref(ws())}, lit("}")})});
      }
      return any_object();
    }
    std::vector<std::string> required;
    if (auto r = s.find("required"); r != s.end() && r->is_array()) {
      for (const json& k : *r) {
        if (k.is_string()) required.push_back(k.get<std::string>());
      }
    }
    struct Prop {
      int32_t kv;
      bool required;
    };
    std::vector<Prop> list;
    for (auto it = props->begin(); it != props->end(); ++it) {
      MLXM_ASSIGN_OR_RETURN(int32_t v, compile(it.value(), depth + 1));
      const int32_t kv = g_.add_rule(
          "prop", {cat({lit(json(it.key()).dump()), {ref(ws())}, lit(":"),
                        {ref(ws()), ref(v), ref(ws())}})});
      const bool req = std::find(required.begin(), required.end(), it.key()) != required.end();
      list.push_back({kv, req});
    }
    // S[i][first]: the members from property i on, `first` when none was written yet.
    const size_t n = list.size();
    std::vector<int32_t> none(n + 1), some(n + 1);
    none[n] = g_.add_rule("end", {{}});
    some[n] = none[n];
    for (size_t i = n; i-- > 0;) {
      const int32_t kv = list[i].kv;
      std::vector<Seq> a_none{{ref(kv), ref(some[i + 1])}};
      std::vector<Seq> a_some{cat({lit(","), {ref(ws()), ref(kv), ref(some[i + 1])}})};
      if (!list[i].required) {
        a_none.push_back({ref(none[i + 1])});
        a_some.push_back({ref(some[i + 1])});
      }
      none[i] = g_.add_rule("members", std::move(a_none));
      some[i] = g_.add_rule("members", std::move(a_some));
    }
    return g_.add_rule("obj", {cat({lit("{"), {ref(ws()), ref(none[0])}, lit("}")})});
  }

  Result<int32_t> compile_array(const json& s, int depth) {
    int32_t item = -1;
    if (auto it = s.find("items"); it != s.end()) {
      MLXM_ASSIGN_OR_RETURN(item, compile(*it, depth + 1));
    } else {
      item = any_value();
    }
    const int64_t lo = int_field(s, "minItems").value_or(0);
    const int64_t hi = int_field(s, "maxItems").value_or(-1);
    if (lo < 0 || lo > 1024 || hi > 1024 || (hi >= 0 && hi < lo) ||
        int_field(s, "maxItems").value_or(0) < 0) {
      return invalid_argument("array minItems/maxItems must be within 0..1024");
    }
    const Seq first{ref(item), ref(ws())};
    const Seq next = cat({lit(","), {ref(ws()), ref(item), ref(ws())}});
    int32_t body;
    if (hi == 0) {
      body = g_.add_rule("none", {{}});
    } else {
      const int32_t rest = g_.repeat(next, static_cast<int>(std::max<int64_t>(lo - 1, 0)),
                                     hi < 0 ? -1 : static_cast<int>(hi - 1));
      const Seq items = cat({first, {ref(rest)}});
      body = lo == 0 ? g_.optional(items) : g_.add_rule("items", {items});
    }
    return g_.add_rule("arr", {cat({lit("["), {ref(ws()), ref(body)}, lit("]")})});
  }

  int32_t string_rule(int lo, int hi) {
    const auto key = std::make_pair(lo, hi);
    if (auto it = strings_.find(key); it != strings_.end()) return it->second;
    if (char_ < 0) {
      ByteSet excluded;
      for (int b = 0; b < 0x20; ++b) excluded.set(static_cast<size_t>(b));
      excluded.set('"');
      excluded.set('\\');
      const int32_t plain = g_.utf8_char_except(excluded);
      const grammar::Sym hex = cls("0-9a-fA-F");
      const int32_t esc = g_.add_rule(
          "escape", {{cls("\"\\\\/bfnrt")},
                     // \uXXXX without lone surrogates (D800..DFFF)
                     {cls("u"), cls("0-9a-cA-Ce-fE-F"), hex, hex, hex},
                     {cls("u"), cls("dD"), cls("0-7"), hex, hex}});
      char_ = g_.add_rule("char", {{ref(plain)}, cat({lit("\\"), {ref(esc)}})});
    }
    const int32_t body = g_.repeat({ref(char_)}, lo, hi);
    const int32_t r = g_.add_rule("string", {cat({lit("\""), {ref(body)}, lit("\"")})});
    strings_.emplace(key, r);
    return r;
  }

  int32_t number(bool fractional, bool allow_negative) {
    int32_t& slot = numbers_[(fractional ? 2 : 0) + (allow_negative ? 1 : 0)];
    if (slot >= 0) return slot;
    const int32_t digits15 = g_.repeat({cls("0-9")}, 0, 15);
    const int32_t integral = g_.add_rule("int", {lit("0"), {cls("1-9"), ref(digits15)}});
    Seq body;
    if (allow_negative) body.push_back(ref(g_.optional(lit("-"))));
    body.push_back(ref(integral));
    if (fractional) {
      const int32_t frac =
          g_.optional(cat({lit("."), {ref(g_.repeat({cls("0-9")}, 1, 16))}}));
      const int32_t sign = g_.optional({cls("+\\-")});
      const int32_t exp = g_.optional(
          {cls("eE"), ref(sign), ref(g_.repeat({cls("0-9")}, 1, 2))});
      body.push_back(ref(frac));
      body.push_back(ref(exp));
    }
    slot = g_.add_rule(fractional ? "number" : "integer", {std::move(body)});
    return slot;
  }

  Grammar& g_;
  const json& root_;
  std::map<std::string, int32_t> refs_;
  std::map<std::pair<int, int>, int32_t> strings_;
  int32_t numbers_[4] = {-1, -1, -1, -1};
  int32_t ws_ = -1, value_ = -1, object_ = -1, char_ = -1;
};

}  // namespace

Result<int32_t> add_json_schema_rules(Grammar& g, const json& schema, const json& root) {
  SchemaCompiler c(g, root);
  return c.compile(schema, 0);
}

Result<std::shared_ptr<const Grammar>> json_schema_grammar(const json& schema) {
  auto g = std::make_shared<Grammar>();
  SchemaCompiler c(*g, schema);
  MLXM_ASSIGN_OR_RETURN(int32_t value, c.compile(schema, 0));
  g->set_root(g->add_rule("root", {{ref(value)}}));
  MLXM_RETURN_IF_ERROR(g->finalize());
  return std::shared_ptr<const Grammar>(std::move(g));
}

std::shared_ptr<const Grammar> json_object_grammar() {
  auto g = std::make_shared<Grammar>();
  const json root = json::object();
  SchemaCompiler c(*g, root);
  g->set_root(g->add_rule("root", {{ref(c.any_object())}}));
  const Status st = g->finalize();
  (void)st;  // a fixed, valid grammar
  return g;
}

int32_t json_ws_rule(Grammar& g) {
  const int32_t spaces = g.repeat(lit(" "), 0, 16);
  return g.add_rule("ws", {{}, lit(" "), cat({lit("\n"), {ref(spaces)}})});
}

}  // namespace mlxm::api
