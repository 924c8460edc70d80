// Environment/config reader (DESIGN §5): a malformed value is an error naming the variable,
// never a silent default. Thread-safe as long as nobody calls setenv concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace mlxm {

// The raw value, or nullopt when unset. An empty value counts as unset.
std::optional<std::string> env_get(const char* name);

std::string env_string(const char* name, const std::string& fallback);

// Integers: decimal, whole string, within [min, max].
Result<int64_t> env_int(const char* name, int64_t fallback, int64_t min = INT64_MIN,
                        int64_t max = INT64_MAX);

// Floats: whole string must parse, finite, within [min, max].
Result<double> env_double(const char* name, double fallback, double min = -1e300,
                          double max = 1e300);

// Booleans: true/false/1/0/yes/no/on/off (case-insensitive).
Result<bool> env_bool(const char* name, bool fallback);

// A comma-separated list or a JSON array of strings: "a,b" or ["a","b"].
Result<std::vector<std::string>> env_list(const char* name);

// Parsers behind the env_* readers, usable for flags and config files. `what` names the
// variable or flag in the error message.
Result<int64_t> parse_int(const std::string& what, const std::string& text, int64_t min,
                          int64_t max);
Result<double> parse_double(const std::string& what, const std::string& text, double min,
                            double max);
Result<bool> parse_bool(const std::string& what, const std::string& text);
Result<std::vector<std::string>> parse_list(const std::string& what, const std::string& text);

}  // namespace mlxm
