// The row-sampling algorithm (engine/row_sampling.h, the host twin of the CUDA sampling kernel)
// against the host Sampler: the same kept set and probabilities for many parameter
// combinations, the RNG advanced exactly as Sampler::sample() advances it, draws that follow
// the distribution, and clear errors for bad rows and specs.
#include "engine/row_sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "engine/sample/sampler.h"

namespace mlxm::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Tie-free logits: a random permutation of distinct values spread like scale·t³ (a few large,
// many small), so thresholds never fall on ties.
std::vector<float> tie_free_logits(size_t n, float scale, uint32_t seed) {
  std::vector<int> perm(n);
  for (size_t i = 0; i < n; ++i) perm[i] = static_cast<int>(i);
  std::mt19937 rng(seed);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    const float t = (static_cast<float>(perm[i]) + 0.5f) / static_cast<float>(n) - 0.5f;
    x[i] = scale * 8.0f * t * t * t + 0.25f * scale * t;
  }
  return x;
}

struct Case {
  float temperature;
  int top_k;
  float top_p;
  float min_p;
  float rep = 1.0f;
  float freq = 0.0f;
  float pres = 0.0f;
  bool bias = false;
};

SamplingParams params_of(const Case& c, size_t vocab) {
  SamplingParams p;
  p.temperature = c.temperature;
  p.top_k = c.top_k;
  p.top_p = c.top_p;
  p.min_p = c.min_p;
  p.repetition_penalty = c.rep;
  p.frequency_penalty = c.freq;
  p.presence_penalty = c.pres;
  if (c.bias) {
    p.logit_bias = {{3, 2.5f}, {static_cast<int32_t>(vocab - 1), -1.5f}, {7, 4.0f}, {11, -100.0f}};
  }
  return p;
}

SamplerState state_with_history(uint64_t seed, size_t vocab) {
  SamplerState s(seed);
  const std::vector<int32_t> prompt = {1, 5, 7, 7, 20, static_cast<int32_t>(vocab - 2)};
  s.set_prompt(prompt);
  for (int32_t t : {5, 9, 9, 9, 13, 40}) s.record_output(t % static_cast<int32_t>(vocab));
  return s;
}

// Compares row_distribution(make_row_sampling(...)) with Sampler::distribution(...).
void expect_same_distribution(const std::vector<float>& logits, const Case& c, uint64_t seed) {
  const SamplingParams p = params_of(c, logits.size());
  SamplerState state = state_with_history(seed, logits.size());
  std::vector<std::pair<int32_t, double>> ref, mine;
  Sampler sampler;
  ASSERT_TRUE(sampler.distribution(logits, p, state, &ref).ok());
  const RowSampling spec = make_row_sampling(p, state);
  ASSERT_TRUE(row_distribution(logits, spec, &mine).ok());
  std::map<int32_t, double> ref_map(ref.begin(), ref.end());
  std::map<int32_t, double> mine_map(mine.begin(), mine.end());
  const std::string what = "T=" + std::to_string(c.temperature) + " k=" + std::to_string(c.top_k) +
                           " p=" + std::to_string(c.top_p) + " min_p=" + std::to_string(c.min_p) +
                           " rep=" + std::to_string(c.rep) + " freq=" + std::to_string(c.freq) +
                           " pres=" + std::to_string(c.pres) + " bias=" + std::to_string(c.bias) +
                           " V=" + std::to_string(logits.size());
  double sum = 0.0;
  for (const auto& [t, pr] : mine_map) {
    sum += pr;
    auto it = ref_map.find(t);
    ASSERT_TRUE(it != ref_map.end()) << what << ": token " << t << " (p " << pr
                                     << ") is not in the Sampler's set";
    EXPECT_NEAR(pr, it->second, 2e-6 * it->second + 1e-11) << what << ": token " << t;
  }
  EXPECT_NEAR(sum, 1.0, 1e-9) << what;
  // Every token the Sampler can draw with a non-negligible probability is kept (tokens below
  // 2^-40 of the most likely one have no integer mass).
  for (const auto& [t, pr] : ref_map) {
    if (pr > 1e-10) {
      EXPECT_TRUE(mine_map.count(t)) << what << ": token " << t << " (p " << pr << ") dropped";
    }
  }
}

