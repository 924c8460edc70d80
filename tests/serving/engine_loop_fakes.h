// Test doubles for the engine loop's tests: a fake model whose logits are read back from its
// paged "KV" (so wrong block tables or positions change the output), its device-sampling
// variant, a sink that collects a request's output, and the expected streams computed directly.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/row_sampling.h"
#include "serving/engine_loop.h"

namespace mlxm::serving::fakes {

// A fake model: the logits of a row favour token (sum of the sequence's KV contents + 1) % V,
// read back from its paged "KV", so wrong block tables or positions change the output.
class FakeEngine : public engine::Engine {
 public:
  FakeEngine(int vocab, int64_t n_blocks, int block_size)
      : n_blocks_(n_blocks), block_size_(block_size),
        kv_(static_cast<size_t>(n_blocks * block_size), 0) {
    cfg_.vocab_size = vocab;
    cfg_.max_position_embeddings = 4096;
  }
  Status forward(const engine::Batch& b, std::vector<float>* logits) override {
    ++n_forward;
    for (size_t i = 0; i < b.tokens.size(); ++i) {
      const auto& seq = b.seqs[static_cast<size_t>(b.seq_ids[i])];
      const int32_t pos = b.positions[i];
      kv_[slot(seq, pos)] = b.tokens[i];
    }
    logits->assign(b.logit_rows.size() * static_cast<size_t>(cfg_.vocab_size), 0.0f);
    for (size_t r = 0; r < b.logit_rows.size(); ++r) {
      const auto& seq = b.seqs[static_cast<size_t>(b.seq_ids[static_cast<size_t>(b.logit_rows[r])])];
      int64_t sum = 0;
      for (int32_t p = 0; p < seq.n_ctx; ++p) sum += kv_[slot(seq, p)];
      (*logits)[r * static_cast<size_t>(cfg_.vocab_size) +
                static_cast<size_t>((sum + 1) % cfg_.vocab_size)] = 10.0f;
    }
    if (step_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(step_delay_ms));
    return ok_status();
  }
  const engine::ModelConfig& config() const override { return cfg_; }
  int block_size() const override { return block_size_; }
  int64_t n_kv_blocks() const override { return n_blocks_; }
  size_t weight_bytes() const override { return 0; }
  size_t kv_bytes() const override { return 0; }
  size_t weight_bytes_per_token() const override { return 0; }

  std::atomic<int> n_forward{0};
  int step_delay_ms = 0;

 private:
  size_t slot(const engine::BatchSeq& s, int32_t pos) const {
    return static_cast<size_t>(s.block_table[static_cast<size_t>(pos / block_size_)]) *
               static_cast<size_t>(block_size_) + static_cast<size_t>(pos % block_size_);
  }
  engine::ModelConfig cfg_;
  int64_t n_blocks_;
  int block_size_;
  std::vector<int32_t> kv_;
};

class CollectSink : public TokenSink {
 public:
  void on_token(const TokenEvent& e) override {
    std::lock_guard<std::mutex> lock(mu);
    tokens.push_back(e.token);
    samples.push_back(e.sample);
  }
  void on_finish(const FinishInfo& info) override {
    {
      std::lock_guard<std::mutex> lock(mu);
      finish = info;
    }
    done.set_value();
  }
  std::mutex mu;
  std::vector<int32_t> tokens;
  std::vector<engine::SampleResult> samples;  // with each token: its logprobs, when asked for
  FinishInfo finish;
  std::promise<void> done;
};

// The expected greedy output of FakeEngine for a prompt, computed directly.
inline std::vector<int32_t> expected_tokens(std::vector<int32_t> seq, int n, int vocab) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    int64_t sum = 0;
    for (int32_t t : seq) sum += t;
    int32_t next = static_cast<int32_t>((sum + 1) % vocab);
    out.push_back(next);
    seq.push_back(next);
  }
  return out;
}

// FakeEngine's logits for the row after `seq` (10 at the favoured token, 0 elsewhere).
inline std::vector<float> fake_row(const std::vector<int32_t>& seq, int vocab) {
  int64_t sum = 0;
  for (int32_t t : seq) sum += t;
  std::vector<float> row(static_cast<size_t>(vocab), 0.0f);
  row[static_cast<size_t>((sum + 1) % vocab)] = 10.0f;
  return row;
}

// Every token the sink got came with the logprobs the host Sampler reports over FakeEngine's
// row (`top` alternatives).
inline void expect_fake_logprobs(const CollectSink& sink, std::vector<int32_t> seq, int top,
                                 int vocab) {
  for (size_t i = 0; i < sink.samples.size(); ++i) {
    const engine::SampleResult& got = sink.samples[i];
    engine::SampleResult want;
    engine::fill_logprobs(fake_row(seq, vocab), sink.tokens[i], top, &want);
    ASSERT_TRUE(got.has_logprobs) << "token " << i;
    EXPECT_EQ(got.token, sink.tokens[i]);
    EXPECT_FLOAT_EQ(got.logprob, want.logprob) << "token " << i;
    ASSERT_EQ(got.n_top, top);
    for (size_t k = 0; k < static_cast<size_t>(top); ++k) {
      EXPECT_EQ(got.top[k].token, want.top[k].token) << "token " << i << " top " << k;
      EXPECT_FLOAT_EQ(got.top[k].logprob, want.top[k].logprob) << "token " << i << " top " << k;
    }
    seq.push_back(sink.tokens[i]);
  }
}

