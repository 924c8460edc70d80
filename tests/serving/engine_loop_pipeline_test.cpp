// The engine loop's pipelined steps (EngineLoopOptions::pipeline): step N + 1 is submitted
// before step N is collected, on the fake device-sampling engine (whose Engine::submit runs the
// step at once and resolves previous_row_token as a device engine would).
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <tuple>
#include <vector>

#include "engine_loop_fakes.h"
#include "serving/engine_loop.h"

namespace mlxm::serving {
namespace {

using namespace fakes;

EngineLoopOptions pipelined() {
  EngineLoopOptions o;
  o.pipeline = EngineLoopOptions::Pipeline::kOn;
  return o;
}

void wait_all(const std::vector<std::shared_ptr<CollectSink>>& sinks) {
  for (const auto& s : sinks) {
    ASSERT_EQ(s->done.get_future().wait_for(std::chrono::seconds(20)),
              std::future_status::ready);
  }
}

std::vector<int32_t> until_stop(std::vector<int32_t> tokens, int32_t stop) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] == stop) {
      tokens.resize(i + 1);
      break;
    }
  }
  return tokens;
}

// Greedy and seeded sampled requests of every length from 1, some ending at a stop token,
// through chunked prefill and preemption (12 blocks of 4 tokens for 6 running sequences of up
// to 21 tokens): the streams of one-at-a-time steps, and every block back.
TEST(EngineLoopPipelineTest, PipelinedStepsGiveTheSameTokens) {
  SchedulerConfig cfg;
  cfg.max_num_seqs = 6;
  cfg.max_num_batched_tokens = 32;
  cfg.enable_prefix_caching = true;
  auto eng = std::make_unique<ArgmaxEngine>(97, 12, 4);
  eng->nan_token = -1;
  EngineLoop loop(std::move(eng), cfg, pipelined());
  std::vector<std::shared_ptr<CollectSink>> sinks;
  std::vector<std::vector<int32_t>> want;
  for (int i = 0; i < 40; ++i) {
    auto sink = std::make_shared<CollectSink>();
    std::vector<int32_t> prompt(static_cast<size_t>(1 + i % 13), i % 7);
    const int max_new = 1 + i % 9;
    GenerationRequest r = greedy_request(prompt, max_new, sink);
    std::vector<int32_t> expect = expected_tokens(prompt, max_new, 97);
    if (i % 3 == 1) {
      r.sampling.temperature = 2.0f;
      r.sampling.top_p = 0.95f;
      r.sampling.seed = static_cast<uint64_t>(i);
      r.sampling.logit_bias = {{5, 1.5f}};
      expect = expected_sampled(prompt, max_new, 97, r.sampling);
    }
    if (i % 5 == 0 && max_new > 2) {
      r.stop_token_ids = {expect[2]};
      expect = until_stop(expect, expect[2]);
    }
    ASSERT_TRUE(loop.submit(std::move(r)).ok());
    sinks.push_back(sink);
    want.push_back(expect);
  }
  wait_all(sinks);
  for (size_t i = 0; i < sinks.size(); ++i) {
    EXPECT_EQ(sinks[i]->tokens, want[i]) << "request " << i;
    EXPECT_EQ(sinks[i]->finish.n_generated, static_cast<int32_t>(want[i].size())) << i;
    const bool stopped = i % 5 == 0 && 1 + i % 9 > 2;
    EXPECT_EQ(sinks[i]->finish.reason, stopped ? FinishReason::kStop : FinishReason::kLength)
        << i;
  }
  const EngineLoopStats st = loop.stats();
  EXPECT_GT(st.n_pipelined_steps, 0u);
  uint64_t delivered = 0;
  for (const auto& w : want) delivered += w.size();
  EXPECT_EQ(st.n_tokens_generated, delivered) << "a stopped sequence's last row is not counted";
  EXPECT_GT(st.scheduler.n_preemptions, 0u) << "the workload should preempt";
  EXPECT_EQ(st.scheduler.blocks_used, 0);
  EXPECT_EQ(loop.n_in_flight(), 0);
}

