// The device spec of a sampled row (engine/row_sampling.h -> kernels/cuda/cuda_sample.h), shared
// by the CUDA engine and its tests. The constants computed here on the host (1/T, log min_p)
// keep the kernel's thresholds bit-identical to sample_row()'s.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/kernels/cuda/cuda_sample.h"
#include "engine/row_sampling.h"

namespace mlxm::engine {

static_assert(cuda::kSampleBadLogits == kRowBadLogits && cuda::kSampleAllNegInf == kRowAllNegInf);
static_assert(cuda::kLogprobTop == kMaxTopLogprobs);

// The spec of `s` (not full, valid for `vocab`) on logit row `row`; appends its adjustments to
// *adjust.
inline cuda::SampleRowSpec device_row_spec(const RowSampling& s, int32_t row, int32_t vocab,
                                           std::vector<cuda::SampleAdjust>* adjust) {
  cuda::SampleRowSpec d;
  d.row = row;
  d.greedy = s.greedy() ? 1 : 0;
  d.temperature = s.temperature;
  d.inv_t = s.greedy() ? 0.0f : 1.0f / s.temperature;
  d.log_min_p = s.min_p > 0.0f ? std::log(s.min_p) : -INFINITY;
  d.top_p = s.top_p;
  d.top_k = s.top_k > 0 && s.top_k < vocab ? s.top_k : 0;
  d.adjust_begin = static_cast<int32_t>(adjust->size());
  d.adjust_count = static_cast<int32_t>(s.adjust.size());
  d.u = s.u;
  d.pending_row = s.pending_row;
  d.pending_rep = s.pending_rep;
  d.pending_freq = s.pending_freq;
  d.pending_presence = s.pending_presence;
  for (const LogitAdjust& a : s.adjust) {
    adjust->push_back({a.token, a.add, a.rep, a.sub, a.count});
  }
  return d;
}

// The logprobs spec of `s` (s.logprobs >= 0), sampled as spec number `spec` (d, its device
// spec) on d.row.
inline cuda::LogprobRowSpec device_logprob_spec(const RowSampling& s, const cuda::SampleRowSpec& d,
                                                int32_t spec, int32_t vocab) {
  cuda::LogprobRowSpec l;
  l.row = d.row;
  l.spec = spec;
  l.n_top = s.logprobs < vocab ? s.logprobs : vocab;
  l.raw = s.logprobs_raw ? 1 : 0;
  l.adjust_begin = d.adjust_begin;
  l.adjust_count = d.adjust_count;
  return l;
}

// A row's device logprobs with its token as the SampleResult the host would give.
inline SampleResult logprobs_result(const cuda::LogprobRowOut& o, int32_t token) {
  SampleResult r;
  r.token = token;
  r.has_logprobs = true;
  r.logprob = o.logprob;
  r.n_top = o.n_top;
  for (int i = 0; i < o.n_top; ++i) r.top[static_cast<size_t>(i)] = {o.ids[i], o.logprobs[i]};
  return r;
}

}  // namespace mlxm::engine
