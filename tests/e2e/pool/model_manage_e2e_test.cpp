// e2e: hub search, deleting a cached model and unpinning a loaded one through the real binary
// against tests/pool/fake_hub.mjs: GET /api/models/search, DELETE /api/models/{id},
// POST /admin/models/{id}/unpin, with their error answers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "e2e/harness/server_process.h"
#include "e2e/pool/fake_hub.h"

namespace fs = std::filesystem;

namespace mlxm::e2e {
namespace {

bool has_node() { return std::system("node --version > /dev/null 2>&1") == 0; }

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void download(const ServerProcess& server, const std::string& model) {
  auto start = server.post("/api/models/download", nlohmann::json{{"model", model}}.dump());
  ASSERT_EQ(start.status, 202) << start.body;
  const std::string id = start.json()["id"];
  ASSERT_TRUE(eventually([&] {
    return server.get("/api/models/downloads/" + id).json()["status"] == "completed";
  }, 30000)) << server.get("/api/models/downloads/" + id).body;
}

TEST(ModelManageE2E, HubSearch) {
  if (!has_node()) GTEST_SKIP() << "no node";
  ASSERT_FALSE(repos_root().empty());
  const std::string home = temp_home();
  const std::string stats = home + "/hub-stats.json";
  std::optional<Hub> hub_holder;
  hub_holder.emplace(std::vector<std::string>{"--stats=" + stats});
  Hub& hub = *hub_holder;
  ASSERT_TRUE(hub.ok());
  ServerOptions o;
  o.test_routes = false;
  o.env = {{"HF_HOME", home}, {"HF_ENDPOINT", hub.endpoint()}};
  ServerProcess server(o);
  ASSERT_TRUE(server.ok()) << server.error();

  auto all = server.get("/api/models/search?q=TINY&limit=5");
  ASSERT_EQ(all.status, 200) << all.body;
  auto data = all.json()["data"];
  ASSERT_EQ(data.size(), 2u) << all.body;
  // Most downloads first: the fake hub counts more for the longer id.
  EXPECT_EQ(data[0]["id"], "acme/tiny2");
  EXPECT_EQ(data[1]["id"], "acme/tiny");
  EXPECT_GT(data[0]["downloads"].get<int64_t>(), data[1]["downloads"].get<int64_t>());
  EXPECT_EQ(data[1]["likes"], 9);
  EXPECT_FALSE(data[1]["last_modified"].get<std::string>().empty());
  EXPECT_EQ(data[1]["tags"], nlohmann::json::array({"mlx", "safetensors"}));

  auto one = server.get("/api/models/search?q=tiny&limit=1&filter=mlx");
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.json()["data"].size(), 1u);
  const std::string sent = nlohmann::json::parse(read_text(stats))["last_search"];
  EXPECT_NE(sent.find("search=tiny"), std::string::npos) << sent;
  EXPECT_NE(sent.find("limit=1"), std::string::npos) << sent;
  EXPECT_NE(sent.find("filter=mlx"), std::string::npos) << sent;
  EXPECT_EQ(server.get("/api/models/search?q=tiny&filter=gguf").json()["data"].size(), 0u);
  EXPECT_EQ(server.get("/api/models/search?q=nothing%20like%20this").json()["data"].size(), 0u);
  // The text travels encoded.
  server.get("/api/models/search?q=a%26b%3Dc");
  const std::string enc = nlohmann::json::parse(read_text(stats))["last_search"];
  EXPECT_NE(enc.find("search=a%26b%3Dc"), std::string::npos) << enc;

  for (const std::string& bad : std::vector<std::string>{"/api/models/search", "/api/models/search?q=",
                                "/api/models/search?q=" + std::string(201, 'x'),
                                "/api/models/search?q=x&limit=0", "/api/models/search?q=x&limit=101",
                                "/api/models/search?q=x&limit=ten"}) {
    auto r = server.get(bad);
    EXPECT_EQ(r.status, 400) << bad << " " << r.body;
  }
  auto long_q = server.get("/api/models/search?q=" + std::string(201, 'x'));
  EXPECT_NE(long_q.body.find("200 characters"), std::string::npos) << long_q.body;
  hub_holder.reset();  // before its stats file goes
  fs::remove_all(home);
}

TEST(ModelManageE2E, HubSearchOfflineOrUnreachable) {
  const std::string home = temp_home();
  ServerOptions o;
  o.test_routes = false;
  o.env = {{"HF_HOME", home}, {"HF_HUB_OFFLINE", "1"}};
  ServerProcess server(o);
  ASSERT_TRUE(server.ok()) << server.error();
  auto r = server.get("/api/models/search?q=llama");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("HF_HUB_OFFLINE"), std::string::npos) << r.body;

