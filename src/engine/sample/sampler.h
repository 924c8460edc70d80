// The token sampler: one call per sequence per step, over that sequence's logits row.
//
//   SamplerState state(params.seed);          // per sequence (RNG + token counts)
//   state.set_prompt(prompt_ids);             // for the repetition penalty
//   Sampler sampler;                          // per engine thread (reusable scratch)
//   MLXM_ASSIGN_OR_RETURN(SampleResult r, sampler.sample(logits_row, params, state));
//
// The RNG lives in the sequence's SamplerState, so a seeded sequence draws the same tokens
// whatever else is in the batch. sample() records the chosen token in the state (for the
// frequency/presence/repetition penalties); record_output() is for tokens the caller forces.
//
// Cost per call (vocab V): one copy of the row and O(#bias + #distinct penalised tokens) for
// the processing; greedy: one argmax pass; sampling: one vectorised exp pass (none with top_k),
// top_k by a bounded heap (k <= 256) or nth_element, top_p by sorting only the tokens above a
// probability threshold that is lowered until they hold top_p of the mass. No allocation once
// the scratch has grown to V.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "core/status.h"
#include "engine/sample/rng.h"
#include "engine/sample/sampling_params.h"

namespace mlxm::engine {

struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0.0f;
};

struct SampleResult {
  int32_t token = -1;
  bool has_logprobs = false;  // params.wants_logprobs()
  float logprob = 0.0f;       // of `token` (see LogprobsMode), when has_logprobs
  int n_top = 0;              // = params.top_logprobs (or vocab size if smaller)
  std::array<TokenLogprob, kMaxTopLogprobs> top{};  // (n_top) by logprob desc, ties lowest id

  std::span<const TokenLogprob> top_logprobs() const {
    return {top.data(), static_cast<size_t>(n_top)};
  }
};

// The logprobs of `token` and of the n_top (<= kMaxTopLogprobs) most likely tokens over `src`
// (log-softmax of the values LogprobsMode picks): sets r->has_logprobs, logprob, n_top (at most
// src.size()) and top (by logprob descending, ties to the lowest id); leaves r->token. Also the
// oracle of the device's logprobs (row_sampling.h).
void fill_logprobs(std::span<const float> src, int32_t token, int n_top, SampleResult* r);

// Per-sequence state. Thread-compatible: used by the engine thread that owns the sequence.
class SamplerState {
 public:
  // seed absent: seeded from std::random_device.
  explicit SamplerState(std::optional<uint64_t> seed = std::nullopt);

  // Tokens of the prompt (the repetition penalty covers prompt + output). Replaces any
  // previous prompt; keeps the output counts.
  void set_prompt(std::span<const int32_t> prompt);
  // Records one generated token (sample() does this for the token it returns).
  void record_output(int32_t token);

  int32_t output_count(int32_t token) const;
  int64_t n_output() const { return n_output_; }
  double next_uniform() { return rng_.uniform(); }
  // The sorted distinct prompt tokens; the sorted distinct output tokens and their counts
  // (parallel). For flattening the penalties into per-token adjustments (row_sampling.h).
  std::span<const int32_t> prompt_tokens() const { return prompt_unique_; }
  std::span<const int32_t> output_tokens() const { return out_tokens_; }
  std::span<const int32_t> output_counts() const { return out_counts_; }

 private:
  friend class Sampler;
  Xoshiro256 rng_;
  std::vector<int32_t> prompt_unique_;  // sorted distinct prompt tokens
  // Sorted by token: distinct output tokens and their counts (parallel arrays).
  std::vector<int32_t> out_tokens_;
  std::vector<int32_t> out_counts_;
  int64_t n_output_ = 0;
};

// Reusable scratch for sampling. Thread-compatible: one per thread (the engine thread).
class Sampler {
 public:
  // Picks the next token from `logits` (vocab_size floats) and records it in `state`.
  // Errors (InvalidArgument): invalid params (see validate_sampling_params), empty logits,
  // NaN or +inf logits, all logits -inf, penalised tokens outside the vocabulary.
  Result<SampleResult> sample(std::span<const float> logits, const SamplingParams& params,
                              SamplerState& state);

  // The distribution sample() draws from for these inputs, as (token, probability) pairs
  // (probabilities sum to 1; order unspecified); greedy gives one pair with probability 1.
  // Does not consume randomness or record anything. For tests and debugging.
  Status distribution(std::span<const float> logits, const SamplingParams& params,
                      const SamplerState& state,
                      std::vector<std::pair<int32_t, double>>* out);

 private:
  struct Candidate {
    float logit;
    int32_t id;
  };

  // work_ = logits + bias + penalties. Also validates. Returns the max of work_ in *max.
  Status process(std::span<const float> logits, const SamplingParams& params,
                 const SamplerState& state, float* max);
  // Builds the truncated distribution: either dense (probs_ over the vocab, dense_ = true) or
  // the candidates cands_ with cand_p_; unnormalised, total mass in *mass.
  void build_distribution(const SamplingParams& params, float max, double* mass);
  void select_top_k(int k, float threshold);
  void apply_top_p(float top_p, float max, float temperature, double total_mass, double* mass);
  int32_t draw(double u, double mass) const;

  std::vector<float> work_;        // (vocab) processed logits
  std::vector<float> probs_;       // (vocab) exp((work - max) / T), dense path
  std::vector<Candidate> cands_;   // truncated candidate set
  std::vector<float> cand_p_;      // (cands_.size()) unnormalised probabilities
  bool dense_ = true;
};

}  // namespace mlxm::engine
