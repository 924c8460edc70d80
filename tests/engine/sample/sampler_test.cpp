#include "engine/sample/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <vector>

namespace mlxm::engine {
namespace {

std::vector<float> random_logits(int n, uint32_t seed, float stddev = 3.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return v;
}

int32_t sample_token(Sampler& s, const std::vector<float>& logits, const SamplingParams& p,
                     SamplerState& st) {
  auto r = s.sample(logits, p, st);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r->token : -1;
}

// Processed logprobs of every token (top_logprobs = vocab size <= 20).
std::vector<float> all_logprobs(Sampler& s, const std::vector<float>& logits, SamplingParams p,
                                SamplerState& st) {
  p.top_logprobs = static_cast<int>(logits.size());
  auto r = s.sample(logits, p, st);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  std::vector<float> lp(logits.size(), 0.0f);
  for (const TokenLogprob& t : r->top_logprobs()) lp[static_cast<size_t>(t.token)] = t.logprob;
  return lp;
}

TEST(SamplerTest, GreedyPicksArgmaxTiesToLowestId) {
  Sampler s;
  SamplerState st(1);
  SamplingParams p;
  p.temperature = 0.0f;
  EXPECT_EQ(sample_token(s, {1.0f, 5.0f, 3.0f, 5.0f}, p, st), 1);
  EXPECT_EQ(sample_token(s, {-7.0f, -7.0f, -9.0f}, p, st), 0);
  const auto big = random_logits(152064, 3);
  const auto best = std::max_element(big.begin(), big.end()) - big.begin();
  EXPECT_EQ(sample_token(s, big, p, st), best);
  EXPECT_EQ(st.n_output(), 3);
}

TEST(SamplerTest, SmallTemperatureIsTheGreedyLimit) {
  Sampler s;
  SamplerState st(7);
  SamplingParams p;
  p.temperature = 1e-3f;  // second-best has probability exp(-100)
  const std::vector<float> logits = {0.0f, 1.0f, 0.9f, -3.0f};
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(sample_token(s, logits, p, st), 1);
}

TEST(SamplerTest, TopKOneAndTinyTopPEqualGreedy) {
  Sampler s;
  SamplerState st(11);
  SamplingParams k1;
  k1.top_k = 1;
  SamplingParams tiny_p;
  tiny_p.top_p = 1e-6f;
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  for (uint32_t seed = 0; seed < 30; ++seed) {
    auto logits = random_logits(seed % 2 ? 1000 : 152064, seed, 1.0f);
    logits[seed * 7 % 1000] = logits[seed * 13 % 1000] = 20.0f;  // a tie at the top
    const int32_t g = sample_token(s, logits, greedy, st);
    EXPECT_EQ(sample_token(s, logits, k1, st), g);
    EXPECT_EQ(sample_token(s, logits, tiny_p, st), g);
  }
}

TEST(SamplerTest, MinPKeepsTokensAboveFractionOfMax) {
  Sampler s;
  SamplerState st(1);
  SamplingParams p;
  p.min_p = 0.35f;  // keep p >= 0.175
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f),
                                     std::log(0.05f)};
  std::vector<std::pair<int32_t, double>> dist;
  ASSERT_TRUE(s.distribution(logits, p, st, &dist).ok());
  std::map<int32_t, double> m(dist.begin(), dist.end());
  ASSERT_EQ(m.size(), 2u);
  EXPECT_NEAR(m[0], 0.625, 1e-6);
  EXPECT_NEAR(m[1], 0.375, 1e-6);
  // min_p applies to the temperature-scaled distribution: at T = 2, p1/p0 = sqrt(0.6) and
  // p2/p0 = sqrt(0.3) = 0.548 >= 0.35: three tokens.
  p.temperature = 2.0f;
  ASSERT_TRUE(s.distribution(logits, p, st, &dist).ok());
  EXPECT_EQ(dist.size(), 3u);
}

TEST(SamplerTest, TopPKeepsTheSmallestPrefixReachingP) {
  Sampler s;
  SamplerState st(1);
  const std::vector<float> logits = {std::log(0.15f), std::log(0.5f), std::log(0.05f),
                                     std::log(0.3f)};
  SamplingParams p;
  p.top_p = 0.75f;  // 0.5 (< 0.75 before it: keep 0.3), then 0.8 >= 0.75: stop
  std::vector<std::pair<int32_t, double>> dist;
  ASSERT_TRUE(s.distribution(logits, p, st, &dist).ok());
  std::map<int32_t, double> m(dist.begin(), dist.end());
  ASSERT_EQ(m.size(), 2u);
  EXPECT_NEAR(m[1], 0.625, 1e-6);
  EXPECT_NEAR(m[3], 0.375, 1e-6);
  p.top_p = 0.85f;
  ASSERT_TRUE(s.distribution(logits, p, st, &dist).ok());
  EXPECT_EQ(dist.size(), 3u);
  // top_k then top_p: top_k = 2 renormalises {0.5, 0.3} to {0.625, 0.375}; top_p 0.6 keeps 1.
  p.top_k = 2;
  p.top_p = 0.6f;
  ASSERT_TRUE(s.distribution(logits, p, st, &dist).ok());
  ASSERT_EQ(dist.size(), 1u);
  EXPECT_EQ(dist[0].first, 1);
}

