// Live settings (GET/PUT /api/settings/server) over the real binary: values apply without a
// restart, bad values are refused naming the setting, changes need an administrator once users
// exist, and they persist across a restart.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "e2e/harness/server_process.h"

namespace mlxm::e2e {
namespace {

using nlohmann::json;

struct Home {
  Home() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("mlxm-settings-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~Home() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path path;
};

ServerOptions server_in(const Home& home) {
  ServerOptions o;
  o.test_routes = false;
  o.env = {{"MLX_MANAGER_HOME", home.path.string()}};
  o.args = {"--no-ui"};
  return o;
}

HttpResult put_settings(const ServerProcess& s, const json& body, HeaderList headers = {}) {
  headers.emplace_back("Content-Type", "application/json");
  return s.request("PUT", "/api/settings/server", body.dump(), headers);
}

TEST(SettingsE2E, ChangesApplyLiveAndPersist) {
  Home home;
  {
    ServerProcess server(server_in(home));
    ASSERT_TRUE(server.ok()) << server.error();
    auto got = server.get("/api/settings/server");
    ASSERT_EQ(got.status, 200) << got.body;
    EXPECT_EQ(got.json()["settings"]["rate_limit_rpm"], 0);
    EXPECT_TRUE(got.json()["settings"].contains("pool_budget_mb"));
    EXPECT_TRUE(got.json()["settings"].contains("audit_retention_days"));
    EXPECT_EQ(got.json()["settings"]["log_level"], "info");
    EXPECT_GE(got.json()["fields"].size(), 6u);

    // No rate limit yet.
    for (int i = 0; i < 3; ++i) EXPECT_EQ(server.get("/v1/models").status, 200);
    auto put = put_settings(server, {{"rate_limit_rpm", 1},
                                     {"pool_budget_mb", 1234},
                                     {"model_ttl_seconds", 77},
                                     {"log_level", "debug"}});
    ASSERT_EQ(put.status, 200) << put.body;
    EXPECT_EQ(put.json()["settings"]["rate_limit_rpm"], 1);
    EXPECT_EQ(put.json()["changed"].size(), 4u) << put.body;
    // Applied at once: the limiter refuses the second request of the minute...
    EXPECT_EQ(server.get("/v1/models").status, 200);
    auto limited = server.get("/v1/models");
    EXPECT_EQ(limited.status, 429) << limited.body;
    EXPECT_EQ(limited.header("X-RateLimit-Limit"), "1");
    // ... and the pool reports the new budget and TTL.
    auto pool = server.get("/admin/models").json();
    EXPECT_EQ(pool["pool"]["budget_bytes"], 1234LL * 1024 * 1024) << pool.dump();
    EXPECT_EQ(pool["pool"]["ttl_seconds"], 77) << pool.dump();

    // Bad values are refused, naming the setting, and nothing is applied.
    auto bad = put_settings(server, {{"rate_limit_rpm", 0}, {"pool_budget_mb", -5}});
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.body.find("pool_budget_mb"), std::string::npos) << bad.body;
    EXPECT_EQ(server.get("/api/settings/server").json()["settings"]["rate_limit_rpm"], 1);
    EXPECT_EQ(put_settings(server, {{"no_such_setting", 1}}).status, 400);
    EXPECT_EQ(put_settings(server, {{"log_level", "loud"}}).status, 400);
    EXPECT_EQ(put_settings(server, {{"rate_limit_rpm", "ten"}}).status, 400);
    EXPECT_EQ(server.request("PUT", "/api/settings/server", "[1]").status, 400);
  }
  // A restart keeps the stored values.
  ServerProcess again(server_in(home));
  ASSERT_TRUE(again.ok()) << again.error();
  auto got = again.get("/api/settings/server").json();
  EXPECT_EQ(got["settings"]["rate_limit_rpm"], 1) << got.dump();
  EXPECT_EQ(got["settings"]["pool_budget_mb"], 1234) << got.dump();
  EXPECT_EQ(got["settings"]["log_level"], "debug") << got.dump();
}

TEST(SettingsE2E, OnlyAdministratorsChangeSettingsOnceUsersExist) {
  Home home;
  ServerProcess server(server_in(home));
  ASSERT_TRUE(server.ok()) << server.error();
  auto ada = server.post("/api/auth/register",
                         json{{"username", "ada"}, {"password", "ada-password"}}.dump());
  ASSERT_EQ(ada.status, 201) << ada.body;
  const std::string admin = ada.json()["token"];
  auto bob = server.post("/api/auth/register",
                         json{{"username", "bob"}, {"password", "bob-password"}}.dump());
  ASSERT_EQ(bob.status, 201);
  ASSERT_EQ(
      server
          .post("/api/users/" + std::to_string(bob.json()["user"]["id"].get<int>()) + "/approve",
                "", {{"Authorization", "Bearer " + admin}})
          .status,
      200);
  auto login = server.post("/api/auth/login",
                           json{{"username", "bob"}, {"password", "bob-password"}}.dump());
  ASSERT_EQ(login.status, 200);
  const std::string user = login.json()["token"];

  EXPECT_EQ(server.get("/api/settings/server").status, 401);
  EXPECT_EQ(server.get("/api/settings/server", {{"Authorization", "Bearer " + user}}).status, 200);
  EXPECT_EQ(put_settings(server, {{"rate_limit_rpm", 5}}).status, 401);
  EXPECT_EQ(
      put_settings(server, {{"rate_limit_rpm", 5}}, {{"Authorization", "Bearer " + user}}).status,
      403);
  EXPECT_EQ(
      put_settings(server, {{"rate_limit_rpm", 5}}, {{"Authorization", "Bearer " + admin}}).status,
      200);
}

}  // namespace
}  // namespace mlxm::e2e
