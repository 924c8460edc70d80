// The device logprobs (kernels/cuda/logprobs.cu) against their host twin row_logprobs()
// (engine/row_sampling.h): after sample_rows drew each row's token, the same top tokens (ties
// to the lowest id) and logprobs within a few 1e-6 of the host's, raw and processed, with and
// without adjustments, for 0 to 20 top tokens, on rows with and without ties, in launches of
// every cluster size; rows whose draw failed come back empty; and the CUDA engine's
// forward_sample and submit/collect against forward() + row_logprobs() on a real model step.
// Label gpu: every test skips itself without a device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/cuda/cuda_test_util.h"
#include "engine/cuda/device_rows_check.h"
#include "engine/cuda/golden_step.h"
#include "engine/cuda/row_spec.h"
#include "engine/engine.h"
#include "engine/kernels/cuda/cuda_sample.h"
#include "engine/row_sampling.h"

namespace mlxm::engine {
namespace {

using testing::expect_logprob_near;

constexpr float kInf = std::numeric_limits<float>::infinity();

// A row of `vocab` logits of one of four kinds: distinct values, values on a coarse grid (many
// ties, also at the top), all equal, or all -inf (sampled only through a bias).
std::vector<float> make_row(size_t vocab, int kind, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> x(vocab);
  for (float& v : x) v = normal(rng);
  if (kind == 1) {
    for (float& v : x) v = std::round(v);
  } else if (kind == 2) {
    std::fill(x.begin(), x.end(), 1.5f);
  } else if (kind == 3) {
    std::fill(x.begin(), x.end(), -kInf);
  }
  return x;
}

// Every (kind, top, raw, adjustments, temperature) combination for one vocabulary size.
std::vector<RowSampling> all_specs(int32_t vocab, std::vector<float>* x, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> unif(0.0, 1.0);
  std::vector<RowSampling> specs;
  for (int kind = 0; kind < 4; ++kind) {
    for (int top : {0, 1, 5, 20}) {
      for (bool raw : {false, true}) {
        for (bool adjust : {false, true}) {
          for (float t : {0.0f, 1.0f}) {
            if (kind == 3 && !adjust) continue;  // all -inf: only a bias makes it drawable
            RowSampling s;
            s.temperature = t;
            s.u = unif(rng);
            s.logprobs = top;
            s.logprobs_raw = raw;
            if (adjust) {
              // A bias that makes token 3 likely, a penalised top token, a pushed-down one.
              s.adjust = {{3, 30.0f, 1.0f, 0.0f}, {vocab / 2, 0.0f, 1.5f, 0.7f},
                          {vocab - 1, -5.0f, 1.0f, 0.0f}};
            }
            const std::vector<float> row = make_row(static_cast<size_t>(vocab), kind, rng);
            x->insert(x->end(), row.begin(), row.end());
            specs.push_back(s);
          }
        }
      }
    }
  }
  return specs;
}

TEST(CudaLogprobsTest, KernelMatchesHostForEveryKindOfRow) {
  MLXM_SKIP_WITHOUT_CUDA();
  for (int32_t vocab : {128256, 1000, 37}) {
    std::vector<float> x;
    const std::vector<RowSampling> specs = all_specs(vocab, &x, static_cast<uint32_t>(vocab));
    // One launch of all (one block per row), then launches that take clusters of 8, 4 and 2.
    for (size_t per_launch : {size_t{0}, size_t{1}, size_t{20}, size_t{40}, size_t{64}}) {
      const std::vector<int32_t> ids = testing::check_device_rows(x, vocab, specs, per_launch);
      EXPECT_GT(std::count_if(ids.begin(), ids.end(), [](int32_t id) { return id >= 0; }),
                static_cast<std::ptrdiff_t>(specs.size()) / 2);
    }
  }
}

// A row whose draw fails (NaN) gives no logprobs; the other rows are unaffected.
TEST(CudaLogprobsTest, RowsWithoutATokenComeBackEmpty) {
  MLXM_SKIP_WITHOUT_CUDA();
  const int32_t vocab = 500;
  std::mt19937 rng(5);
  std::vector<float> x = make_row(vocab, 0, rng);
  std::vector<float> bad = make_row(vocab, 0, rng);
  bad[17] = std::numeric_limits<float>::quiet_NaN();
  x.insert(x.end(), bad.begin(), bad.end());
  const std::vector<float> third = make_row(vocab, 1, rng);
  x.insert(x.end(), third.begin(), third.end());
  std::vector<RowSampling> specs(3);
  for (RowSampling& s : specs) s.logprobs = 3;
  specs[2].temperature = 0.7f;
  specs[2].u = 0.4;
  const std::vector<int32_t> ids = testing::check_device_rows(x, vocab, specs, 0);
  EXPECT_EQ(ids[1], kRowBadLogits);
  EXPECT_GE(ids[0], 0);
  EXPECT_GE(ids[2], 0);
}

TEST(CudaLogprobsTest, BadArgumentsAreErrors) {
  MLXM_SKIP_WITHOUT_CUDA();
  cuda::DeviceBuffer d = testing::poisoned<float>(16);
  EXPECT_EQ(cuda::logprob_rows(nullptr, 1, 8, nullptr, 1, nullptr, nullptr, nullptr, nullptr)
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(cuda::logprob_rows(d.as<float>(), 1, 0, nullptr, 1, nullptr, nullptr, nullptr,
                               nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(cuda::logprob_rows(d.as<float>(), 1, 8, nullptr, 0, nullptr, nullptr, nullptr,
                                 nullptr).ok())
      << "no rows: nothing to do";
  EXPECT_EQ(cuda::save_raw_logits(d.as<float>(), 1, 8, nullptr, 1, nullptr, nullptr).code(),
            StatusCode::kInvalidArgument);
}

// The CUDA engine's forward_sample and submit/collect with logprobs = forward() + sample_row()
// + row_logprobs() on the same step.
TEST(CudaLogprobsTest, EngineLogprobsMatchTheHost) {
  MLXM_SKIP_WITHOUT_CUDA();
  const std::unique_ptr<Engine> loaded = testing::load_golden_cuda();
  ASSERT_NE(loaded, nullptr);
  Engine& e = *loaded;
  ASSERT_TRUE(e.device_logprobs());
  const int vocab = e.config().vocab_size;
  const Batch b = testing::golden_prefill(12, vocab, 37, 11, 2, {3, 7, 9, 11});
  std::vector<float> logits;
  Status st = e.forward(b, &logits);
  ASSERT_TRUE(st.ok()) << st.to_string();
  std::vector<RowSampling> rows(4);
  rows[0].temperature = 0.8f;
  rows[0].u = 0.61;
  rows[0].adjust = {{5, 2.0f, 1.3f, 0.5f}, {17, -1.0f, 1.0f, 0.0f}};
  rows[0].logprobs = 5;
  rows[1].logprobs = 0;  // greedy, the token's logprob only
  rows[2].adjust = {{1, 3.0f, 1.2f, 0.0f}};
  rows[2].logprobs = 20;
  rows[2].logprobs_raw = true;
  rows[3].temperature = 1.2f;
  rows[3].u = 0.123;  // no logprobs
  const size_t v = static_cast<size_t>(vocab);
  auto check = [&](const std::vector<int32_t>& ids, const std::vector<SampleResult>& lps,
                   const char* how) {
    ASSERT_EQ(ids.size(), 4u) << how;
    ASSERT_EQ(lps.size(), 4u) << how;
    for (size_t r = 0; r < 4; ++r) {
      const std::vector<float> row(logits.begin() + static_cast<std::ptrdiff_t>(r * v),
                                   logits.begin() + static_cast<std::ptrdiff_t>((r + 1) * v));
      const Result<int32_t> host = sample_row(row, rows[r]);
      ASSERT_TRUE(host.ok());
      EXPECT_EQ(ids[r], *host) << how << " row " << r;
      EXPECT_EQ(lps[r].has_logprobs, rows[r].logprobs >= 0) << how << " row " << r;
      if (rows[r].logprobs < 0) continue;
      SampleResult want;
      ASSERT_TRUE(row_logprobs(row, rows[r], ids[r], &want).ok());
      EXPECT_EQ(lps[r].token, ids[r]);
      expect_logprob_near(lps[r].logprob, want.logprob, std::string(how) + " logprob");
      ASSERT_EQ(lps[r].n_top, want.n_top) << how << " row " << r;
      for (int i = 0; i < want.n_top; ++i) {
        const auto k = static_cast<size_t>(i);
        EXPECT_EQ(lps[r].top[k].token, want.top[k].token) << how << " row " << r << " top " << i;
        expect_logprob_near(lps[r].top[k].logprob, want.top[k].logprob,
                            std::string(how) + " top");
      }
    }
  };
  std::vector<int32_t> ids;
  std::vector<float> full;
  std::vector<SampleResult> lps;
  st = e.forward_sample(b, rows, &ids, &full, &lps);
  ASSERT_TRUE(st.ok()) << st.to_string();
  check(ids, lps, "forward_sample");
  EXPECT_EQ(e.forward_sample(b, rows, &ids, &full).code(), StatusCode::kInvalidArgument)
      << "logprobs asked for and nowhere to put them";
  // The same step submitted twice (the K/V rows are rewritten with the same values).
  ASSERT_TRUE(e.submit(b, rows).ok());
  ASSERT_TRUE(e.submit(b, rows).ok());
  for (int k = 0; k < 2; ++k) {
    st = e.collect(&ids, &lps);
    ASSERT_TRUE(st.ok()) << st.to_string();
    check(ids, lps, k == 0 ? "collect 1" : "collect 2");
  }
}

}  // namespace
}  // namespace mlxm::engine
