#include "api/auth_routes/credentials.h"

namespace mlxm::api {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string bearer_token(const http::HttpRequest& request) {
  auto auth = request.headers.get("Authorization");
  if (!auth) return "";
  std::string_view v = trim(*auth);
  constexpr std::string_view kScheme = "Bearer ";
  if (v.size() <= kScheme.size() || !http::iequals(v.substr(0, kScheme.size()), kScheme)) return "";
  return std::string(trim(v.substr(kScheme.size())));
}

std::string x_api_key(const http::HttpRequest& request) {
  auto v = request.headers.get("x-api-key");
  return v ? std::string(trim(*v)) : "";
}

std::string cookie_value(const http::HttpRequest& request, std::string_view name) {
  for (const auto& [k, v] : request.headers.entries()) {
    if (!http::iequals(k, "Cookie")) continue;
    std::string_view rest = v;
    while (!rest.empty()) {
      size_t semi = rest.find(';');
      std::string_view pair = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      size_t eq = pair.find('=');
      if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) {
        std::string_view value = trim(pair.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
          value = value.substr(1, value.size() - 2);
        }
        return std::string(value);
      }
    }
  }
  return "";
}

std::string client_ip(const http::HttpRequest& request) {
  const std::string& a = request.client_address;
  size_t colon = a.rfind(':');
  return colon == std::string::npos ? a : a.substr(0, colon);
}

bool is_loopback_ip(std::string_view ip) {
  if (ip.substr(0, 7) == "::ffff:") ip.remove_prefix(7);
  return ip == "::1" || ip.substr(0, 4) == "127.";
}

bool is_loopback_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || is_loopback_ip(host);
}

std::string session_cookie(const std::string& token, int64_t max_age_s) {
  return std::string(kSessionCookie) + "=" + token +
         "; Path=/; Max-Age=" + std::to_string(max_age_s) + "; HttpOnly; SameSite=Strict";
}

}  // namespace mlxm::api
