// jinja2's built-in filters and tests that chat templates use, transformers' tojson, and the
// globals (range, namespace, dict, raise_exception, strftime_now).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>

#include "tokenizer/chat_template/interp.h"

namespace mlxm::jinja {
namespace {

using Fn = Value (*)(Renderer&, Value&, CallArgs&, CallKwargs&);

Value arg(CallArgs& args, CallKwargs& kwargs, size_t pos, const char* name, const Value& def) {
  if (pos < args.size()) return args[pos];
  for (auto& [k, v] : kwargs) {
    if (k == name) return v;
  }
  return def;
}

const Value kUndef;
const Value kNoneV = Value::none();
const Value kFalseV = Value::boolean(false);

int64_t len_of(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined: return 0;
    case Kind::kString: return static_cast<int64_t>(utf8_length(v.s));
    case Kind::kList: return static_cast<int64_t>(v.list->size());
    case Kind::kDict: return static_cast<int64_t>(v.dict->items.size());
    default: throw_runtime("object of type '" + type_name(v) + "' has no len()");
  }
}

Value lower_if_str(const Value& v) { return v.is_string() ? Value::string(py_lower_str(v.s)) : v; }

// jinja2 make_attrgetter: dotted path, integer parts index.
Value get_path(const Value& item, const Value& attribute) {
  if (attribute.is_intlike()) return get_item(item, attribute);
  if (!attribute.is_string()) return item;
  Value cur = item;
  size_t pos = 0;
  const std::string& a = attribute.s;
  while (true) {
    size_t dot = a.find('.', pos);
    std::string part = a.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    cur = digits && part.size() < 18 ? get_item(cur, Value::integer(std::stoll(part))) : get_item(cur, Value::string(part));
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return cur;
}

std::vector<Value> sorted_values(std::vector<Value> items, bool reverse, bool case_sensitive, const Value& attribute) {
  std::vector<std::pair<Value, Value>> keyed;
  for (Value& v : items) {
    Value k = attribute.is_undefined() || attribute.is_none() ? v : get_path(v, attribute);
    if (!case_sensitive) k = lower_if_str(k);
    keyed.emplace_back(std::move(k), std::move(v));
  }
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    return reverse ? value_less(y.first, x.first) : value_less(x.first, y.first);
  });
  std::vector<Value> out;
  for (auto& p : keyed) out.push_back(std::move(p.second));
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

struct JsonOpts {
  bool has_indent = false;
  std::string indent;
  std::string item_sep = ", ";
  std::string key_sep = ": ";
  bool sort_keys = false;
};

std::string json_key(const Value& k) {
  switch (k.kind) {
    case Kind::kString: return k.s;
    case Kind::kBool: return k.b ? "true" : "false";
    case Kind::kNone: return "null";
    case Kind::kInt: return std::to_string(k.i);
    case Kind::kFloat: return py_float_repr(k.f);
    default: throw_runtime("keys must be str, int, float, bool or None, not " + type_name(k));
  }
}

void json_dump(const Value& v, const JsonOpts& o, int level, std::string& out, int depth) {
  if (depth > 500) throw_runtime("maximum recursion depth exceeded while encoding a JSON object");
  auto newline = [&](int lvl) {
    out += '\n';
    for (int k = 0; k < lvl; ++k) out += o.indent;
  };
  switch (v.kind) {
    case Kind::kNone: out += "null"; return;
    case Kind::kBool: out += v.b ? "true" : "false"; return;
    case Kind::kInt: out += std::to_string(v.i); return;
    case Kind::kFloat:
      if (std::isnan(v.f)) out += "NaN";
      else if (std::isinf(v.f)) out += v.f > 0 ? "Infinity" : "-Infinity";
      else out += py_float_repr(v.f);
      return;
    case Kind::kString: out += json_string(v.s); return;
    case Kind::kList: {
      if (v.list->empty()) {
        out += "[]";
        return;
      }
      out += '[';
      if (o.has_indent) newline(level + 1);
      for (size_t k = 0; k < v.list->size(); ++k) {
        if (k) {
          out += o.item_sep;
          if (o.has_indent) newline(level + 1);
        }
        json_dump((*v.list)[k], o, level + 1, out, depth + 1);
      }
      if (o.has_indent) newline(level);
      out += ']';
      return;
    }
    case Kind::kDict: {
      if (v.dict->items.empty()) {
        out += "{}";
        return;
      }
      std::vector<std::pair<Value, Value>> items = v.dict->items;
      if (o.sort_keys) {
        std::stable_sort(items.begin(), items.end(),
                         [](const auto& x, const auto& y) { return value_less(x.first, y.first); });
      }
      out += '{';
      if (o.has_indent) newline(level + 1);
      bool first = true;
      for (const auto& [k, x] : items) {
        if (!first) {
          out += o.item_sep;
          if (o.has_indent) newline(level + 1);
        }
        first = false;
        out += json_string(json_key(k));
        out += o.key_sep;
        json_dump(x, o, level + 1, out, depth + 1);
      }
      if (o.has_indent) newline(level);
      out += '}';
      return;
    }
    default:
      throw_runtime("Object of type " + type_name(v) + " is not JSON serializable");
  }
}

Value do_filter_items(Renderer& r, const std::string& test, bool attr_mode, bool select, Value& subject,
                      CallArgs& args, CallKwargs& kwargs) {
  (void)test;
  std::vector<Value> out;
  size_t first_extra = attr_mode ? 2 : 1;
  Value attribute = attr_mode ? arg(args, kwargs, 0, "attribute", kUndef) : kUndef;
  Value test_name = arg(args, kwargs, attr_mode ? 1 : 0, "test", kUndef);
  CallArgs extra;
  for (size_t k = first_extra; k < args.size(); ++k) extra.push_back(args[k]);
  CallKwargs no_kw;
  for (Value& item : iterate(subject)) {
    Value probe = attr_mode ? get_path(item, attribute) : item;
    bool ok;
    if (test_name.is_undefined()) {
      ok = truthy(probe);
    } else {
      if (!test_name.is_string()) throw_runtime("test name must be a string");
      CallArgs a = extra;
      ok = r.apply_test(test_name.s, probe, a, no_kw);
    }
    if (ok == select) out.push_back(item);
  }
  return Value::make_list(std::move(out));
}

Value f_map(Renderer& r, Value& subject, CallArgs& args, CallKwargs& kwargs) {
  std::vector<Value> out;
  const Value& attribute = arg(args, kwargs, 99, "attribute", kUndef);
  if (!attribute.is_undefined()) {
    const Value& def = arg(args, kwargs, 99, "default", kUndef);
    for (Value& item : iterate(subject)) {
      Value v = get_path(item, attribute);
      out.push_back(v.is_undefined() && !def.is_undefined() ? def : v);
    }
    return Value::make_list(std::move(out));
  }
  if (args.empty()) throw_runtime("map requires a filter argument");
  if (!args[0].is_string()) throw_runtime("map filter name must be a string");
  std::string name = args[0].s;
  CallArgs extra(args.begin() + 1, args.end());
  for (Value& item : iterate(subject)) {
    CallArgs a = extra;
    CallKwargs kw = kwargs;
    out.push_back(r.apply_filter(name, item, a, kw));
  }
  return Value::make_list(std::move(out));
}

Value f_round(Renderer&, Value& v, CallArgs& args, CallKwargs& kw) {
  int64_t precision = arg(args, kw, 0, "precision", Value::integer(0)).as_int();
  const Value& method = arg(args, kw, 1, "method", Value::string("common"));
  if (!v.is_number()) throw_runtime("type " + type_name(v) + " doesn't define __round__ method");
  if (method.s != "common" && method.s != "ceil" && method.s != "floor") {
    throw_runtime("method must be common, ceil or floor");
  }
  if (method.s == "common") {
    if (v.is_intlike()) return Value::integer(v.as_int());
    if (!std::isfinite(v.f) || precision > 300) return Value::number(v.f);
    if (precision < -300) return Value::number(0.0 * v.f);
    if (precision >= 0) {
      char buf[512];
      std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(precision), v.f);
      return Value::number(std::strtod(buf, nullptr));
    }
    double p = std::pow(10.0, static_cast<double>(-precision));
    double q = v.f / p;
    double rq = std::nearbyint(q);
    return Value::number(rq * p);
  }
  double p = std::pow(10.0, static_cast<double>(precision));
  double x = v.as_double() * p;
  return Value::number((method.s == "ceil" ? std::ceil(x) : std::floor(x)) / p);
}

