// The sampling kernel (kernels/cuda/sample.cu) against its host twin sample_row()
// (engine/row_sampling.h): with the same u, the same token id, for many (temperature, top_k,
// top_p, min_p, adjustments) combinations mixed in one batch, on tie-free random logits of
// vocabulary 128256 and awkward sizes; the error codes of bad rows; determinism; and the CUDA
// engine's forward_sample against forward() + sample_row() on a real model step.
// Label gpu: every test skips itself without a device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
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

constexpr float kInf = std::numeric_limits<float>::infinity();

// Distinct logits: a random permutation of values spread like scale·(8t³ + t/4).
std::vector<float> tie_free_row(size_t n, float scale, std::mt19937& rng) {
  std::vector<int> perm(n);
  for (size_t i = 0; i < n; ++i) perm[i] = static_cast<int>(i);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    const float t = (static_cast<float>(perm[i]) + 0.5f) / static_cast<float>(n) - 0.5f;
    x[i] = scale * (8.0f * t * t * t + 0.25f * t);
  }
  return x;
}

// Step 1 of row_sampling.h on the host (to check that adjusted rows are still tie-free).
std::vector<float> adjusted(std::vector<float> x, const RowSampling& s) {
  for (const LogitAdjust& a : s.adjust) {
    float v = x[static_cast<size_t>(a.token)] + a.add;
    if (a.rep != 1.0f) v = v > 0.0f ? v / a.rep : v * a.rep;
    x[static_cast<size_t>(a.token)] = v - a.sub;
  }
  return x;
}

bool has_ties(std::vector<float> x) {
  std::sort(x.begin(), x.end());
  return std::adjacent_find(x.begin(), x.end()) != x.end();
}

// Runs sample_rows over x (n_rows, vocab) for specs[j] on row rows[j], in launches of
// per_launch specs (0: one launch); returns the ids.
std::vector<int32_t> run_kernel(const std::vector<float>& x, int64_t n_rows, int32_t vocab,
                                const std::vector<RowSampling>& specs,
                                const std::vector<int32_t>& rows, size_t per_launch = 0) {
  std::vector<cuda::SampleRowSpec> ds;
  std::vector<cuda::SampleAdjust> adj;
  for (size_t j = 0; j < specs.size(); ++j) ds.push_back(device_row_spec(specs[j], rows[j], vocab, &adj));
  if (adj.empty()) adj.push_back({});  // a valid pointer either way
  cuda::DeviceBuffer dx = to_device(x);
  cuda::DeviceBuffer dspecs = to_device(ds);
  cuda::DeviceBuffer dadj = to_device(adj);
  cuda::DeviceBuffer dids = testing::poisoned<int32_t>(specs.size());
  const size_t step = per_launch > 0 ? per_launch : std::max<size_t>(1, specs.size());
  for (size_t c = 0; c < specs.size(); c += step) {
    const size_t count = std::min(step, specs.size() - c);
    const Status st = cuda::sample_rows(dx.as<float>(), n_rows, vocab,
                                        dspecs.as<cuda::SampleRowSpec>() + c,
                                        static_cast<int64_t>(count),
                                        dadj.as<cuda::SampleAdjust>(), dids.as<int32_t>() + c);
    EXPECT_TRUE(st.ok()) << st.to_string();
  }
  return to_host<int32_t>(dids, specs.size());
}

struct Mix {
  float temperature;
  int top_k;
  float top_p;
  float min_p;
  bool adjust;
};

