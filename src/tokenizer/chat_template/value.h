// Internal: the value model of the Jinja interpreter, mirroring the Python objects a Hugging Face
// chat template sees (None, bool, int, float, str, list/tuple, dict, jinja2 Undefined, namespace,
// callables), with Python's printing (str/repr), truthiness, equality and ordering.
// Thread-safety: values are not synchronized; a render owns the values it creates. Lists and dicts
// are shared by reference like Python objects (the sandbox forbids mutating them, except namespace).
#pragma once

// GCC 12 reports a false -Wrestrict inside std::string concatenation ("'" + s + "'"),
// GCC bug 105329; it is not about this code.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mlxm::jinja {

enum class ErrorKind { kSyntax, kRaised, kRuntime, kLimit };

// Thrown inside the module only; ChatTemplate catches it and returns a Status.
struct TemplateException {
  ErrorKind kind;
  std::string message;
};

[[noreturn]] void throw_runtime(std::string message);

enum class Kind : uint8_t {
  kUndefined,
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kList,  // list or tuple (is_tuple)
  kDict,
  kNamespace,  // jinja2 namespace(): a mutable dict with attribute access
  kCallable,
};

struct Value;
struct Dict;
struct Callable;
using List = std::vector<Value>;

struct Value {
  Kind kind = Kind::kUndefined;
  bool is_tuple = false;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;  // string value; for kUndefined the reason ("'x' is undefined")
  std::shared_ptr<List> list;
  std::shared_ptr<Dict> dict;
  std::shared_ptr<Callable> fn;

  static Value undefined(std::string hint = {}) {
    Value v;
    v.s = std::move(hint);
    return v;
  }
  static Value none() { return make(Kind::kNone); }
  static Value boolean(bool x) {
    Value v = make(Kind::kBool);
    v.b = x;
    return v;
  }
  static Value integer(int64_t x) {
    Value v = make(Kind::kInt);
    v.i = x;
    return v;
  }
  static Value number(double x) {
    Value v = make(Kind::kFloat);
    v.f = x;
    return v;
  }
  static Value string(std::string x) {
    Value v = make(Kind::kString);
    v.s = std::move(x);
    return v;
  }
  static Value make_list(List items, bool tuple = false);
  static Value make_dict();
  static Value make_namespace();
  static Value callable(std::string name, std::function<Value(std::vector<Value>&,
                                                              std::vector<std::pair<std::string, Value>>&)> fn);

  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_none() const { return kind == Kind::kNone; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_list() const { return kind == Kind::kList; }
  bool is_dict() const { return kind == Kind::kDict; }
  bool is_mapping() const { return kind == Kind::kDict || kind == Kind::kNamespace; }
  // Python int (bool counts as int, as in Python arithmetic).
  bool is_intlike() const { return kind == Kind::kInt || kind == Kind::kBool; }
  bool is_number() const { return is_intlike() || kind == Kind::kFloat; }
  int64_t as_int() const { return kind == Kind::kBool ? (b ? 1 : 0) : i; }
  double as_double() const { return kind == Kind::kFloat ? f : static_cast<double>(as_int()); }

 private:
  static Value make(Kind k) {
    Value v;
    v.kind = k;
    return v;
  }
};

struct Dict {
  std::vector<std::pair<Value, Value>> items;  // insertion order, like a Python dict
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);
};

using CallArgs = std::vector<Value>;
using CallKwargs = std::vector<std::pair<std::string, Value>>;

struct Callable {
  std::string name;
  std::function<Value(CallArgs&, CallKwargs&)> fn;
};

// Python semantics.
bool truthy(const Value& v);
std::string to_str(const Value& v);   // str(v); Undefined prints as ""
std::string to_repr(const Value& v);  // repr(v)
std::string py_float_repr(double x);
std::string py_str_repr(std::string_view s);
std::string type_name(const Value& v);  // "str", "dict", ... (for error messages)
bool values_equal(const Value& a, const Value& b);
// a < b with Python's rules; throws a runtime error for unorderable types.
bool value_less(const Value& a, const Value& b);
// Python hashable key for sets/dedup: a string identifying the value (equal values, equal keys).
std::string hash_key(const Value& v);
// Fails (UndefinedError) when v is undefined; used by operations Undefined does not support.
void require_defined(const Value& v);
[[noreturn]] void fail_undefined(const Value& v);

// UTF-8 helpers: code points (invalid bytes decode as one code point each, 0xDC80+byte).
std::vector<uint32_t> utf8_decode(std::string_view s);
void utf8_append(std::string& out, uint32_t cp);
std::string utf8_encode(const std::vector<uint32_t>& cps, size_t begin, size_t end);
size_t utf8_length(std::string_view s);
bool py_isspace(uint32_t cp);
uint32_t py_upper(uint32_t cp);
uint32_t py_lower(uint32_t cp);
// str.lower() of a whole string (handles the Greek final sigma rule).
std::string py_lower_str(std::string_view s);
bool py_isalpha(uint32_t cp);  // approximation: ASCII, Latin-1, Greek, Cyrillic, CJK letters
bool py_cased(uint32_t cp);

}  // namespace mlxm::jinja