Value f_int(Renderer&, Value& v, CallArgs& args, CallKwargs& kw) {
  Value def = arg(args, kw, 0, "default", Value::integer(0));
  int64_t base = arg(args, kw, 1, "base", Value::integer(10)).as_int();
  if (v.is_intlike()) return Value::integer(v.as_int());
  if (v.kind == Kind::kFloat) {
    if (!std::isfinite(v.f) || std::fabs(v.f) >= 9.2e18) return def;
    return Value::integer(static_cast<int64_t>(std::trunc(v.f)));
  }
  if (v.is_string()) {
    std::string s;
    for (char c : v.s) {
      if (c != '_') s += c;
    }
    size_t b = s.find_first_not_of(" \t\n\r\f\v"), e = s.find_last_not_of(" \t\n\r\f\v");
    if (b == std::string::npos) return def;
    s = s.substr(b, e - b + 1);
    if (base >= 2 && base <= 36) {
      errno = 0;
      char* end = nullptr;
      long long x = std::strtoll(s.c_str(), &end, static_cast<int>(base));
      if (end && *end == 0 && errno == 0 && !s.empty()) return Value::integer(x);
    }
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (end && *end == 0 && std::isfinite(d) && std::fabs(d) < 9.2e18 && s.find_first_of("xXpP") == std::string::npos) {
      return Value::integer(static_cast<int64_t>(std::trunc(d)));
    }
  }
  return def;
}

