#include "core/env.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace mlxm {
namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Parses a JSON array of plain strings: ["a", "b"]. Escapes \" and \\ are honoured.
Result<std::vector<std::string>> parse_json_string_array(const std::string& what,
                                                         const std::string& s) {
  std::vector<std::string> out;
  size_t i = 1;  // after '['
  auto skip_ws = [&] {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  auto bad = [&](const std::string& why) {
    return invalid_argument(what + ": malformed JSON array (" + why + ")");
  };
  skip_ws();
  if (i < s.size() && s[i] == ']') return out;
  while (true) {
    skip_ws();
    if (i >= s.size() || s[i] != '"') return bad("expected a string");
    ++i;
    std::string item;
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\') {
        if (i + 1 >= s.size()) return bad("dangling escape");
        ++i;
      }
      item += s[i++];
    }
    if (i >= s.size()) return bad("unterminated string");
    ++i;
    out.push_back(item);
    skip_ws();
    if (i < s.size() && s[i] == ',') {
      ++i;
      continue;
    }
    if (i < s.size() && s[i] == ']') {
      ++i;
      skip_ws();
      if (i != s.size()) return bad("trailing characters");
      return out;
    }
    return bad("expected ',' or ']'");
  }
}

}  // namespace

std::optional<std::string> env_get(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::string env_string(const char* name, const std::string& fallback) {
  auto v = env_get(name);
  return v ? *v : fallback;
}

Result<int64_t> parse_int(const std::string& what, const std::string& text, int64_t min,
                          int64_t max) {
  std::string t = trim(text);
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (t.empty() || ec != std::errc() || ptr != t.data() + t.size()) {
    return invalid_argument(what + ": expected an integer, got '" + text + "'");
  }
  if (value < min || value > max) {
    return invalid_argument(what + ": " + t + " is out of range [" + std::to_string(min) + ", " +
                            std::to_string(max) + "]");
  }
  return value;
}

Result<double> parse_double(const std::string& what, const std::string& text, double min,
                            double max) {
  std::string t = trim(text);
  char* end = nullptr;
  double value = t.empty() ? 0.0 : std::strtod(t.c_str(), &end);
  if (t.empty() || end != t.c_str() + t.size() || !std::isfinite(value)) {
    return invalid_argument(what + ": expected a number, got '" + text + "'");
  }
  if (value < min || value > max) {
    return invalid_argument(what + ": " + t + " is out of range");
  }
  return value;
}

Result<bool> parse_bool(const std::string& what, const std::string& text) {
  std::string t = lower(trim(text));
  if (t == "1" || t == "true" || t == "yes" || t == "on") return true;
  if (t == "0" || t == "false" || t == "no" || t == "off") return false;
  return invalid_argument(what + ": expected true or false, got '" + text + "'");
}

Result<std::vector<std::string>> parse_list(const std::string& what, const std::string& text) {
  std::string t = trim(text);
  if (!t.empty() && t[0] == '[') return parse_json_string_array(what, t);
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= t.size()) {
    size_t comma = t.find(',', start);
    if (comma == std::string::npos) comma = t.size();
    std::string item = trim(t.substr(start, comma - start));
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

Result<int64_t> env_int(const char* name, int64_t fallback, int64_t min, int64_t max) {
  auto v = env_get(name);
  if (!v) return fallback;
  return parse_int(name, *v, min, max);
}

Result<double> env_double(const char* name, double fallback, double min, double max) {
  auto v = env_get(name);
  if (!v) return fallback;
  return parse_double(name, *v, min, max);
}

Result<bool> env_bool(const char* name, bool fallback) {
  auto v = env_get(name);
  if (!v) return fallback;
  return parse_bool(name, *v);
}

Result<std::vector<std::string>> env_list(const char* name) {
  auto v = env_get(name);
  if (!v) return std::vector<std::string>{};
  return parse_list(name, *v);
}

}  // namespace mlxm
