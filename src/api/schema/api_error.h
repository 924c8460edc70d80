// An API error: what a handler sends back as an OpenAI (or Anthropic) error body.
#pragma once

#include <string>

#include "core/status.h"

namespace mlxm::api {

struct ApiError {
  int http_status = 400;
  std::string type = "invalid_request_error";  // OpenAI error type
  std::string message;
  std::string param;  // the offending field, "" when none
  std::string code;   // e.g. "context_length_exceeded", "model_not_found"; "" -> null

  static ApiError invalid(std::string param, std::string message) {
    return {400, "invalid_request_error", std::move(message), std::move(param), ""};
  }
};

// Maps a Status from a lower layer to the HTTP status and OpenAI error type.
ApiError api_error_from_status(const Status& status, std::string param = "");

// {"error": {"message", "type", "param", "code"}} (param/code null when empty).
std::string openai_error_body(const ApiError& e);

}  // namespace mlxm::api