Value f_float(Renderer&, Value& v, CallArgs& args, CallKwargs& kw) {
  Value def = arg(args, kw, 0, "default", Value::number(0.0));
  if (v.is_number()) return Value::number(v.as_double());
  if (v.is_string()) {
    std::string s = v.s;
    size_t b = s.find_first_not_of(" \t\n\r\f\v"), e = s.find_last_not_of(" \t\n\r\f\v");
    if (b == std::string::npos) return def;
    s = s.substr(b, e - b + 1);
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (end && *end == 0 && s.find_first_of("xXpP") == std::string::npos) return Value::number(d);
  }
  return def;
}

Value f_indent(Renderer&, Value& v, CallArgs& args, CallKwargs& kw) {
  const Value& width = arg(args, kw, 0, "width", Value::integer(4));
  bool first = truthy(arg(args, kw, 1, "first", kFalseV));
  bool blank = truthy(arg(args, kw, 2, "blank", kFalseV));
  std::string ind = width.is_string() ? width.s : std::string(static_cast<size_t>(std::clamp<int64_t>(width.as_int(), 0, 1 << 16)), ' ');
  std::string s = to_str(v) + "\n";
  // str.splitlines on \n-terminated text (other line breaks treated like \n as Python does)
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t e = s.find_first_of("\n\r\v\f\x1c\x1d\x1e", pos);
    if (e == std::string::npos) {
      lines.push_back(s.substr(pos));
      break;
    }
    lines.push_back(s.substr(pos, e - pos));
    pos = e + 1;
    if (s[e] == '\r' && pos < s.size() && s[pos] == '\n') ++pos;
  }
  std::string rv;
  if (blank) {
    for (size_t k = 0; k < lines.size(); ++k) rv += (k ? "\n" + ind : "") + lines[k];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t k = 1; k < lines.size(); ++k) rv += "\n" + (lines[k].empty() ? "" : ind + lines[k]);
  }
  if (first) rv = ind + rv;
  return Value::string(rv);
}

Value f_min_max(Renderer&, Value& v, CallArgs& args, CallKwargs& kw, bool want_max) {
  bool cs = truthy(arg(args, kw, 0, "case_sensitive", kFalseV));
  const Value& attribute = arg(args, kw, 1, "attribute", kNoneV);
  std::vector<Value> items = iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  auto key = [&](const Value& x) {
    Value k = attribute.is_none() ? x : get_path(x, attribute);
    return cs ? k : lower_if_str(k);
  };
  Value best_key = key(items[0]);
  for (size_t k = 1; k < items.size(); ++k) {
    Value kk = key(items[k]);
    if (want_max ? value_less(best_key, kk) : value_less(kk, best_key)) {
      best = k;
      best_key = kk;
    }
  }
  return items[best];
}

using FilterFn = std::function<Value(Renderer&, Value&, CallArgs&, CallKwargs&)>;

