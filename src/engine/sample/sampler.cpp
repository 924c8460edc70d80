#include "engine/sample/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>

namespace mlxm::engine {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr size_t kBlock = 1024;  // float partial sums per block, then double

// 4 floats in GCC/clang vector extensions: portable (SSE2 on baseline x86-64, NEON on
// arm) and vectorised for sure, unlike reductions left to the auto-vectoriser.
typedef float V4 __attribute__((vector_size(16)));
typedef int32_t I4 __attribute__((vector_size(16)));
constexpr size_t kW = 4;

inline V4 load(const float* p) {
  V4 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void store(float* p, V4 v) { std::memcpy(p, &v, sizeof(v)); }
inline V4 splat(float x) { return V4{} + x; }
inline V4 select(I4 mask, V4 a, V4 b) { return (V4)((mask & (I4)a) | (~mask & (I4)b)); }
inline float hsum(V4 v) {
  float s = 0.0f;
  for (size_t j = 0; j < kW; ++j) s += v[j];
  return s;
}

// exp(x) for x <= 0 (x = -inf allowed); 0 below -87. Cody-Waite reduction and a degree-6
// polynomial: relative error < 3e-7.
inline V4 exp_nonpos(V4 x) {
  const V4 lo = splat(-87.0f);
  const I4 under = x < lo;
  const V4 xc = select(under, lo, x);
  const V4 magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const V4 t = xc * 1.44269504088896341f + magic;
  const V4 n = t - magic;
  const I4 ni = (I4)t - (I4)magic;
  V4 r = xc - n * 0.693145751953125f;
  r = r - n * 1.428606765330187045e-06f;
  V4 p = splat(1.0f / 720);
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const V4 scale = (V4)((ni + 127) << 23);
  return select(under, V4{}, p * scale);
}
inline float exp_nonpos(float x) {
  V4 v = splat(x);
  return exp_nonpos(v)[0];
}

// Sum of exp((src[i] - max) * inv_t); also stores each term in dst when dst != nullptr.
// Float partial sums per block of kBlock, double across blocks: relative error ~1e-6.
double exp_sum(const float* src, float* dst, size_t n, float max, float inv_t) {
  double total = 0.0;
  const V4 vmax = splat(max);
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t end = std::min(n, b + kBlock);
    V4 acc{};
    size_t i = b;
    for (; i + kW <= end; i += kW) {
      const V4 e = exp_nonpos((load(src + i) - vmax) * inv_t);
      if (dst != nullptr) store(dst + i, e);
      acc += e;
    }
    float tail = 0.0f;
    for (; i < end; ++i) {
      const float e = exp_nonpos((src[i] - max) * inv_t);
      if (dst != nullptr) dst[i] = e;
      tail += e;
    }
    total += static_cast<double>(hsum(acc)) + tail;
  }
  return total;
}

float max_of(const float* x, size_t n) {
  V4 m = splat(kNegInf);
  size_t i = 0;
  for (; i + kW <= n; i += kW) {
    const V4 v = load(x + i);
    m = select(v > m, v, m);
  }
  float r = kNegInf;
  for (; i < n; ++i) r = r < x[i] ? x[i] : r;
  for (size_t j = 0; j < kW; ++j) r = r < m[j] ? m[j] : r;
  return r;
}

// Copies src to dst; true when src holds a NaN or +inf.
bool copy_flag_nonfinite(const float* src, float* dst, size_t n) {
  const V4 big = splat(std::numeric_limits<float>::max());
  I4 bad{};
  size_t i = 0;
  for (; i + kW <= n; i += kW) {
    const V4 v = load(src + i);
    store(dst + i, v);
    bad |= ~(v <= big);  // NaN compares false
  }
  bool any = false;
  for (; i < n; ++i) {
    dst[i] = src[i];
    any |= !(src[i] <= std::numeric_limits<float>::max());
  }
  for (size_t j = 0; j < kW; ++j) any |= bad[j] != 0;
  return any;
}

// Sum of probs[i] over i with work[i] >= threshold.
double masked_sum(const float* work, const float* probs, size_t n, float threshold) {
  double total = 0.0;
  const V4 t = splat(threshold);
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t end = std::min(n, b + kBlock);
    V4 acc{};
    size_t i = b;
    for (; i + kW <= end; i += kW) acc += select(load(work + i) >= t, load(probs + i), V4{});
    float tail = 0.0f;
    for (; i < end; ++i) tail += work[i] >= threshold ? probs[i] : 0.0f;
    total += static_cast<double>(hsum(acc)) + tail;
  }
  return total;
}

}  // namespace

// ---- SamplerState ----------------------------------------------------------------------------

namespace {
uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}
}  // namespace

