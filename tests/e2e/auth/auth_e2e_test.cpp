// Authentication over the real binary (docs/auth.md): users and sessions, API keys from the
// environment and from the API, the admin routes, rate limiting and the non-loopback start-up
// rule. Each server gets its own MLX_MANAGER_HOME (the harness makes a temporary one).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "e2e/harness/server_process.h"

namespace mlxm::e2e {
namespace {

using nlohmann::json;

ServerOptions plain_server(std::map<std::string, std::string> env = {}) {
  ServerOptions o;
  o.test_routes = false;
  o.env = std::move(env);
  o.args = {"--no-ui"};
  return o;
}

HttpResult post_json(const ServerProcess& s, const std::string& path, const json& body,
                     HeaderList headers = {}) {
  headers.emplace_back("Content-Type", "application/json");
  return s.post(path, body.dump(), headers);
}

json creds(const std::string& user, const std::string& password) {
  return {{"username", user}, {"password", password}};
}

// "mlxm_session=<token>; ..." -> the Cookie header value "mlxm_session=<token>".
std::string cookie_of(const HttpResult& r) {
  const std::string set = r.header("Set-Cookie");
  return set.substr(0, set.find(';'));
}

HeaderList with_cookie(const std::string& cookie) {
  return {{"Cookie", cookie}};
}
HeaderList with_bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

TEST(AuthE2E, FirstUserIsAdminLaterUsersWaitForApproval) {
  ServerProcess server(plain_server());
  ASSERT_TRUE(server.ok()) << server.error();
  auto st = server.get("/api/auth/status").json();
  EXPECT_EQ(st["users_exist"], false);
  EXPECT_EQ(st["registration_open"], true);
  // Before any user exists, /api/* is open to loopback clients.
  EXPECT_EQ(server.get("/api/system").status, 200);

  auto ada = post_json(server, "/api/auth/register", creds("ada", "ada-password"));
  ASSERT_EQ(ada.status, 201) << ada.body;
  EXPECT_EQ(ada.json()["user"]["is_admin"], true);
  EXPECT_EQ(ada.json()["user"]["status"], "active");
  const std::string set_cookie = ada.header("Set-Cookie");
  EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("SameSite=Strict"), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("Path=/"), std::string::npos) << set_cookie;
  const std::string ada_cookie = cookie_of(ada);
  EXPECT_EQ(ada_cookie, "mlxm_session=" + ada.json()["token"].get<std::string>());

  // Now /api/* needs a login.
  auto anon = server.get("/api/system");
  EXPECT_EQ(anon.status, 401) << anon.body;
  EXPECT_EQ(anon.json()["error"]["code"], "missing_credentials");
  EXPECT_EQ(server.get("/api/system", with_cookie(ada_cookie)).status, 200);

  auto bob = post_json(server, "/api/auth/register", creds("bob", "bob-password"));
  ASSERT_EQ(bob.status, 201) << bob.body;
  EXPECT_EQ(bob.json()["user"]["status"], "pending");
  EXPECT_EQ(bob.json()["user"]["is_admin"], false);
  EXPECT_FALSE(bob.json().contains("token"));
  EXPECT_TRUE(bob.header("Set-Cookie").empty());
  const int64_t bob_id = bob.json()["user"]["id"];

  auto pending = post_json(server, "/api/auth/login", creds("bob", "bob-password"));
  EXPECT_EQ(pending.status, 403) << pending.body;
  EXPECT_EQ(pending.json()["error"]["code"], "account_pending");

  auto dup = post_json(server, "/api/auth/register", creds("BOB", "bob-password"));
  EXPECT_EQ(dup.status, 409) << dup.body;
  auto short_pw = post_json(server, "/api/auth/register", creds("carl", "short"));
  EXPECT_EQ(short_pw.status, 400);
  EXPECT_NE(short_pw.body.find("password"), std::string::npos);
  EXPECT_EQ(server.post("/api/auth/register", "{nope", {}).status, 400);
  EXPECT_EQ(post_json(server, "/api/auth/register", json{{"username", "x"}}).status, 400);

