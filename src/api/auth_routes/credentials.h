// Reading credentials from a request: the Bearer token, the x-api-key header, the session
// cookie, and the client's IP address. Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "api/http/http_types.h"

namespace mlxm::api {

inline constexpr const char* kSessionCookie = "mlxm_session";

// The token of "Authorization: Bearer <token>" ("" when absent or another scheme).
std::string bearer_token(const http::HttpRequest& request);
// The x-api-key header ("" when absent).
std::string x_api_key(const http::HttpRequest& request);
// The value of cookie `name` in the Cookie header(s) ("" when absent).
std::string cookie_value(const http::HttpRequest& request, std::string_view name);
// The IP part of client_address ("127.0.0.1:5000" -> "127.0.0.1", "::1:5000" -> "::1").
std::string client_ip(const http::HttpRequest& request);
// 127.0.0.0/8, ::1 and IPv4-mapped loopback.
bool is_loopback_ip(std::string_view ip);
// A host to bind: loopback names/addresses ("localhost" too).
bool is_loopback_host(std::string_view host);

// "mlxm_session=<token>; Path=/; Max-Age=<s>; HttpOnly; SameSite=Strict" (Max-Age=0 clears it).
std::string session_cookie(const std::string& token, int64_t max_age_s);

}  // namespace mlxm::api
