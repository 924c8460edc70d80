// Pieces of the OTLP JSON encoding shared by traces and metrics
// (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding): escaped strings, attribute
// key/values (int64 as strings, as proto3 JSON wants), doubles.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

namespace mlxm::telemetry {

using AttrValue = std::variant<std::string, int64_t, double, bool>;

// Appends `s` as a JSON string literal.
void append_json_string(std::string* out, const std::string& s);
// Appends {"key":...,"value":{"stringValue"|"intValue"|"doubleValue"|"boolValue":...}}.
void append_otlp_attr(std::string* out, const std::string& key, const AttrValue& v);
// Appends a finite double with full precision. REQUIRES: std::isfinite(v).
void append_json_double(std::string* out, double v);

}  // namespace mlxm::telemetry
