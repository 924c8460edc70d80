// The sampler's distribution against a plain double-precision reference (vLLM order: bias,
// penalties, temperature, min_p, top_k, top_p), and its draws against that distribution.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "engine/sample/sampler.h"

namespace mlxm::engine {
namespace {

// Reference: full sorts, double precision. Returns token -> probability.
std::map<int32_t, double> reference_distribution(const std::vector<float>& logits,
                                                 const SamplingParams& p) {
  const size_t n = logits.size();
  std::vector<double> w(logits.begin(), logits.end());
  for (const auto& [t, b] : p.logit_bias) w[static_cast<size_t>(t)] += b;
  std::vector<double> z(n);
  for (size_t i = 0; i < n; ++i) z[i] = w[i] / p.temperature;
  const double m = *std::max_element(z.begin(), z.end());
  std::vector<double> prob(n);
  for (size_t i = 0; i < n; ++i) prob[i] = std::exp(z[i] - m);
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return z[static_cast<size_t>(a)] > z[static_cast<size_t>(b)] ||
           (z[static_cast<size_t>(a)] == z[static_cast<size_t>(b)] && a < b);
  });
  std::vector<int32_t> kept;
  for (int32_t id : order) {
    if (p.min_p > 0 && prob[static_cast<size_t>(id)] < p.min_p * 1.0) continue;  // max prob = 1
    kept.push_back(id);
  }
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < kept.size()) kept.resize(p.top_k);
  double total = 0.0;
  for (int32_t id : kept) total += prob[static_cast<size_t>(id)];
  if (p.top_p < 1.0f) {
    double before = 0.0;
    size_t n_keep = 0;
    while (n_keep < kept.size() && before < p.top_p * total) {
      before += prob[static_cast<size_t>(kept[n_keep++])];
    }
    kept.resize(n_keep);
    total = before;
  }
  std::map<int32_t, double> out;
  for (int32_t id : kept) out[id] = prob[static_cast<size_t>(id)] / total;
  return out;
}

std::vector<float> random_logits(int n, uint32_t seed, float stddev) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return v;
}

TEST(SamplerDistributionTest, MatchesReferenceOnLargeVocabularies) {
  struct Case {
    float temperature, top_p, min_p;
    int top_k;
    float stddev;
  };
  const Case cases[] = {
      {1.0f, 1.0f, 0.0f, 0, 3.0f},    {0.7f, 0.9f, 0.0f, 0, 3.0f},
      {1.0f, 0.95f, 0.0f, 0, 0.5f},   // flat: the nucleus is most of the vocabulary
      {1.3f, 0.5f, 0.0f, 0, 6.0f},    {1.0f, 1.0f, 0.0f, 40, 3.0f},
      {0.8f, 0.9f, 0.0f, 50, 2.0f},   {1.0f, 1.0f, 0.0f, 1000, 2.0f},   // nth_element path
      {1.0f, 0.8f, 0.0f, 5000, 1.0f}, {1.0f, 1.0f, 0.05f, 0, 3.0f},
      {0.5f, 0.9f, 0.1f, 20, 3.0f},   {2.0f, 0.99f, 0.001f, 0, 4.0f},
  };
  Sampler s;
  SamplerState st(1);
  uint32_t seed = 100;
  for (const Case& c : cases) {
    const auto logits = random_logits(152064, seed++, c.stddev);
    SamplingParams p;
    p.temperature = c.temperature;
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    p.top_k = c.top_k;
    p.logit_bias = {{17, 5.0f}, {151000, -3.0f}};
    const auto ref = reference_distribution(logits, p);
    std::vector<std::pair<int32_t, double>> got;
    ASSERT_TRUE(s.distribution(logits, p, st, &got).ok());
    ASSERT_EQ(got.size(), ref.size()) << "T=" << c.temperature << " top_p=" << c.top_p
                                      << " min_p=" << c.min_p << " top_k=" << c.top_k;
    double max_err = 0.0;
    double sum = 0.0;
    for (const auto& [id, prob] : got) {
      auto it = ref.find(id);
      ASSERT_NE(it, ref.end()) << id;
      max_err = std::max(max_err, std::abs(prob - it->second) / it->second);
      sum += prob;
    }
    EXPECT_LT(max_err, 2e-5) << "relative probability error, top_k=" << c.top_k;
    EXPECT_NEAR(sum, 1.0, 1e-6);
    // And the draws land in the support.
    for (int i = 0; i < 20; ++i) {
      auto r = s.sample(logits, p, st);
      ASSERT_TRUE(r.ok());
      EXPECT_TRUE(ref.count(r->token)) << r->token;
    }
  }
}

// Pearson chi-square of `n_draws` seeded draws against `probs`.
double chi_square(Sampler& s, const std::vector<float>& logits, const SamplingParams& p,
                  const std::map<int32_t, double>& probs, int n_draws) {
  SamplerState st(p.seed);
  std::map<int32_t, int> counts;
  for (int i = 0; i < n_draws; ++i) {
    auto r = s.sample(logits, p, st);
    EXPECT_TRUE(r.ok());
    ++counts[r->token];
  }
  double chi2 = 0.0;
  for (const auto& [id, c] : counts) {
    EXPECT_TRUE(probs.count(id)) << "drew excluded token " << id;
  }
  for (const auto& [id, prob] : probs) {
    const double expected = prob * n_draws;
    const double d = counts[id] - expected;
    chi2 += d * d / expected;
  }
  return chi2;
}

TEST(SamplerDistributionTest, DrawsFollowSoftmaxChiSquare) {
  // Deterministic (seeded); the bound is loose: chi-square with 7 degrees of freedom exceeds
  // 30 with probability ~1e-4, so a correct sampler passes for almost every seed, while a
  // biased one (e.g. off-by-one in the inverse CDF, or the wrong temperature) is far above.
  Sampler s;
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f, -1.0f, 0.5f, 1.5f, -0.5f, 0.25f};
  SamplingParams p;
  p.seed = 2024;
  const int n = 200000;
  double chi2 = chi_square(s, logits, p, reference_distribution(logits, p), n);
  EXPECT_LT(chi2, 30.0);
  // The same draws judged against the T=0.8 distribution are far off: the test has power.
  SamplingParams cold = p;
  cold.temperature = 0.8f;
  EXPECT_GT(chi_square(s, logits, p, reference_distribution(logits, cold), n), 200.0);

  // Temperature and truncation: 3 tokens kept (2 degrees of freedom: 99.99% below 18.4).
  SamplingParams t = p;
  t.temperature = 0.6f;
  t.top_k = 4;
  t.top_p = 0.9f;
  const auto ref = reference_distribution(logits, t);
  ASSERT_EQ(ref.size(), 3u);
  EXPECT_LT(chi_square(s, logits, t, ref, n), 18.4);
  // Dense top_p path (no top_k).
  SamplingParams dense = p;
  dense.top_p = 0.7f;
  const auto ref_dense = reference_distribution(logits, dense);
  EXPECT_LT(chi_square(s, logits, dense, ref_dense, n),
            10.0 + 5.0 * static_cast<double>(ref_dense.size()));
}

}  // namespace
}  // namespace mlxm::engine
