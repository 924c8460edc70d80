// e2e: the model pool over the real binary. Three tiny models in a fake Hugging Face cache
// (models--org--name/refs/main + snapshots/<hash>/ linking into blobs/) and a budget that fits
// two of them (each model's 160 MiB KV reservation dominates its accounting).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "e2e/harness/server_process.h"
#include "test_support/build_once.h"
#include "test_support/sanitizer.h"

namespace fs = std::filesystem;

namespace mlxm::e2e {
namespace {

const char* kToken = "s3cret-admin";

// Builds the fake HF cache once per build tree (staged, then renamed into place).
const std::string& hf_home() {
  static std::string home;
  static std::once_flag once;
  std::call_once(once, [] {
    home = std::string(MLXM_BINARY_DIR) + "/test-models/pool-hf-home";
    const std::string err = test_support::build_dir_once(home, [](const std::string& staging) {
      const fs::path hub = fs::path(staging) / "hub";
      int seed = 21;
      for (const char* name : {"alpha", "beta", "gamma"}) {
        const fs::path repo = hub / (std::string("models--acme--") + name);
        const std::string commit = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3" + std::to_string(seed);
        const std::string model = staging + "/model-" + name;
        const std::string made = test_support::make_model_command(
            MLXM_BINARY_DIR,
            std::string("--shape tiny --quant q4 --tokenizer ") + MLXM_SOURCE_DIR +
                "/models/demo --seed " + std::to_string(seed++),
            model);
        if (!made.empty()) return made;
        fs::create_directories(repo / "refs");
        fs::create_directories(repo / "blobs");
        fs::create_directories(repo / "snapshots" / commit);
        std::ofstream(repo / "refs" / "main") << commit;
        int i = 0;
        for (const auto& f : fs::directory_iterator(model)) {
          const std::string blob = std::string("b") + name + std::to_string(i++);
          fs::rename(f.path(), repo / "blobs" / blob);
          fs::create_symlink(fs::path("../../blobs") / blob,
                             repo / "snapshots" / commit / f.path().filename());
        }
        fs::remove_all(model);
      }
      return std::string();
    });
    if (!err.empty()) ADD_FAILURE() << err;
  });
  return home;
}

ServerOptions pool_server(std::map<std::string, std::string> extra = {}) {
  ServerOptions o;
  o.test_routes = false;
  o.startup_timeout_ms = 30000;
  o.env = {{"HF_HOME", hf_home()},
           {"MLX_SERVER_KV_CACHE_MB", "160"},
           {"MLX_SERVER_MAX_MEMORY_GB", "0.390625"},  // 400 MiB: two models of ~182 MiB
           {"MLX_SERVER_MAX_MODEL_LEN", "256"},
           {"MLXM_THREADS", "1"}};
  for (auto& [k, v] : extra) o.env[k] = v;
  return o;
}

HeaderList auth() { return {{"Authorization", std::string("Bearer ") + kToken}}; }

std::string chat_body(const std::string& model, int max_tokens = 2) {
  return nlohmann::json{{"model", model},
                        {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                        {"max_tokens", max_tokens},
                        {"temperature", 0}}
      .dump();
}

std::vector<std::string> loaded(const ServerProcess& s) {
  const nlohmann::json j = s.get("/admin/models", auth()).json();
  std::vector<std::string> ids;
  for (const auto& m : j["data"]) {
    if (m["state"] == "loaded") ids.push_back(m["id"]);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(PoolE2E, SeedCurlPreloadFromHfCache) {
  ASSERT_FALSE(hf_home().empty());
  ServerProcess server(pool_server());
  ASSERT_TRUE(server.ok()) << server.error();
  // The seed guide's command, verbatim apart from the port.
  const std::string cmd = "curl -s -X POST http://localhost:" + std::to_string(server.port()) +
                          "/admin/models/acme/alpha/preload";
  FILE* f = popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  ASSERT_EQ(pclose(f), 0);
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << out;
  EXPECT_EQ(j["status"], "loaded") << out;
  EXPECT_EQ(j["model"], "acme/alpha");
  EXPECT_EQ(j["details"]["pinned"], true);
  EXPECT_GT(j["details"]["kv_bytes"].get<uint64_t>(), 150ull << 20);
  auto chat = server.post("/v1/chat/completions", chat_body("acme/alpha"));
  EXPECT_EQ(chat.status, 200) << chat.body;
  auto models = server.get("/v1/models").json();
  std::map<std::string, nlohmann::json> by_id;
  for (const auto& m : models["data"]) by_id[m["id"]] = m;
  ASSERT_TRUE(by_id.count("acme/alpha") && by_id.count("acme/beta") && by_id.count("acme/gamma"))
      << models.dump();
  EXPECT_EQ(by_id["acme/alpha"]["loaded"], true);
  EXPECT_EQ(by_id["acme/beta"]["loaded"], false);
  EXPECT_EQ(by_id["acme/beta"]["status"], "available");
}

TEST(PoolE2E, LruEvictionPinnedAndInFlightAnd503) {
  MLXM_SKIP_BUDGET_TEST_UNDER_ASAN();
  ServerProcess server(pool_server({{"MLX_SERVER_ADMIN_TOKEN", kToken},
                                    {"MLXM_DEBUG_STEP_DELAY_MS", "25"}}));
  ASSERT_TRUE(server.ok()) << server.error();
  auto pre = server.post("/admin/models/acme/alpha/preload", "", auth());
  ASSERT_EQ(pre.status, 200) << pre.body;
  ASSERT_EQ(server.post("/v1/chat/completions", chat_body("acme/beta")).status, 200);
  EXPECT_EQ(loaded(server), (std::vector<std::string>{"acme/alpha", "acme/beta"}))
      << server.log();
  // gamma needs room: alpha is older but pinned, so beta goes.
  ASSERT_EQ(server.post("/v1/chat/completions", chat_body("acme/gamma")).status, 200);
  EXPECT_EQ(loaded(server), (std::vector<std::string>{"acme/alpha", "acme/gamma"}));
  auto status = server.get("/admin/models", auth()).json();
  EXPECT_EQ(status["pool"]["evictions"], 1);
  EXPECT_LE(status["pool"]["used_bytes"].get<uint64_t>(), status["pool"]["budget_bytes"].get<uint64_t>());

  // A long request keeps gamma in flight; beta cannot get room: 503 with Retry-After.
  auto conn = server.connect();
  ASSERT_TRUE(conn);
  auto body = nlohmann::json::parse(chat_body("acme/gamma", 200));
  body["stream"] = true;
  body["ignore_eos"] = true;
  ASSERT_TRUE(conn->send_request("POST", "/v1/chat/completions", body.dump(),
                                 {{"Content-Type", "application/json"}}));
  ASSERT_EQ(conn->read_head().status, 200);
  ASSERT_TRUE(eventually([&] {
    const nlohmann::json j = server.get("/admin/models", auth()).json();
    for (const auto& m : j["data"]) {
      if (m["id"] == "acme/gamma" && m["requests_in_flight"].get<int>() > 0) return true;
    }
    return false;
  }));
  auto busy = server.post("/v1/chat/completions", chat_body("acme/beta"));
  EXPECT_EQ(busy.status, 503) << busy.body;
  EXPECT_FALSE(busy.header("Retry-After").empty());
  EXPECT_NE(busy.body.find("no model can be evicted"), std::string::npos) << busy.body;
  EXPECT_EQ(loaded(server), (std::vector<std::string>{"acme/alpha", "acme/gamma"}));

  // Unloading the pinned model makes room without touching the busy one.
  auto un = server.post("/admin/models/acme/alpha/unload", "", auth());
  ASSERT_EQ(un.status, 200) << un.body;
  EXPECT_EQ(un.json()["memory_freed"], true);
  auto ok = server.post("/v1/chat/completions", chat_body("acme/beta"));
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(loaded(server), (std::vector<std::string>{"acme/beta", "acme/gamma"}));
  conn->close();
}

TEST(PoolE2E, ConcurrentFirstRequestsShareOneLoad) {
  ServerProcess server(pool_server());
  ASSERT_TRUE(server.ok()) << server.error();
  std::atomic<int> n_ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      if (server.post("/v1/chat/completions", chat_body("acme/beta")).status == 200) ++n_ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(n_ok.load(), 4);
  auto st = server.get("/v1/admin/models/status").json();
  EXPECT_EQ(st["pool"]["loads"], 1) << st.dump();
}

TEST(PoolE2E, AdminAuth) {
  ServerProcess server(pool_server({{"MLX_SERVER_ADMIN_TOKEN", kToken}}));
  ASSERT_TRUE(server.ok()) << server.error();
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/admin/models"},
           {"GET", "/v1/admin/models/status"},
           {"POST", "/admin/models/acme/alpha/preload"},
           {"POST", "/v1/admin/models/load/acme/alpha"},
           {"POST", "/admin/models/acme/alpha/unload"},
           {"POST", "/v1/admin/models/unload/acme/alpha"},
           {"GET", "/admin/models/acme/alpha/loading-progress"}}) {
    EXPECT_EQ(server.request(method, path).status, 401) << path;
    EXPECT_EQ(server.request(method, path, "", {{"Authorization", "Bearer nope"}}).status, 403) << path;
  }
  EXPECT_EQ(server.get("/admin/models", auth()).status, 200);
  auto load = server.post("/v1/admin/models/load/acme/alpha", "", auth());
  EXPECT_EQ(load.status, 200) << load.body;
  auto unload = server.post("/v1/admin/models/unload/acme/alpha", "", auth());
  EXPECT_EQ(unload.status, 200) << unload.body;
  EXPECT_EQ(server.post("/v1/admin/models/unload/acme/alpha", "", auth()).status, 404);
}

TEST(PoolE2E, PathEscapesAreRejected) {
  ServerProcess server(pool_server({{"MLX_SERVER_MODEL_DIRS", hf_home()}}));
  ASSERT_TRUE(server.ok()) << server.error();
  for (const std::string id : {"..%2F..%2Fetc", "acme/..", "acme%2F..%2F..%2Fhub",
                               "hub%2F..%2F..", "acme/alpha@..%2F..%2Fx"}) {
    auto r = server.post("/admin/models/" + id + "/preload", "");
    EXPECT_EQ(r.status, 400) << id << ": " << r.body;
  }
  for (const std::string model : {"../hub", "/etc", "acme/../../x", "hub/../.."}) {
    auto r = server.post("/v1/chat/completions", chat_body(model));
    EXPECT_EQ(r.status, 400) << model << ": " << r.body;
  }
  // A symlink in a model dir pointing outside it.
  const std::string dirs = hf_home() + "/escape-dirs";
  fs::create_directories(dirs);
  std::error_code ec;
  fs::remove(dirs + "/evil", ec);
  fs::create_directory_symlink(hf_home() + "/hub/models--acme--alpha/snapshots", dirs + "/evil");
  ServerProcess server2(pool_server({{"MLX_SERVER_MODEL_DIRS", dirs}}));
  ASSERT_TRUE(server2.ok()) << server2.error();
  EXPECT_EQ(server2.post("/admin/models/evil/preload", "").status, 404);  // no config.json
  fs::remove(dirs + "/evil", ec);
  const auto snaps = fs::directory_iterator(hf_home() + "/hub/models--acme--alpha/snapshots");
  fs::create_directory_symlink(snaps->path(), dirs + "/evil");
  auto r = server2.post("/admin/models/evil/preload", "");
  EXPECT_EQ(r.status, 400) << r.body;
}

TEST(PoolE2E, LoadingProgressStream) {
  ServerProcess server(pool_server());
  ASSERT_TRUE(server.ok()) << server.error();
  std::thread preload([&] { server.post("/admin/models/acme/gamma/preload", ""); });
  auto conn = server.connect();
  ASSERT_TRUE(conn);
  conn->set_timeout_ms(20000);
  ASSERT_TRUE(conn->send_request("GET", "/admin/models/acme/gamma/loading-progress"));
  ASSERT_EQ(conn->read_head().status, 200);
  nlohmann::json last;
  while (auto data = conn->next_sse_data()) last = nlohmann::json::parse(*data, nullptr, false);
  preload.join();
  EXPECT_EQ(last["id"], "acme/gamma") << last.dump();
  EXPECT_EQ(last["state"], "loaded") << last.dump();
  // A model nobody loads: an error event after the grace period.
  auto conn2 = server.connect();
  conn2->set_timeout_ms(10000);
  ASSERT_TRUE(conn2->send_request("GET", "/admin/models/acme/beta/loading-progress"));
  ASSERT_EQ(conn2->read_head().status, 200);
  auto ev = conn2->next_sse_data();
  ASSERT_TRUE(ev);
  EXPECT_EQ(nlohmann::json::parse(*ev)["state"], "error");
}

}  // namespace
}  // namespace mlxm::e2e

namespace mlxm::e2e {
namespace {

std::string chat_with_keep_alive(const std::string& model, const nlohmann::json& keep_alive) {
  nlohmann::json b = nlohmann::json::parse(chat_body(model));
  b["keep_alive"] = keep_alive;
  return b.dump();
}

TEST(PoolE2E, PerRequestKeepAlive) {
  MLXM_SKIP_BUDGET_TEST_UNDER_ASAN();
  ServerProcess server(pool_server({{"MLX_SERVER_MODEL_TTL_SECONDS", "1"}}));
  ASSERT_TRUE(server.ok()) << server.error();
  // keep_alive 0: unloaded as soon as the request is over.
  ASSERT_EQ(server.post("/v1/chat/completions", chat_with_keep_alive("acme/alpha", 0)).status, 200);
  EXPECT_TRUE(eventually([&] { return loaded(server).empty(); }, 5000)) << server.log();
  // "1h" outlives the 1 s TTL that still applies to a model loaded without keep_alive.
  ASSERT_EQ(server.post("/v1/chat/completions", chat_with_keep_alive("acme/beta", "1h")).status, 200);
  ASSERT_EQ(server.post("/v1/messages",
                        nlohmann::json{{"model", "acme/gamma"},
                                       {"max_tokens", 2},
                                       {"messages", {{{"role", "user"}, {"content", "hi"}}}}}
                            .dump())
                .status,
            200);
  EXPECT_TRUE(eventually([&] { return loaded(server) == std::vector<std::string>{"acme/beta"}; },
                         8000))
      << server.get("/admin/models", auth()).body;
  // Malformed values are refused on both APIs, naming the field.
  auto bad = server.post("/v1/chat/completions", chat_with_keep_alive("acme/beta", "5 minutes"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.json()["error"]["param"], "keep_alive") << bad.body;
  auto bad2 = server.post("/v1/messages", nlohmann::json{{"model", "acme/beta"},
                                                         {"max_tokens", 2},
                                                         {"keep_alive", true},
                                                         {"messages", {{{"role", "user"}, {"content", "hi"}}}}}
                                              .dump());
  EXPECT_EQ(bad2.status, 400) << bad2.body;
  EXPECT_NE(bad2.body.find("keep_alive"), std::string::npos) << bad2.body;
}

}  // namespace
}  // namespace mlxm::e2e