// A request that needs its logits on the host (logprobs, on an engine that does not compute
// them) makes the loop run steps one at a time; the requests running alongside (one of them
// penalised) keep their streams, and pipelined steps resume once it finishes.
TEST(EngineLoopPipelineTest, RequestsThatNeedTheirLastTokenTurnPipeliningOff) {
  auto owned = std::make_unique<ArgmaxEngine>(50, 64, 4);
  ArgmaxEngine* eng = owned.get();
  eng->step_delay_ms = 1;
  eng->nan_token = -1;
  EngineLoop loop(std::move(owned), SchedulerConfig{}, pipelined());
  auto plain = std::make_shared<CollectSink>();
  auto penalised = std::make_shared<CollectSink>();
  auto with_logprobs = std::make_shared<CollectSink>();
  ASSERT_TRUE(loop.submit(greedy_request({1, 2, 3}, 40, plain)).ok());
  GenerationRequest p = greedy_request({4}, 12, penalised);
  p.sampling.temperature = 2.0f;
  p.sampling.presence_penalty = 0.5f;
  p.sampling.seed = 5;
  const engine::SamplingParams p_params = p.sampling;
  GenerationRequest l = greedy_request({6, 7}, 6, with_logprobs);
  l.sampling.top_logprobs = 2;
  ASSERT_TRUE(loop.submit(std::move(p)).ok());
  ASSERT_TRUE(loop.submit(std::move(l)).ok());
  wait_all({plain, penalised, with_logprobs});
  EXPECT_EQ(plain->tokens, expected_tokens({1, 2, 3}, 40, 50));
  EXPECT_EQ(penalised->tokens, expected_sampled({4}, 12, 50, p_params));
  EXPECT_EQ(with_logprobs->tokens, expected_tokens({6, 7}, 6, 50));
  const EngineLoopStats st = loop.stats();
  EXPECT_GT(st.n_pipelined_steps, 0u) << "the plain request runs alone at the end";
  EXPECT_LT(st.n_pipelined_steps, st.n_steps);
  std::lock_guard<std::mutex> lock(eng->mu);
  EXPECT_EQ(eng->full_seen, 6u) << "only the logprobs rows need full logits";
}

// Where the engine computes logprobs (Engine::device_logprobs), requests with logprobs are
// sampled from specs like any other: no full rows, pipelined steps throughout, and each token
// arrives with the logprobs the host Sampler would report.
TEST(EngineLoopPipelineTest, LogprobsOnTheDeviceKeepStepsPipelined) {
  auto owned = std::make_unique<ArgmaxEngine>(50, 64, 4);
  ArgmaxEngine* eng = owned.get();
  eng->nan_token = -1;
  eng->logprobs_on_device = true;
  EngineLoop loop(std::move(owned), SchedulerConfig{}, pipelined());
  auto greedy = std::make_shared<CollectSink>();
  auto sampled = std::make_shared<CollectSink>();
  GenerationRequest g = greedy_request({6, 7}, 8, greedy);
  g.sampling.top_logprobs = 3;
  GenerationRequest t = greedy_request({2}, 8, sampled);
  t.sampling.temperature = 0.9f;
  t.sampling.seed = 11;
  t.sampling.logprobs = true;
  t.sampling.logprobs_mode = engine::LogprobsMode::kRaw;
  const engine::SamplingParams t_params = t.sampling;
  ASSERT_TRUE(loop.submit(std::move(g)).ok());
  ASSERT_TRUE(loop.submit(std::move(t)).ok());
  wait_all({greedy, sampled});
  EXPECT_EQ(greedy->tokens, expected_tokens({6, 7}, 8, 50));
  EXPECT_EQ(sampled->tokens, expected_sampled({2}, 8, 50, t_params));
  for (const auto& [sink, prompt, top] : {std::tuple{greedy, std::vector<int32_t>{6, 7}, 3},
                                          std::tuple{sampled, std::vector<int32_t>{2}, 0}}) {
    ASSERT_EQ(sink->samples.size(), 8u);
    expect_fake_logprobs(*sink, prompt, top, 50);
  }
  const EngineLoopStats st = loop.stats();
  EXPECT_GT(st.n_pipelined_steps, 0u);
  std::lock_guard<std::mutex> lock(eng->mu);
  EXPECT_EQ(eng->full_seen, 0u) << "no row needs its logits on the host";
  EXPECT_EQ(eng->logprob_rows_seen, 16u) << "every row asked the engine for logprobs";
}