TEST(RowSamplingTest, SameDistributionAsSamplerForManyParams) {
  std::vector<Case> cases;
  for (float t : {0.3f, 0.8f, 1.0f, 1.7f}) {
    for (int k : {0, 1, 3, 40, 999, 5000}) {
      for (float tp : {1.0f, 0.97f, 0.6f, 0.15f}) {
        for (float mp : {0.0f, 0.02f, 0.4f}) cases.push_back({t, k, tp, mp});
      }
    }
  }
  // Bias and penalties (flattened into adjustments), alone and with truncation.
  for (float t : {0.5f, 1.0f}) {
    cases.push_back({t, 0, 1.0f, 0.0f, 1.3f});
    cases.push_back({t, 0, 1.0f, 0.0f, 0.7f});
    cases.push_back({t, 0, 1.0f, 0.0f, 1.0f, 0.6f, 0.0f});
    cases.push_back({t, 0, 1.0f, 0.0f, 1.0f, 0.0f, -1.2f});
    cases.push_back({t, 0, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f, true});
    cases.push_back({t, 20, 0.9f, 0.05f, 1.2f, 0.5f, 0.4f, true});
    cases.push_back({t, 0, 0.8f, 0.0f, 1.5f, -0.3f, 1.1f, true});
  }
  int n = 0;
  for (size_t vocab : {size_t{1000}, size_t{257}}) {
    for (float scale : {2.0f, 12.0f}) {
      const std::vector<float> logits = tie_free_logits(vocab, scale, static_cast<uint32_t>(vocab) + 7);
      for (const Case& c : cases) {
        expect_same_distribution(logits, c, 100 + static_cast<uint64_t>(n++));
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
}

TEST(RowSamplingTest, GreedyIsTheArgmaxOfTheAdjustedLogits) {
  const std::vector<float> logits = tie_free_logits(300, 5.0f, 3);
  for (bool bias : {false, true}) {
    Case c{0.0f, 0, 1.0f, 0.0f, 1.4f, 0.3f, 0.2f, bias};
    const SamplingParams p = params_of(c, logits.size());
    SamplerState s1 = state_with_history(1, logits.size());
    SamplerState s2 = state_with_history(1, logits.size());
    Sampler sampler;
    auto ref = sampler.sample(logits, p, s1);
    ASSERT_TRUE(ref.ok());
    const RowSampling spec = make_row_sampling(p, s2);
    EXPECT_TRUE(spec.greedy());
    auto mine = sample_row(logits, spec);
    ASSERT_TRUE(mine.ok());
    EXPECT_EQ(*mine, ref->token);
    // Greedy draws nothing: both RNGs are where they started.
    EXPECT_EQ(s1.next_uniform(), s2.next_uniform());
  }
  // Ties: the lowest index wins.
  const std::vector<float> tied = {1.0f, 3.0f, -2.0f, 3.0f, 3.0f};
  RowSampling g;
  auto id = sample_row(tied, g);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 1);
}

// One uniform per sampled token, from the sequence's RNG, as Sampler::sample() takes it: the
// state after make_row_sampling + record_output equals the state after Sampler::sample.
TEST(RowSamplingTest, AdvancesTheRngLikeTheSampler) {
  const std::vector<float> logits = tie_free_logits(500, 4.0f, 11);
  SamplingParams p;
  p.temperature = 0.9f;
  p.top_p = 0.9f;
  p.seed = 77;
  SamplerState host(p.seed), dev(p.seed);
  Sampler sampler;
  for (int step = 0; step < 20; ++step) {
    ASSERT_TRUE(sampler.sample(logits, p, host).ok());
    const RowSampling spec = make_row_sampling(p, dev);
    auto t = sample_row(logits, spec);
    ASSERT_TRUE(t.ok());
    dev.record_output(*t);
  }
  EXPECT_EQ(host.n_output(), dev.n_output());
  EXPECT_EQ(host.next_uniform(), dev.next_uniform());
}

TEST(RowSamplingTest, SeededStreamsReproduce) {
  const std::vector<float> logits = tie_free_logits(2000, 3.0f, 5);
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 50;
  p.top_p = 0.95f;
  p.min_p = 0.01f;
  p.frequency_penalty = 0.4f;
  auto run = [&](uint64_t seed) {
    SamplerState s(seed);
    s.set_prompt(std::vector<int32_t>{1, 2, 3});
    std::vector<int32_t> out;
    for (int i = 0; i < 40; ++i) {
      auto t = sample_row(logits, make_row_sampling(p, s));
      EXPECT_TRUE(t.ok());
      out.push_back(*t);
      s.record_output(*t);
    }
    return out;
  };
  EXPECT_EQ(run(9), run(9));
  EXPECT_NE(run(9), run(10));
}

// The draw maps u to tokens by prefix sums: over a fine grid of u each token is drawn in
// proportion to its probability (to one grid step).
TEST(RowSamplingTest, DrawsFollowTheDistribution) {
  const std::vector<float> logits = tie_free_logits(400, 6.0f, 21);
  for (const Case& c : {Case{1.0f, 0, 1.0f, 0.0f}, Case{0.7f, 30, 0.9f, 0.0f},
                        Case{1.3f, 0, 0.5f, 0.05f}}) {
    RowSampling s;
    s.temperature = c.temperature;
    s.top_k = c.top_k;
    s.top_p = c.top_p;
    s.min_p = c.min_p;
    std::vector<std::pair<int32_t, double>> dist;
    ASSERT_TRUE(row_distribution(logits, s, &dist).ok());
    constexpr int kN = 50000;
    std::map<int32_t, int> count;
    for (int i = 0; i < kN; ++i) {
      s.u = (i + 0.5) / kN;
      auto t = sample_row(logits, s);
      ASSERT_TRUE(t.ok());
      ++count[*t];
    }
    int total = 0;
    for (const auto& [t, pr] : dist) {
      EXPECT_NEAR(count[t], pr * kN, 1.01) << "token " << t;
      total += count[t];
    }
    EXPECT_EQ(total, kN) << "a token outside the distribution was drawn";
  }
}

TEST(RowSamplingTest, TopKKeepsEveryTieAtTheThreshold) {
  const std::vector<float> x = {0.0f, 2.0f, 1.0f, 1.0f, 3.0f, 1.0f, -1.0f};
  RowSampling s;
  s.temperature = 1.0f;
  s.top_k = 3;  // 3.0, 2.0 and the three 1.0s
  std::vector<std::pair<int32_t, double>> d;
  ASSERT_TRUE(row_distribution(x, s, &d).ok());
  std::vector<int32_t> ids;
  for (const auto& [t, pr] : d) ids.push_back(t);
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 2, 3, 4, 5}));
}

