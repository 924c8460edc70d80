// Live request timeouts and batching limits (PUT /api/settings/server) and reloading the
// settings (POST /admin/reload-config, SIGHUP) over the real binary with a real model
// (docs/configuration.md, "Live settings").
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "e2e/harness/server_process.h"
#include "e2e/openai/openai_fixture.h"

namespace mlxm::e2e {
namespace {

using nlohmann::json;

const char kAdminToken[] = "live-limits-admin-token";
const HeaderList kAdmin = {{"Authorization", std::string("Bearer ") + kAdminToken},
                           {"Content-Type", "application/json"}};

struct Home {
  Home() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("mlxm-live-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~Home() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path path;
};

ServerOptions with_model(const Home& home, std::map<std::string, std::string> env = {}) {
  env["MLX_MANAGER_HOME"] = home.path.string();
  env["MLX_SERVER_ADMIN_TOKEN"] = kAdminToken;
  ServerOptions o = model_server(tiny_model_dir(), std::move(env));
  o.args.push_back("--no-ui");
  return o;
}

ServerOptions without_model(const Home& home) {
  ServerOptions o;
  o.test_routes = false;
  o.env = {{"MLX_MANAGER_HOME", home.path.string()}, {"MLX_SERVER_ADMIN_TOKEN", kAdminToken}};
  o.args = {"--no-ui"};
  return o;
}

HttpResult put_settings(const ServerProcess& s, const json& body) {
  return s.request("PUT", "/api/settings/server", body.dump(), kAdmin);
}

json chat(int max_tokens) {
  return {{"model", "tiny-q4"},
          {"messages", {{{"role", "user"}, {"content", "tell me a long story"}}}},
          {"max_tokens", max_tokens}};
}

bool eventually(const std::function<bool()>& f, int timeout_ms = 10000) {
  for (int waited = 0; waited < timeout_ms; waited += 50) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return f();
}

TEST(LiveLimitsE2E, ChatTimeoutLoweredLiveTimesOutNewRequests) {
  Home home;
  // ~300 steps of 20 ms: about 6 s, far below the default 900 s timeout.
  ServerProcess server(with_model(home, {{"MLXM_DEBUG_STEP_DELAY_MS", "20"}}));
  ASSERT_TRUE(server.ok()) << server.error();
  auto settings = server.get("/api/settings/server", kAdmin);
  ASSERT_EQ(settings.status, 200) << settings.body;
  EXPECT_EQ(settings.json()["settings"]["timeout_chat_seconds"], 900) << settings.body;
  EXPECT_EQ(settings.json()["settings"]["timeout_completions_seconds"], 600) << settings.body;

  EXPECT_EQ(put_settings(server, {{"timeout_chat_seconds", 0}}).status, 400);
  auto put = put_settings(server, {{"timeout_chat_seconds", 1}});
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.json()["changed"], json::array({"timeout_chat_seconds"})) << put.body;

  auto r = server.request("POST", "/v1/chat/completions", chat(300).dump(), kAdmin);
  EXPECT_EQ(r.status, 408) << r.body;
  json msg = {{"model", "tiny-q4"},
              {"max_tokens", 300},
              {"messages", {{{"role", "user"}, {"content", "slow"}}}}};
  HeaderList anthropic = kAdmin;
  anthropic.emplace_back("anthropic-version", "2023-06-01");
  auto a = server.request("POST", "/v1/messages", msg.dump(), anthropic);
  EXPECT_EQ(a.status, 408) << a.body;
  // Text completions have their own timeout, unchanged so far.
  auto comp_put = put_settings(server, {{"timeout_completions_seconds", 1}});
  ASSERT_EQ(comp_put.status, 200) << comp_put.body;
  json comp = {{"model", "tiny-q4"}, {"prompt", "once upon a time"}, {"max_tokens", 300}};
  auto c = server.request("POST", "/v1/completions", comp.dump(), kAdmin);
  EXPECT_EQ(c.status, 408) << c.body;
  // The server still answers, and the model is idle again.
  EXPECT_EQ(server.get("/health").status, 200);
}

TEST(LiveLimitsE2E, MaxBatchSizeLoweredLiveQueuesTheOtherRequests) {
  Home home;
  ServerProcess server(with_model(home, {{"MLXM_DEBUG_STEP_DELAY_MS", "40"},
                                         {"MLX_SERVER_BATCH_MAX_BATCH_SIZE", "4"}}));
  ASSERT_TRUE(server.ok()) << server.error();
  // At most the start-up value: the KV cache was reserved for 4 sequences.
  auto too_big = put_settings(server, {{"max_batch_size", 5}});
  EXPECT_EQ(too_big.status, 400);
  EXPECT_NE(too_big.body.find("max_batch_size"), std::string::npos) << too_big.body;
  auto put = put_settings(server, {{"max_batch_size", 1}});
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.json()["settings"]["max_batch_size"], 1) << put.body;

