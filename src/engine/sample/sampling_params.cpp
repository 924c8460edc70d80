#include "engine/sample/sampling_params.h"

#include <cmath>
#include <cstdio>
#include <string>

namespace mlxm::engine {
namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

// True when lo <= v <= hi (false for NaN).
bool in_closed(double v, double lo, double hi) { return v >= lo && v <= hi; }

}  // namespace

Status validate_sampling_params(const SamplingParams& p, int32_t vocab_size) {
  if (vocab_size <= 0) return invalid_argument("vocab_size must be positive");
  if (!in_closed(p.temperature, 0.0, 2.0)) {
    return invalid_argument("temperature must be in [0, 2], got " + num(p.temperature));
  }
  if (p.top_k < -1) {
    return invalid_argument("top_k must be -1 or 0 (off) or positive, got " +
                            std::to_string(p.top_k));
  }
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    return invalid_argument("top_p must be in (0, 1], got " + num(p.top_p));
  }
  if (!in_closed(p.min_p, 0.0, 1.0)) {
    return invalid_argument("min_p must be in [0, 1], got " + num(p.min_p));
  }
  if (!(p.repetition_penalty > 0.0f && p.repetition_penalty <= 100.0f)) {
    return invalid_argument("repetition_penalty must be in (0, 100], got " +
                            num(p.repetition_penalty));
  }
  if (!in_closed(p.frequency_penalty, -2.0, 2.0)) {
    return invalid_argument("frequency_penalty must be in [-2, 2], got " +
                            num(p.frequency_penalty));
  }
  if (!in_closed(p.presence_penalty, -2.0, 2.0)) {
    return invalid_argument("presence_penalty must be in [-2, 2], got " +
                            num(p.presence_penalty));
  }
  if (p.top_logprobs < 0 || p.top_logprobs > kMaxTopLogprobs) {
    return invalid_argument("top_logprobs must be in [0, " + std::to_string(kMaxTopLogprobs) +
                            "], got " + std::to_string(p.top_logprobs));
  }
  for (const auto& [token, bias] : p.logit_bias) {
    if (token < 0 || token >= vocab_size) {
      return invalid_argument("logit_bias token id " + std::to_string(token) +
                              " is outside the vocabulary [0, " + std::to_string(vocab_size) +
                              ")");
    }
    if (!in_closed(bias, -100.0, 100.0)) {
      return invalid_argument("logit_bias value for token " + std::to_string(token) +
                              " must be in [-100, 100], got " + num(bias));
    }
  }
  return ok_status();
}

}  // namespace mlxm::engine
