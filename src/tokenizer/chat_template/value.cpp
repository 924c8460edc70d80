#include "tokenizer/chat_template/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace mlxm::jinja {

void throw_runtime(std::string message) { throw TemplateException{ErrorKind::kRuntime, std::move(message)}; }

Value Value::make_list(List items, bool tuple) {
  Value v = make(Kind::kList);
  v.list = std::make_shared<List>(std::move(items));
  v.is_tuple = tuple;
  return v;
}

Value Value::make_dict() {
  Value v = make(Kind::kDict);
  v.dict = std::make_shared<Dict>();
  return v;
}

Value Value::make_namespace() {
  Value v = make(Kind::kNamespace);
  v.dict = std::make_shared<Dict>();
  return v;
}

Value Value::callable(std::string name, std::function<Value(CallArgs&, CallKwargs&)> fn) {
  Value v = make(Kind::kCallable);
  v.fn = std::make_shared<Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

const Value* Dict::find(const Value& key) const {
  if (key.is_string()) return find(std::string_view(key.s));
  for (const auto& [k, v] : items) {
    if (values_equal(k, key)) return &v;
  }
  return nullptr;
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : items) {
    if (k.kind == Kind::kString && k.s == key) return &v;
  }
  return nullptr;
}

void Dict::set(Value key, Value value) {
  for (auto& [k, v] : items) {
    if (values_equal(k, key)) {
      v = std::move(value);
      return;
    }
  }
  items.emplace_back(std::move(key), std::move(value));
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return v.b;
    case Kind::kInt:
      return v.i != 0;
    case Kind::kFloat:
      return v.f != 0.0;
    case Kind::kString:
      return !v.s.empty();
    case Kind::kList:
      return !v.list->empty();
    case Kind::kDict:
      return !v.dict->items.empty();
    case Kind::kNamespace:
    case Kind::kCallable:
      return true;
  }
  return false;
}

std::string py_float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  if (x == 0) return std::signbit(x) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), x, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // [-]d[.ddd]e(+|-)XX
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t e_pos = sci.find('e');
  std::string digits;
  for (size_t k = 0; k < e_pos; ++k) {
    if (sci[k] != '.') digits += sci[k];
  }
  int exp10 = std::atoi(sci.c_str() + e_pos + 1);
  std::string out = neg ? "-" : "";
  if (exp10 < -4 || exp10 >= 16) {
    out += digits[0];
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof(eb), "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    out += eb;
    return out;
  }
  if (exp10 < 0) {
    out += "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + digits;
    return out;
  }
  size_t int_len = static_cast<size_t>(exp10) + 1;
  if (digits.size() <= int_len) {
    out += digits + std::string(int_len - digits.size(), '0') + ".0";
  } else {
    out += digits.substr(0, int_len) + "." + digits.substr(int_len);
  }
  return out;
}

namespace {

bool py_printable(uint32_t cp) {
  if (cp < 0x20 || cp == 0x7f) return false;
  if (cp < 0x7f) return true;
  if (cp >= 0x80 && cp <= 0xa0) return false;
  if (cp == 0xad) return false;
  if (cp >= 0xDC80 && cp <= 0xDCFF) return false;  // undecodable byte
  if (cp >= 0xD800 && cp <= 0xDFFF) return false;
  if (cp >= 0x0600 && cp <= 0x0605) return false;
  if (cp == 0x061C || cp == 0x06DD || cp == 0x070F || cp == 0x180E || cp == 0x1680) return false;
  if (cp >= 0x2000 && cp <= 0x200F) return false;
  if (cp >= 0x2028 && cp <= 0x202F) return false;
  if (cp >= 0x205F && cp <= 0x206F) return false;
  if (cp == 0x3000 || cp == 0xFEFF) return false;
  if (cp >= 0xFFF9 && cp <= 0xFFFB) return false;
  if (cp >= 0xE000 && cp <= 0xF8FF) return false;
  if (cp >= 0xE0000 && cp <= 0xE007F) return false;
  if (cp >= 0xF0000) return false;
  return true;
}

}  // namespace

std::string py_str_repr(std::string_view s) {
  bool has_single = s.find('\'') != std::string_view::npos;
  bool has_double = s.find('"') != std::string_view::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (uint32_t cp : utf8_decode(s)) {
    if (cp == static_cast<uint32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (!py_printable(cp)) {
      char buf[16];
      if (cp >= 0xDC80 && cp <= 0xDCFF) {
        std::snprintf(buf, sizeof(buf), "\\udc%02x", cp - 0xDC00);
      } else if (cp < 0x100) {
        std::snprintf(buf, sizeof(buf), "\\x%02x", cp);
      } else if (cp < 0x10000) {
        std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      } else {
        std::snprintf(buf, sizeof(buf), "\\U%08x", cp);
      }
      out += buf;
    } else {
      utf8_append(out, cp);
    }
  }
  out += quote;
  return out;
}

std::string to_str(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined:
      return "";
    case Kind::kString:
      return v.s;
    default:
      return to_repr(v);
  }
}