TEST(RowSamplingTest, BadRowsGiveCodesAndBadSpecsErrors) {
  RowSampling s;
  s.temperature = 1.0f;
  s.u = 0.5;
  std::vector<float> x = {0.0f, 1.0f, std::nanf(""), 2.0f};
  auto r = sample_row(x, s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, kRowBadLogits);
  x[2] = kInf;
  EXPECT_EQ(*sample_row(x, s), kRowBadLogits);
  RowSampling greedy;
  EXPECT_EQ(*sample_row(x, greedy), kRowBadLogits);
  const std::vector<float> all_neg(5, -kInf);
  EXPECT_EQ(*sample_row(all_neg, s), kRowAllNegInf);
  EXPECT_EQ(*sample_row(all_neg, greedy), kRowAllNegInf);
  std::vector<std::pair<int32_t, double>> d;
  const Status st = row_distribution(all_neg, s, &d);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("-inf"), std::string::npos) << st.message();
  EXPECT_NE(row_sample_error(kRowBadLogits).message().find("NaN"), std::string::npos);
  // -inf entries are fine: never drawn.
  const std::vector<float> some_neg = {-kInf, 0.5f, -kInf, 0.25f};
  for (double u : {0.0, 0.3, 0.6, 0.999999}) {
    s.u = u;
    const int32_t t = *sample_row(some_neg, s);
    EXPECT_TRUE(t == 1 || t == 3) << t;
  }

  const std::vector<float> ok_row = {0.0f, 1.0f, 2.0f};
  auto expect_bad = [&](RowSampling b, const char* field) {
    auto res = sample_row(ok_row, b);
    ASSERT_FALSE(res.ok()) << field;
    EXPECT_EQ(res.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(res.status().message().find(field), std::string::npos) << res.status().message();
  };
  RowSampling b = s;
  b.top_p = 0.0f;
  expect_bad(b, "top_p");
  b = s;
  b.min_p = 1.5f;
  expect_bad(b, "min_p");
  b = s;
  b.u = 1.0;
  expect_bad(b, "u must");
  b = s;
  b.temperature = std::nanf("");
  expect_bad(b, "temperature");
  b = s;
  b.adjust = {{2, 1.0f, 1.0f, 0.0f}, {1, 1.0f, 1.0f, 0.0f}};
  expect_bad(b, "ascending");
  b = s;
  b.adjust = {{3, 1.0f, 1.0f, 0.0f}};
  expect_bad(b, "outside the vocabulary");
  b = s;
  b.adjust = {{0, 1.0f, 0.0f, 0.0f}};
  expect_bad(b, "repetition");
  EXPECT_EQ(check_row_specs({s}, 2, 3).code(), StatusCode::kInvalidArgument);
}

