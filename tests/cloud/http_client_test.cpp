// The libcurl client against the fake provider on loopback (real sockets, real HTTP).
#include "cloud/http_client.h"

#include <gtest/gtest.h>

#include <thread>

#include "cloud/fake_provider.h"
#include "cloud/sse_parser.h"

namespace mlxm::cloud {
namespace {

using testing::Fault;
using testing::FakeProvider;

ClientRequest chat(const FakeProvider& f, bool stream) {
  ClientRequest r;
  r.url = f.base_url() + "/chat/completions";
  r.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer k"}};
  r.body = std::string(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":)") +
           (stream ? "true" : "false") + "}";
  return r;
}

TEST(HttpClient, ReusesConnections) {
  FakeProvider f;
  HttpClient c;
  for (int i = 0; i < 3; ++i) {
    auto r = c.perform(chat(f, false));
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find("Hello from the fake provider"), std::string::npos);
    EXPECT_EQ(r->header("content-type"), "application/json");
  }
  EXPECT_EQ(f.n_requests(), 3);
  EXPECT_EQ(f.n_connections(), 1);
}

TEST(HttpClient, StreamsIncrementallyToTheCallback) {
  FakeProvider f;
  f.set_reply("one two three four");
  HttpClient c;
  SseParser parser;
  std::vector<std::string> data;
  int n_pieces = 0;
  long head_status = 0;
  TransferCallbacks cb;
  cb.on_head = [&](const ClientResponse& h) {
    head_status = h.status;
    EXPECT_EQ(n_pieces, 0);  // the head comes before any body byte
    return true;
  };
  cb.on_body = [&](std::string_view piece) {
    ++n_pieces;
    return parser.feed(piece, [&](SseEvent&& e) { data.push_back(e.data); }).ok();
  };
  auto r = c.perform(chat(f, true), cb);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(head_status, 200);
  EXPECT_TRUE(r->body.empty());  // went to the callback
  EXPECT_GT(n_pieces, 1);
  ASSERT_GE(data.size(), 6u);
  EXPECT_EQ(data.back(), "[DONE]");
}

TEST(HttpClient, ErrorStatusIsAResponseNotAFailure) {
  FakeProvider f;
  f.push_fault(Fault::kStatus, 429);
  HttpClient c;
  auto r = c.perform(chat(f, true), TransferCallbacks{nullptr, [](std::string_view) { return true; }});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 429);
  EXPECT_NE(r->body.find("injected failure 429"), std::string::npos);  // kept: not 2xx
}

TEST(HttpClient, DroppedConnectionIsUnavailable) {
  FakeProvider f;
  f.push_fault(Fault::kDrop);
  HttpClient c;
  auto r = c.perform(chat(f, false));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("127.0.0.1"), std::string::npos);
}

TEST(HttpClient, CutStreamIsAnErrorAfterTheHead) {
  FakeProvider f;
  f.push_fault(Fault::kCutStream);
  HttpClient c;
  bool head = false;
  auto r = c.perform(chat(f, true), TransferCallbacks{[&](const ClientResponse&) { return head = true; },
                                                      [](std::string_view) { return true; }});
  EXPECT_TRUE(head);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

TEST(HttpClient, RefusedConnection) {
  uint16_t port;
  {
    FakeProvider f;
    port = f.port();
  }
  HttpClient c;
  ClientRequest r;
  r.method = "GET";
  r.url = "http://127.0.0.1:" + std::to_string(port) + "/v1/models";
  auto res = c.perform(r);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), StatusCode::kUnavailable);
}

TEST(HttpClient, ReadTimeout) {
  FakeProvider f;
  f.push_fault(Fault::kSlow);  // 2.5 s before answering
  HttpClientConfig cfg;
  cfg.read_timeout_ms = 1000;
  HttpClient c(cfg);
  auto r = c.perform(chat(f, false));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
}

TEST(HttpClient, CancelFlagAbortsATransfer) {
  FakeProvider f;
  f.push_fault(Fault::kSlow);  // answers after 2.5 s
  HttpClient c;
  std::atomic<bool> cancel{false};
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel = true;
  });
  auto r = c.perform(chat(f, true), TransferCallbacks{nullptr, [](std::string_view) { return true; }},
                     &cancel);
  t.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
}

}  // namespace
}  // namespace mlxm::cloud