std::string to_repr(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return v.b ? "True" : "False";
    case Kind::kInt:
      return std::to_string(v.i);
    case Kind::kFloat:
      return py_float_repr(v.f);
    case Kind::kString:
      return py_str_repr(v.s);
    case Kind::kList: {
      std::string out = v.is_tuple ? "(" : "[";
      for (size_t k = 0; k < v.list->size(); ++k) {
        if (k) out += ", ";
        out += to_repr((*v.list)[k]);
      }
      if (v.is_tuple && v.list->size() == 1) out += ",";
      out += v.is_tuple ? ")" : "]";
      return out;
    }
    case Kind::kDict:
    case Kind::kNamespace: {
      std::string out = v.kind == Kind::kNamespace ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [k, x] : v.dict->items) {
        if (!first) out += ", ";
        first = false;
        out += to_repr(k) + ": " + to_repr(x);
      }
      out += v.kind == Kind::kNamespace ? "}>" : "}";
      return out;
    }
    case Kind::kCallable:
      return "<function " + v.fn->name + ">";
  }
  return "";
}

std::string type_name(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kList:
      return v.is_tuple ? "tuple" : "list";
    case Kind::kDict:
      return "dict";
    case Kind::kNamespace:
      return "Namespace";
    case Kind::kCallable:
      return "function";
  }
  return "object";
}

bool values_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind == Kind::kFloat || b.kind == Kind::kFloat) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kString:
      return a.s == b.s;
    case Kind::kList: {
      if (a.is_tuple != b.is_tuple || a.list->size() != b.list->size()) return false;
      for (size_t k = 0; k < a.list->size(); ++k) {
        if (!values_equal((*a.list)[k], (*b.list)[k])) return false;
      }
      return true;
    }
    case Kind::kDict: {
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (const auto& [k, x] : a.dict->items) {
        const Value* y = b.dict->find(k);
        if (!y || !values_equal(x, *y)) return false;
      }
      return true;
    }
    case Kind::kNamespace:
      return a.dict == b.dict;
    case Kind::kCallable:
      return a.fn == b.fn;
    default:
      return false;
  }
}

bool value_less(const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_number() && b.is_number()) {
    if (a.kind == Kind::kFloat || b.kind == Kind::kFloat) return a.as_double() < b.as_double();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.s < b.s;
  if (a.is_list() && b.is_list() && a.is_tuple == b.is_tuple) {
    size_t n = std::min(a.list->size(), b.list->size());
    for (size_t k = 0; k < n; ++k) {
      const Value& x = (*a.list)[k];
      const Value& y = (*b.list)[k];
      if (!values_equal(x, y)) return value_less(x, y);
    }
    return a.list->size() < b.list->size();
  }
  throw_runtime("'<' not supported between instances of '" + type_name(a) + "' and '" +
                type_name(b) + "'");
}

std::string hash_key(const Value& v) {
  switch (v.kind) {
    case Kind::kBool:
    case Kind::kInt:
      return "n" + std::to_string(v.as_int());
    case Kind::kFloat:
      if (std::isfinite(v.f) && v.f == std::trunc(v.f) && std::fabs(v.f) < 9.2e18) {
        return "n" + std::to_string(static_cast<int64_t>(v.f));
      }
      return "f" + py_float_repr(v.f);
    case Kind::kString:
      return "s" + v.s;
    case Kind::kNone:
      return "N";
    case Kind::kUndefined:
      return "U";
    case Kind::kList:
      if (v.is_tuple) {
        std::string out = "t(";
        for (const Value& x : *v.list) out += hash_key(x) + "\x1f";
        return out + ")";
      }
      break;
    default:
      break;
  }
  throw_runtime("unhashable type: '" + type_name(v) + "'");
}

void fail_undefined(const Value& v) {
  throw_runtime(v.s.empty() ? std::string("value is undefined") : v.s);
}

void require_defined(const Value& v) {
  if (v.is_undefined()) fail_undefined(v);
}

