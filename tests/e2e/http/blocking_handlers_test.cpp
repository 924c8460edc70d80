// E2E: a handler that blocks its thread (as a model loading on first use does) must not hold
// an io thread: with a single io thread, other requests are still answered meanwhile.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "e2e/harness/server_process.h"

namespace mlxm::e2e {
namespace {

TEST(BlockingHandlers, DoNotStallTheIoThreads) {
  ServerOptions opt;
  opt.args = {"--io-threads", "1"};
  ServerProcess server(opt);
  ASSERT_TRUE(server.ok()) << server.error();

  auto blocked = server.connect();
  ASSERT_TRUE(blocked);
  ASSERT_TRUE(blocked->send_request("POST", "/test/block?ms=30000", ""));
  // Two more blocked handlers, then plain and POST requests on fresh connections.
  auto blocked2 = server.connect();
  ASSERT_TRUE(blocked2 && blocked2->send_request("POST", "/test/block?ms=30000", ""));
  for (int i = 0; i < 3; ++i) {
    HttpResult health = server.get("/health");
    EXPECT_EQ(health.status, 200) << "the io thread is stalled by a blocked handler";
    HttpResult echo = server.post("/test/echo-json", R"({"i":1})");
    EXPECT_EQ(echo.status, 200);
  }
  // Release both once both wait (a release that comes first would not wake a handler that
  // starts later: under load the blocking pool can start them after the requests above): they
  // answer on their connections.
  auto blocked_now = [&] {
    const nlohmann::json j = server.get("/test/stats").json();
    return j.is_object() ? j.value("blocked", int64_t{-1}) : int64_t{-1};
  };
  for (int i = 0; i < 500 && blocked_now() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(blocked_now(), 2) << "the handlers never blocked";
  ASSERT_EQ(server.post("/test/release", "").status, 200);
  blocked->set_timeout_ms(10000);
  blocked2->set_timeout_ms(10000);
  HttpResult a = blocked->read_response();
  HttpResult b = blocked2->read_response();
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(a.json()["released"], true) << a.body;
}

}  // namespace
}  // namespace mlxm::e2e