// Every combination for one vocabulary size, one row each, in one batch (per_launch 0) or in
// launches of per_launch specs: few specs per launch take clusters of blocks per spec (sm_90).
void check_vocab(int32_t vocab, uint32_t seed, int* n_rows_checked, int* n_rounding,
                 size_t per_launch = 0) {
  std::mt19937 rng(seed);
  std::mt19937_64 urng(seed);
  std::uniform_real_distribution<double> unif(0.0, 1.0);
  std::vector<Mix> mixes;
  for (float t : {0.0f, 0.5f, 1.0f, 1.8f}) {
    for (int k : {0, 1, 7, 100, vocab - 1, vocab + 5}) {
      for (float p : {1.0f, 0.9f, 0.3f}) {
        for (float mp : {0.0f, 0.05f}) {
          for (bool a : {false, true}) mixes.push_back({t, k, p, mp, a});
        }
      }
    }
  }
  const size_t v = static_cast<size_t>(vocab);
  std::vector<float> x;
  x.reserve(mixes.size() * v);
  std::vector<RowSampling> specs;
  std::vector<int32_t> rows;
  std::vector<std::vector<float>> originals;
  const float scales[] = {1.0f, 4.0f, 16.0f, 40.0f};
  for (size_t j = 0; j < mixes.size(); ++j) {
    const Mix& m = mixes[j];
    std::vector<float> row = tie_free_row(v, scales[j % 4], rng);
    RowSampling s;
    s.temperature = m.temperature;
    s.top_k = m.top_k;
    s.top_p = m.top_p;
    s.min_p = m.min_p;
    s.u = unif(urng);
    if (m.adjust) {
      // Up to 24 distinct tokens with a bias, a repetition penalty and/or a subtraction.
      std::vector<int32_t> toks;
      for (int i = 0; i < 24; ++i) toks.push_back(static_cast<int32_t>(rng() % v));
      std::sort(toks.begin(), toks.end());
      toks.erase(std::unique(toks.begin(), toks.end()), toks.end());
      for (int32_t t : toks) {
        LogitAdjust a;
        a.token = t;
        if (rng() % 2) a.add = static_cast<float>(static_cast<int>(rng() % 2001) - 1000) / 97.0f;
        if (rng() % 2) a.rep = 1.0f + static_cast<float>(rng() % 100) / 53.0f;
        if (rng() % 2) a.sub = static_cast<float>(rng() % 300) / 71.0f;
        s.adjust.push_back(a);
      }
    }
    if (vocab > 1 && has_ties(adjusted(row, s))) continue;  // ties: the tie rule, not tested here
    specs.push_back(s);
    rows.push_back(static_cast<int32_t>(originals.size()));
    originals.push_back(row);
    x.insert(x.end(), row.begin(), row.end());
  }
  ASSERT_GT(specs.size(), mixes.size() / 2);
  // Reverse the spec order so that spec j is not row j (the row index is what counts).
  std::reverse(specs.begin(), specs.end());
  std::reverse(rows.begin(), rows.end());
  const std::vector<int32_t> ids =
      run_kernel(x, static_cast<int64_t>(originals.size()), vocab, specs, rows, per_launch);
  ASSERT_EQ(ids.size(), specs.size());
  int shown = 0;
  for (size_t j = 0; j < specs.size(); ++j) {
    const std::vector<float>& row = originals[static_cast<size_t>(rows[j])];
    auto host = sample_row(row, specs[j]);
    ASSERT_TRUE(host.ok()) << host.status().to_string();
    ++*n_rows_checked;
    if (ids[j] == *host) continue;
    // A last-bit difference of expf may move the draw across a token boundary: then a
    // neighbouring u gives the device's token on the host. Anything else is a bug.
    bool explained = false;
    for (double du : {-1e-9, 1e-9, -1e-7, 1e-7}) {
      RowSampling s2 = specs[j];
      s2.u = std::clamp(s2.u + du, 0.0, std::nextafter(1.0, 0.0));
      auto h2 = sample_row(row, s2);
      explained |= h2.ok() && *h2 == ids[j];
    }
    if (explained) {
      ++*n_rounding;
      continue;
    }
    const RowSampling& s = specs[j];
    ADD_FAILURE() << "vocab " << vocab << " row " << rows[j] << ": device " << ids[j]
                  << " host " << *host << " (T " << s.temperature << " top_k " << s.top_k
                  << " top_p " << s.top_p << " min_p " << s.min_p << " u " << s.u << " adjust "
                  << s.adjust.size() << ")";
    if (++shown > 10) return;
  }
}