const std::map<std::string, FilterFn>& filters() {
  static const std::map<std::string, FilterFn> k = {
      {"abs", [](Renderer&, Value& v, CallArgs&, CallKwargs&) {
         require_defined(v);
         if (v.kind == Kind::kFloat) return Value::number(std::fabs(v.f));
         if (!v.is_intlike()) throw_runtime("bad operand type for abs(): '" + type_name(v) + "'");
         if (v.as_int() == INT64_MIN) throw_runtime("integer overflow");
         return Value::integer(std::llabs(v.as_int()));
       }},
      {"attr", [](Renderer&, Value& v, CallArgs& a, CallKwargs& kw) {
         const Value& n = arg(a, kw, 0, "name", kUndef);
         if (!n.is_string()) return Value::undefined("attribute name must be a string");
         if (v.is_mapping() && !(v.is_dict() && (n.s == "items" || n.s == "keys" || n.s == "values" || n.s == "get"))) {
           if (v.kind == Kind::kNamespace) return get_attr(v, n.s);
           return Value::undefined("'dict object' has no attribute '" + n.s + "'");
         }
         return get_attr(v, n.s);
       }},
      {"batch", [](Renderer&, Value& v, CallArgs& a, CallKwargs& kw) {
         int64_t n = arg(a, kw, 0, "linecount", Value::integer(1)).as_int();
         if (n <= 0) throw_runtime("batch size must be positive");
         const Value& fill = arg(a, kw, 1, "fill_with", kNoneV);
         List out, tmp;
         for (Value& x : iterate(v)) {
           if (static_cast<int64_t>(tmp.size()) == n) {
             out.push_back(Value::make_list(std::move(tmp)));
             tmp.clear();
           }
           tmp.push_back(x);
         }
         if (!tmp.empty()) {
           if (!fill.is_none()) {
             while (static_cast<int64_t>(tmp.size()) < n) tmp.push_back(fill);
           }
           out.push_back(Value::make_list(std::move(tmp)));
         }
         return Value::make_list(std::move(out));
       }},
      {"capitalize", [](Renderer&, Value& v, CallArgs&, CallKwargs&) {
         auto c = utf8_decode(to_str(v));
         for (size_t k = 0; k < c.size(); ++k) c[k] = k == 0 ? py_upper(c[k]) : py_lower(c[k]);
         return Value::string(utf8_encode(c, 0, c.size()));
       }},
      {"center", [](Renderer&, Value& v, CallArgs& a, CallKwargs& kw) {
         std::string s = to_str(v);
         int64_t w = arg(a, kw, 0, "width", Value::integer(80)).as_int();
         int64_t len = static_cast<int64_t>(utf8_length(s));
         if (w <= len) return Value::string(s);
         if (w > (1 << 24)) throw TemplateException{ErrorKind::kLimit, "center width too large"};
         int64_t total = w - len, left = total / 2 + (total & w & 1);
         return Value::string(std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(total - left), ' '));
       }},
      {"count", [](Renderer&, Value& v, CallArgs&, CallKwargs&) { return Value::integer(len_of(v)); }},
      {"default", [](Renderer&, Value& v, CallArgs& a, CallKwargs& kw) {
         bool boolean = truthy(arg(a, kw, 1, "boolean", kFalseV));
         if (v.is_undefined() || (boolean && !truthy(v))) return arg(a, kw, 0, "default_value", Value::string(""));
         return v;
       }},
      {"dictsort", [](Renderer&, Value& v, CallArgs& a, CallKwargs& kw) {
         bool cs = truthy(arg(a, kw, 0, "case_sensitive", kFalseV));
         const Value& by = arg(a, kw, 1, "by", Value::string("key"));
         bool rev = truthy(arg(a, kw, 2, "reverse", kFalseV));
         if (!v.is_dict()) throw_runtime("dictsort requires a mapping");
         int pos = by.s == "key" ? 0 : by.s == "value" ? 1 : -1;
         if (pos < 0) throw_runtime("You can only sort by either \"key\" or \"value\"");
         std::vector<Value> items;
         for (auto& [k, x] : v.dict->items) items.push_back(Value::make_list({k, x}, true));
         return Value::make_list(sorted_values(std::move(items), rev, cs, Value::integer(pos)));
       }},
      {"escape", [](Renderer&, Value& v, CallArgs&, CallKwargs&) { return Value::string(html_escape(to_str(v))); }},
      {"first", [](Renderer&, Value& v, CallArgs&, CallKwargs&) {
         std::vector<Value> items = iterate(v);
         return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
       }},
      {"float", f_float},
      {"format", [](Renderer&, Value& v, CallArgs& a, CallKwargs& kw) {
         (void)v, (void)a, (void)kw;
         return Value::undefined();  // handled in run_filter
       }},
      {"indent", f_indent},
      {"int", f_int},
      {"items", [](Renderer&, Value& v, CallArgs&, CallKwargs&) {
         if (v.is_undefined()) return Value::make_list({});
         if (!v.is_dict()) throw_runtime("Can only get item pairs from a mapping.");
         List out;
         for (auto& [k, x] : v.dict->items) out.push_back(Value::make_list({k, x}, true));
         return Value::make_list(std::move(out));
       }},
      {"join", [](Renderer& r, Value& v, CallArgs& a, CallKwargs& kw) {
         std::string sep = to_str(arg(a, kw, 0, "d", Value::string("")));
         const Value& attribute = arg(a, kw, 1, "attribute", kNoneV);
         std::string out;
         bool first = true;
         for (Value& x : iterate(v)) {
           if (!first) out += sep;
           first = false;
           out += to_str(attribute.is_none() ? x : get_path(x, attribute));
           r.check_size(out.size());
         }
         return Value::string(out);
       }},
      {"last", [](Renderer&, Value& v, CallArgs&, CallKwargs&) {
         std::vector<Value> items = iterate(v);
         return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
       }},
      {"length", [](Renderer&, Value& v, CallArgs&, CallKwargs&) { return Value::integer(len_of(v)); }},
      {"list", [](Renderer&, Value& v, CallArgs&, CallKwargs&) { return Value::make_list(iterate(v)); }},
      {"lower", [](Renderer&, Value& v, CallArgs&, CallKwargs&) { return Value::string(py_lower_str(to_str(v))); }},
      {"map", f_map},
      {"max", [](Renderer& r, Value& v, CallArgs& a, CallKwargs& kw) { return f_min_max(r, v, a, kw, true); }},
      {"min", [](Renderer& r, Value& v, CallArgs& a, CallKwargs& kw) { return f_min_max(r, v, a, kw, false); }},
      {"reject", [](Renderer& r, Value& v, CallArgs& a, CallKwargs& kw) { return do_filter_items(r, "", false, false, v, a, kw); }},
      {"rejectattr", [](Renderer& r, Value& v, CallArgs& a, CallKwargs& kw) { return do_filter_items(r, "", true, false, v, a, kw); }},
      {"replace", [](Renderer&, Value& v, CallArgs& a, CallKwargs& kw) {
         CallArgs ma = {Value::string(to_str(arg(a, kw, 0, "old", kUndef))), Value::string(to_str(arg(a, kw, 1, "new", kUndef)))};
         const Value& count = arg(a, kw, 2, "count", kNoneV);
         if (!count.is_none()) ma.push_back(count);
         CallKwargs none;
         bool found = false;
         return call_method(Value::string(to_str(v)), "replace", ma, none, &found);
       }},
      {"reverse", [](Renderer&, Value& v, CallArgs&, CallKwargs&) {
         if (v.is_string()) {
           auto c = utf8_decode(v.s);
           std::reverse(c.begin(), c.end());
           return Value::string(utf8_encode(c, 0, c.size()));
         }
         std::vector<Value> items = iterate(v);
         std::reverse(items.begin(), items.end());
         return Value::make_list(std::move(items));
       }},
      {"round", f_round},
      {"safe", [](Renderer&, Value& v, CallArgs&, CallKwargs&) { return Value::string(to_str(v)); }},
      {"select", [](Renderer& r, Value& v, CallArgs& a, CallKwargs& kw) { return do_filter_items(r, "", false, true, v, a, kw); }},
      {"selectattr", [](Renderer& r, Value& v, CallArgs& a, CallKwargs& kw) { return do_filter_items(r, "", true, true, v, a, kw); }},
      {"sort", [](Renderer&, Value& v, CallArgs& a, CallKwargs& kw) {
         bool rev = truthy(arg(a, kw, 0, "reverse", kFalseV));
         bool cs = truthy(arg(a, kw, 1, "case_sensitive", kFalseV));
         return Value::make_list(sorted_values(iterate(v), rev, cs, arg(a, kw, 2, "attribute", kNoneV)));
       }},
      {"string", [](Renderer&, Value& v, CallArgs&, CallKwargs&) { return Value::string(to_str(v)); }},
      {"sum", [](Renderer& r, Value& v, CallArgs& a, CallKwargs& kw) {
         const Value& attribute = arg(a, kw, 0, "attribute", kNoneV);
         Value total = arg(a, kw, 1, "start", Value::integer(0));
         for (Value& x : iterate(v)) total = binary_op("+", total, attribute.is_none() ? x : get_path(x, attribute), r.limits().max_output_bytes);
         return total;
       }},
      {"title", [](Renderer&, Value& v, CallArgs&, CallKwargs&) {
         // "".join(item[0].upper() + item[1:].lower() for item in re.split(r"([-\s({\[<]+)", s) if item)
         auto c = utf8_decode(to_str(v));
         auto is_sep = [](uint32_t cp) { return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || py_isspace(cp); };
         bool start = true;
         for (auto& cp : c) {
           if (is_sep(cp)) {
             start = true;
             continue;
           }
           cp = start ? py_upper(cp) : py_lower(cp);
           start = false;
         }
         return Value::string(utf8_encode(c, 0, c.size()));
       }},
      {"tojson", [](Renderer&, Value& v, CallArgs& a, CallKwargs& kw) {
         const Value& ensure_ascii = arg(a, kw, 0, "ensure_ascii", kFalseV);
         if (truthy(ensure_ascii)) throw_runtime("tojson(ensure_ascii=True) is not supported");
         return Value::string(to_json(v, arg(a, kw, 1, "indent", kNoneV), arg(a, kw, 2, "separators", kNoneV),
                                      truthy(arg(a, kw, 3, "sort_keys", kFalseV))));
       }},
      {"trim", [](Renderer&, Value& v, CallArgs& a, CallKwargs& kw) {
         CallArgs ma;
         const Value& chars = arg(a, kw, 0, "chars", kNoneV);
         if (!chars.is_none()) ma.push_back(chars);
         CallKwargs none;
         bool found = false;
         return call_method(Value::string(to_str(v)), "strip", ma, none, &found);
       }},
      {"unique", [](Renderer&, Value& v, CallArgs& a, CallKwargs& kw) {
         bool cs = truthy(arg(a, kw, 0, "case_sensitive", kFalseV));
         const Value& attribute = arg(a, kw, 1, "attribute", kNoneV);
         std::set<std::string> seen;
         List out;
         for (Value& x : iterate(v)) {
           Value k = attribute.is_none() ? x : get_path(x, attribute);
           if (!cs) k = lower_if_str(k);
           if (seen.insert(hash_key(k)).second) out.push_back(x);
         }
         return Value::make_list(std::move(out));
       }},
      {"upper", [](Renderer&, Value& v, CallArgs&, CallKwargs&) {
         std::string out;
         for (uint32_t cp : utf8_decode(to_str(v))) utf8_append(out, py_upper(cp));
         return Value::string(out);
       }},
      {"wordcount", [](Renderer&, Value& v, CallArgs&, CallKwargs&) {
         int64_t n = 0;
         bool in_word = false;
         for (uint32_t cp : utf8_decode(to_str(v))) {
           bool w = cp == '_' || (cp >= '0' && cp <= '9') || py_isalpha(cp);
           if (w && !in_word) ++n;
           in_word = w;
         }
         return Value::integer(n);
       }},
  };
  return k;
}