SamplerState::SamplerState(std::optional<uint64_t> seed)
    : rng_(seed.has_value() ? *seed : random_seed()) {}

void SamplerState::set_prompt(std::span<const int32_t> prompt) {
  prompt_unique_.assign(prompt.begin(), prompt.end());
  std::sort(prompt_unique_.begin(), prompt_unique_.end());
  prompt_unique_.erase(std::unique(prompt_unique_.begin(), prompt_unique_.end()),
                       prompt_unique_.end());
}

void SamplerState::record_output(int32_t token) {
  auto it = std::lower_bound(out_tokens_.begin(), out_tokens_.end(), token);
  const size_t i = static_cast<size_t>(it - out_tokens_.begin());
  if (it != out_tokens_.end() && *it == token) {
    ++out_counts_[i];
  } else {
    out_tokens_.insert(it, token);
    out_counts_.insert(out_counts_.begin() + static_cast<std::ptrdiff_t>(i), 1);
  }
  ++n_output_;
}

int32_t SamplerState::output_count(int32_t token) const {
  auto it = std::lower_bound(out_tokens_.begin(), out_tokens_.end(), token);
  if (it == out_tokens_.end() || *it != token) return 0;
  return out_counts_[static_cast<size_t>(it - out_tokens_.begin())];
}

// ---- Sampler ---------------------------------------------------------------------------------

namespace {
inline bool better(float a_logit, int32_t a_id, float b_logit, int32_t b_id) {
  return a_logit > b_logit || (a_logit == b_logit && a_id < b_id);
}
}  // namespace

Status Sampler::process(std::span<const float> logits, const SamplingParams& p,
                        const SamplerState& state, float* max) {
  if (logits.empty()) return invalid_argument("sampler: empty logits");
  if (logits.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return invalid_argument("sampler: vocabulary too large");
  }
  const int32_t n_vocab = static_cast<int32_t>(logits.size());
  MLXM_RETURN_IF_ERROR(validate_sampling_params(p, n_vocab));

  work_.resize(logits.size());
  float* w = work_.data();
  // Copy, flagging NaN and +inf (a forward-pass bug must not turn into a silent token).
  if (copy_flag_nonfinite(logits.data(), w, logits.size())) {
    return invalid_argument("sampler: logits contain NaN or +inf");
  }

  for (const auto& [token, bias] : p.logit_bias) w[token] += bias;

  auto check_token = [&](int32_t t) -> Status {
    if (t < 0 || t >= n_vocab) {
      return invalid_argument("sampler: penalised token " + std::to_string(t) +
                              " outside the vocabulary of " + std::to_string(n_vocab));
    }
    return ok_status();
  };
  // Repetition penalty (HF/vLLM): once per distinct token of prompt + output; positive logits
  // are divided by it, negative ones multiplied.
  if (p.repetition_penalty != 1.0f) {
    const float rp = p.repetition_penalty;
    auto penalise = [&](int32_t t) { w[t] = w[t] > 0.0f ? w[t] / rp : w[t] * rp; };
    for (int32_t t : state.prompt_unique_) {
      MLXM_RETURN_IF_ERROR(check_token(t));
      penalise(t);
    }
    for (int32_t t : state.out_tokens_) {
      MLXM_RETURN_IF_ERROR(check_token(t));
      if (!std::binary_search(state.prompt_unique_.begin(), state.prompt_unique_.end(), t)) {
        penalise(t);
      }
    }
  }
  // Frequency and presence penalties (OpenAI): over the output tokens only.
  if (p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f) {
    for (size_t k = 0; k < state.out_tokens_.size(); ++k) {
      const int32_t t = state.out_tokens_[k];
      MLXM_RETURN_IF_ERROR(check_token(t));
      w[t] -= p.frequency_penalty * static_cast<float>(state.out_counts_[k]) + p.presence_penalty;
    }
  }

  *max = max_of(w, work_.size());
  if (*max == kNegInf) return invalid_argument("sampler: every logit is -inf");
  return ok_status();
}

void Sampler::select_top_k(int k, float threshold) {
  cands_.clear();
  const float* w = work_.data();
  const int32_t n = static_cast<int32_t>(work_.size());
  auto worse_first = [](const Candidate& a, const Candidate& b) {
    return better(a.logit, a.id, b.logit, b.id);  // heap front = the worst kept candidate
  };
  if (k <= 256) {
    for (int32_t i = 0; i < n; ++i) {
      const float x = w[i];
      if (x < threshold) continue;
      if (static_cast<int>(cands_.size()) < k) {
        cands_.push_back({x, i});
        std::push_heap(cands_.begin(), cands_.end(), worse_first);
      } else if (x > cands_.front().logit) {  // equal logit: the earlier (lower) id wins
        std::pop_heap(cands_.begin(), cands_.end(), worse_first);
        cands_.back() = {x, i};
        std::push_heap(cands_.begin(), cands_.end(), worse_first);
      }
    }
    return;
  }
  for (int32_t i = 0; i < n; ++i) {
    if (w[i] >= threshold) cands_.push_back({w[i], i});
  }
  if (static_cast<int>(cands_.size()) > k) {
    std::nth_element(cands_.begin(), cands_.begin() + k, cands_.end(), worse_first);
    cands_.resize(static_cast<size_t>(k));
  }
}

