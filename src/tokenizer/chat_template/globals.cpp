// Template globals: jinja2's range (sandboxed, MAX_RANGE), dict, namespace, and transformers'
// raise_exception and strftime_now.
#include <cstdio>
#include <ctime>

#include "tokenizer/chat_template/interp.h"

namespace mlxm::jinja {
namespace {

constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE

Value make_dict_from(CallArgs& args, CallKwargs& kwargs, Value d) {
  if (args.size() > 1) throw_runtime("dict expected at most 1 argument, got " + std::to_string(args.size()));
  if (!args.empty()) {
    const Value& src = args[0];
    if (src.is_mapping()) {
      for (const auto& [k, v] : src.dict->items) d.dict->set(k, v);
    } else {
      for (const Value& pair : iterate(src)) {
        std::vector<Value> kv = iterate(pair);
        if (kv.size() != 2) throw_runtime("dictionary update sequence element has wrong length");
        hash_key(kv[0]);
        d.dict->set(kv[0], kv[1]);
      }
    }
  }
  for (auto& [k, v] : kwargs) d.dict->set(Value::string(k), v);
  return d;
}

// "YYYY-MM-DD[(T| )HH:MM[:SS[.ffffff]]][Z|+HH:MM]" -> tm + microseconds (offset ignored: naive).
bool parse_iso(const std::string& s, std::tm* tm, int* usec) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  *usec = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d", &y, &mo, &d) != 3 || s.size() < 10) return false;
  size_t p = 10;
  if (p < s.size() && (s[p] == 'T' || s[p] == ' ')) {
    if (std::sscanf(s.c_str() + p + 1, "%2d:%2d", &h, &mi) != 2) return false;
    p += 6;
    if (p < s.size() && s[p] == ':') {
      if (std::sscanf(s.c_str() + p + 1, "%2d", &sec) != 1) return false;
      p += 3;
      if (p < s.size() && s[p] == '.') {
        ++p;
        int digits = 0;
        while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
          if (digits < 6) {
            *usec = *usec * 10 + (s[p] - '0');
            ++digits;
          }
          ++p;
        }
        while (digits++ < 6) *usec *= 10;
      }
    }
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) return false;
  *tm = std::tm{};
  tm->tm_year = y - 1900;
  tm->tm_mon = mo - 1;
  tm->tm_mday = d;
  tm->tm_hour = h;
  tm->tm_min = mi;
  tm->tm_sec = sec;
  tm->tm_isdst = -1;
  std::tm copy = *tm;
  timegm(&copy);  // normalizes and fills wday/yday
  tm->tm_wday = copy.tm_wday;
  tm->tm_yday = copy.tm_yday;
  return true;
}

std::string strftime_py(const std::string& fmt, const std::tm& tm, int usec) {
  // Python handles %f, %z and %Z itself (naive datetime: empty zone fields).
  std::string f;
  for (size_t k = 0; k < fmt.size(); ++k) {
    if (fmt[k] == '%' && k + 1 < fmt.size()) {
      char c = fmt[k + 1];
      if (c == 'f') {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "%06d", usec);
        f += buf;
        ++k;
        continue;
      }
      if (c == 'z' || c == 'Z') {
        ++k;
        continue;
      }
      f += fmt[k];
      f += c;
      ++k;
      continue;
    }
    f += fmt[k];
  }
  if (f.empty()) return "";
  std::string out(f.size() * 4 + 256, '\0');
  size_t n = std::strftime(out.data(), out.size(), f.c_str(), &tm);
  out.resize(n);
  return out;
}

}  // namespace

void install_globals(Frame* g, const std::string& now_iso) {
  g->vars["range"] = Value::callable("range", [](CallArgs& args, CallKwargs&) -> Value {
    for (const Value& a : args) {
      if (!a.is_intlike()) throw_runtime("'" + type_name(a) + "' object cannot be interpreted as an integer");
    }
    int64_t start = 0, stop = 0, step = 1;
    if (args.size() == 1) {
      stop = args[0].as_int();
    } else if (args.size() == 2 || args.size() == 3) {
      start = args[0].as_int();
      stop = args[1].as_int();
      if (args.size() == 3) step = args[2].as_int();
    } else {
      throw_runtime("range expected 1 to 3 arguments, got " + std::to_string(args.size()));
    }
    if (step == 0) throw_runtime("range() arg 3 must not be zero");
    __int128 n = 0;
    if (step > 0 && stop > start) n = ((__int128)stop - start + step - 1) / step;
    if (step < 0 && stop < start) n = ((__int128)start - stop - step - 1) / -step;
    if (n > kMaxRange) {
      throw_runtime("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    }
    List out;
    for (int64_t k = 0; k < static_cast<int64_t>(n); ++k) out.push_back(Value::integer(start + k * step));
    return Value::make_list(std::move(out));
  });
  g->vars["dict"] = Value::callable("dict", [](CallArgs& args, CallKwargs& kwargs) -> Value {
    return make_dict_from(args, kwargs, Value::make_dict());
  });
  g->vars["namespace"] = Value::callable("namespace", [](CallArgs& args, CallKwargs& kwargs) -> Value {
    return make_dict_from(args, kwargs, Value::make_namespace());
  });
  g->vars["raise_exception"] = Value::callable("raise_exception", [](CallArgs& args, CallKwargs& kwargs) -> Value {
    std::string msg;
    if (!args.empty()) {
      msg = to_str(args[0]);
    } else {
      for (auto& [k, v] : kwargs) {
        if (k == "message") msg = to_str(v);
      }
    }
    throw TemplateException{ErrorKind::kRaised, msg};
  });
  g->vars["strftime_now"] = Value::callable("strftime_now", [now_iso](CallArgs& args, CallKwargs&) -> Value {
    if (args.empty() || !args[0].is_string()) throw_runtime("strftime_now() needs a format string");
    std::tm tm{};
    int usec = 0;
    if (!now_iso.empty()) {
      if (!parse_iso(now_iso, &tm, &usec)) {
        throw_runtime("MLX_MANAGER_TEMPLATE_NOW is not an ISO date-time: '" + now_iso + "'");
      }
    } else {
      timespec ts{};
      clock_gettime(CLOCK_REALTIME, &ts);
      localtime_r(&ts.tv_sec, &tm);
      usec = static_cast<int>(ts.tv_nsec / 1000);
    }
    return Value::string(strftime_py(args[0].s, tm, usec));
  });
}

}  // namespace mlxm::jinja
