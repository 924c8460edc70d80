// E2E: Server-Sent Events through ResponseStream written from a worker thread.
#include <gtest/gtest.h>

#include "e2e/harness/server_process.h"

namespace mlxm::e2e {
namespace {

nlohmann::json stats(const ServerProcess& s) { return s.get("/test/stats").json(); }

TEST(Sse, EventsArriveInOrderAndIncrementally) {
  ServerProcess server;
  ASSERT_TRUE(server.ok()) << server.error();
  auto conn = server.connect();
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->send_request("GET", "/test/sse?n=6&interval_ms=30"));
  HttpResult head = conn->read_head();
  ASSERT_EQ(head.status, 200) << head.error;
  EXPECT_EQ(head.header("Content-Type"), "text/event-stream");
  EXPECT_EQ(head.header("Cache-Control"), "no-cache");
  EXPECT_EQ(head.header("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(head.header("X-Request-ID").empty());
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::chrono::steady_clock::time_point> arrivals;
  for (int i = 0; i < 6; ++i) {
    auto data = conn->next_sse_data();
    ASSERT_TRUE(data) << "event " << i;
    arrivals.push_back(std::chrono::steady_clock::now());
    EXPECT_EQ(nlohmann::json::parse(*data), nlohmann::json({{"index", i}}));
  }
  EXPECT_EQ(conn->next_sse_data(), "[DONE]");
  EXPECT_EQ(conn->next_sse_data(), std::nullopt);  // the chunked body ended
  EXPECT_TRUE(conn->wait_closed(2000));             // and the connection closes after a stream
  // Flushed per event: the first event came well before the last (5 x 30 ms apart).
  EXPECT_LT(arrivals.front() - t0, arrivals.back() - t0);
  EXPECT_TRUE(eventually([&] { return stats(server)["sse_completed"] == 1; }));
  EXPECT_EQ(stats(server)["sse_disconnects"], 0);
}

TEST(Sse, ServerNoticesClientDisconnect) {
  ServerProcess server;
  ASSERT_TRUE(server.ok()) << server.error();
  auto conn = server.connect();
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->send_request("GET", "/test/sse?n=100000&interval_ms=20"));
  ASSERT_EQ(conn->read_head().status, 200);
  for (int i = 0; i < 3; ++i) {
    auto data = conn->next_sse_data();
    ASSERT_TRUE(data);
    EXPECT_EQ(nlohmann::json::parse(*data)["index"], i);
  }
  conn->close();  // mid-stream
  // on_close fired (the producer learns at once) and the worker stopped writing.
  EXPECT_TRUE(eventually([&] { return stats(server)["sse_disconnects"] == 1; }, 3000))
      << stats(server).dump();
  EXPECT_TRUE(eventually([&] { return stats(server)["sse_aborted"] == 1; }, 3000))
      << stats(server).dump();
  EXPECT_EQ(stats(server)["sse_completed"], 0);
  EXPECT_EQ(server.get("/health").status, 200);
}

TEST(Sse, ManyConcurrentStreams) {
  ServerProcess server;
  ASSERT_TRUE(server.ok()) << server.error();
  std::vector<std::unique_ptr<HttpConnection>> conns;
  for (int c = 0; c < 16; ++c) {
    conns.push_back(server.connect());
    ASSERT_TRUE(conns.back());
    ASSERT_TRUE(conns.back()->send_request("GET", "/test/sse?n=10&interval_ms=5"));
  }
  for (auto& conn : conns) {
    ASSERT_EQ(conn->read_head().status, 200);
    for (int i = 0; i < 10; ++i) {
      auto data = conn->next_sse_data();
      ASSERT_TRUE(data);
      EXPECT_EQ(nlohmann::json::parse(*data)["index"], i);
    }
    EXPECT_EQ(conn->next_sse_data(), "[DONE]");
  }
  EXPECT_TRUE(eventually([&] { return stats(server)["sse_completed"] == 16; }));
}

}  // namespace
}  // namespace mlxm::e2e