TEST(SamplerTest, RepetitionPenaltyDividesPositiveMultipliesNegative) {
  Sampler s;
  SamplerState st(1);
  const std::vector<int32_t> prompt = {0, 0, 4};
  st.set_prompt(prompt);
  st.record_output(1);
  st.record_output(4);  // in both prompt and output: penalised once
  SamplingParams p;
  p.temperature = 0.0f;
  p.repetition_penalty = 2.0f;
  const std::vector<float> logits = {2.0f, -2.0f, 1.0f, 0.5f, 3.0f};
  const std::vector<float> expect = {1.0f, -4.0f, 1.0f, 0.5f, 1.5f};
  const auto lp = all_logprobs(s, logits, p, st);
  for (size_t i = 1; i < logits.size(); ++i) {
    EXPECT_NEAR(lp[i] - lp[0], expect[i] - expect[0], 1e-5) << i;
  }
}

TEST(SamplerTest, FrequencyAndPresencePenaltiesOverOutputOnly) {
  Sampler s;
  SamplerState st(1);
  const std::vector<int32_t> prompt = {0};  // prompt tokens are not frequency-penalised
  st.set_prompt(prompt);
  for (int32_t t : {2, 2, 3}) st.record_output(t);
  EXPECT_EQ(st.output_count(2), 2);
  EXPECT_EQ(st.output_count(0), 0);
  SamplingParams p;
  p.temperature = 0.0f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  const std::vector<float> logits = {1.0f, 1.0f, 1.0f, 1.0f};
  const std::vector<float> expect = {1.0f, 1.0f, 1.0f - 1.0f - 0.25f, 1.0f - 0.5f - 0.25f};
  const auto lp = all_logprobs(s, logits, p, st);
  for (size_t i = 1; i < logits.size(); ++i) {
    EXPECT_NEAR(lp[i] - lp[0], expect[i] - expect[0], 1e-5) << i;
  }
}

TEST(SamplerTest, LogitBiasIsAppliedBeforePenalties) {
  Sampler s;
  SamplerState st(1);
  st.record_output(0);
  SamplingParams p;
  p.temperature = 0.0f;
  p.logit_bias = {{0, 3.0f}};
  p.repetition_penalty = 2.0f;
  // vLLM order: (2 + 3) / 2 = 2.5 (penalty first would give 2 / 2 + 3 = 4).
  const auto lp = all_logprobs(s, {2.0f, 0.0f}, p, st);
  EXPECT_NEAR(lp[0] - lp[1], 2.5f, 1e-5);
}

TEST(SamplerTest, LogitBiasForcesAndBansTokens) {
  Sampler s;
  SamplerState st(5);
  const auto logits = random_logits(32000, 9, 2.0f);
  SamplingParams force;
  force.logit_bias = {{12345, 100.0f}};
  for (int i = 0; i < 50; ++i) ASSERT_EQ(sample_token(s, logits, force, st), 12345);
  SamplingParams ban;
  ban.temperature = 0.0f;
  const int32_t best = sample_token(s, logits, ban, st);
  ban.logit_bias = {{best, -100.0f}};
  EXPECT_NE(sample_token(s, logits, ban, st), best);
}

TEST(SamplerTest, SeededSequencesAreReproducibleAndIndependentOfTheBatch) {
  const auto logits_a = random_logits(50000, 1, 3.0f);
  const auto logits_b = random_logits(50000, 2, 3.0f);
  SamplingParams pa;
  pa.seed = 1234;
  pa.top_p = 0.95f;
  SamplingParams pb;
  pb.seed = 99;
  pb.top_k = 40;
  Sampler s1;
  SamplerState alone(pa.seed);
  std::vector<int32_t> ref;
  for (int i = 0; i < 64; ++i) ref.push_back(sample_token(s1, logits_a, pa, alone));
  // Same seed, interleaved with another sequence on the same Sampler ("batch").
  Sampler s2;
  SamplerState a(pa.seed), b(pb.seed), c(std::nullopt);
  std::vector<int32_t> got;
  for (int i = 0; i < 64; ++i) {
    sample_token(s2, logits_b, pb, b);
    got.push_back(sample_token(s2, logits_a, pa, a));
    sample_token(s2, logits_b, SamplingParams{}, c);
  }
  EXPECT_EQ(got, ref);
  // A different seed gives a different sequence.
  SamplerState other(pa.seed.value() + 1);
  std::vector<int32_t> diff;
  for (int i = 0; i < 64; ++i) diff.push_back(sample_token(s1, logits_a, pa, other));
  EXPECT_NE(diff, ref);
}