bool mod2(const Value& v) {
  require_defined(v);
  if (!v.is_number()) throw_runtime("unsupported operand type(s) for %: '" + type_name(v) + "' and 'int'");
  if (v.kind == Kind::kFloat) return std::fmod(std::fabs(v.f), 2.0) == 1.0;
  return (v.as_int() % 2) != 0;
}

}  // namespace

std::string to_json(const Value& v, const Value& indent, const Value& separators, bool sort_keys) {
  JsonOpts o;
  o.sort_keys = sort_keys;
  if (!indent.is_none() && !indent.is_undefined()) {
    o.has_indent = true;
    if (indent.is_string()) {
      o.indent = indent.s;
    } else if (indent.is_intlike()) {
      o.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(indent.as_int(), 0, 1 << 10)), ' ');
    } else {
      throw_runtime("indent must be an int or a string");
    }
    o.item_sep = ",";
  }
  if (!separators.is_none() && !separators.is_undefined()) {
    if (!separators.is_list() || separators.list->size() != 2 || !(*separators.list)[0].is_string() ||
        !(*separators.list)[1].is_string()) {
      throw_runtime("separators must be a pair of strings");
    }
    o.item_sep = (*separators.list)[0].s;
    o.key_sep = (*separators.list)[1].s;
  }
  std::string out;
  json_dump(v, o, 0, out, 0);
  return out;
}