// row_logprobs (the device logprobs' host twin) reports what Sampler::sample does for the same
// token: raw and processed, with bias and penalties, greedy and sampled, 0 to 20 top tokens.
TEST(RowSamplingTest, LogprobsAsTheSamplerReportsThem) {
  const std::vector<float> logits = tie_free_logits(500, 6.0f, 11);
  int n = 0;
  for (LogprobsMode mode : {LogprobsMode::kProcessed, LogprobsMode::kRaw}) {
    for (int top : {0, 1, 5, 20}) {
      for (const Case& c : {Case{0.0f, 0, 1.0f, 0.0f},
                            Case{0.9f, 40, 0.9f, 0.0f, 1.3f, 0.4f, 0.2f, true},
                            Case{0.0f, 0, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f, true}}) {
        SamplingParams p = params_of(c, logits.size());
        p.logprobs = true;
        p.top_logprobs = top;
        p.logprobs_mode = mode;
        SamplerState ref_state = state_with_history(7 + static_cast<uint64_t>(n), logits.size());
        SamplerState state = state_with_history(7 + static_cast<uint64_t>(n), logits.size());
        ++n;
        Sampler sampler;
        const Result<SampleResult> ref = sampler.sample(logits, p, ref_state);
        ASSERT_TRUE(ref.ok()) << ref.status().to_string();
        const RowSampling spec = make_row_sampling(p, state);
        EXPECT_EQ(spec.logprobs, top);
        EXPECT_EQ(spec.logprobs_raw, mode == LogprobsMode::kRaw);
        SampleResult mine;
        ASSERT_TRUE(row_logprobs(logits, spec, ref->token, &mine).ok());
        EXPECT_EQ(mine.token, ref->token);
        EXPECT_TRUE(mine.has_logprobs);
        EXPECT_FLOAT_EQ(mine.logprob, ref->logprob);
        ASSERT_EQ(mine.n_top, ref->n_top);
        for (int i = 0; i < mine.n_top; ++i) {
          EXPECT_EQ(mine.top[static_cast<size_t>(i)].token, ref->top[static_cast<size_t>(i)].token);
          EXPECT_FLOAT_EQ(mine.top[static_cast<size_t>(i)].logprob,
                          ref->top[static_cast<size_t>(i)].logprob);
        }
      }
    }
  }
  // Raw and processed differ where the bias moves a token.
  SamplingParams p;
  p.temperature = 0.0f;
  p.top_logprobs = 1;
  p.logit_bias = {{42, 50.0f}};
  SamplerState st(1);
  RowSampling spec = make_row_sampling(p, st);
  SampleResult processed, raw;
  ASSERT_TRUE(row_logprobs(logits, spec, 42, &processed).ok());
  spec.logprobs_raw = true;
  ASSERT_TRUE(row_logprobs(logits, spec, 42, &raw).ok());
  EXPECT_EQ(processed.top[0].token, 42);
  EXPECT_GT(processed.logprob, -1e-3f);
  EXPECT_NE(raw.top[0].token, 42);
  EXPECT_LT(raw.logprob, processed.logprob);
  // Bad arguments: a token outside the vocabulary, a spec asking for none or for too many.
  EXPECT_EQ(row_logprobs(logits, spec, 500, &raw).code(), StatusCode::kInvalidArgument);
  spec.logprobs = -1;
  EXPECT_EQ(row_logprobs(logits, spec, 3, &raw).code(), StatusCode::kInvalidArgument);
  spec.logprobs = 21;
  const Status bad = row_logprobs(logits, spec, 3, &raw);
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("logprobs"), std::string::npos) << bad.message();
}

