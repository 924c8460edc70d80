#include "api/auth_routes/auth_routes.h"

#include <nlohmann/json.hpp>

#include "api/auth_routes/credentials.h"
#include "api/http/json.h"
#include "core/clock.h"

namespace mlxm::api {
namespace {

using nlohmann::json;

json opt(const std::optional<int64_t>& v) {
  return v ? json(*v) : json(nullptr);
}

json user_json(const auth::User& u) {
  return {{"id", u.id},
          {"username", u.username},
          {"is_admin", u.is_admin},
          {"status", u.active ? "active" : "pending"},
          {"created_at", u.created_ms},
          {"last_login_at", opt(u.last_login_ms)}};
}

json key_json(const auth::ApiKeyInfo& k) {
  return {{"id", k.id},
          {"name", k.name},
          {"prefix", k.prefix},
          {"created_at", k.created_ms},
          {"last_used_at", opt(k.last_used_ms)}};
}

// A required string field of the body; a 400 naming it otherwise.
std::optional<http::HttpResponse> string_field(const json& body, const char* name,
                                               std::string* out) {
  if (!body.contains(name) || !body[name].is_string()) {
    return http::error_response(400, std::string("'") + name + "' is required and must be a string",
                                "invalid_request_error", name, "invalid_field");
  }
  *out = body[name].get<std::string>();
  return std::nullopt;
}

http::HttpResponse session_answer(int status, const auth::Session& s, const auth::AuthService& a) {
  http::HttpResponse r = http::json_response(
      status, {{"user", user_json(s.user)}, {"token", s.token}, {"expires_at", s.expires_ms}});
  r.headers.add("Set-Cookie", session_cookie(s.token, a.session_ttl().count()));
  r.headers.set("Cache-Control", "no-store");
  return r;
}

std::optional<int64_t> parse_id(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

class Routes {
 public:
  explicit Routes(AuthContext c) : c_(std::move(c)) {}

  http::HttpResponse status(http::HttpRequest& req) const {
    auto s = request_session(*c_.auth, req, unix_ms());
    return http::json_response(
        200, {{"users_exist", c_.auth->has_users()},
              {"registration_open", c_.auth->has_users() || may_register_first(req)},
              {"api_keys_required", c_.auth->api_keys_required()},
              {"authenticated", s.has_value()},
              {"user", s ? user_json(s->user) : json(nullptr)}});
  }

  http::HttpResponse do_register(http::HttpRequest& req) const {
    http::JsonBody body = http::parse_json_body(req);
    if (!body.ok()) return *body.error;
    std::string username, password;
    if (auto e = string_field(body.value, "username", &username)) return *e;
    if (auto e = string_field(body.value, "password", &password)) return *e;
    if (!c_.auth->has_users() && !may_register_first(req)) {
      return auth_error(req, 403,
                        "the first user (the administrator) must register from the server's own "
                        "machine (loopback), with the admin token, or on a server started with "
                        "--insecure",
                        "not_loopback");
    }
    const int64_t t = unix_ms();
    Result<auth::User> u = c_.auth->register_user(username, password, t);
    if (!u.ok()) return status_error(u.status());
    if (!u->is_admin) return http::json_response(201, {{"user", user_json(*u)}});
    Result<auth::Session> s = c_.auth->create_session(*u, t);  // the first user is logged in
    if (!s.ok()) return status_error(s.status());
    return session_answer(201, *s, *c_.auth);
  }

  http::HttpResponse login(http::HttpRequest& req) const {
    http::JsonBody body = http::parse_json_body(req);
    if (!body.ok()) return *body.error;
    std::string username, password;
    if (auto e = string_field(body.value, "username", &username)) return *e;
    if (auto e = string_field(body.value, "password", &password)) return *e;
    Result<auth::Session> s = c_.auth->login(username, password, unix_ms());
    if (!s.ok()) {
      if (s.status().code() == StatusCode::kUnauthenticated) {
        return auth_error(req, 401, s.status().message(), "invalid_credentials");
      }
      if (s.status().code() == StatusCode::kPermissionDenied) {
        return auth_error(req, 403, s.status().message(), "account_pending");
      }
      return status_error(s.status());
    }
    return session_answer(200, *s, *c_.auth);
  }

  http::HttpResponse logout(http::HttpRequest& req) const {
    for (const std::string& token : {cookie_value(req, kSessionCookie), bearer_token(req)}) {
      if (Status st = c_.auth->logout(token); !st.ok()) return status_error(st);
    }
    http::HttpResponse r = http::json_response(200, {{"ok", true}});
    r.headers.add("Set-Cookie", session_cookie("", 0));
    return r;
  }

  http::HttpResponse me(http::HttpRequest& req) const {
    auto s = request_session(*c_.auth, req, unix_ms());
    if (!s)
      return auth_error(req, 401, "not logged in (or the session expired)", "invalid_session");
    return http::json_response(200, {{"user", user_json(s->user)}, {"expires_at", s->expires_ms}});
  }

  http::HttpResponse list_users(http::HttpRequest&) const {
    Result<std::vector<auth::User>> users = c_.auth->list_users();
    if (!users.ok()) return status_error(users.status());
    json arr = json::array();
    for (const auto& u : *users) arr.push_back(user_json(u));
    return http::json_response(200, {{"users", arr}});
  }

  http::HttpResponse approve(http::HttpRequest& req) const {
    auto id = parse_id(req.path_param("id"));
    if (!id) return bad_id(req);
    Result<auth::User> u = c_.auth->approve_user(*id);
    if (!u.ok()) return status_error(u.status());
    return http::json_response(200, {{"user", user_json(*u)}});
  }

  http::HttpResponse delete_user(http::HttpRequest& req) const {
    auto id = parse_id(req.path_param("id"));
    if (!id) return bad_id(req);
    Status st = c_.auth->delete_user(*id);
    if (st.code() == StatusCode::kPermissionDenied) {
      return http::error_response(409, st.message(), "invalid_request_error", std::nullopt,
                                  "last_admin");
    }
    if (!st.ok()) return status_error(st);
    return http::json_response(200, {{"deleted", *id}});
  }

  http::HttpResponse create_key(http::HttpRequest& req) const {
    std::string name = "key";
    if (!req.body.empty()) {
      http::JsonBody body = http::parse_json_body(req);
      if (!body.ok()) return *body.error;
      if (body.value.contains("name")) {
        if (!body.value["name"].is_string()) {
          return http::error_response(400, "'name' must be a string", "invalid_request_error",
                                      "name", "invalid_field");
        }
        name = body.value["name"].get<std::string>();
      }
    }
    Result<auth::NewApiKey> k = c_.auth->create_api_key(name, unix_ms());
    if (!k.ok()) return status_error(k.status());
    json j = key_json(k->info);
    j["key"] = k->key;
    http::HttpResponse r = http::json_response(201, j);
    r.headers.set("Cache-Control", "no-store");
    return r;
  }

  http::HttpResponse list_keys(http::HttpRequest&) const {
    Result<std::vector<auth::ApiKeyInfo>> keys = c_.auth->list_api_keys();
    if (!keys.ok()) return status_error(keys.status());
    json arr = json::array();
    for (const auto& k : *keys) arr.push_back(key_json(k));
    return http::json_response(200, {{"keys", arr}, {"env_keys", c_.auth->n_env_keys()}});
  }

  http::HttpResponse delete_key(http::HttpRequest& req) const {
    const std::string& id = req.path_param("id");
    if (Status st = c_.auth->delete_api_key(id); !st.ok()) return status_error(st);
    return http::json_response(200, {{"deleted", id}});
  }

 private:
  bool may_register_first(const http::HttpRequest& req) const {
    return c_.options.insecure || is_loopback_ip(client_ip(req)) ||
           c_.auth->is_admin_token(bearer_token(req));
  }

  static http::HttpResponse bad_id(const http::HttpRequest& req) {
    return http::error_response(400, "'" + req.path_param("id") + "' is not a user id",
                                "invalid_request_error", "id", "invalid_id");
  }

  static http::HttpResponse status_error(const Status& st) { return http::error_response(st); }

  AuthContext c_;
};

}  // namespace

void register_auth_routes(http::Router& router, AuthContext ctx) {
  auto r = std::make_shared<Routes>(std::move(ctx));
  auto bind = [r](http::HttpResponse (Routes::*fn)(http::HttpRequest&) const) {
    return [r, fn](http::HttpRequest& req) { return ((*r).*fn)(req); };
  };
  router.add("GET", "/api/auth/status", bind(&Routes::status));
  router.add("POST", "/api/auth/register", bind(&Routes::do_register));
  router.add("POST", "/api/auth/login", bind(&Routes::login));
  router.add("POST", "/api/auth/logout", bind(&Routes::logout));
  router.add("GET", "/api/auth/me", bind(&Routes::me));
  router.add("GET", "/api/users", bind(&Routes::list_users));
  router.add("POST", "/api/users/{id}/approve", bind(&Routes::approve));
  router.add("DELETE", "/api/users/{id}", bind(&Routes::delete_user));
  router.add("POST", "/api/keys", bind(&Routes::create_key));
  router.add("GET", "/api/keys", bind(&Routes::list_keys));
  router.add("DELETE", "/api/keys/{id}", bind(&Routes::delete_key));
}

}  // namespace mlxm::api