TEST(CudaSampleTest, KernelMatchesHostForManyParamsAndSizes) {
  MLXM_SKIP_WITHOUT_CUDA();
  int checked = 0, rounding = 0;
  uint32_t seed = 1;
  for (int32_t vocab : {128256, 1, 2, 3, 31, 1000, 1023, 1024, 1025, 4097, 50257}) {
    ASSERT_NO_FATAL_FAILURE(check_vocab(vocab, seed++, &checked, &rounding));
  }
  std::printf("[ cuda sample ] %d rows checked, %d differ by an expf rounding at a boundary\n",
              checked, rounding);
  EXPECT_LE(rounding * 100, checked) << "too many rounding differences";
}

// The same with few specs per launch: clusters of 16 (or 8), 8, 4 and 2 blocks per spec on
// sm_90 (each block a slice of the row, every reduction combined over the cluster), 1
// elsewhere.
TEST(CudaSampleTest, FewSpecsPerLaunchMatchHost) {
  MLXM_SKIP_WITHOUT_CUDA();
  int checked = 0, rounding = 0;
  uint32_t seed = 100;
  for (size_t per_launch : {size_t{1}, size_t{13}, size_t{30}, size_t{60}}) {
    for (int32_t vocab : {128256, 1, 3, 1025, 50257}) {
      ASSERT_NO_FATAL_FAILURE(check_vocab(vocab, seed++, &checked, &rounding, per_launch));
    }
  }
  std::printf("[ cuda sample ] %d rows checked in small launches, %d differ by an expf rounding "
              "at a boundary\n", checked, rounding);
  EXPECT_LE(rounding * 100, checked) << "too many rounding differences";
}

// Rows that cannot be sampled get their code; the other rows of the batch are unaffected.
TEST(CudaSampleTest, BadRowsGiveCodesOthersUnaffected) {
  MLXM_SKIP_WITHOUT_CUDA();
  const int32_t vocab = 3000;
  const size_t v = vocab;
  std::mt19937 rng(5);
  std::vector<std::vector<float>> r(6);
  for (auto& row : r) row = tie_free_row(v, 5.0f, rng);
  r[1][1234] = std::nanf("");
  r[2][2999] = kInf;
  std::fill(r[3].begin(), r[3].end(), -kInf);
  r[4][0] = std::nanf("");  // greedy row with a NaN: an error too (the host Sampler's rule)
  for (size_t i = 0; i < v; i += 2) r[5][i] = -kInf;  // some -inf: never drawn
  RowSampling s;
  s.temperature = 1.0f;
  s.top_p = 0.8f;
  s.u = 0.37;
  RowSampling g;  // greedy
  // One copy of the 7 specs (a launch of clusters on sm_90), then 11 (77 specs: one block each).
  for (int reps : {1, 11}) {
    std::vector<float> x;
    std::vector<RowSampling> specs;
    std::vector<int32_t> rows;
    for (int k = 0; k < reps; ++k) {
      for (auto& row : r) x.insert(x.end(), row.begin(), row.end());
      for (const RowSampling& spec : {s, s, s, s, g, s}) specs.push_back(spec);
      for (int32_t i = 0; i < 6; ++i) rows.push_back(6 * k + i);
    }
    specs.push_back(s);
    rows.push_back(6 * reps);  // outside x
    const std::vector<int32_t> ids = run_kernel(x, 6 * reps, vocab, specs, rows);
    ASSERT_EQ(ids.size(), static_cast<size_t>(6 * reps + 1));
    for (int k = 0; k < reps; ++k) {
      const int32_t* id = ids.data() + 6 * k;
      EXPECT_EQ(id[0], *sample_row(r[0], s)) << reps;
      EXPECT_EQ(id[1], kRowBadLogits) << reps;
      EXPECT_EQ(id[2], kRowBadLogits) << reps;
      EXPECT_EQ(id[3], kRowAllNegInf) << reps;
      EXPECT_EQ(id[4], kRowBadLogits) << reps;
      EXPECT_EQ(id[5], *sample_row(r[5], s)) << reps;
      EXPECT_EQ(id[5] % 2, 1) << reps;
    }
    EXPECT_EQ(ids.back(), cuda::kSampleBadRow) << reps;
  }
}