// A mask (step 0) is what a logits processor's -inf would be: the distribution, the greedy
// token and the logprobs (raw too) over the masked row; a mask of the wrong length is an error.
TEST(RowSamplingTest, MaskIsTheProcessorsMinusInfinity) {
  const std::vector<float> logits = tie_free_logits(300, 5.0f, 21);
  std::vector<uint64_t> mask((300 + 63) / 64, 0);
  std::vector<float> masked_row(logits.size(), -kInf);
  for (size_t i = 0; i < logits.size(); ++i) {
    if (i % 7 == 2 || i == 299) {
      mask[i / 64] |= uint64_t{1} << (i % 64);
      masked_row[i] = logits[i];
    }
  }
  for (const Case& c :
       {Case{0.0f, 0, 1.0f, 0.0f}, Case{0.8f, 5, 0.9f, 0.0f, 1.2f, 0.3f, 0.1f, true}}) {
    for (bool raw : {false, true}) {
      SamplingParams p = params_of(c, logits.size());
      p.top_logprobs = 4;
      p.logprobs_mode = raw ? LogprobsMode::kRaw : LogprobsMode::kProcessed;
      SamplerState ref_state = state_with_history(3, logits.size());
      SamplerState state = state_with_history(3, logits.size());
      std::vector<std::pair<int32_t, double>> ref, mine;
      Sampler sampler;
      ASSERT_TRUE(sampler.distribution(masked_row, p, ref_state, &ref).ok());
      RowSampling spec = make_row_sampling(p, state);
      spec.mask = mask;
      ASSERT_TRUE(row_distribution(logits, spec, &mine).ok());
      ASSERT_EQ(mine.size(), ref.size());
      std::map<int32_t, double> ref_map(ref.begin(), ref.end());
      for (const auto& [t, pr] : mine) {
        EXPECT_TRUE(t % 7 == 2 || t == 299) << "token " << t << " is masked out";
        EXPECT_NEAR(pr, ref_map[t], 2e-6 * ref_map[t] + 1e-11);
      }
      const Result<int32_t> token = sample_row(logits, spec);
      ASSERT_TRUE(token.ok());
      EXPECT_TRUE(*token % 7 == 2 || *token == 299) << *token;
      SampleResult want, got;
      const Result<SampleResult> drawn = sampler.sample(masked_row, p, ref_state);
      ASSERT_TRUE(drawn.ok());
      ASSERT_TRUE(row_logprobs(logits, spec, drawn->token, &got).ok());
      EXPECT_FLOAT_EQ(got.logprob, drawn->logprob);
      ASSERT_EQ(got.n_top, drawn->n_top);
      for (size_t k = 0; k < static_cast<size_t>(got.n_top); ++k) {
        EXPECT_EQ(got.top[k].token, drawn->top[k].token);
        EXPECT_FLOAT_EQ(got.top[k].logprob, drawn->top[k].logprob);
      }
    }
  }
  RowSampling bad;
  bad.mask.assign(4, ~uint64_t{0});
  const Status st = validate_row_sampling(bad, 300);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("mask"), std::string::npos) << st.message();
  bad.mask.assign(5, 0);  // nothing allowed: every logit -inf
  const Result<int32_t> none = sample_row(logits, bad);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, kRowAllNegInf);
}

