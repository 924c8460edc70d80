// E2E: the HTTP surface of `mlx-manager serve` over real sockets.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "e2e/harness/server_process.h"

namespace mlxm::e2e {
namespace {

class ServerBasics : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->ok()) << server_->error(); }
  static void expect_openai_error(const HttpResult& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.header("Content-Type"), "application/json");
    auto j = r.json();
    ASSERT_TRUE(j.is_object()) << r.body;
    ASSERT_TRUE(j["error"].is_object()) << r.body;
    EXPECT_TRUE(j["error"]["message"].is_string());
    EXPECT_TRUE(j["error"]["type"].is_string());
    EXPECT_TRUE(j["error"].contains("param"));
    EXPECT_EQ(j["error"]["code"], code) << r.body;
  }
  static ServerProcess* server_;
};
ServerProcess* ServerBasics::server_ = nullptr;

TEST_F(ServerBasics, Health) {
  HttpResult r = server_->get("/health");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.json(), nlohmann::json({{"status", "healthy"}, {"version", "0.1.0"}}));
}

TEST_F(ServerBasics, ModelsListIsEmptyAndModelIdsMayHaveSlashes) {
  HttpResult r = server_->get("/v1/models");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json(), nlohmann::json({{"object", "list"}, {"data", nlohmann::json::array()}}));
  HttpResult one = server_->get("/v1/models/mlx-community/Qwen3-0.6B-4bit");
  expect_openai_error(one, 404, "model_not_found");
  EXPECT_NE(one.json()["error"]["message"].get<std::string>().find("mlx-community/Qwen3-0.6B-4bit"),
            std::string::npos);
  // %2F decodes to the same id.
  HttpResult enc = server_->get("/v1/models/mlx-community%2FQwen3-0.6B-4bit");
  EXPECT_EQ(enc.json()["error"]["message"], one.json()["error"]["message"]);
}

TEST_F(ServerBasics, UnknownPathIs404Json) {
  HttpResult r = server_->get("/v1/nope");
  expect_openai_error(r, 404, "not_found");
  EXPECT_EQ(r.json()["error"]["message"], "Invalid URL (GET /v1/nope)");
}

TEST_F(ServerBasics, WrongMethodIs405WithAllow) {
  HttpResult r = server_->post("/health", "{}");
  expect_openai_error(r, 405, "method_not_allowed");
  EXPECT_EQ(r.header("Allow"), "GET");
  HttpResult r2 = server_->request("DELETE", "/test/echo-json");
  expect_openai_error(r2, 405, "method_not_allowed");
  EXPECT_EQ(r2.header("Allow"), "POST");
}

TEST_F(ServerBasics, OversizedBodyIs413) {
  // Announce 17 MiB (limit 16 MiB) and start sending: the server answers 413 and closes.
  auto conn = server_->connect();
  ASSERT_TRUE(conn);
  const size_t n = 17u << 20;
  ASSERT_TRUE(conn->send_raw("POST /test/echo-json HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             "application/json\r\nContent-Length: " +
                             std::to_string(n) + "\r\n\r\n"));
  conn->send_raw(std::string(1 << 20, ' '));  // part of the body; the rest never comes
  HttpResult head = conn->read_head();
  EXPECT_EQ(head.status, 413);
  EXPECT_EQ(head.header("Connection"), "close");
  EXPECT_FALSE(head.header("X-Request-ID").empty());
}

TEST_F(ServerBasics, OversizedBodyFullySentIs413) {
  // A client that sends everything (like curl --data-binary) still gets the 413, not a reset.
  auto conn = server_->connect();
  ASSERT_TRUE(conn);
  std::string body(17u << 20, 'x');
  conn->send_request("POST", "/test/echo-json", body);
  HttpResult head = conn->read_head();
  EXPECT_EQ(head.status, 413) << head.error;
}

TEST_F(ServerBasics, OversizedHeadersAre431) {
  HttpResult r = server_->get("/health", {{"X-Big", std::string(20000, 'a')}});
  expect_openai_error(r, 431, "headers_too_large");
}

TEST_F(ServerBasics, MalformedJsonIs400) {
  expect_openai_error(server_->post("/test/echo-json", "{\"a\": ", {{"Content-Type", "application/json"}}),
                      400, "invalid_json");
  expect_openai_error(server_->post("/test/echo-json", ""), 400, "invalid_json");
  HttpResult ok = server_->post("/test/echo-json", "{\"a\": [1, \"\\u00e9\"]}");
  ASSERT_EQ(ok.status, 200);
  EXPECT_EQ(ok.json()["echo"]["a"][1], "\xc3\xa9");
}

TEST_F(ServerBasics, MalformedRequestLineIs400) {
  auto conn = server_->connect();
  ASSERT_TRUE(conn);
  conn->send_raw("NOT HTTP AT ALL\r\n\r\n");
  HttpResult r = conn->read_head();
  EXPECT_EQ(r.status, 400);
}

TEST_F(ServerBasics, RequestIdIsEchoedOrGenerated) {
  HttpResult mine = server_->get("/health", {{"X-Request-ID", "my-trace-42"}});
  EXPECT_EQ(mine.header("X-Request-ID"), "my-trace-42");
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    std::string id = server_->get("/health").header("x-request-id");
    EXPECT_EQ(id.rfind("req_", 0), 0u) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 5u);
  // Errors carry one too.
  EXPECT_EQ(server_->get("/nope", {{"X-Request-ID", "e1"}}).header("X-Request-ID"), "e1");
}

