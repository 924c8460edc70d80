#include "serving/sink_delivery.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>
#include <vector>

namespace mlxm::serving {
namespace {

// Records every call: ("t", token) or ("f", n_generated), and the calling thread.
class RecordSink : public TokenSink {
 public:
  void on_token(const TokenEvent& e) override { add('t', e.token); }
  void on_finish(const FinishInfo& f) override { add('f', f.n_generated); }
  void add(char kind, int v) {
    std::lock_guard<std::mutex> lock(mu);
    calls.emplace_back(kind, v);
    threads.push_back(std::this_thread::get_id());
  }
  std::mutex mu;
  std::vector<std::pair<char, int>> calls;
  std::vector<std::thread::id> threads;
};

SinkCall token_call(std::shared_ptr<TokenSink> s, int token) {
  SinkCall c;
  c.sink = std::move(s);
  c.token.token = token;
  return c;
}

SinkCall finish_call(std::shared_ptr<TokenSink> s, int n) {
  SinkCall c;
  c.sink = std::move(s);
  c.finish = true;
  c.info.n_generated = n;
  return c;
}

TEST(SinkDeliveryTest, CallsInPostedOrderOnItsOwnThreadAndDrainsOnStop) {
  auto a = std::make_shared<RecordSink>();
  auto b = std::make_shared<RecordSink>();
  {
    SinkDelivery d;
    // 50 batches (more than kMaxQueued: post() waits for room), interleaving two sinks.
    for (int step = 0; step < 50; ++step) {
      std::vector<SinkCall> batch;
      batch.push_back(token_call(a, step));
      batch.push_back(token_call(b, 100 + step));
      d.post(batch);
      EXPECT_TRUE(batch.empty());
    }
    std::vector<SinkCall> last;
    last.push_back(finish_call(a, 50));
    last.push_back(finish_call(b, 50));
    d.post(last);
    d.stop();  // makes every queued call before returning
    d.stop();  // idempotent
    EXPECT_GE(d.busy_ms(), 0.0);
  }
  ASSERT_EQ(a->calls.size(), 51u);
  ASSERT_EQ(b->calls.size(), 51u);
  for (int step = 0; step < 50; ++step) {
    EXPECT_EQ(a->calls[static_cast<size_t>(step)], std::make_pair('t', step));
    EXPECT_EQ(b->calls[static_cast<size_t>(step)], std::make_pair('t', 100 + step));
  }
  EXPECT_EQ(a->calls.back(), std::make_pair('f', 50));
  EXPECT_EQ(b->calls.back(), std::make_pair('f', 50));
  for (const auto& t : a->threads) {
    EXPECT_NE(t, std::this_thread::get_id());
    EXPECT_EQ(t, a->threads.front());
  }
}

TEST(SinkDeliveryTest, CallAllRunsOnTheCallingThreadAndEmptiesTheBatch) {
  auto a = std::make_shared<RecordSink>();
  std::vector<SinkCall> batch;
  batch.push_back(token_call(a, 7));
  batch.push_back(finish_call(a, 1));
  SinkDelivery::call_all(batch);
  EXPECT_TRUE(batch.empty());
  ASSERT_EQ(a->calls.size(), 2u);
  EXPECT_EQ(a->threads[0], std::this_thread::get_id());
  EXPECT_EQ(a->calls[1], std::make_pair('f', 1));
}

TEST(SinkDeliveryTest, EmptyPostsAndStopWithNothingQueued) {
  SinkDelivery d;
  std::vector<SinkCall> none;
  d.post(none);
  d.stop();
  EXPECT_EQ(d.busy_ms(), 0.0);
}

}  // namespace
}  // namespace mlxm::serving