namespace {
// Keeps the shortest prefix of the (sorted) candidates whose mass reaches `target`: token j is
// kept iff the mass before it is < target (HF/vLLM top_p). Returns the kept mass.
double cut_nucleus(std::vector<float>* p, size_t* n_keep, double target) {
  double cum = 0.0;
  size_t n = 0;
  while (n < p->size() && cum < target) cum += (*p)[n++];
  *n_keep = n;
  return cum;
}
}  // namespace

void Sampler::apply_top_p(float top_p, float max, float temperature, double total_mass,
                          double* mass) {
  // Dense case: find a logit threshold whose tokens hold >= top_p of the mass, then sort only
  // those. Every token above the threshold precedes every token below it in sorted order, so
  // the nucleus (a prefix of that order) lies inside the candidate set.
  const double target = static_cast<double>(top_p) * total_mass;
  const size_t n = work_.size();
  // Smallest delta (to 1/256 of its octave) with mass(w >= max - T * delta) >= target: double
  // delta from 1/4 up, then bisect. Each probe is one vectorised pass; beyond delta = 64 the
  // remaining tokens have probability < e^-64 of the max: take everything.
  auto mass_above = [&](float delta) {
    return masked_sum(work_.data(), probs_.data(), n, max - temperature * delta);
  };
  float threshold = kNegInf;
  float hi = 0.25f;
  while (hi <= 64.0f && mass_above(hi) < target) hi *= 2.0f;
  if (hi <= 64.0f) {
    float lo = hi == 0.25f ? 0.0f : hi * 0.5f;
    for (int it = 0; it < 8; ++it) {
      const float mid = 0.5f * (lo + hi);
      (mass_above(mid) >= target ? hi : lo) = mid;
    }
    threshold = max - temperature * hi;
  }
  cands_.clear();
  for (size_t i = 0; i < n; ++i) {
    if (work_[i] >= threshold) cands_.push_back({work_[i], static_cast<int32_t>(i)});
  }
  std::sort(cands_.begin(), cands_.end(), [](const Candidate& a, const Candidate& b) {
    return better(a.logit, a.id, b.logit, b.id);
  });
  cand_p_.resize(cands_.size());
  for (size_t i = 0; i < cands_.size(); ++i) cand_p_[i] = probs_[static_cast<size_t>(cands_[i].id)];
  size_t n_keep = 0;
  *mass = cut_nucleus(&cand_p_, &n_keep, target);
  cands_.resize(n_keep);
  cand_p_.resize(n_keep);
  dense_ = false;
}

void Sampler::build_distribution(const SamplingParams& p, float max, double* mass) {
  const float temperature = p.temperature;
  const float inv_t = 1.0f / temperature;
  const int32_t n_vocab = static_cast<int32_t>(work_.size());
  const int k = (p.top_k > 0 && p.top_k < n_vocab) ? p.top_k : 0;
  const bool min_p = p.min_p > 0.0f;
  if (k == 0 && !min_p) {
    dense_ = true;
    probs_.resize(work_.size());
    const double total = exp_sum(work_.data(), probs_.data(), work_.size(), max, inv_t);
    if (p.top_p < 1.0f) {
      apply_top_p(p.top_p, max, temperature, total, mass);
    } else {
      *mass = total;
    }
    return;
  }
  dense_ = false;
  // min_p: keep p_i >= min_p * p_max, i.e. (w_i - max) / T >= log(min_p). The max always passes.
  const float threshold = min_p ? max + temperature * std::log(p.min_p) : kNegInf;
  if (k > 0) {
    select_top_k(k, threshold);
  } else {
    cands_.clear();
    for (int32_t i = 0; i < n_vocab; ++i) {
      if (work_[i] >= threshold) cands_.push_back({work_[i], i});
    }
  }
  if (p.top_p < 1.0f) {
    std::sort(cands_.begin(), cands_.end(), [](const Candidate& a, const Candidate& b) {
      return better(a.logit, a.id, b.logit, b.id);
    });
  }
  cand_p_.resize(cands_.size());
  double total = 0.0;
  for (size_t i = 0; i < cands_.size(); ++i) {
    cand_p_[i] = exp_nonpos((cands_[i].logit - max) * inv_t);
    total += cand_p_[i];
  }
  if (p.top_p < 1.0f) {
    size_t n_keep = 0;
    total = cut_nucleus(&cand_p_, &n_keep, static_cast<double>(p.top_p) * total);
    cands_.resize(n_keep);
    cand_p_.resize(n_keep);
  }
  *mass = total;
}

