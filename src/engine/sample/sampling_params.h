// Per-request sampling parameters (OpenAI / vLLM semantics) and their validation.
//
// Order of operations in Sampler::sample (as vLLM v1): logit_bias, then penalties
// (repetition, then frequency and presence), then temperature, then min_p, top_k, top_p, then
// one draw from the per-sequence RNG. temperature < kGreedyTemperature means greedy (argmax,
// ties to the lowest id); truncation is irrelevant then.
//
// Logprobs (LogprobsMode::kProcessed, the default): log-softmax of the logits after
// logit_bias and penalties, before temperature and truncation. So a token's logprob does not
// depend on temperature/top_k/top_p/min_p (as OpenAI reports them: the model's distribution,
// not the truncated sampling one) but does reflect an explicit bias or penalty. vLLM v1's
// default ("raw_logprobs") is before bias and penalties too: LogprobsMode::kRaw gives that.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "core/status.h"

namespace mlxm::engine {

inline constexpr int kMaxTopLogprobs = 20;
// Temperatures below this sample greedily (vLLM's _SAMPLING_EPS).
inline constexpr float kGreedyTemperature = 1e-5f;

enum class LogprobsMode {
  kProcessed,  // after logit_bias and penalties, before temperature / truncation (default)
  kRaw,        // the model's logits as they came out of the forward pass
};

struct SamplingParams {
  float temperature = 1.0f;        // [0, 2]; 0 = greedy
  int top_k = 0;                   // 0 or -1 = off; >= vocab = off
  float top_p = 1.0f;              // (0, 1]
  float min_p = 0.0f;              // [0, 1]; 0 = off
  float repetition_penalty = 1.0f; // > 0 (and <= 100); over prompt + output tokens (HF/vLLM)
  float frequency_penalty = 0.0f;  // [-2, 2]; times each token's count in the output (OpenAI)
  float presence_penalty = 0.0f;   // [-2, 2]; once per token present in the output (OpenAI)
  std::vector<std::pair<int32_t, float>> logit_bias;  // (token id, bias in [-100, 100])
  std::optional<uint64_t> seed;    // absent: seeded from std::random_device
  bool logprobs = false;           // report the chosen token's logprob
  int top_logprobs = 0;            // [0, kMaxTopLogprobs]; > 0 implies logprobs
  LogprobsMode logprobs_mode = LogprobsMode::kProcessed;

  bool greedy() const { return temperature < kGreedyTemperature; }
  bool wants_logprobs() const { return logprobs || top_logprobs > 0; }
};

// InvalidArgument naming the offending field (e.g. "top_p must be in (0, 1], got 0").
// vocab_size bounds logit_bias token ids. Called by Sampler::sample too (it is cheap).
Status validate_sampling_params(const SamplingParams& params, int32_t vocab_size);

}  // namespace mlxm::engine