TEST_F(ServerBasics, KeepAliveServesManyRequestsOnOneConnection) {
  auto conn = server_->connect();
  ASSERT_TRUE(conn);
  for (int i = 0; i < 20; ++i) {
    HttpResult r = conn->request(i % 2 ? "GET" : "POST", i % 2 ? "/health" : "/test/echo-json",
                                 i % 2 ? "" : "{\"i\":" + std::to_string(i) + "}");
    ASSERT_EQ(r.status, 200) << i << " " << r.error;
  }
  // Pipelined: two requests in one write, two responses in order.
  conn->send_raw("GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
  HttpResult a = conn->read_head();
  ASSERT_EQ(a.status, 200);
  conn->close();
}

TEST_F(ServerBasics, DeferredResponseKeepsConnectionAlive) {
  auto conn = server_->connect();
  ASSERT_TRUE(conn);
  HttpResult slow = conn->request("GET", "/test/slow?ms=50");
  ASSERT_EQ(slow.status, 200);
  EXPECT_EQ(slow.json()["slept_ms"], 50);
  EXPECT_EQ(conn->request("GET", "/health").status, 200);
}

TEST_F(ServerBasics, BadQueryParameterIs400) {
  HttpResult r = server_->get("/test/sse?n=abc");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["error"]["param"], "n");
}

TEST(ServerConfig, MalformedEnvironmentExitsNamingTheVariable) {
  for (const auto& [var, value] : std::vector<std::pair<std::string, std::string>>{
           {"MLX_SERVER_PORT", "abc"},
           {"MLX_SERVER_DRAIN_TIMEOUT_SECONDS", "-3"},
           {"MLX_MANAGER_TEST_ROUTES", "maybe"}}) {
    ServerOptions opt;
    opt.env[var] = value;
    opt.wait_healthy = false;
    opt.startup_timeout_ms = 3000;
    ServerProcess server(opt);
    EXPECT_FALSE(server.ok());
    EXPECT_EQ(server.wait_exit(3000), 1) << var;
    EXPECT_NE(server.log().find(var), std::string::npos) << server.log();
  }
}

TEST(ServerConfig, PortInUseExits1) {
  ServerProcess first;
  ASSERT_TRUE(first.ok()) << first.error();
  ServerOptions opt;
  opt.port = first.port();
  opt.wait_healthy = false;
  opt.startup_timeout_ms = 3000;
  ServerProcess second(opt);
  EXPECT_EQ(second.wait_exit(3000), 1);
  EXPECT_NE(second.log().find("cannot listen"), std::string::npos) << second.log();
}

TEST(ServerCors, PreflightAndSimpleRequests) {
  ServerOptions opt;
  opt.env["MLX_SERVER_CORS_ORIGINS"] = "http://localhost:5173,http://ui.example";
  ServerProcess server(opt);
  ASSERT_TRUE(server.ok()) << server.error();
  HttpResult pre = server.request("OPTIONS", "/v1/models",  "",
                                  {{"Origin", "http://ui.example"},
                                   {"Access-Control-Request-Method", "GET"},
                                   {"Access-Control-Request-Headers", "authorization"}});
  EXPECT_EQ(pre.status, 204);
  EXPECT_EQ(pre.header("Access-Control-Allow-Origin"), "http://ui.example");
  EXPECT_EQ(pre.header("Access-Control-Allow-Methods"), "GET, OPTIONS");
  EXPECT_EQ(pre.header("Access-Control-Allow-Headers"), "authorization");
  HttpResult denied = server.request("OPTIONS", "/v1/models", "",
                                     {{"Origin", "http://evil.example"},
                                      {"Access-Control-Request-Method", "GET"}});
  EXPECT_EQ(denied.status, 403);
  EXPECT_TRUE(denied.header("Access-Control-Allow-Origin").empty());
  HttpResult get = server.get("/health", {{"Origin", "http://localhost:5173"}});
  EXPECT_EQ(get.header("Access-Control-Allow-Origin"), "http://localhost:5173");
  EXPECT_EQ(server.get("/health", {{"Origin", "http://evil.example"}})
                .header("Access-Control-Allow-Origin"), "");
}

TEST(ServerCors, OffByDefault) {
  ServerProcess server;
  ASSERT_TRUE(server.ok()) << server.error();
  HttpResult get = server.get("/health", {{"Origin", "http://localhost:5173"}});
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.header("Access-Control-Allow-Origin"), "");
  HttpResult pre = server.request("OPTIONS", "/health", "",
                                  {{"Origin", "http://localhost:5173"},
                                   {"Access-Control-Request-Method", "GET"}});
  EXPECT_EQ(pre.status, 403);
}

TEST(ServerStatic, ServesFilesAndRefusesTraversal) {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() / ("mlxm_e2e_static_" + std::to_string(getpid()));
  fs::create_directories(root / "www");
  std::ofstream(root / "www" / "index.html") << "<html>ui</html>";
  std::ofstream(root / "secret.txt") << "top secret";
  ServerOptions opt;
  opt.args = {"--static-dir", (root / "www").string()};
  ServerProcess server(opt);
  ASSERT_TRUE(server.ok()) << server.error();
  HttpResult index = server.get("/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.body, "<html>ui</html>");
  EXPECT_EQ(index.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(server.get("/health").status, 200);  // routes win over files
  for (const char* evil : {"/../secret.txt", "/%2e%2e/secret.txt", "/a/../../secret.txt"}) {
    auto conn = server.connect();
    ASSERT_TRUE(conn);
    HttpResult r = conn->request("GET", evil);
    EXPECT_EQ(r.status, 404) << evil;
    EXPECT_EQ(r.body.find("top secret"), std::string::npos);
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace mlxm::e2e