int32_t Sampler::draw(double u, double mass) const {
  const double target = u * mass;
  double cum = 0.0;
  int32_t last_positive = -1;
  if (dense_) {
    for (size_t i = 0; i < probs_.size(); ++i) {
      if (probs_[i] <= 0.0f) continue;
      cum += probs_[i];
      last_positive = static_cast<int32_t>(i);
      if (target < cum) return last_positive;
    }
  } else {
    for (size_t i = 0; i < cands_.size(); ++i) {
      if (cand_p_[i] <= 0.0f) continue;
      cum += cand_p_[i];
      last_positive = cands_[i].id;
      if (target < cum) return last_positive;
    }
  }
  MLXM_CHECK(last_positive >= 0);  // the max token has probability 1 before normalisation
  return last_positive;            // rounding: u * mass landed at the very end
}

void fill_logprobs(std::span<const float> src, int32_t token, int n_top, SampleResult* r) {
  const float m = max_of(src.data(), src.size());
  // All -inf (possible only in raw mode): every logprob is -inf.
  const double lse = m == kNegInf ? std::numeric_limits<double>::infinity()
                                  : m + std::log(exp_sum(src.data(), nullptr, src.size(), m, 1.0f));
  r->has_logprobs = true;
  r->logprob = static_cast<float>(src[static_cast<size_t>(token)] - lse);
  n_top = std::min<int>(n_top, static_cast<int>(src.size()));
  r->n_top = n_top;
  if (n_top == 0) return;
  // Bounded heap over (logit desc, id asc); front = the worst kept.
  auto worse_first = [](const TokenLogprob& a, const TokenLogprob& b) {
    return better(a.logprob, a.token, b.logprob, b.token);
  };
  TokenLogprob* heap = r->top.data();
  int size = 0;
  for (size_t i = 0; i < src.size(); ++i) {
    const float x = src[i];
    if (size < n_top) {
      heap[size++] = {static_cast<int32_t>(i), x};
      std::push_heap(heap, heap + size, worse_first);
    } else if (x > heap[0].logprob) {
      std::pop_heap(heap, heap + size, worse_first);
      heap[size - 1] = {static_cast<int32_t>(i), x};
      std::push_heap(heap, heap + size, worse_first);
    }
  }
  std::sort(heap, heap + size, worse_first);  // best first
  for (int i = 0; i < size; ++i) heap[i].logprob = static_cast<float>(heap[i].logprob - lse);
}

Result<SampleResult> Sampler::sample(std::span<const float> logits, const SamplingParams& params,
                                     SamplerState& state) {
  float max = 0.0f;
  MLXM_RETURN_IF_ERROR(process(logits, params, state, &max));
  SampleResult r;
  if (params.greedy()) {
    r.token = static_cast<int32_t>(std::find(work_.begin(), work_.end(), max) - work_.begin());
  } else {
    double mass = 0.0;
    build_distribution(params, max, &mass);
    r.token = draw(state.rng_.uniform(), mass);
  }
  if (params.wants_logprobs()) {
    const std::span<const float> src =
        params.logprobs_mode == LogprobsMode::kRaw ? logits : std::span<const float>(work_);
    fill_logprobs(src, r.token, params.top_logprobs, &r);
  }
  state.record_output(r.token);
  return r;
}

Status Sampler::distribution(std::span<const float> logits, const SamplingParams& params,
                             const SamplerState& state,
                             std::vector<std::pair<int32_t, double>>* out) {
  out->clear();
  float max = 0.0f;
  MLXM_RETURN_IF_ERROR(process(logits, params, state, &max));
  if (params.greedy()) {
    const auto id = std::find(work_.begin(), work_.end(), max) - work_.begin();
    out->emplace_back(static_cast<int32_t>(id), 1.0);
    return ok_status();
  }
  double mass = 0.0;
  build_distribution(params, max, &mass);
  if (dense_) {
    for (size_t i = 0; i < probs_.size(); ++i) {
      if (probs_[i] > 0.0f) out->emplace_back(static_cast<int32_t>(i), probs_[i] / mass);
    }
  } else {
    for (size_t i = 0; i < cands_.size(); ++i) {
      if (cand_p_[i] > 0.0f) out->emplace_back(cands_[i].id, cand_p_[i] / mass);
    }
  }
  return ok_status();
}

}  // namespace mlxm::engine
