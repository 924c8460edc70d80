// Attribute/item access as jinja2's ImmutableSandboxedEnvironment does it, Python operators, and
// the str/dict/list methods templates call.
#include <algorithm>
#include <cmath>
#include <set>

#include "tokenizer/chat_template/interp.h"

namespace mlxm::jinja {
namespace {

using Cps = std::vector<uint32_t>;

[[noreturn]] void overflow() { throw_runtime("integer overflow (arbitrary-precision integers are not supported)"); }

const std::set<std::string>& str_methods() {
  static const std::set<std::string> k = {
      "upper", "lower", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith",
      "endswith", "replace", "title", "capitalize", "swapcase", "find", "rfind", "index", "rindex",
      "count", "join", "format", "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper",
      "isnumeric", "isdecimal", "zfill", "center", "ljust", "rjust", "partition", "rpartition",
      "removeprefix", "removesuffix", "casefold"};
  return k;
}
const std::set<std::string>& dict_methods() {
  static const std::set<std::string> k = {"items", "keys", "values", "get", "copy"};
  return k;
}
const std::set<std::string>& list_methods() {
  static const std::set<std::string> k = {"index", "count", "copy"};
  return k;
}
const std::set<std::string>& unsafe_methods() {
  static const std::set<std::string> k = {"append", "extend", "insert", "pop", "remove", "reverse",
                                          "sort", "clear", "update", "setdefault", "popitem"};
  return k;
}

Value arg(CallArgs& args, CallKwargs& kwargs, size_t pos, const char* name, const Value& def) {
  if (pos < args.size()) return args[pos];
  for (auto& [k, v] : kwargs) {
    if (k == name) return v;
  }
  return def;
}

std::string need_str(const Value& v, const char* what) {
  if (!v.is_string()) {
    if (v.is_undefined()) fail_undefined(v);
    throw_runtime(std::string(what) + " must be str, not " + type_name(v));
  }
  return v.s;
}

int64_t need_int(const Value& v, const char* what) {
  if (!v.is_intlike()) {
    if (v.is_undefined()) fail_undefined(v);
    throw_runtime(std::string("'") + type_name(v) + "' object cannot be interpreted as an integer (" + what + ")");
  }
  return v.as_int();
}

std::string map_case(const std::string& s, uint32_t (*fn)(uint32_t)) {
  Cps c = utf8_decode(s);
  for (auto& cp : c) cp = fn(cp);
  return utf8_encode(c, 0, c.size());
}

std::string strip_impl(const std::string& s, const Value& chars, bool left, bool right) {
  Cps c = utf8_decode(s);
  Cps set;
  bool ws = chars.is_none() || chars.is_undefined();
  if (!ws) set = utf8_decode(need_str(chars, "strip arg"));
  auto strip_it = [&](uint32_t cp) { return ws ? py_isspace(cp) : std::find(set.begin(), set.end(), cp) != set.end(); };
  size_t b = 0, e = c.size();
  if (left) {
    while (b < e && strip_it(c[b])) ++b;
  }
  if (right) {
    while (e > b && strip_it(c[e - 1])) --e;
  }
  return utf8_encode(c, b, e);
}

List split_impl(const std::string& s, const Value& sep, int64_t maxsplit, bool from_right) {
  List out;
  if (sep.is_none() || sep.is_undefined()) {
    Cps c = utf8_decode(s);
    std::vector<std::pair<size_t, size_t>> words;
    if (!from_right) {
      size_t k = 0;
      while (k < c.size()) {
        while (k < c.size() && py_isspace(c[k])) ++k;
        if (k >= c.size()) break;
        if (maxsplit >= 0 && static_cast<int64_t>(words.size()) == maxsplit) {
          size_t e = c.size();
          while (e > k && py_isspace(c[e - 1])) --e;
          words.emplace_back(k, c.size());
          // Python keeps trailing whitespace of the remainder
          break;
        }
        size_t b = k;
        while (k < c.size() && !py_isspace(c[k])) ++k;
        words.emplace_back(b, k);
      }
      for (auto [b, e] : words) out.push_back(Value::string(utf8_encode(c, b, e)));
    } else {
      size_t k = c.size();
      while (k > 0) {
        while (k > 0 && py_isspace(c[k - 1])) --k;
        if (k == 0) break;
        if (maxsplit >= 0 && static_cast<int64_t>(words.size()) == maxsplit) {
          words.emplace_back(0, k);
          break;
        }
        size_t e = k;
        while (k > 0 && !py_isspace(c[k - 1])) --k;
        words.emplace_back(k, e);
      }
      std::reverse(words.begin(), words.end());
      for (auto [b, e] : words) out.push_back(Value::string(utf8_encode(c, b, e)));
    }
    return out;
  }
  std::string sp = need_str(sep, "separator");
  if (sp.empty()) throw_runtime("empty separator");
  std::vector<std::string> parts;
  if (!from_right) {
    size_t pos = 0;
    while (true) {
      size_t f = (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) ? std::string::npos : s.find(sp, pos);
      if (f == std::string::npos) {
        parts.push_back(s.substr(pos));
        break;
      }
      parts.push_back(s.substr(pos, f - pos));
      pos = f + sp.size();
    }
  } else {
    size_t end = s.size();
    while (true) {
      size_t f = std::string::npos;
      if (!(maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) && end >= sp.size()) {
        f = s.rfind(sp, end - sp.size());
      }
      if (f == std::string::npos) {
        parts.push_back(s.substr(0, end));
        break;
      }
      parts.push_back(s.substr(f + sp.size(), end - f - sp.size()));
      end = f;
    }
    std::reverse(parts.begin(), parts.end());
  }
  for (auto& p : parts) out.push_back(Value::string(std::move(p)));
  return out;
}

bool affix_match(const std::string& s, const Value& affix, bool prefix) {
  auto one = [&](const std::string& a) {
    if (a.size() > s.size()) return false;
    return prefix ? s.compare(0, a.size(), a) == 0 : s.compare(s.size() - a.size(), a.size(), a) == 0;
  };
  if (affix.is_list() && affix.is_tuple) {
    for (const Value& v : *affix.list) {
      if (one(need_str(v, "tuple for startswith"))) return true;
    }
    return false;
  }
  if (!affix.is_string()) {
    if (affix.is_undefined()) fail_undefined(affix);
    throw_runtime(std::string(prefix ? "startswith" : "endswith") +
                  " first arg must be str or a tuple of str, not " + type_name(affix));
  }
  return one(affix.s);
}

std::string replace_impl(const std::string& s, const std::string& old, const std::string& rep, int64_t count) {
  std::string out;
  if (old.empty()) {
    Cps c = utf8_decode(s);
    int64_t n = 0;
    for (size_t k = 0; k <= c.size(); ++k) {
      if (count < 0 || n < count) {
        out += rep;
        ++n;
      }
      if (k < c.size()) utf8_append(out, c[k]);
    }
    return out;
  }
  size_t pos = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    size_t f = s.find(old, pos);
    if (f == std::string::npos) break;
    out.append(s, pos, f - pos);
    out += rep;
    pos = f + old.size();
    ++n;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

std::string py_title(const std::string& s) {
  Cps c = utf8_decode(s);
  bool prev_cased = false;
  for (auto& cp : c) {
    bool cased = py_cased(cp);
    cp = prev_cased ? py_lower(cp) : py_upper(cp);
    prev_cased = cased;
  }
  return utf8_encode(c, 0, c.size());
}

int64_t cp_index(const std::string& s, size_t byte_pos) {
  return static_cast<int64_t>(utf8_length(std::string_view(s.data(), byte_pos)));
}

std::string pad(const std::string& s, int64_t width, const Value& fill, int mode) {
  std::string f = " ";
  if (!fill.is_undefined() && !fill.is_none()) {
    f = need_str(fill, "fill character");
    if (utf8_length(f) != 1) throw_runtime("The fill character must be exactly one character long");
  }
  int64_t len = static_cast<int64_t>(utf8_length(s));
  if (width <= len) return s;
  if (width > (1 << 24)) throw TemplateException{ErrorKind::kLimit, "padding width too large"};
  int64_t total = width - len;
  int64_t left = mode == 0 ? total / 2 + (total & width & 1) : mode == 1 ? 0 : total;
  int64_t right = total - left;
  std::string out;
  for (int64_t k = 0; k < left; ++k) out += f;
  out += s;
  for (int64_t k = 0; k < right; ++k) out += f;
  return out;
}

std::string str_format(const std::string& fmt, CallArgs& args, CallKwargs& kwargs) {
  std::string out;
  size_t auto_idx = 0;
  for (size_t k = 0; k < fmt.size(); ++k) {
    char c = fmt[k];
    if (c == '{') {
      if (k + 1 < fmt.size() && fmt[k + 1] == '{') {
        out += '{';
        ++k;
        continue;
      }
      size_t e = fmt.find('}', k);
      if (e == std::string::npos) throw_runtime("Single '{' encountered in format string");
      std::string field = fmt.substr(k + 1, e - k - 1);
      if (field.find_first_of(":!") != std::string::npos) throw_runtime("format specs are not supported");
      const Value* v = nullptr;
      if (field.empty()) {
        if (auto_idx >= args.size()) throw_runtime("Replacement index out of range");
        v = &args[auto_idx++];
      } else if (std::all_of(field.begin(), field.end(), [](char x) { return x >= '0' && x <= '9'; })) {
        size_t i = std::stoul(field);
        if (i >= args.size()) throw_runtime("Replacement index out of range");
        v = &args[i];
      } else {
        for (auto& [kk, vv] : kwargs) {
          if (kk == field) v = &vv;
        }
        if (!v) throw_runtime("KeyError: '" + field + "'");
      }
      out += to_str(*v);
      k = e;
    } else if (c == '}') {
      if (k + 1 < fmt.size() && fmt[k + 1] == '}') ++k;
      else throw_runtime("Single '}' encountered in format string");
      out += '}';
    } else {
      out += c;
    }
  }
  return out;
}

bool all_cps(const std::string& s, bool (*pred)(uint32_t)) {
  Cps c = utf8_decode(s);
  if (c.empty()) return false;
  return std::all_of(c.begin(), c.end(), pred);
}

Value string_method(const Value& obj, const std::string& name, CallArgs& args, CallKwargs& kw) {
  const std::string& s = obj.s;
  static const Value kNone = Value::none();
  static const Value kNeg = Value::integer(-1);
  if (name == "upper") return Value::string(map_case(s, py_upper));
  if (name == "lower" || name == "casefold") return Value::string(py_lower_str(s));
  if (name == "swapcase") {
    Cps c = utf8_decode(s);
    for (auto& cp : c) cp = py_upper(cp) != cp ? py_upper(cp) : py_lower(cp);
    return Value::string(utf8_encode(c, 0, c.size()));
  }
  if (name == "strip") return Value::string(strip_impl(s, arg(args, kw, 0, "chars", kNone), true, true));
  if (name == "lstrip") return Value::string(strip_impl(s, arg(args, kw, 0, "chars", kNone), true, false));
  if (name == "rstrip") return Value::string(strip_impl(s, arg(args, kw, 0, "chars", kNone), false, true));
  if (name == "split" || name == "rsplit") {
    return Value::make_list(split_impl(s, arg(args, kw, 0, "sep", kNone),
                                       need_int(arg(args, kw, 1, "maxsplit", kNeg), "maxsplit"), name == "rsplit"));
  }
  if (name == "splitlines") {
    List out;
    size_t pos = 0;
    bool keep = truthy(arg(args, kw, 0, "keepends", Value::boolean(false)));
    while (pos < s.size()) {
      size_t e = s.find_first_of("\n\r\v\f\x1c\x1d\x1e", pos);
      if (e == std::string::npos) {
        out.push_back(Value::string(s.substr(pos)));
        break;
      }
      size_t next = e + 1;
      if (s[e] == '\r' && next < s.size() && s[next] == '\n') ++next;
      out.push_back(Value::string(s.substr(pos, (keep ? next : e) - pos)));
      pos = next;
    }
    return Value::make_list(std::move(out));
  }
  if (name == "startswith" || name == "endswith") {
    const Value& a = arg(args, kw, 0, "prefix", Value::undefined("missing argument"));
    if (a.is_undefined()) throw_runtime(name + "() takes at least 1 argument (0 given)");
    return Value::boolean(affix_match(s, a, name == "startswith"));
  }
  if (name == "replace") {
    std::string old = need_str(arg(args, kw, 0, "old", Value::undefined("missing argument 'old'")), "replace() argument 1");
    std::string rep = need_str(arg(args, kw, 1, "new", Value::undefined("missing argument 'new'")), "replace() argument 2");
    return Value::string(replace_impl(s, old, rep, need_int(arg(args, kw, 2, "count", kNeg), "count")));
  }
  if (name == "title") return Value::string(py_title(s));
  if (name == "capitalize") {
    Cps c = utf8_decode(s);
    for (size_t k = 0; k < c.size(); ++k) c[k] = k == 0 ? py_upper(c[k]) : py_lower(c[k]);
    return Value::string(utf8_encode(c, 0, c.size()));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    std::string sub = need_str(arg(args, kw, 0, "sub", Value::undefined("missing argument")), "substring");
    if (name == "count") {
      if (sub.empty()) return Value::integer(static_cast<int64_t>(utf8_length(s)) + 1);
      int64_t n = 0;
      for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
      return Value::integer(n);
    }
    size_t p = (name == "find" || name == "index") ? s.find(sub) : s.rfind(sub);
    if (p == std::string::npos) {
      if (name == "index" || name == "rindex") throw_runtime("substring not found");
      return Value::integer(-1);
    }
    return Value::integer(cp_index(s, p));
  }
  if (name == "join") {
    std::string out;
    for (const Value& v : iterate(arg(args, kw, 0, "iterable", Value::undefined()))) {
      if (!v.is_string()) throw_runtime("sequence item: expected str instance, " + type_name(v) + " found");
      out += v.s;
      out += s;
    }
    if (!out.empty()) out.resize(out.size() - s.size());
    return Value::string(out);
  }
  if (name == "format") return Value::string(str_format(s, args, kw));
  if (name == "isdigit" || name == "isnumeric" || name == "isdecimal") {
    return Value::boolean(all_cps(s, [](uint32_t c) { return c >= '0' && c <= '9'; }));
  }
  if (name == "isalpha") return Value::boolean(all_cps(s, py_isalpha));
  if (name == "isalnum") {
    return Value::boolean(all_cps(s, [](uint32_t c) { return py_isalpha(c) || (c >= '0' && c <= '9'); }));
  }
  if (name == "isspace") return Value::boolean(all_cps(s, py_isspace));
  if (name == "islower" || name == "isupper") {
    Cps c = utf8_decode(s);
    bool any = false;
    for (uint32_t cp : c) {
      if (!py_cased(cp)) continue;
      any = true;
      bool is_lower = py_upper(cp) != cp;
      if (is_lower != (name == "islower")) return Value::boolean(false);
    }
    return Value::boolean(any);
  }
  if (name == "zfill") {
    int64_t w = need_int(arg(args, kw, 0, "width", Value::integer(0)), "width");
    int64_t len = static_cast<int64_t>(utf8_length(s));
    if (w <= len) return Value::string(s);
    if (w > (1 << 24)) throw TemplateException{ErrorKind::kLimit, "zfill width too large"};
    size_t sign = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
    return Value::string(s.substr(0, sign) + std::string(static_cast<size_t>(w - len), '0') + s.substr(sign));
  }
  if (name == "center" || name == "ljust" || name == "rjust") {
    int64_t w = need_int(arg(args, kw, 0, "width", Value::integer(0)), "width");
    return Value::string(pad(s, w, arg(args, kw, 1, "fillchar", Value::undefined()),
                             name == "center" ? 0 : name == "ljust" ? 1 : 2));
  }
  if (name == "partition" || name == "rpartition") {
    std::string sep = need_str(arg(args, kw, 0, "sep", Value::undefined()), "separator");
    if (sep.empty()) throw_runtime("empty separator");
    size_t p = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (p == std::string::npos) {
      return name == "partition"
                 ? Value::make_list({Value::string(s), Value::string(""), Value::string("")}, true)
                 : Value::make_list({Value::string(""), Value::string(""), Value::string(s)}, true);
    }
    return Value::make_list({Value::string(s.substr(0, p)), Value::string(sep), Value::string(s.substr(p + sep.size()))}, true);
  }
  if (name == "removeprefix" || name == "removesuffix") {
    std::string a = need_str(arg(args, kw, 0, "affix", Value::undefined()), "argument");
    if (name == "removeprefix" && s.compare(0, a.size(), a) == 0 && a.size() <= s.size()) return Value::string(s.substr(a.size()));
    if (name == "removesuffix" && !a.empty() && a.size() <= s.size() && s.compare(s.size() - a.size(), a.size(), a) == 0) {
      return Value::string(s.substr(0, s.size() - a.size()));
    }
    return Value::string(s);
  }
  throw_runtime("unknown str method " + name);
}

Value dict_method(const Value& obj, const std::string& name, CallArgs& args, CallKwargs& kw) {
  const Dict& d = *obj.dict;
  if (name == "items") {
    List out;
    for (const auto& [k, v] : d.items) out.push_back(Value::make_list({k, v}, true));
    return Value::make_list(std::move(out));
  }
  if (name == "keys" || name == "values") {
    List out;
    for (const auto& [k, v] : d.items) out.push_back(name == "keys" ? k : v);
    return Value::make_list(std::move(out));
  }
  if (name == "get") {
    const Value& key = arg(args, kw, 0, "key", Value::undefined());
    if (args.empty()) throw_runtime("get expected at least 1 argument, got 0");
    hash_key(key);
    const Value* v = d.find(key);
    return v ? *v : arg(args, kw, 1, "default", Value::none());
  }
  if (name == "copy") {
    Value c = Value::make_dict();
    c.dict->items = d.items;
    return c;
  }
  throw_runtime("unknown dict method " + name);
}

Value list_method(const Value& obj, const std::string& name, CallArgs& args, CallKwargs& kw) {
  const List& l = *obj.list;
  if (name == "copy") return Value::make_list(l);
  const Value& x = arg(args, kw, 0, "value", Value::undefined());
  if (args.empty()) throw_runtime(name + "() takes exactly one argument (0 given)");
  if (name == "count") {
    int64_t n = 0;
    for (const Value& v : l) n += values_equal(v, x) ? 1 : 0;
    return Value::integer(n);
  }
  for (size_t k = 0; k < l.size(); ++k) {
    if (values_equal(l[k], x)) return Value::integer(static_cast<int64_t>(k));
  }
  throw_runtime(to_repr(x) + " is not in list");
}

std::string obj_desc(const Value& obj) {
  std::string out = "'";
  out += type_name(obj);
  out += " object'";
  return out;
}

}  // namespace

Value call_method(const Value& obj, const std::string& name, CallArgs& args, CallKwargs& kwargs,
                  bool* found) {
  *found = true;
  if (obj.is_string() && str_methods().count(name)) return string_method(obj, name, args, kwargs);
  if (obj.is_dict() && dict_methods().count(name)) return dict_method(obj, name, args, kwargs);
  if (obj.is_list() && list_methods().count(name)) return list_method(obj, name, args, kwargs);
  if ((obj.is_list() || obj.is_dict()) && unsafe_methods().count(name)) {
    throw_runtime("access to attribute '" + name + "' of '" + type_name(obj) + "' object is unsafe.");
  }
  *found = false;
  return Value::undefined();
}

Value get_attr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) fail_undefined(obj);
  bool method = (obj.is_string() && str_methods().count(name)) || (obj.is_dict() && dict_methods().count(name)) ||
                (obj.is_list() && list_methods().count(name));
  if (method) {
    return Value::callable(name, [obj, name](CallArgs& args, CallKwargs& kwargs) -> Value {
      if (obj.is_string()) return string_method(obj, name, args, kwargs);
      if (obj.is_dict()) return dict_method(obj, name, args, kwargs);
      return list_method(obj, name, args, kwargs);
    });
  }
  if ((obj.is_list() || obj.is_dict()) && unsafe_methods().count(name)) {
    return Value::undefined("access to attribute '" + name + "' of '" + type_name(obj) + "' object is unsafe.");
  }
  if (obj.is_mapping()) {
    const Value* v = obj.dict->find(std::string_view(name));
    if (v) return *v;
  }
  return Value::undefined(obj_desc(obj) + " has no attribute '" + name + "'");
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (obj.is_dict()) {
    if (key.kind == Kind::kList && !key.is_tuple) return Value::undefined("unhashable key");
    const Value* v = obj.dict->find(key);
    if (v) return *v;
  } else if ((obj.is_list() || obj.is_string()) && key.is_intlike()) {
    int64_t n = obj.is_list() ? static_cast<int64_t>(obj.list->size()) : static_cast<int64_t>(utf8_length(obj.s));
    int64_t k = key.as_int();
    if (k < 0) k += n;
    if (k >= 0 && k < n) {
      if (obj.is_list()) return (*obj.list)[static_cast<size_t>(k)];
      Cps c = utf8_decode(obj.s);
      return Value::string(utf8_encode(c, static_cast<size_t>(k), static_cast<size_t>(k) + 1));
    }
    return Value::undefined(obj_desc(obj) + " has no element " + to_repr(key));
  }
  if (key.is_string()) {
    return get_attr(obj, key.s);  // jinja2 falls back to getattr for string keys
  }
  return Value::undefined(obj_desc(obj) + " has no element " + to_repr(key));
}

