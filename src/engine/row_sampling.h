// Token sampling as one per-row spec, the same on the host and on the device (issue 9: the
// logits of a sampled row need not leave the GPU). Engine::forward_sample takes one RowSampling
// per logit row; the CUDA engine runs it as a kernel (kernels/cuda/cuda_sample.h), every other
// engine with sample_row() below, which is also the kernels' test oracle.
//
// The algorithm (exact, deterministic, no sort), for logits x (V) of one row:
//   0. With a mask (a logits processor's allowed()): x_i = -inf where bit i is clear.
//   1. w = x, then for each LogitAdjust a (ascending distinct tokens):
//        v = w[a.token] + a.add;  if (a.rep != 1) v = v > 0 ? v / a.rep : v * a.rep;
//        w[a.token] = v - a.sub
//      make_row_sampling() flattens logit_bias, the repetition penalty and the
//      frequency/presence penalties into these, with the host Sampler's float operations in its
//      order (bias, repetition, frequency + presence).
//   2. Any w NaN or +inf: error kRowBadLogits; every w -inf: kRowAllNegInf.
//   3. Greedy (temperature < kGreedyTemperature): the lowest index of the largest w. Done.
//   4. m = max w; p_i = expf((w_i - m) * inv_t) with inv_t = 1.0f / temperature (so the max has
//      p = 1); the mass of a token is q_i = floor(p_i · 2^40) as a 64-bit integer. Every sum
//      below is an exact integer sum, so it does not depend on the order of summation.
//      Tokens with p_i < 2^-40 (relative to the most likely token) are never drawn.
//   5. min_p (> 0): candidates C1 = {w_i >= m + temperature · logf(min_p)} (Sampler's rule).
//   6. top_k (0 < k < V, and more than k candidates): C2 = {i in C1 : w_i >= t_k}, t_k the k-th
//      largest w in C1. Ties at t_k are all kept (the host Sampler keeps exactly k, lower ids
//      first).
//   7. top_p (< 1): Z2 = Σ_{C2} q; target = min(Z2, ceil(top_p · Z2)) (double arithmetic);
//      C3 = {i in C2 : w_i >= t_p}, t_p the largest value with Σ_{i in C2, w_i >= t_p} q_i >=
//      target: the nucleus, the shortest run of the most likely tokens holding top_p of the mass
//      (HF/vLLM), with all ties at its edge kept.
//   8. Draw: Z3 = Σ_{C3} q; r = min(Z3 - 1, floor(u · Z3)); the token is the first i of C3 in
//      token-id order whose inclusive prefix sum of q over C3 exceeds r.
// The kept set and its probabilities are those of Sampler::distribution() (up to float rounding
// of exp and the tie rule above); the draw for a given u differs from Sampler::sample(), which
// walks its candidates in another order, but u comes from the sequence's SamplerState exactly
// as Sampler::sample() would take it (one uniform per non-greedy token), so a seed gives a
// reproducible stream and the same distribution. The device kernel computes the same integers;
// it can differ from sample_row() only where expf differs in the last bit and that moves a
// threshold or the draw across a token boundary (probability ~1e-7 per row).
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "core/status.h"
#include "engine/sample/sampler.h"
#include "engine/sample/sampling_params.h"

