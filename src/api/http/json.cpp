#include "api/http/json.h"

namespace mlxm::http {

HttpResponse json_response(int status, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

HttpResponse error_response(int status, const std::string& message, const std::string& type,
                            std::optional<std::string> param, std::optional<std::string> code) {
  // OpenAI's field order: message, type, param, code.
  nlohmann::ordered_json err;
  err["message"] = message;
  err["type"] = type;
  err["param"] = param ? nlohmann::ordered_json(*param) : nlohmann::ordered_json(nullptr);
  err["code"] = code ? nlohmann::ordered_json(*code) : nlohmann::ordered_json(nullptr);
  nlohmann::ordered_json body;
  body["error"] = std::move(err);
  HttpResponse r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.body = body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  return r;
}

int http_status_for(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kOutOfRange: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kResourceExhausted: return 429;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kDeadlineExceeded: return 408;
    case StatusCode::kCancelled: return 499;
    case StatusCode::kUnimplemented: return 501;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kDataLoss: return 500;
    case StatusCode::kInternal: return 500;
  }
  return 500;
}

HttpResponse error_response(const Status& status) {
  int http = http_status_for(status.code());
  std::string type = http >= 500 ? "server_error" : "invalid_request_error";
  if (http == 401) type = "authentication_error";
  if (http == 403) type = "permission_error";
  if (http == 429) type = "rate_limit_error";
  return error_response(http, status.message(), type);
}

JsonBody parse_json_body(const HttpRequest& request, bool require_object) {
  JsonBody out;
  if (request.body.empty()) {
    out.error = error_response(400, "Request body is empty; expected JSON.",
                               "invalid_request_error", std::nullopt, "invalid_json");
    return out;
  }
  try {
    out.value = nlohmann::json::parse(request.body);
  } catch (const nlohmann::json::exception& e) {
    // e.what() names the byte offset and what was expected.
    out.error = error_response(400, std::string("Could not parse the request body as JSON: ") + e.what(),
                               "invalid_request_error", std::nullopt, "invalid_json");
    return out;
  }
  if (require_object && !out.value.is_object()) {
    out.error = error_response(400, "The request body must be a JSON object.",
                               "invalid_request_error", std::nullopt, "invalid_json");
  }
  return out;
}

}  // namespace mlxm::http
