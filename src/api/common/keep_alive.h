// The `keep_alive` request field (as Ollama has it): how long the model stays loaded after this
// request. A number is seconds; a string is a Go-style duration ("30s", "5m", "1h30m", "250ms")
// or a plain number of seconds; a negative value keeps the model until it is evicted or
// unloaded; 0 unloads it as soon as it is idle. Sub-second parts round up to whole seconds.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "api/schema/api_error.h"

namespace mlxm::api {

// Reads body["keep_alive"] into *out (unset when the field is absent or null). A malformed
// value is a 400 naming `keep_alive`.
std::optional<ApiError> parse_keep_alive(const nlohmann::json& body,
                                         std::optional<std::chrono::seconds>* out);

// Parses one duration string as above; nullopt when malformed.
std::optional<std::chrono::seconds> parse_duration(const std::string& text);

}  // namespace mlxm::api