namespace mlxm::engine {

// One per-token change of a row's logit (see step 1 above).
struct LogitAdjust {
  int32_t token = 0;
  float add = 0.0f;  // logit_bias
  float rep = 1.0f;  // repetition penalty (1 = none)
  float sub = 0.0f;  // frequency · count + presence
  int32_t count = 0;  // the token's count in the output (with a frequency/presence penalty)
};

struct RowSampling {
  bool full = false;         // forward_sample returns this row's logits instead of a token
  float temperature = 0.0f;  // < kGreedyTemperature: argmax of the adjusted logits
  int top_k = 0;             // <= 0 or >= vocab: off
  float top_p = 1.0f;        // (0, 1]; 1: off
  float min_p = 0.0f;        // [0, 1]; 0: off
  double u = 0.0;            // uniform in [0, 1) for the draw (unused when greedy)
  std::vector<LogitAdjust> adjust;  // tokens strictly ascending, in [0, vocab)
  // >= 0: the sampled token's logprob and those of the `logprobs` (<= kMaxTopLogprobs) most
  // likely tokens come back with it (fill_logprobs' rules): over the logits as they came
  // (logprobs_raw, LogprobsMode::kRaw) or after `adjust` (kProcessed). -1: none.
  int logprobs = -1;
  bool logprobs_raw = false;
  // Empty, or ceil(V / 64) words: bit i % 64 of word i / 64 clear makes token i -inf before
  // anything else (step 0; "raw" logprobs are taken after it, as the host Sampler sees a
  // processed row).
  std::vector<uint64_t> mask;
  // >= 0 (Engine::submit only): the sequence's last token is the one the step submitted just
  // before sampled for its logit row `pending_row`, and `adjust` does not have it yet; the
  // sampler adds it as make_row_sampling() would have (with_token()), with these penalties.
  int32_t pending_row = -1;
  float pending_rep = 1.0f;
  float pending_freq = 0.0f;
  float pending_presence = 0.0f;

  bool greedy() const { return temperature < kGreedyTemperature; }
};

// Codes forward_sample() writes instead of a token id.
inline constexpr int32_t kRowFull = -1;        // a `full` row: its logits were returned
inline constexpr int32_t kRowBadLogits = -2;   // a logit is NaN or +inf
inline constexpr int32_t kRowAllNegInf = -3;   // every logit is -inf
// InvalidArgument naming the problem for a negative code (the host Sampler's messages).
Status row_sample_error(int32_t code);

// The spec for the next token of a sequence with `params` and `state`: bias and penalties
// flattened into `adjust`, the logprobs asked for; draws u from the state's RNG unless greedy
// (as Sampler::sample()).
// The caller records the chosen token with state.record_output(). REQUIRES: params valid.
RowSampling make_row_sampling(const SamplingParams& params, SamplerState& state);

// InvalidArgument naming the field when `s` cannot be sampled over `vocab` tokens.
Status validate_row_sampling(const RowSampling& s, int32_t vocab);
// forward_sample's argument check: one valid spec per logit row.
Status check_row_specs(const std::vector<RowSampling>& rows, size_t n_out, int32_t vocab);

// The host implementation: the token, or kRowBadLogits / kRowAllNegInf.
// REQUIRES: validate_row_sampling(s, logits.size()) is ok (checked: InvalidArgument).
Result<int32_t> sample_row(std::span<const float> logits, const RowSampling& s);

// A spec built before the sequence's last token was known (make_row_sampling() without it):
// where `params` penalise tokens, marks it to take that token, the one sampled for logit row
// `row` of the step before (RowSampling::pending_row).
void mark_pending(const SamplingParams& params, int32_t row, RowSampling* s);
// `s` with its pending token resolved to `token`: the adjustments make_row_sampling() gives
// once `token` is recorded (bit-identical floats), pending_row -1. Unchanged without one.
RowSampling with_token(RowSampling s, int32_t token);

// The logprobs a spec asks for (s.logprobs >= 0) of `token`, sampled from `logits` (the row as
// the model gave it), into out (token, has_logprobs, logprob, n_top, top), as Sampler::sample
// reports them. The host twin of the device's logprobs. REQUIRES: validate_row_sampling(s,
// logits.size()) is ok and token in range (checked: InvalidArgument).
Status row_logprobs(std::span<const float> logits, const RowSampling& s, int32_t token,
                    SampleResult* out);

// The distribution sample_row() draws from: (token, probability) pairs in token order, with
// q_i / Z3 (step 8); greedy gives one pair. Ignores u. For tests.
Status row_distribution(std::span<const float> logits, const RowSampling& s,
                        std::vector<std::pair<int32_t, double>>* out);

// The integer mass of step 4 (shared with the tests).
inline constexpr float kRowMassScale = 0x1p40f;

}  // namespace mlxm::engine
