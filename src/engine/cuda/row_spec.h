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
  for (const LogitAdjust& a : s.adjust) adjust->push_back({a.token, a.add, a.rep, a.sub});
  return d;
}

}  // namespace mlxm::engine
