// The HTTP response for an OpenAI-shaped error (503 adds Retry-After). Shared by the routes and
// the completion sessions of this module.
#pragma once

#include "api/http/http_types.h"
#include "api/schema/api_error.h"

namespace mlxm::api {

http::HttpResponse openai_error_response(const ApiError& e);

}  // namespace mlxm::api
