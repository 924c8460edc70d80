// Masks on the device (kernels/cuda/sample.cu mask_rows, row_sampling.h step 0) against the
// host twins sample_row() / row_logprobs(): rows masked to every kind of allowed set (one
// token, sparse, dense, whole words on and off, the vocabulary's last partial word), greedy and
// sampled, with adjustments and logprobs (raw ones see the masked row, as the host Sampler
// sees a processed one); and the CUDA engine's forward_sample with a mask.
// Label gpu: every test skips itself without a device.
#include <gtest/gtest.h>

#include <cmath>
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


// An allowed set of kind k over `vocab` ids.
std::vector<uint64_t> make_mask(int32_t vocab, int kind, std::mt19937& rng) {
  const size_t words = (static_cast<size_t>(vocab) + 63) / 64;
  std::vector<uint64_t> m(words, 0);
  auto set = [&](int32_t i) { m[static_cast<size_t>(i) / 64] |= uint64_t{1} << (i % 64); };
  std::uniform_int_distribution<int32_t> id(0, vocab - 1);
  if (kind == 0) {
    set(id(rng));  // one token
  } else if (kind == 1) {
    for (int k = 0; k < 40; ++k) set(id(rng));  // sparse
  } else if (kind == 2) {
    for (int32_t i = 0; i < vocab; ++i) {
      if (i % 3 != 0) set(i);  // dense
    }
  } else {
    for (size_t w = 0; w < words; w += 2) m[w] = ~uint64_t{0};  // whole words
    set(vocab - 1);                                             // and the last id
  }
  if (vocab % 64 != 0) m.back() &= (uint64_t{1} << (vocab % 64)) - 1;
  return m;
}

TEST(CudaMaskTest, MaskedRowsSampleAsOnTheHost) {
  MLXM_SKIP_WITHOUT_CUDA();
  for (int32_t vocab : {128256, 1000, 37}) {
    std::mt19937 rng(static_cast<uint32_t>(vocab));
    std::normal_distribution<float> normal(0.0f, 4.0f);
    std::uniform_real_distribution<double> unif(0.0, 1.0);
    std::vector<float> x;
    std::vector<RowSampling> specs;
    for (int kind = 0; kind < 4; ++kind) {
      for (float t : {0.0f, 1.0f}) {
        for (int lp : {-1, 3}) {
          for (bool raw : {false, true}) {
            RowSampling s;
            s.temperature = t;
            s.top_p = t > 0.0f ? 0.9f : 1.0f;
            s.u = unif(rng);
            s.logprobs = lp;
            s.logprobs_raw = raw;
            s.mask = make_mask(vocab, kind, rng);
            s.adjust = {{2, 1.5f, 1.2f, 0.3f}, {vocab - 1, 4.0f, 1.0f, 0.0f}};
            for (int32_t i = 0; i < vocab; ++i) x.push_back(normal(rng));
            specs.push_back(s);
          }
        }
      }
    }
    // One launch, then launches that take clusters of blocks per spec.
    for (size_t per_launch : {size_t{0}, size_t{4}}) {
      const std::vector<int32_t> ids = testing::check_device_rows(x, vocab, specs, per_launch);
      for (size_t j = 0; j < specs.size(); ++j) {
        ASSERT_GE(ids[j], 0) << "row " << j;
        EXPECT_EQ((specs[j].mask[static_cast<size_t>(ids[j]) / 64] >> (ids[j] % 64)) & 1, 1u)
            << "V " << vocab << " row " << j << ": token " << ids[j] << " is masked out";
      }
    }
  }
}

TEST(CudaMaskTest, BadArgumentsAreErrors) {
  MLXM_SKIP_WITHOUT_CUDA();
  cuda::DeviceBuffer d = testing::poisoned<float>(16);
  EXPECT_EQ(cuda::mask_rows(nullptr, 1, 8, nullptr, 1, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(cuda::mask_rows(d.as<float>(), 1, 0, nullptr, 1, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(cuda::mask_rows(d.as<float>(), 1, 8, nullptr, 0, nullptr).ok());
}

// The CUDA engine's forward_sample with masks = forward() + sample_row() on the same step; a
// mask of the wrong length is an error of the call.
TEST(CudaMaskTest, EngineMasksMatchTheHost) {
  MLXM_SKIP_WITHOUT_CUDA();
  const std::unique_ptr<Engine> loaded = testing::load_golden_cuda();
  ASSERT_NE(loaded, nullptr);
  Engine& e = *loaded;
  ASSERT_TRUE(e.device_masks());
  const int vocab = e.config().vocab_size;
  const Batch b = testing::golden_prefill(10, vocab, 29, 3, 1, {4, 9});
  std::vector<float> logits;
  ASSERT_TRUE(e.forward(b, &logits).ok());
  std::mt19937 rng(9);
  std::vector<RowSampling> rows(2);
  rows[0].mask = make_mask(vocab, 1, rng);
  rows[0].logprobs = 2;
  rows[1].temperature = 0.9f;
  rows[1].u = 0.3;
  rows[1].mask = make_mask(vocab, 2, rng);
  std::vector<int32_t> ids;
  std::vector<float> full;
  std::vector<SampleResult> lps;
  const Status st = e.forward_sample(b, rows, &ids, &full, &lps);
  ASSERT_TRUE(st.ok()) << st.to_string();
  const size_t v = static_cast<size_t>(vocab);
  for (size_t r = 0; r < 2; ++r) {
    const std::vector<float> row(logits.begin() + static_cast<std::ptrdiff_t>(r * v),
                                 logits.begin() + static_cast<std::ptrdiff_t>((r + 1) * v));
    const Result<int32_t> host = sample_row(row, rows[r]);
    ASSERT_TRUE(host.ok());
    EXPECT_EQ(ids[r], *host) << "row " << r;
  }
  SampleResult want;
  ASSERT_TRUE(row_logprobs(std::vector<float>(logits.begin(), logits.begin() + vocab), rows[0],
                           ids[0], &want).ok());
  ASSERT_EQ(lps[0].n_top, 2);
  EXPECT_EQ(lps[0].top[0].token, want.top[0].token);
  EXPECT_EQ(lps[0].top[1].token, want.top[1].token);
  rows[1].mask.pop_back();
  EXPECT_EQ(e.forward_sample(b, rows, &ids, &full, &lps).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mlxm::engine
