// e2e: hub downloads through the real binary against tests/pool/fake_hub.mjs: the HTTP API
// (start, SSE progress, pause, resume, cancel, then preload what was downloaded) and the CLI
// (`models pull` over a dropped connection, `models list --json`, `models rm`).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "e2e/harness/server_process.h"
#include "e2e/pool/fake_hub.h"

namespace fs = std::filesystem;

namespace mlxm::e2e {
namespace {

TEST(DownloadE2E, StartProgressPauseResumeThenPreload) {
  if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no node";
  ASSERT_FALSE(repos_root().empty());
  Hub hub({"--slow-bps=1000000"});
  ASSERT_TRUE(hub.ok());
  const std::string home = temp_home();
  ServerOptions o;
  o.test_routes = false;
  o.env = {{"HF_HOME", home}, {"HF_ENDPOINT", hub.endpoint()}, {"MLX_SERVER_KV_CACHE_MB", "8"}};
  ServerProcess server(o);
  ASSERT_TRUE(server.ok()) << server.error();

  auto start = server.post("/api/models/download", R"({"model": "acme/tiny"})");
  ASSERT_EQ(start.status, 202) << start.body;
  const std::string id = start.json()["id"];
  auto conn = server.connect();
  conn->set_timeout_ms(20000);
  ASSERT_TRUE(conn->send_request("GET", "/api/models/downloads/" + id + "/progress"));
  ASSERT_EQ(conn->read_head().status, 200);
  ASSERT_TRUE(conn->next_sse_data());  // a progress event
  ASSERT_TRUE(eventually([&] { return server.get("/api/models/downloads/" + id).json()["bytes_done"].get<uint64_t>() > 100000; }, 20000));
  auto paused = server.post("/api/models/downloads/" + id + "/pause", "");
  ASSERT_EQ(paused.status, 200) << paused.body;
  EXPECT_EQ(paused.json()["status"], "paused");
  const uint64_t done_at_pause = paused.json()["bytes_done"];
  EXPECT_GT(done_at_pause, 0u);
  // The progress stream ends with a `paused` event.
  std::optional<std::string> ev, last;
  while ((ev = conn->next_sse_data())) last = ev;
  ASSERT_TRUE(last);
  EXPECT_EQ(nlohmann::json::parse(*last)["status"], "paused");
  // Not loadable while incomplete.
  EXPECT_EQ(server.post("/admin/models/acme/tiny/preload", "").status, 404);

  auto resumed = server.post("/api/models/downloads/" + id + "/resume", "");
  ASSERT_EQ(resumed.status, 200) << resumed.body;
  ASSERT_TRUE(eventually([&] { return server.get("/api/models/downloads/" + id).json()["status"] == "completed"; }, 30000));
  auto done = server.get("/api/models/downloads/" + id).json();
  EXPECT_EQ(done["bytes_done"], done["bytes_total"]);
  auto pre = server.post("/admin/models/acme/tiny/preload", "");
  EXPECT_EQ(pre.status, 200) << pre.body;
  auto list = server.get("/api/models/downloads").json();
  EXPECT_EQ(list["data"].size(), 1u);

  // Cancel removes the partial download.
  auto s2 = server.post("/api/models/download", R"({"model": "acme/tiny2"})");
  ASSERT_EQ(s2.status, 202);
  const std::string id2 = s2.json()["id"];
  ASSERT_TRUE(eventually([&] { return server.get("/api/models/downloads/" + id2).json()["bytes_done"].get<uint64_t>() > 0; }, 20000));
  auto c = server.post("/api/models/downloads/" + id2 + "/cancel", "");
  EXPECT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(c.json()["status"], "cancelled");
  EXPECT_FALSE(fs::exists(home + "/hub/models--acme--tiny2"));
  EXPECT_EQ(server.post("/api/models/downloads/" + id2 + "/resume", "").status, 409);
  EXPECT_EQ(server.post("/api/models/download", R"({"model": "../etc"})").status, 400);
  fs::remove_all(home);
}

TEST(DownloadE2E, CliPullListRm) {
  if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no node";
  ASSERT_FALSE(repos_root().empty());
  Hub hub({"--drop-after=60000", "--token=hf_x"});
  ASSERT_TRUE(hub.ok());
  const std::string home = temp_home();
  const std::string env = "HF_HOME=" + home + " HF_ENDPOINT=" + hub.endpoint() + " ";
  const std::string bin = mlx_manager_binary();
  EXPECT_NE(std::system((env + bin + " models pull acme/tiny > /dev/null 2>&1").c_str()), 0);  // no token
  EXPECT_EQ(std::system((env + "HF_TOKEN=hf_x " + bin + " models pull acme/tiny > /dev/null 2>&1").c_str()), 0);
  FILE* f = popen((env + bin + " models list --json").c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  pclose(f);
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_array()) << out;
  ASSERT_EQ(j.size(), 1u) << out;
  EXPECT_EQ(j[0]["id"], "acme/tiny");
  EXPECT_EQ(j[0]["loadable"], true);
  EXPECT_EQ(j[0]["quantization"], "q4/g64");
  EXPECT_EQ(std::system((env + "HF_HUB_OFFLINE=1 " + bin + " models pull acme/tiny2 > /dev/null 2>&1").c_str()) != 0, true);
  EXPECT_EQ(std::system((env + bin + " models rm acme/tiny > /dev/null").c_str()), 0);
  EXPECT_FALSE(fs::exists(home + "/hub/models--acme--tiny"));
  fs::remove_all(home);
}

}  // namespace
}  // namespace mlxm::e2e
