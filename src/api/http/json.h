// JSON helpers for handlers (nlohmann::json is allowed in api/): JSON responses, OpenAI-shaped
// errors {"error": {"message", "type", "param", "code"}}, and body parsing that yields a 400.
// Thread-safe (pure functions).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>

#include "api/http/http_types.h"
#include "core/status.h"

namespace mlxm::http {

HttpResponse json_response(int status, const nlohmann::json& body);

// OpenAI error body. `type` e.g. "invalid_request_error", "server_error"; param/code null
// when absent.
HttpResponse error_response(int status, const std::string& message,
                            const std::string& type = "invalid_request_error",
                            std::optional<std::string> param = std::nullopt,
                            std::optional<std::string> code = std::nullopt);

// Maps a Status to an OpenAI error (InvalidArgument -> 400, NotFound -> 404, ...).
HttpResponse error_response(const Status& status);
int http_status_for(StatusCode code);

// Parses the request body as JSON. Malformed or empty -> a 400 error response naming the
// problem (code "invalid_json"). With `require_object`, a non-object top level is a 400 too.
struct JsonBody {
  nlohmann::json value;
  std::optional<HttpResponse> error;  // set when parsing failed: return it as the response
  bool ok() const { return !error.has_value(); }
};
JsonBody parse_json_body(const HttpRequest& request, bool require_object = true);

}  // namespace mlxm::http