Value slice_value(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) fail_undefined(obj);
  for (const Value* v : {&start, &stop, &step}) {
    if (!v->is_none() && !v->is_intlike()) return Value::undefined("slice indices must be integers or None");
  }
  if (!obj.is_list() && !obj.is_string()) return Value::undefined(obj_desc(obj) + " is not subscriptable");
  int64_t st = step.is_none() ? 1 : step.as_int();
  if (st == 0) throw_runtime("slice step cannot be zero");
  Cps cps;
  int64_t n;
  if (obj.is_string()) {
    cps = utf8_decode(obj.s);
    n = static_cast<int64_t>(cps.size());
  } else {
    n = static_cast<int64_t>(obj.list->size());
  }
  auto norm = [&](const Value& v, int64_t def, int64_t lo, int64_t hi) {
    if (v.is_none()) return def;
    int64_t x = v.as_int();
    if (x < 0) x += n;
    return std::clamp(x, lo, hi);
  };
  int64_t b, e;
  if (st > 0) {
    b = norm(start, 0, 0, n);
    e = norm(stop, n, 0, n);
  } else {
    b = norm(start, n - 1, -1, n - 1);
    e = norm(stop, -1, -1, n - 1);
  }
  std::vector<size_t> idx;
  if (st > 0) {
    for (int64_t k = b; k < e; k += st) idx.push_back(static_cast<size_t>(k));
  } else {
    for (int64_t k = b; k > e; k += st) idx.push_back(static_cast<size_t>(k));
  }
  if (obj.is_string()) {
    std::string out;
    for (size_t k : idx) utf8_append(out, cps[k]);
    return Value::string(std::move(out));
  }
  List out;
  for (size_t k : idx) out.push_back((*obj.list)[k]);
  return Value::make_list(std::move(out), obj.is_tuple);
}