  // A hub that does not answer (nothing listens on the port): 503 after the retries.
  ServerOptions o2;
  o2.test_routes = false;
  o2.env = {{"HF_HOME", home}, {"HF_ENDPOINT", "http://127.0.0.1:9"}};
  ServerProcess server2(o2);
  ASSERT_TRUE(server2.ok()) << server2.error();
  auto r2 = server2.get("/api/models/search?q=llama");
  EXPECT_EQ(r2.status, 503) << r2.body;
  EXPECT_NE(r2.body.find("hub search is unavailable"), std::string::npos) << r2.body;
  fs::remove_all(home);
}

TEST(ModelManageE2E, UnpinThenDelete) {
  if (!has_node()) GTEST_SKIP() << "no node";
  ASSERT_FALSE(repos_root().empty());
  Hub hub({});
  ASSERT_TRUE(hub.ok());
  const std::string home = temp_home();
  ServerOptions o;
  o.test_routes = false;
  o.env = {{"HF_HOME", home}, {"HF_ENDPOINT", hub.endpoint()}, {"MLX_SERVER_KV_CACHE_MB", "8"}};
  ServerProcess server(o);
  ASSERT_TRUE(server.ok()) << server.error();
  download(server, "acme/tiny");
  download(server, "acme/tiny2");

  // Unpin keeps the model loaded.
  ASSERT_EQ(server.post("/admin/models/acme/tiny/preload", "").status, 200);
  auto un = server.post("/admin/models/acme/tiny/unpin", "");
  ASSERT_EQ(un.status, 200) << un.body;
  EXPECT_EQ(un.json()["id"], "acme/tiny");
  EXPECT_EQ(un.json()["state"], "loaded");
  EXPECT_EQ(un.json()["pinned"], false);
  auto listed = server.get("/admin/models").json()["data"];
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["pinned"], false);
  EXPECT_EQ(listed[0]["state"], "loaded");
  EXPECT_EQ(server.post("/admin/models/acme/tiny/unpin", "").status, 200);  // idempotent
  auto not_loaded = server.post("/admin/models/acme/tiny2/unpin", "");
  EXPECT_EQ(not_loaded.status, 404) << not_loaded.body;
  EXPECT_NE(not_loaded.body.find("not loaded"), std::string::npos);
  EXPECT_EQ(server.post("/admin/models/no/such-model/unpin", "").status, 404);

  // Delete: refused while loaded, then removed, then unknown.
  auto busy = server.request("DELETE", "/api/models/acme/tiny");
  EXPECT_EQ(busy.status, 409) << busy.body;
  EXPECT_NE(busy.body.find("unload it first"), std::string::npos) << busy.body;
  EXPECT_TRUE(fs::exists(home + "/hub/models--acme--tiny"));
  ASSERT_EQ(server.post("/admin/models/acme/tiny/unload", "").status, 200);
  ASSERT_TRUE(eventually([&] { return server.get("/admin/models").json()["data"].empty(); }));
  auto del = server.request("DELETE", "/api/models/acme/tiny");
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(del.json()["deleted"], true);
  EXPECT_EQ(del.json()["id"], "acme/tiny");
  EXPECT_FALSE(fs::exists(home + "/hub/models--acme--tiny"));
  EXPECT_EQ(server.request("DELETE", "/api/models/acme/tiny").status, 404);
  EXPECT_EQ(server.post("/admin/models/acme/tiny/preload", "").status, 404);
  auto v1 = server.get("/v1/models").body;
  EXPECT_EQ(v1.find("\"acme/tiny\""), std::string::npos) << v1;

  // One revision: a loaded revision blocks the repo; an unknown revision is 404.
  EXPECT_EQ(server.request("DELETE", "/api/models/acme/tiny2@v9").status, 404);
  ASSERT_EQ(server.post("/admin/models/acme/tiny2/preload", "").status, 200);
  EXPECT_EQ(server.request("DELETE", "/api/models/acme/tiny2@main").status, 409);
  ASSERT_EQ(server.post("/admin/models/acme/tiny2/unload", "").status, 200);
  ASSERT_TRUE(eventually([&] { return server.get("/admin/models").json()["data"].empty(); }));
  auto rev = server.request("DELETE", "/api/models/acme/tiny2@main");
  ASSERT_EQ(rev.status, 200) << rev.body;
  EXPECT_FALSE(fs::exists(home + "/hub/models--acme--tiny2"));  // its only snapshot

  // Ids that escape or are not HF repos.
  for (const std::string bad : {"/api/models/acme/..%2F..%2Fetc", "/api/models/acme/tiny@..",
                                "/api/models/demo", "/api/models/.hidden/x",
                                "/api/models/acme/tiny%5Cx"}) {
    auto r = server.request("DELETE", bad);
    EXPECT_EQ(r.status, 400) << bad << " " << r.body;
  }
  EXPECT_EQ(server.post("/admin/models/..%2Fetc/unpin", "").status, 400);
  fs::remove_all(home);
}

}  // namespace
}  // namespace mlxm::e2e