bool has_filter(const std::string& name) { return name == "d" || name == "e" || filters().count(name) > 0; }

Value run_filter(Renderer& r, const std::string& name, Value subject, CallArgs& args, CallKwargs& kwargs) {
  std::string n = name == "d" ? "default" : name == "e" ? "escape" : name;
  auto it = filters().find(n);
  if (it == filters().end()) throw_runtime("No filter named '" + name + "'.");
  if (n == "format") {
    if (!kwargs.empty() && !args.empty()) throw_runtime("can't handle positional and keyword arguments at the same time");
    Value rhs = args.size() == 1 ? args[0] : Value::make_list(args, true);
    return binary_op("%", Value::string(to_str(subject)), rhs, r.limits().max_output_bytes);
  }
  return it->second(r, subject, args, kwargs);
}

bool has_test(const std::string& name) {
  static const std::set<std::string> k = {
      "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "==", "escaped", "even", "false",
      "filter", "float", "ge", ">=", "gt", "greaterthan", ">", "in", "integer", "iterable", "le", "<=",
      "lower", "lessthan", "lt", "<", "mapping", "ne", "!=", "none", "number", "odd", "sameas",
      "sequence", "string", "test", "true", "undefined", "upper"};
  return k.count(name) > 0;
}

bool run_test(Renderer&, const std::string& name, const Value& v, CallArgs& args, CallKwargs& kwargs) {
  const Value& other = arg(args, kwargs, 0, "value", kUndef);
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.kind == Kind::kBool;
  if (name == "true") return v.kind == Kind::kBool && v.b;
  if (name == "false") return v.kind == Kind::kBool && !v.b;
  if (name == "integer") return v.kind == Kind::kInt;
  if (name == "float") return v.kind == Kind::kFloat;
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
  if (name == "sequence") return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
  if (name == "callable") return v.kind == Kind::kCallable;
  if (name == "escaped") return false;
  if (name == "odd") return mod2(v);
  if (name == "even") return !mod2(v);
  if (name == "divisibleby") {
    require_defined(v);
    Value m = binary_op("%", v, other, SIZE_MAX);
    return values_equal(m, Value::integer(0));
  }
  if (name == "eq" || name == "equalto" || name == "==") return values_equal(v, other);
  if (name == "ne" || name == "!=") return !values_equal(v, other);
  if (name == "lt" || name == "lessthan" || name == "<") return value_less(v, other);
  if (name == "le" || name == "<=") return value_less(v, other) || values_equal(v, other);
  if (name == "gt" || name == "greaterthan" || name == ">") return value_less(other, v);
  if (name == "ge" || name == ">=") return value_less(other, v) || values_equal(v, other);
  if (name == "in") return contains(other, v);
  if (name == "lower" || name == "upper") {
    CallArgs a;
    CallKwargs kw;
    bool found = false;
    return truthy(call_method(Value::string(to_str(v)), name == "lower" ? "islower" : "isupper", a, kw, &found));
  }
  if (name == "sameas") {
    if (v.kind != other.kind) return false;
    switch (v.kind) {
      case Kind::kNone:
      case Kind::kUndefined: return true;
      case Kind::kBool: return v.b == other.b;
      case Kind::kList: return v.list == other.list;
      case Kind::kDict:
      case Kind::kNamespace: return v.dict == other.dict;
      case Kind::kCallable: return v.fn == other.fn;
      default: return values_equal(v, other);
    }
  }
  if (name == "filter") return v.is_string() && has_filter(v.s);
  if (name == "test") return v.is_string() && has_test(v.s);
  throw_runtime("No test named '" + name + "' found.");
}

}  // namespace mlxm::jinja