// A constraint for the fakes: only tokens ≡ residue (mod 3) may follow, and nothing once
// `length` tokens were accepted. Its mask is the default allowed() (process() over zeros).
class ModuloProcessor : public engine::LogitsProcessor {
 public:
  ModuloProcessor(int residue, size_t length) : residue_(residue), length_(length) {}
  bool process(std::span<float> logits) override {
    if (accepted.size() >= length_) return false;
    for (size_t i = 0; i < logits.size(); ++i) {
      if (static_cast<int>(i % 3) != residue_) logits[i] = -std::numeric_limits<float>::infinity();
    }
    return true;
  }
  void accept(int32_t token) override { accepted.push_back(token); }
  std::vector<int32_t> accepted;

 private:
  int residue_;
  size_t length_;
};

inline GenerationRequest greedy_request(std::vector<int32_t> prompt, int max_new,
                                        std::shared_ptr<TokenSink> sink) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0;
  r.max_new_tokens = max_new;
  r.sink = std::move(sink);
  return r;
}

// FakeEngine as a device-sampling engine: forward_sample (the Engine's host implementation of
// the device algorithm) answers ids for every row and full logits only for the rows asked
// for, and records how many full rows each step wanted. Rows whose token is kNanToken come out
// as NaN (a forward-pass bug); nan_token < 0 turns that off.
inline constexpr int32_t kNanToken = 49;
class ArgmaxEngine : public FakeEngine {
 public:
  using FakeEngine::FakeEngine;
  bool device_argmax() const override { return true; }
  Status forward(const engine::Batch& b, std::vector<float>* logits) override {
    MLXM_RETURN_IF_ERROR(FakeEngine::forward(b, logits));
    const size_t v = static_cast<size_t>(config().vocab_size);
    for (size_t r = 0; r < b.logit_rows.size(); ++r) {
      if (b.tokens[static_cast<size_t>(b.logit_rows[r])] == nan_token) {
        std::fill(logits->begin() + static_cast<std::ptrdiff_t>(r * v),
                  logits->begin() + static_cast<std::ptrdiff_t>((r + 1) * v),
                  std::numeric_limits<float>::quiet_NaN());
      }
    }
    return ok_status();
  }
  Status forward_sample(const engine::Batch& b, const std::vector<engine::RowSampling>& rows,
                        std::vector<int32_t>* ids, std::vector<float>* logits,
                        std::vector<engine::SampleResult>* logprobs = nullptr) override {
    {
      std::lock_guard<std::mutex> lock(mu);
      rows_seen += b.logit_rows.size();
      for (const auto& r : rows) {
        full_seen += r.full ? 1 : 0;
        logprob_rows_seen += !r.full && r.logprobs >= 0 ? 1 : 0;
        mask_rows_seen += !r.full && !r.mask.empty() ? 1 : 0;
      }
    }
    return engine::Engine::forward_sample(b, rows, ids, logits, logprobs);
  }
  // The Engine's host logprobs stand for the device's when logprobs_on_device.
  bool device_logprobs() const override { return logprobs_on_device; }
  // ... and its masks (row_sampling.h step 0) for the device's when masks_on_device.
  bool device_masks() const override { return masks_on_device; }
  Status forward_argmax(const engine::Batch& b, const std::vector<int32_t>& full_rows,
                        std::vector<int32_t>* ids, std::vector<float>* logits) override {
    {
      std::lock_guard<std::mutex> lock(mu);
      argmax_rows_seen += b.logit_rows.size();
    }
    return engine::Engine::forward_argmax(b, full_rows, ids, logits);
  }
  std::mutex mu;
  size_t rows_seen = 0, full_seen = 0, argmax_rows_seen = 0, logprob_rows_seen = 0;
  size_t mask_rows_seen = 0;
  int32_t nan_token = kNanToken;
  bool logprobs_on_device = false;
  bool masks_on_device = false;
};

// The stream of a device-sampled request, computed directly: FakeEngine's logits, the row
// spec from the sequence's SamplerState (one uniform per token) and the host algorithm.
inline std::vector<int32_t> expected_sampled(std::vector<int32_t> seq, int n, int vocab,
                                      const engine::SamplingParams& p) {
  engine::SamplerState state(p.seed);
  state.set_prompt(seq);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    int64_t sum = 0;
    for (int32_t t : seq) sum += t;
    std::vector<float> logits(static_cast<size_t>(vocab), 0.0f);
    logits[static_cast<size_t>((sum + 1) % vocab)] = 10.0f;
    auto t = engine::sample_row(logits, engine::make_row_sampling(p, state));
    EXPECT_TRUE(t.ok());
    state.record_output(*t);
    out.push_back(*t);
    seq.push_back(*t);
  }
  return out;
}

}  // namespace mlxm::serving::fakes
