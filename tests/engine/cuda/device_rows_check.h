// The device sampling passes of a step run over given rows, against their host twins: masks
// (mask_rows), raw logits kept (save_raw_logits), the draw (sample_rows) and logprobs
// (logprob_rows), as the CUDA engine enqueues them, each spec against sample_row() and
// row_logprobs() (engine/row_sampling.h). Shared by cuda_logprobs_test and cuda_mask_test.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/cuda/cuda_test_util.h"
#include "engine/cuda/row_spec.h"
#include "engine/kernels/cuda/cuda_sample.h"
#include "engine/row_sampling.h"

namespace mlxm::engine::testing {

// A device logprob against the host's: equal where infinite, else within 2e-5 relative.
inline void expect_logprob_near(float got, float want, const std::string& what) {
  if (std::isinf(want)) {
    EXPECT_EQ(got, want) << what;
  } else {
    EXPECT_LE(std::fabs(got - want), 2e-5f * std::max(1.0f, std::fabs(want))) << what;
  }
}

// specs[j] over row j of x (specs.size() rows of vocab logits), in launches of per_launch
// specs (0: one launch): every id equals sample_row()'s; where a spec asks for logprobs, the
// device's equal row_logprobs() for the drawn token (or come back empty for a row without
// one). Returns the device's ids.
inline std::vector<int32_t> check_device_rows(const std::vector<float>& x, int32_t vocab,
                                              const std::vector<RowSampling>& specs,
                                              size_t per_launch) {
  const size_t v = static_cast<size_t>(vocab);
  const int64_t n_rows = static_cast<int64_t>(specs.size());
  std::vector<cuda::SampleRowSpec> ds;
  std::vector<cuda::SampleAdjust> adj;
  std::vector<cuda::LogprobRowSpec> ls;
  std::vector<uint64_t> masks;
  std::vector<size_t> lp_before;  // [j]: the logprob specs of rows before j
  for (size_t j = 0; j < specs.size(); ++j) {
    lp_before.push_back(ls.size());
    ds.push_back(device_row_spec(specs[j], static_cast<int32_t>(j), vocab, &adj));
    if (!specs[j].mask.empty()) {
      ds.back().mask = static_cast<int32_t>(masks.size() / ((v + 63) / 64));
      masks.insert(masks.end(), specs[j].mask.begin(), specs[j].mask.end());
    }
    if (specs[j].logprobs >= 0) {
      ls.push_back(device_logprob_spec(specs[j], ds.back(), static_cast<int32_t>(j), vocab));
    }
  }
  lp_before.push_back(ls.size());
  if (adj.empty()) adj.push_back({});  // valid pointers either way
  if (masks.empty()) masks.push_back(0);
  if (ls.empty()) ls.push_back({});
  cuda::DeviceBuffer dx = to_device(x);
  cuda::DeviceBuffer dspecs = to_device(ds);
  cuda::DeviceBuffer dadj = to_device(adj);
  cuda::DeviceBuffer dmasks = to_device(masks);
  cuda::DeviceBuffer dls = to_device(ls);
  cuda::DeviceBuffer dsaved = poisoned<float>(adj.size());
  cuda::DeviceBuffer dids = poisoned<int32_t>(specs.size());
  cuda::DeviceBuffer dout = poisoned<cuda::LogprobRowOut>(ls.size());
  const size_t step = per_launch > 0 ? per_launch : specs.size();
  for (size_t c = 0; c < specs.size(); c += step) {
    const size_t e = std::min(specs.size(), c + step);
    const auto count = static_cast<int64_t>(e - c);
    const auto n_lp = static_cast<int64_t>(lp_before[e] - lp_before[c]);
    const auto* spec = dspecs.as<cuda::SampleRowSpec>() + c;
    const auto* lspec = dls.as<cuda::LogprobRowSpec>() + lp_before[c];
    const auto* a = dadj.as<cuda::SampleAdjust>();
    float* row0 = dx.as<float>();
    Status st = cuda::mask_rows(row0, n_rows, vocab, spec, count, dmasks.as<uint64_t>());
    EXPECT_TRUE(st.ok()) << st.to_string();
    st = cuda::save_raw_logits(row0, n_rows, vocab, lspec, n_lp, a, dsaved.as<float>());
    EXPECT_TRUE(st.ok()) << st.to_string();
    st = cuda::sample_rows(row0, n_rows, vocab, spec, count, a, dids.as<int32_t>() + c);
    EXPECT_TRUE(st.ok()) << st.to_string();
    st = cuda::logprob_rows(row0, n_rows, vocab, lspec, n_lp, a, dsaved.as<float>(),
                            dids.as<int32_t>(), dout.as<cuda::LogprobRowOut>() + lp_before[c]);
    EXPECT_TRUE(st.ok()) << st.to_string();
  }
  const std::vector<int32_t> ids = to_host<int32_t>(dids, specs.size());
  const std::vector<cuda::LogprobRowOut> out = to_host<cuda::LogprobRowOut>(dout, ls.size());
  for (size_t j = 0; j < specs.size(); ++j) {
    const std::vector<float> row(x.begin() + static_cast<std::ptrdiff_t>(j * v),
                                 x.begin() + static_cast<std::ptrdiff_t>((j + 1) * v));
    const std::string what = "row " + std::to_string(j) + " (V " + std::to_string(vocab) +
                             ", T " + std::to_string(specs[j].temperature) + ", top " +
                             std::to_string(specs[j].logprobs) + ", raw " +
                             std::to_string(specs[j].logprobs_raw) + ", " +
                             std::to_string(specs[j].adjust.size()) + " adjusted, mask " +
                             std::to_string(!specs[j].mask.empty()) + ")";
    const Result<int32_t> host = sample_row(row, specs[j]);
    EXPECT_TRUE(host.ok()) << what;
    EXPECT_EQ(ids[j], host.ok() ? *host : 0) << what;
    if (specs[j].logprobs < 0) continue;
    const cuda::LogprobRowOut& o = out[lp_before[j]];
    if (ids[j] < 0) {
      EXPECT_EQ(o.n_top, -1) << what << ": a row without a token has no logprobs";
      continue;
    }
    SampleResult want;
    const Status st = row_logprobs(row, specs[j], ids[j], &want);
    EXPECT_TRUE(st.ok()) << what << ": " << st.to_string();
    const SampleResult got = logprobs_result(o, ids[j]);
    expect_logprob_near(got.logprob, want.logprob, what + ": the token's logprob");
    EXPECT_EQ(got.n_top, want.n_top) << what;
    for (size_t k = 0; k < static_cast<size_t>(std::min(got.n_top, want.n_top)); ++k) {
      EXPECT_EQ(got.top[k].token, want.top[k].token) << what << ": top " << k;
      expect_logprob_near(got.top[k].logprob, want.top[k].logprob,
                          what + ": top " + std::to_string(k));
    }
  }
  return ids;
}

}  // namespace mlxm::engine::testing