std::vector<uint32_t> utf8_decode(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  size_t k = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (k < s.size()) {
    unsigned char c = p[k];
    int n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      out.push_back(c);
      ++k;
      continue;
    } else if ((c & 0xE0) == 0xC0 && c >= 0xC2) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07;
    } else {
      out.push_back(0xDC00 + c);
      ++k;
      continue;
    }
    bool ok = k + static_cast<size_t>(n) < s.size();
    for (int j = 1; ok && j <= n; ++j) {
      if ((p[k + j] & 0xC0) != 0x80) ok = false;
      else cp = (cp << 6) | (p[k + j] & 0x3F);
    }
    if (ok && ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))) {
      ok = false;
    }
    if (!ok) {
      out.push_back(0xDC00 + c);
      ++k;
      continue;
    }
    out.push_back(cp);
    k += static_cast<size_t>(n) + 1;
  }
  return out;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp >= 0xDC80 && cp <= 0xDCFF) {
    out += static_cast<char>(cp - 0xDC00);
  } else if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string utf8_encode(const std::vector<uint32_t>& cps, size_t begin, size_t end) {
  std::string out;
  for (size_t k = begin; k < end && k < cps.size(); ++k) utf8_append(out, cps[k]);
  return out;
}

size_t utf8_length(std::string_view s) {
  bool ascii = true;
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      ascii = false;
      break;
    }
  }
  return ascii ? s.size() : utf8_decode(s).size();
}

bool py_isspace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

uint32_t py_upper(uint32_t cp) {
  if (cp >= 'a' && cp <= 'z') return cp - 32;
  if (cp < 0x80) return cp;
  if ((cp >= 0xE0 && cp <= 0xFE && cp != 0xF7)) return cp - 32;
  if (cp == 0xFF) return 0x178;
  if (cp == 0xB5) return 0x39C;
  if (cp >= 0x100 && cp <= 0x137 && (cp & 1)) return cp - 1;
  if (cp >= 0x139 && cp <= 0x148 && !(cp & 1)) return cp - 1;
  if (cp >= 0x14A && cp <= 0x177 && (cp & 1)) return cp - 1;
  if ((cp == 0x17A || cp == 0x17C || cp == 0x17E)) return cp - 1;
  if (cp >= 0x3B1 && cp <= 0x3C9 && cp != 0x3C2) return cp - 32;
  if (cp == 0x3C2) return 0x3A3;
  if (cp >= 0x3AC && cp <= 0x3AF) return cp == 0x3AC ? 0x386 : cp - 37;
  if (cp >= 0x430 && cp <= 0x44F) return cp - 32;
  if (cp >= 0x450 && cp <= 0x45F) return cp - 80;
  if (cp >= 0xFF41 && cp <= 0xFF5A) return cp - 32;
  return cp;
}

uint32_t py_lower(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp < 0x80) return cp;
  if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;
  if (cp == 0x178) return 0xFF;
  if (cp >= 0x100 && cp <= 0x137 && !(cp & 1)) return cp + 1;
  if (cp >= 0x139 && cp <= 0x148 && (cp & 1)) return cp + 1;
  if (cp >= 0x14A && cp <= 0x177 && !(cp & 1)) return cp + 1;
  if ((cp == 0x179 || cp == 0x17B || cp == 0x17D)) return cp + 1;
  if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 32;
  if (cp == 0x386) return 0x3AC;
  if (cp >= 0x388 && cp <= 0x38A) return cp + 37;
  if (cp >= 0x410 && cp <= 0x42F) return cp + 32;
  if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
  if (cp >= 0xFF21 && cp <= 0xFF3A) return cp + 32;
  return cp;
}

std::string py_lower_str(std::string_view s) {
  std::vector<uint32_t> c = utf8_decode(s);
  std::string out;
  for (size_t k = 0; k < c.size(); ++k) {
    uint32_t cp = c[k];
    if (cp == 0x3A3) {  // Final_Sigma: preceded by a cased letter and not followed by one
      bool before = k > 0 && py_cased(c[k - 1]);
      bool after = k + 1 < c.size() && py_cased(c[k + 1]);
      utf8_append(out, before && !after ? 0x3C2 : 0x3C3);
      continue;
    }
    utf8_append(out, py_lower(cp));
  }
  return out;
}

bool py_cased(uint32_t cp) { return py_upper(cp) != cp || py_lower(cp) != cp; }

bool py_isalpha(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  if (py_cased(cp)) return true;
  if (cp == 0xAA || cp == 0xBA || cp == 0xDF) return true;
  if (cp >= 0x4E00 && cp <= 0x9FFF) return true;  // CJK ideographs
  if (cp >= 0x3040 && cp <= 0x30FF) return true;  // kana
  if (cp >= 0xAC00 && cp <= 0xD7A3) return true;  // hangul
  if (cp >= 0x0600 && cp <= 0x06FF) return cp >= 0x0620 && cp <= 0x064A;  // arabic letters
  if (cp >= 0x05D0 && cp <= 0x05EA) return true;  // hebrew
  return false;
}

}  // namespace mlxm::jinja
