#include "api/schema/api_error.h"

#include <nlohmann/json.hpp>

namespace mlxm::api {

ApiError api_error_from_status(const Status& st, std::string param) {
  ApiError e;
  e.message = st.message();
  e.param = std::move(param);
  switch (st.code()) {
    case StatusCode::kInvalidArgument: e.http_status = 400; break;
    case StatusCode::kOutOfRange:
      e.http_status = 400;
      e.code = "context_length_exceeded";
      break;
    case StatusCode::kNotFound:
      e.http_status = 404;
      e.type = "not_found_error";
      break;
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable:
      e.http_status = 503;
      e.type = "server_error";
      e.code = "overloaded";
      break;
    case StatusCode::kDeadlineExceeded:
      e.http_status = 408;
      e.type = "timeout_error";
      e.code = "timeout";
      break;
    case StatusCode::kUnauthenticated:
      e.http_status = 401;
      e.type = "authentication_error";
      break;
    case StatusCode::kPermissionDenied:
      e.http_status = 403;
      e.type = "permission_error";
      break;
    case StatusCode::kUnimplemented:
      e.http_status = 501;
      e.type = "not_supported_error";
      break;
    default:
      e.http_status = 500;
      e.type = "server_error";
      break;
  }
  return e;
}

std::string openai_error_body(const ApiError& e) {
  nlohmann::json j = {{"error",
                       {{"message", e.message},
                        {"type", e.type},
                        {"param", e.param.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.param)},
                        {"code", e.code.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.code)}}}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace mlxm::api