// Penalised requests stay on pipelined steps: each spec marks its pending token
// (RowSampling::pending_row), which the engine adds to the penalties where it was sampled.
// Strong frequency penalties make every stream turn on its history. Raw logprobs with a
// penalty still need one step at a time.
TEST(EngineLoopPipelineTest, PenalisedRequestsStayPipelined) {
  auto owned = std::make_unique<ArgmaxEngine>(50, 64, 4);
  ArgmaxEngine* eng = owned.get();
  eng->nan_token = -1;
  eng->step_delay_ms = 1;
  eng->logprobs_on_device = true;
  EngineLoop loop(std::move(owned), SchedulerConfig{}, pipelined());
  std::vector<std::shared_ptr<CollectSink>> sinks;
  std::vector<std::vector<int32_t>> want;
  const std::vector<std::vector<int32_t>> prompts = {{1, 2, 3}, {4}, {6, 7}, {9, 9}};
  int n_changed = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto sink = std::make_shared<CollectSink>();
    GenerationRequest r = greedy_request(prompts[i], 30, sink);
    engine::SamplingParams& p = r.sampling;
    p.temperature = i % 2 == 0 ? 0.0f : 1.2f;
    p.seed = 40 + i;
    p.frequency_penalty = i == 3 ? 0.0f : 2.0f;
    p.presence_penalty = i == 1 ? 0.5f : 0.0f;
    p.repetition_penalty = i >= 2 ? 1.4f : 1.0f;
    if (i == 2) p.logit_bias = {{0, 3.0f}, {7, -2.0f}};
    if (i == 1) p.top_logprobs = 2;  // processed logprobs: pipelined too
    want.push_back(expected_sampled(prompts[i], 30, 50, p));
    engine::SamplingParams plain = p;
    plain.frequency_penalty = plain.presence_penalty = 0.0f;
    plain.repetition_penalty = 1.0f;
    n_changed += want.back() != expected_sampled(prompts[i], 30, 50, plain) ? 1 : 0;
    sinks.push_back(sink);
    ASSERT_TRUE(loop.submit(std::move(r)).ok());
  }
  wait_all(sinks);
  for (size_t i = 0; i < sinks.size(); ++i) EXPECT_EQ(sinks[i]->tokens, want[i]) << i;
  EXPECT_GE(n_changed, 2) << "the penalties should change the streams";
  EngineLoopStats st = loop.stats();
  EXPECT_GT(st.n_pipelined_steps * 10, st.n_steps * 9) << st.n_pipelined_steps << " of "
                                                          << st.n_steps;
  const uint64_t before = st.n_pipelined_steps;
  auto raw = std::make_shared<CollectSink>();
  GenerationRequest r = greedy_request({5, 5}, 6, raw);
  r.sampling.frequency_penalty = 1.0f;
  r.sampling.logprobs = true;
  r.sampling.logprobs_mode = engine::LogprobsMode::kRaw;
  ASSERT_TRUE(loop.submit(std::move(r)).ok());
  wait_all({raw});
  EXPECT_EQ(raw->tokens.size(), 6u);
  st = loop.stats();
  EXPECT_EQ(st.n_pipelined_steps, before) << "raw logprobs with a penalty: one step at a time";
}

TEST(EngineLoopPipelineTest, NanRowFinishesWithErrorOthersContinue) {
  EngineLoop loop(std::make_unique<ArgmaxEngine>(50, 64, 4), SchedulerConfig{}, pipelined());
  auto bad = std::make_shared<CollectSink>();
  auto good = std::make_shared<CollectSink>();
  GenerationRequest a = greedy_request({1, kNanToken}, 5, bad);
  a.sampling.temperature = 0.8f;
  ASSERT_TRUE(loop.submit(std::move(a)).ok());
  ASSERT_TRUE(loop.submit(greedy_request({1, 2, 3}, 9, good)).ok());
  wait_all({bad, good});
  EXPECT_EQ(bad->finish.reason, FinishReason::kError);
  EXPECT_NE(bad->finish.status.message().find("NaN"), std::string::npos)
      << bad->finish.status.message();
  EXPECT_EQ(good->finish.reason, FinishReason::kLength);
  EXPECT_EQ(good->tokens, expected_tokens({1, 2, 3}, 9, 50));
  EXPECT_EQ(loop.stats().scheduler.blocks_used, 0);
}

