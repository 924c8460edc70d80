#include "engine/row_sampling.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iterator>
#include <limits>
#include <string>

namespace mlxm::engine {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// frequency · count + presence, as the host Sampler computes it (no contraction).
float penalty_sub(float freq, int32_t count, float presence) {
  const volatile float scaled = freq * static_cast<float>(count);
  return scaled + presence;
}

// Step 1 for one token (the host Sampler's float operations, in its order).
float apply_adjust(float v, const LogitAdjust& a) {
  v = v + a.add;
  if (a.rep != 1.0f) v = v > 0.0f ? v / a.rep : v * a.rep;
  return v - a.sub;
}

// Step 4: the integer mass of a logit w given the row max m.
uint64_t mass_of(float w, float m, float inv_t) {
  const float p = std::exp((w - m) * inv_t);
  return static_cast<uint64_t>(p * kRowMassScale);
}

// Step 0: *w = the logits with the masked-out tokens at -inf.
void masked(std::span<const float> logits, const RowSampling& s, std::vector<float>* w) {
  w->assign(logits.begin(), logits.end());
  if (s.mask.empty()) return;
  for (size_t i = 0; i < w->size(); ++i) {
    if (((s.mask[i / 64] >> (i % 64)) & 1) == 0) (*w)[i] = kNegInf;
  }
}

// Steps 0-2: *w = masked and adjusted logits, *max and *argmax (lowest index of the max); 0
// or an error code.
int32_t prepare(std::span<const float> logits, const RowSampling& s, std::vector<float>* w,
                float* max, int32_t* argmax) {
  masked(logits, s, w);
  for (const LogitAdjust& a : s.adjust) {
    (*w)[static_cast<size_t>(a.token)] = apply_adjust((*w)[static_cast<size_t>(a.token)], a);
  }
  float m = kNegInf;
  int32_t best = -1;
  for (size_t i = 0; i < w->size(); ++i) {
    const float v = (*w)[i];
    if (!(v <= std::numeric_limits<float>::max()) && v != kNegInf) return kRowBadLogits;
    if (best < 0 || v > m) {
      m = v;
      best = static_cast<int32_t>(i);
    }
  }
  if (m == kNegInf) return kRowAllNegInf;
  *max = m;
  *argmax = best;
  return 0;
}

// Steps 4-7: *q (V) = the mass of every token of C3, 0 elsewhere.
void kept_masses(const std::vector<float>& w, float m, const RowSampling& s,
                 std::vector<uint64_t>* q) {
  const size_t n = w.size();
  const float inv_t = 1.0f / s.temperature;
  const float t_min = s.min_p > 0.0f ? m + s.temperature * std::log(s.min_p) : kNegInf;
  float t_k = kNegInf;
  if (s.top_k > 0 && static_cast<size_t>(s.top_k) < n) {
    std::vector<float> c1;
    for (float v : w) {
      if (v >= t_min) c1.push_back(v);
    }
    const size_t k = static_cast<size_t>(s.top_k);
    if (c1.size() > k) {
      std::nth_element(c1.begin(), c1.begin() + static_cast<std::ptrdiff_t>(k - 1), c1.end(),
                       std::greater<float>());
      t_k = c1[k - 1];
    }
  }
  const float t_12 = std::max(t_min, t_k);  // C2 = {w >= t_min and w >= t_k}
  q->assign(n, 0);
  uint64_t z2 = 0;
  for (size_t i = 0; i < n; ++i) {
    if (w[i] >= t_12) {
      (*q)[i] = mass_of(w[i], m, inv_t);
      z2 += (*q)[i];
    }
  }
  if (s.top_p < 1.0f) {
    const uint64_t target = std::min(
        z2, static_cast<uint64_t>(std::ceil(static_cast<double>(s.top_p) * static_cast<double>(z2))));
    std::vector<int32_t> order;
    for (size_t i = 0; i < n; ++i) {
      if (w[i] >= t_12) order.push_back(static_cast<int32_t>(i));
    }
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return w[static_cast<size_t>(a)] > w[static_cast<size_t>(b)];
    });
    float t_p = kNegInf;
    uint64_t cum = 0;
    for (int32_t i : order) {
      cum += (*q)[static_cast<size_t>(i)];
      if (cum >= target) {
        t_p = w[static_cast<size_t>(i)];
        break;
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (w[i] < t_p) (*q)[i] = 0;
    }
  }
}

}  // namespace

Status row_sample_error(int32_t code) {
  switch (code) {
    case kRowBadLogits: return invalid_argument("sampler: logits contain NaN or +inf");
    case kRowAllNegInf: return invalid_argument("sampler: every logit is -inf");
    case kRowFull: return invalid_argument("sampler: the row was returned as logits");
    default: break;
  }
  return invalid_argument("sampler: unknown row code " + std::to_string(code));
}