// Same inputs, same ids (integer sums: no run-to-run variation); greedy = lowest-index argmax.
TEST(CudaSampleTest, DeterministicAndGreedyTakesTheLowestIndex) {
  MLXM_SKIP_WITHOUT_CUDA();
  const int32_t vocab = 128256;
  std::mt19937 rng(9);
  std::vector<float> x;
  std::vector<RowSampling> specs;
  std::vector<int32_t> rows;
  std::mt19937_64 urng(3);
  std::uniform_real_distribution<double> unif(0.0, 1.0);
  for (int i = 0; i < 64; ++i) {
    std::vector<float> row = tie_free_row(static_cast<size_t>(vocab), 8.0f, rng);
    x.insert(x.end(), row.begin(), row.end());
    RowSampling s;
    s.temperature = 1.0f;
    s.top_p = i % 2 ? 0.9f : 1.0f;
    s.top_k = i % 3 == 0 ? 50 : 0;
    s.u = unif(urng);
    specs.push_back(s);
    rows.push_back(i);
  }
  const std::vector<int32_t> a = run_kernel(x, 64, vocab, specs, rows);
  const std::vector<int32_t> b = run_kernel(x, 64, vocab, specs, rows);
  EXPECT_TRUE(a == b);
  // Ties for the max: the lowest index wins.
  std::vector<float> tied(static_cast<size_t>(vocab), 0.5f);
  tied[77777] = 3.0f;
  tied[4242] = 3.0f;
  tied[100000] = 3.0f;
  const std::vector<int32_t> g = run_kernel(tied, 1, vocab, {RowSampling{}}, {0});
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0], 4242);
}

// Pending tokens (RowSampling::pending_row): the kernel adds prev_ids[pending_row] to the
// penalties as with_token() does on the host (the token new, in the list, biased only; greedy
// and sampled; a negative previous id leaves the list alone).
TEST(CudaSampleTest, PendingTokensTakeTheirPenalties) {
  MLXM_SKIP_WITHOUT_CUDA();
  const int32_t vocab = 1000;
  std::mt19937 rng(3);
  std::vector<float> x;
  std::vector<RowSampling> specs;
  const std::vector<int32_t> prev = {17, 250, 999, -2, 3};
  for (int j = 0; j < 20; ++j) {
    // Repeated values: the penalised token competes with others of its value.
    std::vector<float> row = tie_free_row(static_cast<size_t>(vocab), 6.0f, rng);
    for (int32_t t : prev) {
      if (t >= 0) row[static_cast<size_t>(t)] = row[static_cast<size_t>(t)] * 0.5f + 8.0f;
    }
    x.insert(x.end(), row.begin(), row.end());
    RowSampling s;
    s.temperature = j % 2 == 0 ? 0.0f : 0.8f;
    s.u = (j + 0.5) / 20.0;
    s.adjust = {{3, 1.0f, 1.0f, 0.0f, 0}, {250, 0.0f, 1.3f, 1.1f, 2}, {600, -1.0f, 1.0f, 0.0f, 0}};
    s.pending_row = j % 5;
    s.pending_rep = j % 3 == 0 ? 1.0f : 1.3f;
    s.pending_freq = j % 4 == 0 ? 0.0f : 0.7f;
    s.pending_presence = 0.4f;
    specs.push_back(s);
  }
  std::vector<cuda::SampleRowSpec> ds;
  std::vector<cuda::SampleAdjust> adj;
  for (size_t j = 0; j < specs.size(); ++j) {
    ds.push_back(device_row_spec(specs[j], static_cast<int32_t>(j), vocab, &adj));
  }
  cuda::DeviceBuffer dx = to_device(x);
  cuda::DeviceBuffer dspecs = to_device(ds);
  cuda::DeviceBuffer dadj = to_device(adj);
  cuda::DeviceBuffer dprev = to_device(prev);
  cuda::DeviceBuffer dids = testing::poisoned<int32_t>(specs.size());
  const int64_t n = static_cast<int64_t>(specs.size());
  const Status st = cuda::sample_rows(dx.as<float>(), n, vocab, dspecs.as<cuda::SampleRowSpec>(),
                                      n, dadj.as<cuda::SampleAdjust>(), dids.as<int32_t>(),
                                      nullptr, dprev.as<int32_t>());
  ASSERT_TRUE(st.ok()) << st.to_string();
  const std::vector<int32_t> ids = to_host<int32_t>(dids, specs.size());
  const size_t v = static_cast<size_t>(vocab);
  int changed = 0;
  for (size_t j = 0; j < specs.size(); ++j) {
    const std::vector<float> row(x.begin() + static_cast<std::ptrdiff_t>(j * v),
                                 x.begin() + static_cast<std::ptrdiff_t>((j + 1) * v));
    const int32_t p = prev[static_cast<size_t>(specs[j].pending_row)];
    RowSampling resolved = specs[j];
    if (p >= 0) {
      resolved = with_token(specs[j], p);
    } else {
      resolved.pending_row = -1;
    }
    const Result<int32_t> host = sample_row(row, resolved);
    ASSERT_TRUE(host.ok());
    EXPECT_EQ(ids[j], *host) << "spec " << j << " (previous token " << p << ")";
    RowSampling ignored = specs[j];
    ignored.pending_row = -1;
    const Result<int32_t> without = sample_row(row, ignored);
    changed += without.ok() && *without != *host ? 1 : 0;
  }
  EXPECT_GT(changed, 0) << "the pending token's penalty should change some draws";
}