std::vector<Value> iterate(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined:
      return {};
    case Kind::kList:
      return *v.list;
    case Kind::kDict: {
      std::vector<Value> out;
      for (const auto& [k, x] : v.dict->items) out.push_back(k);
      return out;
    }
    case Kind::kString: {
      std::vector<Value> out;
      for (uint32_t cp : utf8_decode(v.s)) {
        std::string c;
        utf8_append(c, cp);
        out.push_back(Value::string(std::move(c)));
      }
      return out;
    }
    default:
      throw_runtime("'" + type_name(v) + "' object is not iterable");
  }
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind) {
    case Kind::kUndefined:
      return false;
    case Kind::kString:
      if (!item.is_string()) {
        if (item.is_undefined()) fail_undefined(item);
        throw_runtime("'in <string>' requires string as left operand, not " + type_name(item));
      }
      return container.s.find(item.s) != std::string::npos;
    case Kind::kList:
      for (const Value& v : *container.list) {
        if (values_equal(v, item)) return true;
      }
      return false;
    case Kind::kDict:
      hash_key(item);
      return container.dict->find(item) != nullptr;
    default:
      throw_runtime("argument of type '" + type_name(container) + "' is not iterable");
  }
}

namespace {

int64_t checked_add(int64_t x, int64_t y) {
  int64_t z;
  if (__builtin_add_overflow(x, y, &z)) overflow();
  return z;
}
int64_t checked_sub(int64_t x, int64_t y) {
  int64_t z;
  if (__builtin_sub_overflow(x, y, &z)) overflow();
  return z;
}
int64_t checked_mul(int64_t x, int64_t y) {
  int64_t z;
  if (__builtin_mul_overflow(x, y, &z)) overflow();
  return z;
}

std::string percent_format(const std::string& fmt, const Value& rhs) {
  List values = (rhs.is_list() && rhs.is_tuple) ? *rhs.list : List{rhs};
  size_t used = 0;
  std::string out;
  for (size_t k = 0; k < fmt.size(); ++k) {
    if (fmt[k] != '%') {
      out += fmt[k];
      continue;
    }
    if (k + 1 >= fmt.size()) throw_runtime("incomplete format");
    char c = fmt[++k];
    if (c == '%') {
      out += '%';
      continue;
    }
    if (used >= values.size()) throw_runtime("not enough arguments for format string");
    const Value& v = values[used++];
    if (c == 's') out += to_str(v);
    else if (c == 'r') out += to_repr(v);
    else if (c == 'd' || c == 'i') {
      if (!v.is_number()) throw_runtime("%d format: a real number is required, not " + type_name(v));
      out += std::to_string(v.kind == Kind::kFloat ? static_cast<int64_t>(std::trunc(v.f)) : v.as_int());
    } else {
      throw_runtime(std::string("unsupported format character '") + c + "'");
    }
  }
  if (used < values.size()) throw_runtime("not all arguments converted during string formatting");
  return out;
}

}  // namespace

