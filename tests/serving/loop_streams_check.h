// Streams of the engine loop with and without pipelined steps, on a real engine over the
// golden q4 fixture (tests/engine/golden/llama3_q4_g32): used by the CPU unit test (the CPU
// engine wrapped as a device-sampling, pipelining engine) and by the CUDA test.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <vector>

#include "serving/engine_loop.h"
#include "serving/engine_loop_fakes.h"

namespace mlxm::serving::loop_streams {

using fakes::CollectSink;
using EngineFactory = std::function<std::unique_ptr<engine::Engine>()>;

struct Stream {
  std::vector<int32_t> tokens;
  FinishReason reason = FinishReason::kError;
};

// Runs the requests one after another (each alone, so that every step holds the same rows in
// both modes) through a loop on the fixture model; returns their streams and the loop's stats.
inline std::vector<Stream> run_alone(const EngineFactory& make_engine,
                                     EngineLoopOptions::Pipeline mode,
                                     const std::vector<GenerationRequest>& requests,
                                     EngineLoopStats* stats) {
  std::unique_ptr<engine::Engine> e = make_engine();
  if (e == nullptr) return {};
  EngineLoopOptions opt;
  opt.pipeline = mode;
  SchedulerConfig cfg;
  cfg.max_model_len = 256;
  EngineLoop loop(std::move(e), cfg, opt);
  std::vector<Stream> out;
  for (GenerationRequest r : requests) {
    auto sink = std::make_shared<CollectSink>();
    r.sink = sink;
    EXPECT_TRUE(loop.submit(std::move(r)).ok());
    EXPECT_EQ(sink->done.get_future().wait_for(std::chrono::seconds(60)),
              std::future_status::ready);
    std::lock_guard<std::mutex> lock(sink->mu);
    out.push_back({sink->tokens, sink->finish.reason});
  }
  *stats = loop.stats();
  return out;
}

// Greedy and seeded sampled requests of 60 tokens, penalised ones (their pending token taken
// where it was sampled) and a 1-token one: the same streams with pipelining off and on (kAuto:
// the engine must say it overlaps steps).
inline void check_pipelined_streams(const EngineFactory& make_engine) {
  std::vector<GenerationRequest> requests(6);
  for (GenerationRequest& r : requests) r.sampling.temperature = 0;  // greedy unless set below
  requests[0].prompt = {11, 48, 85, 122, 3, 40, 77};
  requests[0].max_new_tokens = 60;
  requests[1].prompt = {5, 96, 187, 22};
  requests[1].max_new_tokens = 60;
  requests[1].sampling.temperature = 0.9f;
  requests[1].sampling.top_p = 0.9f;
  requests[1].sampling.seed = 17;
  requests[2] = requests[1];
  requests[2].sampling.top_k = 20;
  requests[2].sampling.min_p = 0.05f;
  requests[2].sampling.seed = 18;
  requests[3].prompt = {7, 7, 7};
  requests[3].max_new_tokens = 1;
  requests[4].prompt = {30, 31, 32};
  requests[4].max_new_tokens = 40;
  requests[4].sampling.frequency_penalty = 1.5f;
  requests[4].sampling.presence_penalty = 0.5f;
  requests[4].sampling.repetition_penalty = 1.2f;
  requests[5] = requests[1];
  requests[5].max_new_tokens = 40;
  requests[5].sampling.frequency_penalty = 0.8f;
  requests[5].sampling.logit_bias = {{3, 2.0f}};
  requests[5].sampling.top_logprobs = 2;  // processed logprobs, on engines that compute them
  requests[5].sampling.seed = 19;
  EngineLoopStats off_stats, auto_stats;
  const auto off = run_alone(make_engine, EngineLoopOptions::Pipeline::kOff, requests, &off_stats);
  const auto piped = run_alone(make_engine, EngineLoopOptions::Pipeline::kAuto, requests, &auto_stats);
  ASSERT_EQ(off.size(), requests.size());
  ASSERT_EQ(piped.size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(off[i].reason, FinishReason::kLength) << i;
    EXPECT_EQ(off[i].tokens.size(), static_cast<size_t>(requests[i].max_new_tokens)) << i;
    EXPECT_EQ(piped[i].tokens, off[i].tokens) << "request " << i;
    EXPECT_EQ(piped[i].reason, off[i].reason) << i;
  }
  EXPECT_NE(off[1].tokens, off[2].tokens);
  EXPECT_EQ(off_stats.n_pipelined_steps, 0u);
  EXPECT_GT(auto_stats.n_pipelined_steps, 100u) << "kAuto pipelines where the engine overlaps";
  EXPECT_EQ(auto_stats.scheduler.blocks_used, 0);
}

// A stop token ends the stream where the one-at-a-time loop ends it, though the pipelined loop
// has computed one more step for the sequence by then.
inline void check_pipelined_stop(const EngineFactory& make_engine) {
  std::vector<GenerationRequest> requests(1);
  requests[0].sampling.temperature = 0;
  requests[0].prompt = {9, 8, 7, 6};
  requests[0].max_new_tokens = 40;
  EngineLoopStats stats;
  const auto full = run_alone(make_engine, EngineLoopOptions::Pipeline::kOff, requests, &stats);
  ASSERT_EQ(full.size(), 1u);
  ASSERT_EQ(full[0].tokens.size(), 40u);
  requests[0].stop_token_ids = {full[0].tokens[25]};
  const auto piped = run_alone(make_engine, EngineLoopOptions::Pipeline::kAuto, requests, &stats);
  ASSERT_EQ(piped.size(), 1u);
  EXPECT_EQ(piped[0].reason, FinishReason::kStop);
  size_t first = 0;
  while (full[0].tokens[first] != full[0].tokens[25]) ++first;
  EXPECT_EQ(piped[0].tokens, std::vector<int32_t>(full[0].tokens.begin(),
                                                  full[0].tokens.begin() + first + 1));
  EXPECT_EQ(stats.scheduler.blocks_used, 0);
}

}  // namespace mlxm::serving::loop_streams
