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
#include "engine/cuda/golden_step.h"
#include "engine/cuda/row_spec.h"
#include "engine/engine.h"
#include "engine/kernels/cuda/cuda_sample.h"
#include "engine/row_sampling.h"

namespace mlxm::engine {
namespace {

using testing::to_device;
using testing::to_host;

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
    const int64_t n = static_cast<int64_t>(specs.size());
    std::vector<cuda::SampleRowSpec> ds;
    std::vector<cuda::SampleAdjust> adj;
    std::vector<cuda::LogprobRowSpec> ls;
    std::vector<uint64_t> masks;
    for (size_t j = 0; j < specs.size(); ++j) {
      ds.push_back(device_row_spec(specs[j], static_cast<int32_t>(j), vocab, &adj));
      ds.back().mask = static_cast<int32_t>(j);
      masks.insert(masks.end(), specs[j].mask.begin(), specs[j].mask.end());
      if (specs[j].logprobs >= 0) {
        ls.push_back(device_logprob_spec(specs[j], ds.back(), static_cast<int32_t>(j), vocab));
      }
    }
    cuda::DeviceBuffer dx = to_device(x);
    cuda::DeviceBuffer dspecs = to_device(ds);
    cuda::DeviceBuffer dadj = to_device(adj);
    cuda::DeviceBuffer dmasks = to_device(masks);
    cuda::DeviceBuffer dls = to_device(ls);
    cuda::DeviceBuffer dsaved = testing::poisoned<float>(adj.size());
    cuda::DeviceBuffer dids = testing::poisoned<int32_t>(specs.size());
    cuda::DeviceBuffer dout = testing::poisoned<cuda::LogprobRowOut>(ls.size());
    const auto n_lp = static_cast<int64_t>(ls.size());
    ASSERT_TRUE(cuda::mask_rows(dx.as<float>(), n, vocab, dspecs.as<cuda::SampleRowSpec>(), n,
                                dmasks.as<uint64_t>()).ok());
    ASSERT_TRUE(cuda::save_raw_logits(dx.as<float>(), n, vocab, dls.as<cuda::LogprobRowSpec>(),
                                      n_lp, dadj.as<cuda::SampleAdjust>(), dsaved.as<float>())
                    .ok());
    ASSERT_TRUE(cuda::sample_rows(dx.as<float>(), n, vocab, dspecs.as<cuda::SampleRowSpec>(), n,
                                  dadj.as<cuda::SampleAdjust>(), dids.as<int32_t>()).ok());
    ASSERT_TRUE(cuda::logprob_rows(dx.as<float>(), n, vocab, dls.as<cuda::LogprobRowSpec>(), n_lp,
                                   dadj.as<cuda::SampleAdjust>(), dsaved.as<float>(),
                                   dids.as<int32_t>(), dout.as<cuda::LogprobRowOut>())
                    .ok());
    const std::vector<int32_t> ids = to_host<int32_t>(dids, specs.size());
    const std::vector<cuda::LogprobRowOut> out = to_host<cuda::LogprobRowOut>(dout, ls.size());
    const size_t v = static_cast<size_t>(vocab);
    size_t l = 0;
    for (size_t j = 0; j < specs.size(); ++j) {
      const std::string what = "V " + std::to_string(vocab) + " row " + std::to_string(j);
      const std::vector<float> row(x.begin() + static_cast<std::ptrdiff_t>(j * v),
                                   x.begin() + static_cast<std::ptrdiff_t>((j + 1) * v));
      const Result<int32_t> host = sample_row(row, specs[j]);
      ASSERT_TRUE(host.ok()) << what;
      EXPECT_EQ(ids[j], *host) << what;
      ASSERT_GE(ids[j], 0) << what;
      EXPECT_EQ((specs[j].mask[static_cast<size_t>(ids[j]) / 64] >> (ids[j] % 64)) & 1, 1u)
          << what << ": token " << ids[j] << " is masked out";
      if (specs[j].logprobs < 0) continue;
      SampleResult want;
      ASSERT_TRUE(row_logprobs(row, specs[j], ids[j], &want).ok()) << what;
      const SampleResult got = logprobs_result(out[l++], ids[j]);
      EXPECT_LE(std::fabs(got.logprob - want.logprob),
                2e-5f * std::max(1.0f, std::fabs(want.logprob)))
          << what;
      ASSERT_EQ(got.n_top, want.n_top) << what;
      for (size_t k = 0; k < static_cast<size_t>(got.n_top); ++k) {
        EXPECT_EQ(got.top[k].token, want.top[k].token) << what << " top " << k;
        if (std::isinf(want.top[k].logprob)) {
          EXPECT_EQ(got.top[k].logprob, want.top[k].logprob) << what << " top " << k;
        } else {
          EXPECT_LE(std::fabs(got.top[k].logprob - want.top[k].logprob),
                    2e-5f * std::max(1.0f, std::fabs(want.top[k].logprob)))
              << what << " top " << k;
        }
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