RowSampling make_row_sampling(const SamplingParams& p, SamplerState& state) {
  RowSampling s;
  s.temperature = p.temperature;
  s.top_k = p.top_k;
  s.top_p = p.top_p;
  s.min_p = p.min_p;
  // Three sorted sources, merged by token: the repetition-penalised tokens (prompt ∪ output),
  // the output tokens with their counts (frequency/presence) and the biased tokens.
  std::vector<int32_t> rep_tokens;
  if (p.repetition_penalty != 1.0f) {
    std::set_union(state.prompt_tokens().begin(), state.prompt_tokens().end(),
                   state.output_tokens().begin(), state.output_tokens().end(),
                   std::back_inserter(rep_tokens));
  }
  const bool pen = p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f;
  const std::span<const int32_t> out = pen ? state.output_tokens() : std::span<const int32_t>();
  const std::span<const int32_t> counts = state.output_counts();
  std::vector<std::pair<int32_t, float>> bias = p.logit_bias;
  std::stable_sort(bias.begin(), bias.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  size_t i = 0, j = 0, k = 0;
  constexpr int32_t kEnd = std::numeric_limits<int32_t>::max();
  while (true) {
    const int32_t t = std::min({i < rep_tokens.size() ? rep_tokens[i] : kEnd,
                                j < out.size() ? out[j] : kEnd,
                                k < bias.size() ? bias[k].first : kEnd});
    if (t == kEnd) break;
    LogitAdjust a;
    a.token = t;
    for (; k < bias.size() && bias[k].first == t; ++k) a.add += bias[k].second;
    if (i < rep_tokens.size() && rep_tokens[i] == t) {
      a.rep = p.repetition_penalty;
      ++i;
    }
    if (j < out.size() && out[j] == t) {
      a.count = counts[j];
      a.sub = penalty_sub(p.frequency_penalty, a.count, p.presence_penalty);
      ++j;
    }
    s.adjust.push_back(a);
  }
  if (p.wants_logprobs()) {
    s.logprobs = p.top_logprobs;
    s.logprobs_raw = p.logprobs_mode == LogprobsMode::kRaw;
  }
  if (!s.greedy()) s.u = state.next_uniform();
  return s;
}

void mark_pending(const SamplingParams& p, int32_t row, RowSampling* s) {
  if (p.repetition_penalty == 1.0f && p.frequency_penalty == 0.0f && p.presence_penalty == 0.0f) {
    return;  // the token changes nothing
  }
  s->pending_row = row;
  s->pending_rep = p.repetition_penalty;
  s->pending_freq = p.frequency_penalty;
  s->pending_presence = p.presence_penalty;
}

RowSampling with_token(RowSampling s, int32_t token) {
  if (s.pending_row < 0) return s;
  s.pending_row = -1;
  const bool pen = s.pending_freq != 0.0f || s.pending_presence != 0.0f;
  if (s.pending_rep == 1.0f && !pen) return s;
  auto it = std::lower_bound(s.adjust.begin(), s.adjust.end(), token,
                             [](const LogitAdjust& a, int32_t t) { return a.token < t; });
  if (it == s.adjust.end() || it->token != token) {
    LogitAdjust a;
    a.token = token;
    it = s.adjust.insert(it, a);
  }
  if (s.pending_rep != 1.0f) it->rep = s.pending_rep;
  if (pen) {
    it->count += 1;
    it->sub = penalty_sub(s.pending_freq, it->count, s.pending_presence);
  }
  return s;
}

Status validate_row_sampling(const RowSampling& s, int32_t vocab) {
  if (s.full) return ok_status();
  if (vocab <= 0) return invalid_argument("row sampling: empty vocabulary");
  if (!(s.temperature >= 0.0f) || !std::isfinite(s.temperature)) {
    return invalid_argument("row sampling: temperature must be finite and >= 0, got " +
                            std::to_string(s.temperature));
  }
  if (!(s.top_p > 0.0f && s.top_p <= 1.0f)) {
    return invalid_argument("row sampling: top_p must be in (0, 1], got " + std::to_string(s.top_p));
  }
  if (!(s.min_p >= 0.0f && s.min_p <= 1.0f)) {
    return invalid_argument("row sampling: min_p must be in [0, 1], got " + std::to_string(s.min_p));
  }
  if (!s.greedy() && !(s.u >= 0.0 && s.u < 1.0)) {
    return invalid_argument("row sampling: u must be in [0, 1), got " + std::to_string(s.u));
  }
  if (!s.mask.empty() && s.mask.size() != (static_cast<size_t>(vocab) + 63) / 64) {
    return invalid_argument("row sampling: the mask has " + std::to_string(s.mask.size()) +
                            " words for a vocabulary of " + std::to_string(vocab) + " (needs " +
                            std::to_string((static_cast<size_t>(vocab) + 63) / 64) + ")");
  }
  if (s.pending_row < -1) {
    return invalid_argument("row sampling: pending_row must be >= -1, got " +
                            std::to_string(s.pending_row));
  }
  if (s.logprobs < -1 || s.logprobs > kMaxTopLogprobs) {
    return invalid_argument("row sampling: logprobs must be in [-1, " +
                            std::to_string(kMaxTopLogprobs) + "], got " +
                            std::to_string(s.logprobs));
  }
  for (size_t i = 0; i < s.adjust.size(); ++i) {
    const LogitAdjust& a = s.adjust[i];
    if (a.token < 0 || a.token >= vocab) {
      return invalid_argument("row sampling: adjusted token " + std::to_string(a.token) +
                              " outside the vocabulary of " + std::to_string(vocab));
    }
    if (i > 0 && a.token <= s.adjust[i - 1].token) {
      return invalid_argument("row sampling: adjusted tokens must be strictly ascending");
    }
    if (!std::isfinite(a.add) || !std::isfinite(a.sub) || !std::isfinite(a.rep) ||
        !(a.rep > 0.0f)) {
      return invalid_argument("row sampling: adjustment of token " + std::to_string(a.token) +
                              " is not finite (or its repetition penalty is not > 0)");
    }
  }
  return ok_status();
}

Status check_row_specs(const std::vector<RowSampling>& rows, size_t n_out, int32_t vocab) {
  if (rows.size() != n_out) {
    return invalid_argument("forward_sample: " + std::to_string(rows.size()) +
                            " sampling specs for " + std::to_string(n_out) + " logit rows");
  }
  for (const RowSampling& s : rows) MLXM_RETURN_IF_ERROR(validate_row_sampling(s, vocab));
  return ok_status();
}

namespace {

// The part sample_row and row_distribution share: the argument checks (messages name `who`),
// then prepare(): adjusted values, their max, the greedy argmax and the row code.
struct PreparedRow {
  std::vector<float> w;
  float m = 0.0f;
  int32_t argmax = -1;
  int32_t code = 0;  // 0, kRowBadLogits or kRowAllNegInf
};

Result<PreparedRow> prepare_checked(std::span<const float> logits, const RowSampling& s,
                                    const char* who) {
  if (s.full) return invalid_argument(std::string(who) + ": a full row is not sampled");
  if (logits.empty() || logits.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return invalid_argument(std::string(who) + ": bad vocabulary size");
  }
  MLXM_RETURN_IF_ERROR(validate_row_sampling(s, static_cast<int32_t>(logits.size())));
  PreparedRow r;
  r.code = prepare(logits, s, &r.w, &r.m, &r.argmax);
  return r;
}

// The kept set's integer masses (kept_masses) and their sum.
uint64_t kept_total(const PreparedRow& p, const RowSampling& s, std::vector<uint64_t>* q) {
  kept_masses(p.w, p.m, s, q);
  uint64_t z = 0;
  for (uint64_t x : *q) z += x;
  return z;
}

}  // namespace

Result<int32_t> sample_row(std::span<const float> logits, const RowSampling& s) {
  MLXM_ASSIGN_OR_RETURN(const PreparedRow p, prepare_checked(logits, s, "sample_row"));
  if (p.code != 0) return p.code;
  if (s.greedy()) return p.argmax;
  std::vector<uint64_t> q;
  const uint64_t z3 = kept_total(p, s, &q);
  uint64_t r = static_cast<uint64_t>(std::floor(s.u * static_cast<double>(z3)));
  if (r >= z3) r = z3 - 1;  // z3 >= 2^40: the max token is always kept
  uint64_t cum = 0;
  for (size_t i = 0; i < q.size(); ++i) {
    cum += q[i];
    if (cum > r) return static_cast<int32_t>(i);
  }
  MLXM_CHECK(false);  // cum reaches z3 > r
  return p.argmax;
}

Status row_logprobs(std::span<const float> logits, const RowSampling& s, int32_t token,
                    SampleResult* out) {
  MLXM_ASSIGN_OR_RETURN(const PreparedRow p, prepare_checked(logits, s, "row_logprobs"));
  if (token < 0 || static_cast<size_t>(token) >= logits.size()) {
    return invalid_argument("row_logprobs: token " + std::to_string(token) +
                            " outside the vocabulary");
  }
  if (s.logprobs < 0) return invalid_argument("row_logprobs: the spec asks for no logprobs");
  *out = SampleResult{};
  out->token = token;
  if (s.logprobs_raw) {
    std::vector<float> raw;
    masked(logits, s, &raw);
    fill_logprobs(raw, token, s.logprobs, out);
  } else {
    fill_logprobs(p.w, token, s.logprobs, out);
  }
  return ok_status();
}

Status row_distribution(std::span<const float> logits, const RowSampling& s,
                        std::vector<std::pair<int32_t, double>>* out) {
  out->clear();
  MLXM_ASSIGN_OR_RETURN(const PreparedRow p, prepare_checked(logits, s, "row_distribution"));
  if (p.code != 0) return row_sample_error(p.code);
  if (s.greedy()) {
    out->emplace_back(p.argmax, 1.0);
    return ok_status();
  }
  std::vector<uint64_t> q;
  const uint64_t z3 = kept_total(p, s, &q);
  for (size_t i = 0; i < q.size(); ++i) {
    if (q[i] > 0) {
      out->emplace_back(static_cast<int32_t>(i),
                        static_cast<double>(q[i]) / static_cast<double>(z3));
    }
  }
  return ok_status();
}

}  // namespace mlxm::engine