  // The admin lists and approves.
  auto users = server.get("/api/users", with_cookie(ada_cookie));
  ASSERT_EQ(users.status, 200) << users.body;
  ASSERT_EQ(users.json()["users"].size(), 2u);
  EXPECT_FALSE(users.body.find("password") != std::string::npos) << users.body;
  EXPECT_EQ(server.post("/api/users/" + std::to_string(bob_id) + "/approve", "").status, 401);
  auto approved =
      server.post("/api/users/" + std::to_string(bob_id) + "/approve", "", with_cookie(ada_cookie));
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_EQ(approved.json()["user"]["status"], "active");
  EXPECT_EQ(server.post("/api/users/999/approve", "", with_cookie(ada_cookie)).status, 404);
  EXPECT_EQ(server.post("/api/users/abc/approve", "", with_cookie(ada_cookie)).status, 400);

  auto wrong = post_json(server, "/api/auth/login", creds("bob", "not-bobs-password"));
  EXPECT_EQ(wrong.status, 401) << wrong.body;
  EXPECT_EQ(wrong.json()["error"]["code"], "invalid_credentials");
  auto unknown = post_json(server, "/api/auth/login", creds("nobody", "whatever-pw"));
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(unknown.json()["error"]["message"], wrong.json()["error"]["message"]);

  auto bob_login = post_json(server, "/api/auth/login", creds("bob", "bob-password"));
  ASSERT_EQ(bob_login.status, 200) << bob_login.body;
  const std::string bob_token = bob_login.json()["token"];
  // A session works as a cookie and as a Bearer token.
  EXPECT_EQ(
      server.get("/api/auth/me", with_cookie(cookie_of(bob_login))).json()["user"]["username"],
      "bob");
  EXPECT_EQ(server.get("/api/auth/me", with_bearer(bob_token)).status, 200);
  EXPECT_EQ(server.get("/api/system", with_bearer(bob_token)).status, 200);
  // Not an admin: no user management, no admin routes.
  auto forbidden = server.get("/api/users", with_bearer(bob_token));
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_EQ(forbidden.json()["error"]["code"], "admin_required");
  EXPECT_EQ(server.get("/admin/audit-logs", with_bearer(bob_token)).status, 403);
  EXPECT_EQ(server.get("/admin/audit-logs", with_cookie(ada_cookie)).status, 200);
  EXPECT_EQ(server.get("/admin/audit-logs").status, 401);
  // The last admin cannot be deleted; bob can.
  const int64_t ada_id = ada.json()["user"]["id"];
  EXPECT_EQ(
      server.request("DELETE", "/api/users/" + std::to_string(ada_id), "", with_cookie(ada_cookie))
          .status,
      409);