  std::atomic<int> done{0};
  std::vector<int> statuses(3, 0);
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back([&, i] {
      statuses[i] = server.request("POST", "/v1/chat/completions", chat(25).dump(), kAdmin).status;
      done.fetch_add(1);
    });
  }
  int max_running = 0, max_waiting = 0;
  while (done.load() < 3) {
    auto m = server.get("/admin/models", kAdmin).json();
    for (const auto& d : m["data"]) {
      max_running = std::max(max_running, d.value("running", 0));
      max_waiting = std::max(max_waiting, d.value("waiting", 0));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  for (auto& t : clients) t.join();
  for (int s : statuses) EXPECT_EQ(s, 200);
  EXPECT_EQ(max_running, 1);  // one sequence at a time ...
  EXPECT_GE(max_waiting, 1);  // ... while the others wait
}

TEST(LiveLimitsE2E, ReloadConfigReportsWhatTheDatabaseChanged) {
  Home home;
  ServerProcess server(without_model(home));
  ASSERT_TRUE(server.ok()) << server.error();
  // A second server on the same database stores new values (as an operator's tool would).
  {
    ServerProcess writer(without_model(home));
    ASSERT_TRUE(writer.ok()) << writer.error();
    auto put = put_settings(writer, {{"rate_limit_rpm", 7}, {"timeout_chat_seconds", 33}});
    ASSERT_EQ(put.status, 200) << put.body;
  }
  EXPECT_EQ(server.get("/api/settings/server", kAdmin).json()["settings"]["rate_limit_rpm"], 0);

  EXPECT_EQ(server.post("/admin/reload-config", "").status, 401);
  EXPECT_EQ(server.post("/admin/reload-config", "", {{"Authorization", "Bearer wrong"}}).status,
            403);
  auto r = server.post("/admin/reload-config", "", kAdmin);
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.json();
  EXPECT_EQ(j["changed"]["rate_limit_rpm"], json({{"from", 0}, {"to", 7}})) << r.body;
  EXPECT_EQ(j["changed"]["timeout_chat_seconds"], json({{"from", 900}, {"to", 33}})) << r.body;
  EXPECT_EQ(j["changed"].size(), 2u) << r.body;
  const auto& unchanged = j["unchanged"];
  EXPECT_NE(std::find(unchanged.begin(), unchanged.end(), "log_level"), unchanged.end()) << r.body;
  EXPECT_TRUE(j["restart_required"].is_array()) << r.body;
  // Applied: the settings and the limiter.
  EXPECT_EQ(server.get("/api/settings/server", kAdmin).json()["settings"]["rate_limit_rpm"], 7);
  // A second reload finds nothing new.
  auto again = server.post("/admin/reload-config", "", kAdmin);
  ASSERT_EQ(again.status, 200);
  EXPECT_TRUE(again.json()["changed"].empty()) << again.body;
}

TEST(LiveLimitsE2E, SighupReloadsWithoutStoppingTheServer) {
  Home home;
  ServerProcess server(without_model(home));
  ASSERT_TRUE(server.ok()) << server.error();
  {
    ServerProcess writer(without_model(home));
    ASSERT_TRUE(writer.ok()) << writer.error();
    ASSERT_EQ(put_settings(writer, {{"max_queued_requests", 9}}).status, 200);
  }
  server.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] {
    return server.log().find("SIGHUP: settings reloaded") != std::string::npos;
  })) << server.log();
  EXPECT_NE(server.log().find("max_queued_requests"), std::string::npos) << server.log();
  EXPECT_EQ(server.get("/health").status, 200);
  EXPECT_EQ(server.get("/api/settings/server", kAdmin).json()["settings"]["max_queued_requests"],
            9);
  // Still serving after a second SIGHUP, and SIGTERM still drains it.
  server.signal(SIGHUP);
  EXPECT_EQ(server.get("/health").status, 200);
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait_exit(), 0);
}

}  // namespace
}  // namespace mlxm::e2e