TEST(RowSamplingTest, FlattensBiasAndPenaltiesPerToken) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.repetition_penalty = 1.5f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  p.logit_bias = {{9, 1.0f}, {2, -3.0f}, {9, 0.5f}};
  SamplerState s(1);
  s.set_prompt(std::vector<int32_t>{4, 2});
  s.record_output(6);
  s.record_output(4);
  s.record_output(6);
  const RowSampling r = make_row_sampling(p, s);
  ASSERT_EQ(r.adjust.size(), 4u);
  EXPECT_EQ(r.adjust[0].token, 2);
  EXPECT_EQ(r.adjust[0].add, -3.0f);
  EXPECT_EQ(r.adjust[0].rep, 1.5f);
  EXPECT_EQ(r.adjust[0].sub, 0.0f);
  EXPECT_EQ(r.adjust[1].token, 4);
  EXPECT_EQ(r.adjust[1].rep, 1.5f);
  EXPECT_EQ(r.adjust[1].sub, 0.5f * 1 + 0.25f);
  EXPECT_EQ(r.adjust[2].token, 6);
  EXPECT_EQ(r.adjust[2].rep, 1.5f);
  EXPECT_EQ(r.adjust[2].sub, 0.5f * 2 + 0.25f);
  EXPECT_EQ(r.adjust[3].token, 9);
  EXPECT_EQ(r.adjust[3].add, 1.5f);
  EXPECT_EQ(r.adjust[3].rep, 1.0f);
  EXPECT_TRUE(r.u >= 0.0 && r.u < 1.0);
}

// with_token(spec built without the last token, token) is the spec built with it, bit for bit:
// every mix of repetition, frequency, presence and bias, for tokens new, in the prompt, in the
// output and biased; without penalties nothing is pending; a bad pending_row is an error.
TEST(RowSamplingTest, WithTokenIsTheSpecWithTheTokenRecorded) {
  std::mt19937 rng(5);
  int n = 0;
  for (float rep : {1.0f, 1.3f, 0.8f}) {
    for (float freq : {0.0f, 0.7f, -0.4f}) {
      for (float pres : {0.0f, 0.3f, 1.1f}) {
        for (bool bias : {false, true}) {
          SamplingParams p;
          p.temperature = 0.9f;
          p.repetition_penalty = rep;
          p.frequency_penalty = freq;
          p.presence_penalty = pres;
          if (bias) p.logit_bias = {{3, 2.0f}, {17, -1.0f}, {40, 0.5f}};
          for (int32_t token : {3, 5, 8, 17, 33, 40, 49}) {
            SamplerState before(11), after(11);
            for (SamplerState* st : {&before, &after}) {
              st->set_prompt(std::vector<int32_t>{5, 9, 17, 33});
              for (int32_t t : {8, 8, 21, 33, 40}) st->record_output(t);
            }
            after.record_output(token);
            RowSampling pending = make_row_sampling(p, before);
            mark_pending(p, 2, &pending);
            const RowSampling want = make_row_sampling(p, after);
            const bool penalised = rep != 1.0f || freq != 0.0f || pres != 0.0f;
            EXPECT_EQ(pending.pending_row, penalised ? 2 : -1);
            const RowSampling got = with_token(pending, token);
            EXPECT_EQ(got.pending_row, -1);
            EXPECT_EQ(got.u, want.u);
            const std::string what = "rep " + std::to_string(rep) + " freq " +
                                     std::to_string(freq) + " pres " + std::to_string(pres) +
                                     " bias " + std::to_string(bias) + " token " +
                                     std::to_string(token);
            ASSERT_EQ(got.adjust.size(), want.adjust.size()) << what;
            for (size_t i = 0; i < got.adjust.size(); ++i) {
              EXPECT_EQ(got.adjust[i].token, want.adjust[i].token) << what;
              EXPECT_EQ(got.adjust[i].add, want.adjust[i].add) << what;
              EXPECT_EQ(got.adjust[i].rep, want.adjust[i].rep) << what;
              EXPECT_EQ(got.adjust[i].sub, want.adjust[i].sub) << what;
              EXPECT_EQ(got.adjust[i].count, want.adjust[i].count) << what;
            }
            ++n;
          }
        }
      }
    }
  }
  EXPECT_EQ(n, 3 * 3 * 3 * 2 * 7);
  RowSampling bad;
  bad.pending_row = -2;
  EXPECT_EQ(validate_row_sampling(bad, 50).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mlxm::engine