Value binary_op(const std::string& op, const Value& a, const Value& b, size_t max_bytes) {
  auto check = [max_bytes](size_t n) {
    if (n > max_bytes) throw TemplateException{ErrorKind::kLimit, "template value exceeds the size limit"};
  };
  require_defined(a);
  require_defined(b);
  auto type_error = [&]() -> Value {
    throw_runtime("unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
  };
  bool ints = a.is_intlike() && b.is_intlike();
  bool nums = a.is_number() && b.is_number();
  int64_t x = a.as_int(), y = b.as_int();
  if (op == "+") {
    if (ints) return Value::integer(checked_add(x, y));
    if (nums) return Value::number(a.as_double() + b.as_double());
    if (a.is_string() && b.is_string()) {
      check(a.s.size() + b.s.size());
      return Value::string(a.s + b.s);
    }
    if (a.is_list() && b.is_list() && a.is_tuple == b.is_tuple) {
      check(a.list->size() + b.list->size());
      List l = *a.list;
      l.insert(l.end(), b.list->begin(), b.list->end());
      return Value::make_list(std::move(l), a.is_tuple);
    }
    if (a.is_string() || b.is_string()) {
      throw_runtime(a.is_string() ? "can only concatenate str (not \"" + type_name(b) + "\") to str"
                                  : "unsupported operand type(s) for +: '" + type_name(a) + "' and 'str'");
    }
    return type_error();
  }
  if (op == "-") {
    if (ints) return Value::integer(checked_sub(x, y));
    if (nums) return Value::number(a.as_double() - b.as_double());
    return type_error();
  }
  if (op == "*") {
    if (ints) return Value::integer(checked_mul(x, y));
    if (nums) return Value::number(a.as_double() * b.as_double());
    const Value* seq = (a.is_string() || a.is_list()) ? &a : (b.is_string() || b.is_list()) ? &b : nullptr;
    const Value* cnt = seq == &a ? &b : &a;
    if (seq && cnt->is_intlike()) {
      int64_t n = std::max<int64_t>(0, cnt->as_int());
      size_t unit = seq->is_string() ? seq->s.size() : seq->list->size();
      if (n > 0 && unit > 0 && static_cast<uint64_t>(n) > max_bytes / unit) check(SIZE_MAX);
      if (seq->is_string()) {
        std::string out;
        for (int64_t k = 0; k < n; ++k) out += seq->s;
        return Value::string(std::move(out));
      }
      List out;
      for (int64_t k = 0; k < n; ++k) out.insert(out.end(), seq->list->begin(), seq->list->end());
      return Value::make_list(std::move(out), seq->is_tuple);
    }
    return type_error();
  }
  if (op == "/") {
    if (!nums) return type_error();
    if (b.as_double() == 0) throw_runtime("division by zero");
    return Value::number(a.as_double() / b.as_double());
  }
  if (op == "//" || op == "%") {
    if (op == "%" && a.is_string()) return Value::string(percent_format(a.s, b));
    if (!nums) return type_error();
    if (ints) {
      if (y == 0) throw_runtime(op == "//" ? "integer division or modulo by zero" : "integer modulo by zero");
      if (x == INT64_MIN && y == -1) {
        if (op == "%") return Value::integer(0);
        overflow();
      }
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        q -= 1;
        m += y;
      }
      return Value::integer(op == "//" ? q : m);
    }
    double vx = a.as_double(), wx = b.as_double();
    if (wx == 0) throw_runtime("float floor division by zero");
    double mod = std::fmod(vx, wx);
    double div = (vx - mod) / wx;
    if (mod != 0) {
      if ((wx < 0) != (mod < 0)) {
        mod += wx;
        div -= 1.0;
      }
    } else {
      mod = std::copysign(0.0, wx);
    }
    double fl;
    if (div != 0) {
      fl = std::floor(div);
      if (div - fl > 0.5) fl += 1.0;
    } else {
      fl = std::copysign(0.0, vx / wx);
    }
    return Value::number(op == "//" ? fl : mod);
  }
  if (op == "**") {
    if (!nums) return type_error();
    if (ints && y >= 0) {
      if (x == 0 || x == 1) return Value::integer(y == 0 ? 1 : x);
      if (x == -1) return Value::integer((y & 1) ? -1 : 1);
      int64_t res = 1;
      for (int64_t k = 0; k < y; ++k) {
        if (__builtin_mul_overflow(res, x, &res)) overflow();
      }
      return Value::integer(res);
    }
    double bx = a.as_double(), ex = b.as_double();
    if (bx == 0 && ex < 0) throw_runtime("0.0 cannot be raised to a negative power");
    if (bx < 0 && ex != std::floor(ex)) throw_runtime("complex results are not supported");
    return Value::number(std::pow(bx, ex));
  }
  throw_runtime("unknown operator " + op);
}

}  // namespace mlxm::jinja
