#include "telemetry/otlp_json.h"

#include <cstdio>

namespace mlxm::telemetry {

void append_json_string(std::string* out, const std::string& s) {
  *out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else {
          *out += static_cast<char>(c);
        }
    }
  }
  *out += '"';
}

void append_json_double(std::string* out, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  *out += buf;
}

void append_otlp_attr(std::string* out, const std::string& key, const AttrValue& v) {
  *out += "{\"key\":";
  append_json_string(out, key);
  *out += ",\"value\":{";
  if (const auto* s = std::get_if<std::string>(&v)) {
    *out += "\"stringValue\":";
    append_json_string(out, *s);
  } else if (const auto* i = std::get_if<int64_t>(&v)) {
    *out += "\"intValue\":\"" + std::to_string(*i) + "\"";  // int64 as a string (proto3 JSON)
  } else if (const auto* d = std::get_if<double>(&v)) {
    *out += "\"doubleValue\":";
    append_json_double(out, *d);
  } else {
    *out += std::string("\"boolValue\":") + (std::get<bool>(v) ? "true" : "false");
  }
  *out += "}}";
}

}  // namespace mlxm::telemetry