  auto out = server.post("/api/auth/logout", "", with_bearer(bob_token));
  EXPECT_EQ(out.status, 200);
  EXPECT_NE(out.header("Set-Cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(server.get("/api/auth/me", with_bearer(bob_token)).status, 401);
  EXPECT_EQ(server.get("/api/system", with_bearer(bob_token)).json()["error"]["code"],
            "invalid_session");
  EXPECT_EQ(
      server.request("DELETE", "/api/users/" + std::to_string(bob_id), "", with_cookie(ada_cookie))
          .status,
      200);
  EXPECT_EQ(post_json(server, "/api/auth/login", creds("bob", "bob-password")).status, 401);
}

TEST(AuthE2E, EnvApiKeysGuardTheClientApiThroughBothHeaders) {
  const std::string key = "sk-env-key-0123456789";
  ServerProcess server(plain_server({{"MLX_SERVER_API_KEYS", "other-key," + key}}));
  ASSERT_TRUE(server.ok()) << server.error();
  EXPECT_EQ(server.get("/health").status, 200);  // public
  auto none = server.get("/v1/models");
  EXPECT_EQ(none.status, 401) << none.body;
  EXPECT_EQ(none.json()["error"]["code"], "missing_credentials");
  EXPECT_EQ(none.header("WWW-Authenticate"), "Bearer");
  auto bad = server.get("/v1/models", with_bearer("wrong-key"));
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.json()["error"]["code"], "invalid_api_key");
  EXPECT_EQ(server.get("/v1/models", {{"x-api-key", "wrong-key"}}).status, 401);
  EXPECT_EQ(server.get("/v1/models", with_bearer(key)).status, 200);
  EXPECT_EQ(server.get("/v1/models", {{"x-api-key", key}}).status, 200);
  EXPECT_EQ(server.post("/tokenize", "{}").status, 401);
  // Anthropic routes answer in Anthropic's error shape.
  auto msg = server.post("/v1/messages", "{}", {{"x-api-key", "nope"}});
  EXPECT_EQ(msg.status, 401);
  EXPECT_EQ(msg.json()["type"], "error");
  EXPECT_EQ(msg.json()["error"]["type"], "authentication_error");

  // The audit row of a keyed request names the key's id, never the key.
  auto chat = server.post("/v1/chat/completions",
                          json{{"model", "no-such-model"},
                               {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}}
                              .dump(),
                          with_bearer(key));
  EXPECT_NE(chat.status, 401) << chat.body;
  json rows;
  ASSERT_TRUE(eventually([&] {
    rows = server.get("/admin/audit-logs?limit=100").json();
    return rows.is_object() && rows["total"].get<int>() >= 1;
  })) << rows.dump();
  bool found = false;
  for (const auto& r : rows["data"]) {
    if (r["endpoint"] == "/v1/chat/completions") {
      EXPECT_EQ(r["api_key_id"], "env-2") << r.dump();
      found = true;
    }
  }
  EXPECT_TRUE(found) << rows.dump();
  auto exported = server.get("/admin/audit-logs/export?format=jsonl");
  EXPECT_EQ(exported.body.find(key), std::string::npos);
  EXPECT_EQ(server.log().find(key), std::string::npos);  // nor in the server's log
}

TEST(AuthE2E, KeysCreatedThroughTheApiAreShownOnceAndRevocable) {
  ServerProcess server(plain_server());
  ASSERT_TRUE(server.ok()) << server.error();
  EXPECT_EQ(server.get("/v1/models").status, 200);  // no key anywhere: open on loopback
  EXPECT_EQ(server.get("/api/auth/status").json()["api_keys_required"], false);

  auto created = post_json(server, "/api/keys", {{"name", "ci"}});
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string key = created.json()["key"];
  const std::string id = created.json()["id"];
  EXPECT_EQ(key.rfind("mlxm-", 0), 0u);
  EXPECT_EQ(key.rfind(created.json()["prefix"].get<std::string>(), 0), 0u);
  EXPECT_EQ(post_json(server, "/api/keys", {{"name", 5}}).status, 400);

  auto listed = server.get("/api/keys");
  ASSERT_EQ(listed.status, 200) << listed.body;
  ASSERT_EQ(listed.json()["keys"].size(), 1u);
  EXPECT_EQ(listed.json()["keys"][0]["id"], id);
  EXPECT_EQ(listed.json()["keys"][0]["name"], "ci");
  EXPECT_FALSE(listed.json()["keys"][0].contains("key"));
  EXPECT_EQ(listed.body.find(key), std::string::npos);

  EXPECT_EQ(server.get("/v1/models").status, 401);
  EXPECT_EQ(server.get("/v1/models", with_bearer(key)).status, 200);
  EXPECT_EQ(server.get("/v1/models", {{"x-api-key", key}}).status, 200);
  EXPECT_EQ(server.get("/v1/models", with_bearer(key + "0")).status, 401);
  EXPECT_FALSE(server.get("/api/keys").json()["keys"][0]["last_used_at"].is_null());

  EXPECT_EQ(server.request("DELETE", "/api/keys/" + id).status, 200);
  EXPECT_EQ(server.request("DELETE", "/api/keys/" + id).status, 404);
  EXPECT_EQ(server.get("/v1/models", with_bearer(key)).status, 200);  // open again: no key left
  EXPECT_EQ(server.get("/v1/models").status, 200);
}

TEST(AuthE2E, AdminTokenAndAdminSessionBothOpenAdminRoutes) {
  const std::string token = "admin-token-42";
  ServerProcess server(plain_server({{"MLX_SERVER_ADMIN_TOKEN", token}}));
  ASSERT_TRUE(server.ok()) << server.error();
  EXPECT_EQ(server.get("/admin/models").status, 401);
  EXPECT_EQ(server.get("/admin/models", with_bearer("nope")).status, 403);
  EXPECT_EQ(server.get("/admin/models", with_bearer(token)).status, 200);
  EXPECT_EQ(server.get("/admin/audit-logs", with_bearer(token)).status, 200);
  // With an admin token, /api/* is closed to anonymous clients even before any user exists.
  EXPECT_EQ(server.get("/api/system").status, 401);
  EXPECT_EQ(server.get("/api/system", with_bearer(token)).status, 200);
  auto ada = post_json(server, "/api/auth/register", creds("ada", "ada-password"));
  ASSERT_EQ(ada.status, 201) << ada.body;
  // The admin user's session passes the admin routes' own token check too.
  EXPECT_EQ(server.get("/admin/models", with_cookie(cookie_of(ada))).status, 200);
  EXPECT_EQ(server.get("/v1/admin/models/status", with_bearer(ada.json()["token"])).status, 200);
}

TEST(AuthE2E, RateLimitAnswers429WithHeaders) {
  ServerProcess server(plain_server({{"MLX_SERVER_RATE_LIMIT_RPM", "2"}}));
  ASSERT_TRUE(server.ok()) << server.error();
  auto first = server.get("/v1/models");
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.header("X-RateLimit-Limit"), "2");
  EXPECT_EQ(first.header("X-RateLimit-Remaining"), "1");
  EXPECT_FALSE(first.header("X-RateLimit-Reset").empty());
  auto second = server.get("/v1/models");
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.header("X-RateLimit-Remaining"), "0");
  auto third = server.get("/v1/models");
  EXPECT_EQ(third.status, 429) << third.body;
  EXPECT_EQ(third.json()["error"]["code"], "rate_limited");
  EXPECT_EQ(third.header("X-RateLimit-Remaining"), "0");
  const int retry = std::atoi(third.header("Retry-After").c_str());
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 30);
  // Not limited: health and the management API.
  EXPECT_EQ(server.get("/health").status, 200);
  EXPECT_TRUE(server.get("/health").header("X-RateLimit-Limit").empty());
}