TEST(SamplerTest, LogprobsAreANormalisedLogSoftmax) {
  Sampler s;
  SamplerState st(3);
  const auto logits = random_logits(20, 4);
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_k = 5;  // truncation does not change reported logprobs
  p.top_logprobs = 20;
  auto r = s.sample(logits, p, st);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_logprobs);
  ASSERT_EQ(r->n_top, 20);
  double sum = 0.0;
  double m = *std::max_element(logits.begin(), logits.end());
  double z = 0.0;
  for (float x : logits) z += std::exp(x - m);
  for (size_t i = 0; i < r->top_logprobs().size(); ++i) {
    const TokenLogprob& t = r->top_logprobs()[i];
    sum += std::exp(t.logprob);
    EXPECT_NEAR(t.logprob, logits[static_cast<size_t>(t.token)] - m - std::log(z), 1e-5);
    if (i > 0) {
      EXPECT_GE(r->top_logprobs()[i - 1].logprob, t.logprob);
    }
    if (t.token == r->token) {
      EXPECT_EQ(t.logprob, r->logprob);
    }
  }
  EXPECT_NEAR(sum, 1.0, 1e-5);

  // Large vocabulary: the chosen token's logprob matches a double-precision log-softmax.
  const auto big = random_logits(152064, 5);
  SamplingParams only;
  only.logprobs = true;
  only.top_logprobs = 3;
  r = s.sample(big, only, st);
  ASSERT_TRUE(r.ok());
  m = *std::max_element(big.begin(), big.end());
  z = 0.0;
  for (float x : big) z += std::exp(static_cast<double>(x) - m);
  EXPECT_NEAR(r->logprob, big[static_cast<size_t>(r->token)] - m - std::log(z), 2e-5);
  ASSERT_EQ(r->n_top, 3);
  EXPECT_NEAR(r->top[0].logprob, -std::log(z), 2e-5);  // the max
}

TEST(SamplerTest, LogprobModes) {
  Sampler s;
  SamplerState st(3);
  const std::vector<float> logits = {0.0f, 0.0f};
  SamplingParams p;
  p.temperature = 0.0f;
  p.logprobs = true;
  p.logit_bias = {{1, std::log(3.0f)}};
  auto r = s.sample(logits, p, st);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->token, 1);
  EXPECT_NEAR(r->logprob, std::log(0.75), 1e-6);  // processed: includes the bias
  p.logprobs_mode = LogprobsMode::kRaw;
  r = s.sample(logits, p, st);
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->logprob, std::log(0.5), 1e-6);
  // Not requested: none reported.
  r = s.sample(logits, SamplingParams{}, st);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_logprobs);
  EXPECT_EQ(r->n_top, 0);
}

TEST(SamplerTest, BadInputIsAnError) {
  Sampler s;
  SamplerState st(1);
  SamplingParams p;
  EXPECT_EQ(s.sample({}, p, st).status().code(), StatusCode::kInvalidArgument);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(s.sample(std::vector<float>{1.0f, nan, 2.0f}, p, st).ok());
  EXPECT_FALSE(s.sample(std::vector<float>{1.0f, inf}, p, st).ok());
  EXPECT_FALSE(s.sample(std::vector<float>{-inf, -inf}, p, st).ok());
  EXPECT_TRUE(s.sample(std::vector<float>{-inf, 0.0f}, p, st).ok());  // -inf is a mask
  p.top_p = 0.0f;
  EXPECT_FALSE(s.sample(std::vector<float>{1.0f, 2.0f}, p, st).ok());
  p = SamplingParams{};
  p.logit_bias = {{2, 1.0f}};
  auto r = s.sample(std::vector<float>{1.0f, 2.0f}, p, st);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("logit_bias"), std::string::npos);
  // A penalised token beyond this vocabulary.
  SamplerState wrong(1);
  wrong.record_output(7);
  p = SamplingParams{};
  p.presence_penalty = 1.0f;
  EXPECT_FALSE(s.sample(std::vector<float>{1.0f, 2.0f}, p, wrong).ok());
  EXPECT_EQ(wrong.n_output(), 1);  // nothing recorded on failure
}

}  // namespace
}  // namespace mlxm::engine