// The CUDA engine's forward_sample = forward() + sample_row() on the same step: the sampled
// rows give the host's token for the same spec, the full rows come back bit-identical.
TEST(CudaSampleTest, EngineForwardSampleMatchesForward) {
  MLXM_SKIP_WITHOUT_CUDA();
  const std::unique_ptr<Engine> loaded = testing::load_golden_cuda();
  ASSERT_NE(loaded, nullptr);
  Engine& e = *loaded;
  ASSERT_TRUE(e.device_argmax());
  const int vocab = e.config().vocab_size;
  const Batch b = testing::golden_prefill(12, vocab, 37, 11, 2, {3, 7, 9, 11});
  std::vector<float> logits;
  Status st = e.forward(b, &logits);
  ASSERT_TRUE(st.ok()) << st.to_string();
  std::vector<RowSampling> rows(4);
  rows[0].temperature = 0.8f;
  rows[0].top_p = 0.9f;
  rows[0].u = 0.61;
  rows[0].adjust = {{5, 2.0f, 1.3f, 0.5f}, {17, -1.0f, 1.0f, 0.0f}};
  rows[1].full = true;
  rows[2].adjust = {{1, 0.0f, 1.2f, 0.0f}};  // greedy with a repetition penalty
  rows[3].temperature = 1.2f;
  rows[3].top_k = 20;
  rows[3].min_p = 0.01f;
  rows[3].u = 0.123;
  std::vector<int32_t> ids;
  std::vector<float> full;
  st = e.forward_sample(b, rows, &ids, &full);
  ASSERT_TRUE(st.ok()) << st.to_string();
  ASSERT_EQ(ids.size(), 4u);
  const size_t v = static_cast<size_t>(vocab);
  for (size_t r : {size_t{0}, size_t{2}, size_t{3}}) {
    const std::vector<float> row(logits.begin() + static_cast<std::ptrdiff_t>(r * v),
                                 logits.begin() + static_cast<std::ptrdiff_t>((r + 1) * v));
    auto host = sample_row(row, rows[r]);
    ASSERT_TRUE(host.ok());
    EXPECT_EQ(ids[r], *host) << "row " << r;
  }
  EXPECT_EQ(ids[1], kRowFull);
  ASSERT_EQ(full.size(), v);
  EXPECT_TRUE(std::equal(full.begin(), full.end(), logits.begin() + static_cast<std::ptrdiff_t>(v)));
  // A bad spec is an error of the call (nothing runs).
  rows[0].top_p = 0.0f;
  EXPECT_EQ(e.forward_sample(b, rows, &ids, &full).code(), StatusCode::kInvalidArgument);
  rows.pop_back();
  EXPECT_EQ(e.forward_sample(b, rows, &ids, &full).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mlxm::engine
