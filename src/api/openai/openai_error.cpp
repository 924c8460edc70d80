#include "api/openai/openai_error.h"

namespace mlxm::api {

http::HttpResponse openai_error_response(const ApiError& e) {
  http::HttpResponse r =
      http::HttpResponse::text(e.http_status, openai_error_body(e), "application/json");
  if (e.http_status == 503) r.headers.set("Retry-After", "1");
  return r;
}

}  // namespace mlxm::api
