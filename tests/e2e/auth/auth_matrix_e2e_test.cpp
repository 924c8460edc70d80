// The auth matrix (issue 12): every class of protected route x no, invalid and valid
// credentials of each kind (API key by Bearer and by x-api-key, a user's session by cookie and
// by Bearer, an admin's session, the admin token), against the rules of docs/auth.md; and
// secrets absent from answers, the server log and the database file in clear.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "e2e/openai/openai_fixture.h"

namespace mlxm::e2e {
namespace {

using nlohmann::json;

const char* kAdminToken = "matrix-admin-token-0123456789";
const char* kApiKey = "mlxm-matrix-key-0123456789abcdef";

enum class Class { kPublic, kClient, kManagement, kAdminManagement, kAdmin };

struct RouteCase {
  std::string method, path, body;
  Class cls;
};

std::vector<RouteCase> routes() {
  const std::string chat =
      json{{"model", "tiny-q4"}, {"max_tokens", 1}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}
          .dump();
  return {
      {"GET", "/health", "", Class::kPublic},
      {"GET", "/metrics", "", Class::kPublic},
      {"GET", "/api/auth/status", "", Class::kPublic},
      {"GET", "/v1/models", "", Class::kClient},
      {"POST", "/v1/chat/completions", chat, Class::kClient},
      {"POST", "/v1/messages", chat, Class::kClient},
      {"POST", "/v1/messages/count_tokens", chat, Class::kClient},
      {"POST", "/tokenize", json{{"model", "tiny-q4"}, {"prompt", "hi"}}.dump(), Class::kClient},
      {"GET", "/api/system", "", Class::kManagement},
      {"GET", "/api/settings/rules", "", Class::kManagement},
      {"GET", "/api/settings/providers", "", Class::kManagement},
      {"GET", "/api/users", "", Class::kAdminManagement},
      {"GET", "/api/keys", "", Class::kAdminManagement},
      {"PUT", "/api/settings/server", json{{"log_level", "info"}}.dump(), Class::kAdminManagement},
      {"GET", "/admin/models", "", Class::kAdmin},
      {"GET", "/v1/admin/models/status", "", Class::kAdmin},
      {"GET", "/admin/audit-logs", "", Class::kAdmin},
  };
}

struct Credential {
  std::string name;
  HeaderList headers;
};

// The statuses each credential kind may get per class; "ok" means anything but 401/403.
int expected(Class cls, const std::string& cred) {
  constexpr int kOk = 0;
  if (cls == Class::kPublic) return kOk;
  const bool none = cred == "none", invalid = cred == "invalid bearer" || cred == "invalid cookie";
  const bool key = cred.rfind("api key", 0) == 0;
  const bool user = cred.rfind("user session", 0) == 0;
  const bool admin = cred == "admin session" || cred == "admin token";
  switch (cls) {
    case Class::kClient:
      return none || invalid ? 401 : kOk;
    case Class::kManagement:
      return none || invalid || key ? 401 : kOk;
    case Class::kAdminManagement:
      if (none || invalid || key) return 401;
      return user ? 403 : kOk;
    case Class::kAdmin:
      // Admin routes read `Authorization: Bearer` and a valid session: an unknown cookie or an
      // x-api-key header is no admin credential at all (401); a wrong bearer or a non-admin
      // session is refused (403).
      if (none || cred == "invalid cookie" || cred == "api key (x-api-key)") return 401;
      return admin ? kOk : 403;
    default:
      return kOk;
  }
  (void)user;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(AuthMatrixE2E, EveryRouteClassTimesEveryCredentialKind) {
  char tmpl[] = "/tmp/mlxm-authmatrix-XXXXXX";
  const std::string home = mkdtemp(tmpl);
  ServerOptions opt = model_server(tiny_model_dir(), {{"MLX_SERVER_ADMIN_TOKEN", kAdminToken},
                                                      {"MLX_SERVER_API_KEYS", kApiKey},
                                                      {"MLX_MANAGER_HOME", home}});
  ServerProcess server(opt);
  ASSERT_TRUE(server.ok()) << server.error();
  const HeaderList js = {{"Content-Type", "application/json"}};
  auto reg = server.post("/api/auth/register",
                         json{{"username", "root"}, {"password", "root-password-1"}}.dump(), js);
  ASSERT_EQ(reg.status, 201) << reg.body;
  const std::string admin_session = reg.json()["token"];
  auto u = server.post("/api/auth/register",
                       json{{"username", "user"}, {"password", "user-password-1"}}.dump(), js);
  ASSERT_EQ(u.status, 201) << u.body;
  const int64_t uid = u.json()["user"]["id"];
  ASSERT_EQ(server.post("/api/users/" + std::to_string(uid) + "/approve", "",
                        {{"Authorization", "Bearer " + admin_session}})
                .status,
            200);
  auto login = server.post("/api/auth/login",
                           json{{"username", "user"}, {"password", "user-password-1"}}.dump(), js);
  ASSERT_EQ(login.status, 200) << login.body;
  const std::string user_session = login.json()["token"];

  const std::vector<Credential> creds = {
      {"none", {}},
      {"invalid bearer", {{"Authorization", "Bearer not-a-credential-0000"}}},
      {"invalid cookie", {{"Cookie", "mlxm_session=0000"}}},
      {"api key (Bearer)", {{"Authorization", std::string("Bearer ") + kApiKey}}},
      {"api key (x-api-key)", {{"x-api-key", kApiKey}}},
      {"user session (cookie)", {{"Cookie", "mlxm_session=" + user_session}}},
      {"user session (Bearer)", {{"Authorization", "Bearer " + user_session}}},
      {"admin session", {{"Authorization", "Bearer " + admin_session}}},
      {"admin token", {{"Authorization", std::string("Bearer ") + kAdminToken}}},
  };
  int checked = 0;
  for (const RouteCase& r : routes()) {
    for (const Credential& c : creds) {
      HeaderList h = c.headers;
      if (!r.body.empty()) h.emplace_back("Content-Type", "application/json");
      const HttpResult res = server.request(r.method, r.path, r.body, h);
      const int want = expected(r.cls, c.name);
      if (want == 0) {
        EXPECT_TRUE(res.status != 401 && res.status != 403 && res.status != 0)
            << r.method << " " << r.path << " with " << c.name << " -> " << res.status << " "
            << res.body;
      } else {
        EXPECT_EQ(res.status, want) << r.method << " " << r.path << " with " << c.name << ": "
                                    << res.body;
        // Denials name what went wrong in the route's error shape, never echo a credential.
        EXPECT_EQ(res.body.find("not-a-credential"), std::string::npos) << res.body;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(routes().size() * creds.size()));

  // Secrets never leave in clear: not in answers, not in the log, not in the database file.
  auto keys = server.get("/api/keys", {{"Authorization", "Bearer " + admin_session}});
  ASSERT_EQ(keys.status, 200);
  auto created = server.post("/api/keys", json{{"name", "ci"}}.dump(),
                             {{"Authorization", "Bearer " + admin_session},
                              {"Content-Type", "application/json"}});
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string new_key = created.json()["key"];
  ASSERT_FALSE(new_key.empty());
  EXPECT_EQ(server.get("/api/keys", {{"Authorization", "Bearer " + admin_session}}).body.find(new_key),
            std::string::npos);
  for (const std::string& secret :
       {std::string(kApiKey), std::string(kAdminToken), admin_session, user_session, new_key,
        std::string("root-password-1"), std::string("user-password-1")}) {
    EXPECT_EQ(server.log().find(secret), std::string::npos) << "in the server log: " << secret;
    const std::string db =
        read_file(home + "/mlx-manager.db") + read_file(home + "/mlx-manager.db-wal");
    EXPECT_EQ(db.find(secret), std::string::npos) << "in the database in clear: " << secret;
  }
  std::filesystem::remove_all(home);
}

}  // namespace
}  // namespace mlxm::e2e