// A device failure at collect() drops every submitted step: the sequences of both steps end
// with the error, and the loop serves the next request.
class FailingCollect : public ArgmaxEngine {
 public:
  using ArgmaxEngine::ArgmaxEngine;
  bool pipelined() const override { return true; }
  Status collect(std::vector<int32_t>* ids,
                 std::vector<engine::SampleResult>* logprobs = nullptr) override {
    if (++n_collect == fail_at) {
      std::vector<int32_t> dropped;
      while (engine::Engine::collect(&dropped).ok()) {
      }
      return internal_error("the device was lost");
    }
    return engine::Engine::collect(ids, logprobs);
  }
  std::atomic<int> n_collect{0};
  int fail_at = 4;
};

TEST(EngineLoopPipelineTest, DeviceFailureEndsTheStepsInFlightAndTheLoopGoesOn) {
  auto owned = std::make_unique<FailingCollect>(50, 64, 4);
  owned->step_delay_ms = 1;
  // kAuto: the engine says its steps overlap.
  EngineLoop loop(std::move(owned), SchedulerConfig{});
  auto one = std::make_shared<CollectSink>();
  auto two = std::make_shared<CollectSink>();
  ASSERT_TRUE(loop.submit(greedy_request({1, 2, 3}, 30, one)).ok());
  ASSERT_TRUE(loop.submit(greedy_request({5}, 30, two)).ok());
  wait_all({one, two});
  for (auto* s : {one.get(), two.get()}) {
    EXPECT_EQ(s->finish.reason, FinishReason::kError);
    EXPECT_NE(s->finish.status.message().find("device was lost"), std::string::npos);
    EXPECT_LT(s->tokens.size(), 30u);
  }
  auto later = std::make_shared<CollectSink>();
  ASSERT_TRUE(loop.submit(greedy_request({8, 9}, 7, later)).ok());
  wait_all({later});
  EXPECT_EQ(later->finish.reason, FinishReason::kLength);
  EXPECT_EQ(later->tokens, expected_tokens({8, 9}, 7, 50));
  EXPECT_EQ(loop.stats().scheduler.blocks_used, 0);
}

TEST(EngineLoopPipelineTest, AbortAndShutdownWithAStepInFlight) {
  auto sink = std::make_shared<CollectSink>();
  auto other = std::make_shared<CollectSink>();
  {
    auto eng = std::make_unique<ArgmaxEngine>(50, 256, 4);
    eng->step_delay_ms = 2;
    eng->nan_token = -1;
    EngineLoop loop(std::move(eng), SchedulerConfig{}, pipelined());
    auto id = loop.submit(greedy_request({1, 2, 3}, 500, sink));
    ASSERT_TRUE(id.ok());
    ASSERT_TRUE(loop.submit(greedy_request({4}, 500, other)).ok());
    while (true) {
      {
        std::lock_guard<std::mutex> lock(sink->mu);
        if (sink->tokens.size() >= 4) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    loop.abort(*id);
    ASSERT_EQ(sink->done.get_future().wait_for(std::chrono::seconds(10)),
              std::future_status::ready);
    EXPECT_EQ(sink->finish.reason, FinishReason::kAborted);
    const auto expect = expected_tokens({1, 2, 3}, 500, 50);
    std::lock_guard<std::mutex> lock(sink->mu);
    EXPECT_EQ(sink->tokens, std::vector<int32_t>(expect.begin(),
                                                 expect.begin() + sink->tokens.size()));
  }  // the destructor aborts the other with its step in flight
  EXPECT_EQ(other->finish.reason, FinishReason::kAborted);
  EXPECT_LT(other->tokens.size(), 500u);
}

}  // namespace
}  // namespace mlxm::serving