// Runs `mlx-manager serve` with `args` under `timeout_s` (coreutils timeout) and returns its exit
// code and output.
std::pair<int, std::string> run_serve(const std::string& args, const std::string& env,
                                      int timeout_s) {
  std::random_device rd;
  const auto dir = std::filesystem::temp_directory_path() / ("mlxm-auth-" + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  const auto log = dir / "log";
  const std::string cmd = "env MLX_MANAGER_HOME=" + dir.string() + " " + env + " timeout -s TERM " +
                          std::to_string(timeout_s) + " " + mlx_manager_binary() + " serve " +
                          args + " > " + log.string() + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, ss.str()};
}

TEST(AuthE2E, NonLoopbackAddressNeedsAnApiKeyOrInsecure) {
  auto [rc, out] = run_serve("--host 0.0.0.0 --port 0 --no-ui", "", 20);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("refusing to listen on 0.0.0.0"), std::string::npos) << out;
  EXPECT_NE(out.find("MLX_SERVER_API_KEYS"), std::string::npos) << out;
  EXPECT_NE(out.find("--insecure"), std::string::npos) << out;

  // With --insecure, or with a key, it starts (and the timeout's SIGTERM drains it).
  auto [rc2, out2] = run_serve("--host 0.0.0.0 --port 0 --no-ui --insecure", "", 4);
  EXPECT_NE(out2.find("listening on http://0.0.0.0:"), std::string::npos) << out2;
  auto [rc3, out3] = run_serve("--host 0.0.0.0 --port 0 --no-ui", "MLX_SERVER_API_KEYS=k1", 4);
  EXPECT_NE(out3.find("listening on http://0.0.0.0:"), std::string::npos) << out3;
  EXPECT_EQ(out3.find("refusing"), std::string::npos) << out3;
}

}  // namespace
}  // namespace mlxm::e2e
