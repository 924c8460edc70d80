#include "serving/engine_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <limits>
#include <map>
#include <mutex>

#include "engine_loop_fakes.h"

namespace mlxm::serving {
namespace {

using namespace fakes;

TEST(EngineLoopTest, GeneratesUntilLength) {
  auto eng = std::make_unique<FakeEngine>(50, 32, 4);
  EngineLoop loop(std::move(eng), SchedulerConfig{});
  auto sink = std::make_shared<CollectSink>();
  auto id = loop.submit(greedy_request({1, 2, 3}, 6, sink));
  ASSERT_TRUE(id.ok());
  sink->done.get_future().wait();
  EXPECT_EQ(sink->tokens, expected_tokens({1, 2, 3}, 6, 50));
  EXPECT_EQ(sink->finish.reason, FinishReason::kLength);
  EXPECT_EQ(sink->finish.n_prompt_tokens, 3);
  EXPECT_EQ(sink->finish.n_generated, 6);
  EXPECT_EQ(loop.n_in_flight(), 0);
}

TEST(EngineLoopTest, StopTokenEndsWithStop) {
  EngineLoop loop(std::make_unique<FakeEngine>(50, 32, 4), SchedulerConfig{});
  auto sink = std::make_shared<CollectSink>();
  auto expect = expected_tokens({5}, 10, 50);
  auto req = greedy_request({5}, 10, sink);
  req.stop_token_ids = {expect[3]};
  ASSERT_TRUE(loop.submit(std::move(req)).ok());
  sink->done.get_future().wait();
  EXPECT_EQ(sink->finish.reason, FinishReason::kStop);
  EXPECT_EQ(sink->tokens.back(), expect[3]);
}

TEST(EngineLoopTest, ManyConcurrentRequestsAllCorrectAndBlocksReturn) {
  SchedulerConfig cfg;
  cfg.max_num_seqs = 8;
  cfg.max_num_batched_tokens = 32;
  EngineLoop loop(std::make_unique<FakeEngine>(97, 64, 4), cfg);
  std::vector<std::shared_ptr<CollectSink>> sinks;
  for (int i = 0; i < 40; ++i) {
    auto sink = std::make_shared<CollectSink>();
    std::vector<int32_t> prompt(static_cast<size_t>(1 + i % 13), i % 7);
    ASSERT_TRUE(loop.submit(greedy_request(prompt, 3 + i % 5, sink)).ok());
    sinks.push_back(sink);
  }
  for (int i = 0; i < 40; ++i) {
    sinks[static_cast<size_t>(i)]->done.get_future().wait();
    std::vector<int32_t> prompt(static_cast<size_t>(1 + i % 13), i % 7);
    EXPECT_EQ(sinks[static_cast<size_t>(i)]->tokens, expected_tokens(prompt, 3 + i % 5, 97)) << i;
  }
  auto st = loop.stats();
  EXPECT_EQ(st.scheduler.blocks_used, 0);
  EXPECT_EQ(st.n_tokens_generated, [] {
    uint64_t n = 0;
    for (int i = 0; i < 40; ++i) n += static_cast<uint64_t>(3 + i % 5);
    return n;
  }());
}

TEST(EngineLoopTest, AbortFreesBlocksAndFinishesOnce) {
  auto eng = std::make_unique<FakeEngine>(50, 32, 4);
  eng->step_delay_ms = 2;
  EngineLoop loop(std::move(eng), SchedulerConfig{});
  auto sink = std::make_shared<CollectSink>();
  auto id = loop.submit(greedy_request({1, 2, 3, 4, 5, 6, 7, 8, 9}, 100, sink));
  ASSERT_TRUE(id.ok());
  while (true) {
    {
      std::lock_guard<std::mutex> lock(sink->mu);
      if (sink->tokens.size() >= 3) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  loop.abort(*id);
  sink->done.get_future().wait();
  EXPECT_EQ(sink->finish.reason, FinishReason::kAborted);
  // Stats refresh after each step; wait for an idle loop and check the blocks came back.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(loop.n_in_flight(), 0);
  loop.abort(*id);  // a second abort is harmless
}

TEST(EngineLoopTest, RejectsImpossibleRequestsSynchronously) {
  SchedulerConfig cfg;
  cfg.max_model_len = 64;
  EngineLoop loop(std::make_unique<FakeEngine>(50, 8, 4), cfg);
  auto sink = std::make_shared<CollectSink>();
  auto too_long = loop.submit(greedy_request(std::vector<int32_t>(70, 1), 4, sink));
  EXPECT_EQ(too_long.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(too_long.status().message().find("70"), std::string::npos);
  EXPECT_NE(too_long.status().message().find("64"), std::string::npos);
  auto too_big = loop.submit(greedy_request(std::vector<int32_t>(30, 1), 30, sink));
  EXPECT_EQ(too_big.status().code(), StatusCode::kResourceExhausted);
  auto bad_token = loop.submit(greedy_request({1, 99}, 2, sink));
  EXPECT_EQ(bad_token.status().code(), StatusCode::kInvalidArgument);
  auto req = greedy_request({1}, 2, sink);
  req.sampling.top_p = 0;
  EXPECT_EQ(loop.submit(std::move(req)).status().code(), StatusCode::kInvalidArgument);
}

TEST(EngineLoopTest, WaitingQueueBoundGives503Status) {
  SchedulerConfig cfg;
  cfg.max_waiting = 2;
  cfg.max_num_seqs = 1;
  auto eng = std::make_unique<FakeEngine>(50, 32, 4);
  eng->step_delay_ms = 5;
  EngineLoop loop(std::move(eng), cfg);
  std::vector<std::shared_ptr<CollectSink>> sinks;
  int rejected = 0;
  for (int i = 0; i < 10; ++i) {
    auto sink = std::make_shared<CollectSink>();
    auto r = loop.submit(greedy_request({1, 2}, 20, sink));
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
      ++rejected;
    } else {
      sinks.push_back(sink);
    }
  }
  EXPECT_GT(rejected, 0);
  for (auto& s : sinks) s->done.get_future().wait();
}

TEST(EngineLoopTest, DestructorAbortsInFlight) {
  auto sink = std::make_shared<CollectSink>();
  {
    auto eng = std::make_unique<FakeEngine>(50, 32, 4);
    eng->step_delay_ms = 5;
    EngineLoop loop(std::move(eng), SchedulerConfig{});
    ASSERT_TRUE(loop.submit(greedy_request({1}, 100, sink)).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(sink->finish.reason, FinishReason::kAborted);
}

// Allows only tokens that are multiples of 3 and ends the sequence after `n_allowed` tokens.
class EveryThird : public engine::LogitsProcessor {
 public:
  explicit EveryThird(int n_allowed) : left_(n_allowed) {}
  bool process(std::span<float> logits) override {
    ++n_process;
    if (left_ == 0) return false;
    for (size_t i = 0; i < logits.size(); ++i) {
      if (i % 3 != 0) logits[i] = -std::numeric_limits<float>::infinity();
    }
    return true;
  }
  void accept(int32_t token) override {
    accepted.push_back(token);
    --left_;
  }
  int n_process = 0;
  std::vector<int32_t> accepted;

 private:
  int left_;
};

TEST(EngineLoopTest, LogitsProcessorMasksEveryStepAndCanEndTheSequence) {
  EngineLoop loop(std::make_unique<FakeEngine>(50, 32, 4), SchedulerConfig{});
  auto sink = std::make_shared<CollectSink>();
  auto req = greedy_request({1, 2, 3}, 20, sink);
  req.sampling.temperature = 1.0f;
  req.sampling.seed = 5;
  auto proc = std::make_shared<EveryThird>(4);
  req.logits_processor = proc;
  ASSERT_TRUE(loop.submit(std::move(req)).ok());
  sink->done.get_future().wait();
  ASSERT_EQ(sink->tokens.size(), 4u);
  for (int32_t t : sink->tokens) EXPECT_EQ(t % 3, 0) << t;
  EXPECT_EQ(proc->accepted, sink->tokens);
  EXPECT_EQ(proc->n_process, 5);  // the 5th call said "nothing may follow"
  EXPECT_EQ(sink->finish.reason, FinishReason::kStop);
  EXPECT_EQ(sink->finish.n_generated, 4);
}

}  // namespace
}  // namespace mlxm::serving

namespace mlxm::serving {
namespace {

// Steps whose rows are all plain greedy take forward_argmax (no specs, one argmax pass);
// a step with any other row takes forward_sample for all of its rows.
TEST(EngineLoopTest, AllGreedyStepsTakeTheArgmaxPath) {
  auto owned = std::make_unique<ArgmaxEngine>(50, 64, 4);
  ArgmaxEngine* eng = owned.get();
  EngineLoop loop(std::move(owned), SchedulerConfig{});
  auto one = std::make_shared<CollectSink>();
  auto two = std::make_shared<CollectSink>();
  ASSERT_TRUE(loop.submit(greedy_request({1, 2, 3}, 5, one)).ok());
  ASSERT_TRUE(loop.submit(greedy_request({9}, 5, two)).ok());
  for (auto* s : {one.get(), two.get()}) {
    ASSERT_EQ(s->done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  }
  EXPECT_EQ(one->tokens, expected_tokens({1, 2, 3}, 5, 50));
  EXPECT_EQ(two->tokens, expected_tokens({9}, 5, 50));
  std::lock_guard<std::mutex> lock(eng->mu);
  EXPECT_EQ(eng->argmax_rows_seen, 10u);
  EXPECT_EQ(eng->rows_seen, 0u) << "no greedy-only step needs row specs";
}

TEST(EngineLoopTest, DeviceArgmaxRowsUseIdsAndOthersGetFullLogits) {
  auto owned = std::make_unique<ArgmaxEngine>(50, 64, 4);
  ArgmaxEngine* eng = owned.get();
  EngineLoop loop(std::move(owned), SchedulerConfig{});
  auto plain = std::make_shared<CollectSink>();
  auto with_logprobs = std::make_shared<CollectSink>();
  auto sampled = std::make_shared<CollectSink>();
  GenerationRequest a = greedy_request({1, 2, 3}, 6, plain);
  GenerationRequest b = greedy_request({4, 5}, 6, with_logprobs);
  b.sampling.top_logprobs = 2;
  GenerationRequest c = greedy_request({7}, 6, sampled);
  c.sampling.temperature = 0.7f;
  c.sampling.seed = 3;
  ASSERT_TRUE(loop.submit(std::move(a)).ok());
  ASSERT_TRUE(loop.submit(std::move(b)).ok());
  ASSERT_TRUE(loop.submit(std::move(c)).ok());
  for (auto* s : {plain.get(), with_logprobs.get(), sampled.get()}) {
    ASSERT_EQ(s->done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  }
  EXPECT_EQ(plain->tokens, expected_tokens({1, 2, 3}, 6, 50));
  EXPECT_EQ(with_logprobs->tokens, expected_tokens({4, 5}, 6, 50));
  EXPECT_EQ(sampled->tokens.size(), 6u);
  std::lock_guard<std::mutex> lock(eng->mu);
  // Steps in which only the plain greedy request runs (it may start before the others are
  // submitted) take forward_argmax; every row goes through exactly one of the two.
  EXPECT_EQ(eng->rows_seen + eng->argmax_rows_seen, 18u);
  EXPECT_EQ(eng->full_seen, 6u) << "only the logprobs row needs full logits";
}

// Steps one at a time on an engine that computes logprobs: the logprobs row is a spec like the
// others (no full logits), and its tokens carry the Sampler's logprobs.
TEST(EngineLoopTest, DeviceLogprobsComeWithTheirTokens) {
  auto owned = std::make_unique<ArgmaxEngine>(50, 64, 4);
  ArgmaxEngine* eng = owned.get();
  eng->logprobs_on_device = true;
  EngineLoopOptions o;
  o.pipeline = EngineLoopOptions::Pipeline::kOff;
  EngineLoop loop(std::move(owned), SchedulerConfig{}, o);
  auto plain = std::make_shared<CollectSink>();
  auto with_logprobs = std::make_shared<CollectSink>();
  GenerationRequest b = greedy_request({4, 5}, 6, with_logprobs);
  b.sampling.top_logprobs = 2;
  ASSERT_TRUE(loop.submit(greedy_request({1, 2, 3}, 6, plain)).ok());
  ASSERT_TRUE(loop.submit(std::move(b)).ok());
  for (auto* s : {plain.get(), with_logprobs.get()}) {
    ASSERT_EQ(s->done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  }
  EXPECT_EQ(plain->tokens, expected_tokens({1, 2, 3}, 6, 50));
  EXPECT_EQ(with_logprobs->tokens, expected_tokens({4, 5}, 6, 50));
  ASSERT_EQ(with_logprobs->samples.size(), 6u);
  expect_fake_logprobs(*with_logprobs, {4, 5}, 2, 50);
  for (const engine::SampleResult& s : plain->samples) EXPECT_FALSE(s.has_logprobs);
  EXPECT_EQ(loop.stats().n_pipelined_steps, 0u);
  std::lock_guard<std::mutex> lock(eng->mu);
  EXPECT_EQ(eng->full_seen, 0u) << "the logprobs come with the ids";
  EXPECT_EQ(eng->logprob_rows_seen, 6u);
}

// A constrained request on an engine that applies masks: its rows go as specs with the
// processor's mask (no full logits), the tokens are those of the host path, and the sequence
// stops when nothing may follow.
TEST(EngineLoopTest, ConstraintMasksGoToTheDevice) {
  std::vector<int32_t> want;
  for (bool on_device : {false, true}) {
    auto owned = std::make_unique<ArgmaxEngine>(50, 64, 4);
    ArgmaxEngine* eng = owned.get();
    eng->masks_on_device = on_device;
    EngineLoop loop(std::move(owned), SchedulerConfig{});
    auto plain = std::make_shared<CollectSink>();
    auto constrained = std::make_shared<CollectSink>();
    GenerationRequest c = greedy_request({4, 5}, 10, constrained);
    auto proc = std::make_shared<ModuloProcessor>(1, 5);
    c.logits_processor = proc;
    ASSERT_TRUE(loop.submit(greedy_request({1, 2, 3}, 8, plain)).ok());
    ASSERT_TRUE(loop.submit(std::move(c)).ok());
    for (auto* s : {plain.get(), constrained.get()}) {
      ASSERT_EQ(s->done.get_future().wait_for(std::chrono::seconds(10)),
                std::future_status::ready);
    }
    EXPECT_EQ(plain->tokens, expected_tokens({1, 2, 3}, 8, 50));
    EXPECT_EQ(constrained->finish.reason, FinishReason::kStop);
    ASSERT_EQ(constrained->tokens.size(), 5u);
    for (int32_t t : constrained->tokens) EXPECT_EQ(t % 3, 1) << t;
    EXPECT_EQ(proc->accepted, constrained->tokens);
    if (!on_device) want = constrained->tokens;
    EXPECT_EQ(constrained->tokens, want) << "the same tokens as on the host";
    std::lock_guard<std::mutex> lock(eng->mu);
    EXPECT_EQ(eng->full_seen, on_device ? 0u : 6u);
    EXPECT_EQ(eng->mask_rows_seen, on_device ? 5u : 0u);
  }
}

TEST(EngineLoopTest, DeviceSampledSeededRequestsReproduce) {
  EngineLoop loop(std::make_unique<ArgmaxEngine>(50, 64, 4), SchedulerConfig{});
  engine::SamplingParams p;
  p.temperature = 2.0f;  // the favoured token has p ~ 0.75
  p.top_p = 0.95f;
  p.presence_penalty = 0.5f;
  std::vector<std::shared_ptr<CollectSink>> sinks;
  for (uint64_t seed : {42u, 42u, 43u}) {
    auto sink = std::make_shared<CollectSink>();
    GenerationRequest r = greedy_request({1, 2, 3}, 16, sink);
    r.sampling = p;
    r.sampling.seed = seed;
    ASSERT_TRUE(loop.submit(std::move(r)).ok());
    sinks.push_back(sink);
  }
  for (auto& s : sinks) {
    ASSERT_EQ(s->done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  }
  engine::SamplingParams p42 = p;
  p42.seed = 42;
  engine::SamplingParams p43 = p;
  p43.seed = 43;
  EXPECT_EQ(sinks[0]->tokens, expected_sampled({1, 2, 3}, 16, 50, p42));
  EXPECT_EQ(sinks[1]->tokens, sinks[0]->tokens);
  EXPECT_EQ(sinks[2]->tokens, expected_sampled({1, 2, 3}, 16, 50, p43));
  EXPECT_NE(sinks[2]->tokens, sinks[0]->tokens);
  EXPECT_NE(sinks[0]->tokens, expected_tokens({1, 2, 3}, 16, 50)) << "not greedy";
}

TEST(EngineLoopTest, DeviceSampledNanRowFinishesWithErrorOthersContinue) {
  EngineLoop loop(std::make_unique<ArgmaxEngine>(50, 64, 4), SchedulerConfig{});
  auto bad = std::make_shared<CollectSink>();
  auto good = std::make_shared<CollectSink>();
  GenerationRequest a = greedy_request({1, kNanToken}, 5, bad);
  a.sampling.temperature = 0.8f;
  GenerationRequest b = greedy_request({1, 2, 3}, 5, good);
  ASSERT_TRUE(loop.submit(std::move(a)).ok());
  ASSERT_TRUE(loop.submit(std::move(b)).ok());
  for (auto* s : {bad.get(), good.get()}) {
    ASSERT_EQ(s->done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  }
  EXPECT_EQ(bad->finish.reason, FinishReason::kError);
  EXPECT_NE(bad->finish.status.message().find("NaN"), std::string::npos)
      << bad->finish.status.message();
  EXPECT_TRUE(bad->tokens.empty());
  EXPECT_EQ(good->finish.reason, FinishReason::kLength);
  EXPECT_EQ(good->tokens, expected_tokens({1, 2, 3}, 5, 50));
}

// The engine thread making the sink calls itself (kInline: the default for this CPU-side
// fake engine, used by the tests above) gives the same output as the delivery thread.
TEST(EngineLoopTest, DeliveryThreadGivesTheSameOutput) {
  for (bool on_thread : {false, true}) {
    SchedulerConfig cfg;
    cfg.max_num_seqs = 4;
    EngineLoopOptions opt;
    opt.delivery = on_thread ? EngineLoopOptions::Delivery::kThread
                             : EngineLoopOptions::Delivery::kInline;
    EngineLoop loop(std::make_unique<FakeEngine>(97, 64, 4), cfg, opt);
    std::vector<std::shared_ptr<CollectSink>> sinks;
    for (int i = 0; i < 12; ++i) {
      auto sink = std::make_shared<CollectSink>();
      ASSERT_TRUE(loop.submit(greedy_request({i, i + 1}, 4 + i % 3, sink)).ok());
      sinks.push_back(sink);
    }
    for (int i = 0; i < 12; ++i) {
      sinks[static_cast<size_t>(i)]->done.get_future().wait();
      EXPECT_EQ(sinks[static_cast<size_t>(i)]->tokens, expected_tokens({i, i + 1}, 4 + i % 3, 97))
          << "request " << i << (on_thread ? " (delivery thread)" : " (engine thread)");
      EXPECT_EQ(sinks[static_cast<size_t>(i)]->finish.n_generated, 4 + i % 3);
    }
    const EngineLoopStats st = loop.stats();
    EXPECT_GT(st.sink_ms, 0.0);
    if (!on_thread) {
      EXPECT_EQ(st.delivery_ms, 0.0);
    }
  }
}

// A sink that aborts its own sequence from on_token (as a stop string does): the sequence
// ends with kAborted after at most a few more tokens (the steps already queued for delivery),
// its blocks return, and the other sequence is unaffected.
class AbortAfter : public CollectSink {
 public:
  AbortAfter(EngineLoop* loop, size_t n) : loop_(loop), n_(n) {}
  void on_token(const TokenEvent& e) override {
    CollectSink::on_token(e);
    std::lock_guard<std::mutex> lock(mu);
    if (tokens.size() == n_ && id.load() != 0) loop_->abort(id.load());
  }
  std::atomic<SeqId> id{0};

 private:
  EngineLoop* loop_;
  size_t n_;
};

TEST(EngineLoopTest, SinkAbortFromTheDeliveryThreadEndsTheSequence) {
  auto eng = std::make_unique<FakeEngine>(50, 64, 4);
  eng->step_delay_ms = 2;
  EngineLoopOptions opt;
  opt.delivery = EngineLoopOptions::Delivery::kThread;
  EngineLoop loop(std::move(eng), SchedulerConfig{}, opt);
  auto stopper = std::make_shared<AbortAfter>(&loop, 3);
  auto other = std::make_shared<CollectSink>();
  // The id is known only after submit(); the sink aborts at its 3rd token once the id is set
  // (with 2 ms steps it is set long before).
  auto id = loop.submit(greedy_request({1, 2}, 200, stopper));
  ASSERT_TRUE(id.ok());
  stopper->id.store(*id);
  ASSERT_TRUE(loop.submit(greedy_request({4}, 12, other)).ok());
  stopper->done.get_future().wait();
  other->done.get_future().wait();
  EXPECT_EQ(stopper->finish.reason, FinishReason::kAborted);
  EXPECT_GE(stopper->tokens.size(), 3u);
  EXPECT_LT(stopper->tokens.size(), 200u);
  EXPECT_EQ(other->tokens, expected_tokens({4}, 12, 50));
  EXPECT_EQ(loop.stats().scheduler.blocks_used, 0);
}

}  // namespace
}  // namespace mlxm::serving
