// E2E: graceful shutdown on SIGTERM / SIGINT.
#include <gtest/gtest.h>
#include <signal.h>

#include "e2e/harness/server_process.h"

namespace mlxm::e2e {
namespace {

TEST(Drain, InFlightRequestCompletesNewOnesRefused) {
  ServerOptions opt;
  opt.env["MLX_SERVER_DRAIN_TIMEOUT_SECONDS"] = "10";
  ServerProcess server(opt);
  ASSERT_TRUE(server.ok()) << server.error();
  auto idle_a = server.connect();  // keep-alive connections opened before the signal
  auto idle_b = server.connect();
  ASSERT_TRUE(idle_a && idle_b);
  ASSERT_EQ(idle_a->request("GET", "/health").status, 200);
  ASSERT_EQ(idle_b->request("GET", "/health").status, 200);

  auto slow = server.connect();
  ASSERT_TRUE(slow);
  ASSERT_TRUE(slow->send_request("GET", "/test/slow?ms=1500"));
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // it is in flight now
  server.signal(SIGTERM);

  // New connections are refused once the listener is closed.
  EXPECT_TRUE(eventually([&] { return HttpConnection::connect(server.port()) == nullptr; }, 2000));
  // On an open connection /health reports draining, other routes 503.
  HttpResult health = idle_a->request("GET", "/health");
  EXPECT_EQ(health.status, 503);
  EXPECT_EQ(health.json()["status"], "draining");
  EXPECT_EQ(health.header("Connection"), "close");
  HttpResult other = idle_b->request("GET", "/v1/models");
  EXPECT_EQ(other.status, 503);
  EXPECT_EQ(other.json()["error"]["code"], "server_draining");
  EXPECT_TRUE(server.running());

  // The in-flight request completes normally.
  slow->set_timeout_ms(5000);
  HttpResult done = slow->read_head();
  EXPECT_EQ(done.status, 200) << server.log();
  EXPECT_EQ(server.wait_exit(5000), 0) << server.log();
  EXPECT_NE(server.log().find("drained"), std::string::npos);
}

TEST(Drain, IdleServerExitsAtOnceOnSigint) {
  ServerProcess server;
  ASSERT_TRUE(server.ok()) << server.error();
  auto t0 = std::chrono::steady_clock::now();
  server.signal(SIGINT);
  EXPECT_EQ(server.wait_exit(5000), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST(Drain, TimeoutCutsLongRequests) {
  ServerOptions opt;
  opt.env["MLX_SERVER_DRAIN_TIMEOUT_SECONDS"] = "1";
  ServerProcess server(opt);
  ASSERT_TRUE(server.ok()) << server.error();
  auto slow = server.connect();
  ASSERT_TRUE(slow->send_request("GET", "/test/slow?ms=60000"));
  auto stream = server.connect();
  ASSERT_TRUE(stream->send_request("GET", "/test/sse?n=100000&interval_ms=10"));
  ASSERT_EQ(stream->read_head().status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto t0 = std::chrono::steady_clock::now();
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait_exit(5000), 0) << server.log();
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(elapsed, std::chrono::milliseconds(900));
  EXPECT_LT(elapsed, std::chrono::seconds(4));
  EXPECT_EQ(slow->read_head().status, 0);  // cut, no response
  EXPECT_NE(server.log().find("drain timed out"), std::string::npos) << server.log();
}

TEST(Drain, SecondSignalStopsAtOnce) {
  ServerOptions opt;
  opt.env["MLX_SERVER_DRAIN_TIMEOUT_SECONDS"] = "30";
  ServerProcess server(opt);
  ASSERT_TRUE(server.ok()) << server.error();
  auto slow = server.connect();
  ASSERT_TRUE(slow->send_request("GET", "/test/slow?ms=60000"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server.signal(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(server.running());
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait_exit(3000), 0) << server.log();
}

}  // namespace
}  // namespace mlxm::e2e
