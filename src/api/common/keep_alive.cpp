#include "api/common/keep_alive.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace mlxm::api {
namespace {

constexpr double kMaxSeconds = 10.0 * 365 * 86400;  // beyond this: "forever" is spelled -1

std::chrono::seconds to_seconds(double s) {
  const double r = s < 0 ? std::floor(s) : std::ceil(s);
  return std::chrono::seconds(static_cast<int64_t>(r));
}

}  // namespace

std::optional<std::chrono::seconds> parse_duration(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  size_t end = text.size();
  while (end > i && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  if (i == end) return std::nullopt;
  bool negative = false;
  if (text[i] == '-' || text[i] == '+') {
    negative = text[i] == '-';
    ++i;
  }
  double total = 0;
  bool any = false;
  while (i < end) {
    const size_t num_start = i;
    while (i < end && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    if (i == num_start) return std::nullopt;
    const std::string num = text.substr(num_start, i - num_start);
    char* parsed_end = nullptr;
    const double v = std::strtod(num.c_str(), &parsed_end);
    if (parsed_end != num.c_str() + num.size()) return std::nullopt;
    const size_t unit_start = i;
    while (i < end && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    const std::string unit = text.substr(unit_start, i - unit_start);
    double scale = 0;
    if (unit.empty()) {
      if (any || i != end) return std::nullopt;  // a bare number is the whole value
      scale = 1;
    } else if (unit == "h") {
      scale = 3600;
    } else if (unit == "m") {
      scale = 60;
    } else if (unit == "s") {
      scale = 1;
    } else if (unit == "ms") {
      scale = 1e-3;
    } else if (unit == "us" || unit == "\u00b5s") {
      scale = 1e-6;
    } else if (unit == "ns") {
      scale = 1e-9;
    } else {
      return std::nullopt;
    }
    total += v * scale;
    any = true;
    if (total > kMaxSeconds) return std::nullopt;
  }
  return to_seconds(negative ? -total : total);
}

std::optional<ApiError> parse_keep_alive(const nlohmann::json& body,
                                         std::optional<std::chrono::seconds>* out) {
  out->reset();
  if (!body.is_object() || !body.contains("keep_alive") || body["keep_alive"].is_null()) {
    return std::nullopt;
  }
  const nlohmann::json& v = body["keep_alive"];
  if (v.is_number()) {
    const double s = v.get<double>();
    if (!std::isfinite(s) || std::fabs(s) > kMaxSeconds) {
      return ApiError::invalid("keep_alive", "'keep_alive' is out of range (use -1 to keep the model loaded)");
    }
    *out = to_seconds(s);
    return std::nullopt;
  }
  if (v.is_string()) {
    if (auto d = parse_duration(v.get<std::string>())) {
      *out = *d;
      return std::nullopt;
    }
    return ApiError::invalid("keep_alive", "'keep_alive' must be a number of seconds or a duration "
                                           "such as \"30s\", \"5m\" or \"1h\"; got \"" +
                                               v.get<std::string>() + "\"");
  }
  return ApiError::invalid("keep_alive", "'keep_alive' must be a number of seconds or a duration string");
}

}  // namespace mlxm::api
