#include "engine/kernels/cpu/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/check.h"
#include "engine/kernels/cpu/isa.h"
#include "engine/kernels/cpu/ops_internal.h"

namespace mlxm::engine {

using cpu::Isa;

namespace {

bool use_avx512() { return cpu::active_isa() == Isa::kAvx512; }

}  // namespace

void rms_norm(const float* x, const float* weight, float eps, int64_t n, int64_t dim, float* y,
              ThreadPool& pool) {
  pool.parallel_for(n, std::max<int64_t>(1, 16384 / std::max<int64_t>(dim, 1)),
                    [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) {
      const float* xr = x + j * dim;
      float* yr = y + j * dim;
      const float ss = cpu::sum_squares(xr, dim);
      const float inv = 1.0f / std::sqrt(ss / static_cast<float>(dim) + eps);
      cpu::scale_mul(xr, weight, inv, dim, yr);
    }
  });
}

void rope(float* x, const int32_t* positions, int64_t n_tokens, int n_heads, int head_dim,
          const float* inv_freq, ThreadPool& pool) {
  const int half = head_dim / 2;
  pool.parallel_for(n_tokens, 1, [&](int64_t b, int64_t e) {
    std::vector<float> cs(static_cast<size_t>(head_dim));
    for (int64_t t = b; t < e; ++t) {
      const float pos = static_cast<float>(positions[t]);
      for (int i = 0; i < half; ++i) {
        const float angle = pos * inv_freq[i];  // f32 like HF
        cs[static_cast<size_t>(i)] = static_cast<float>(std::cos(static_cast<double>(angle)));
        cs[static_cast<size_t>(half + i)] = static_cast<float>(std::sin(static_cast<double>(angle)));
      }
      for (int h = 0; h < n_heads; ++h) {
        float* v = x + (t * n_heads + h) * head_dim;
        for (int i = 0; i < half; ++i) {
          const float c = cs[static_cast<size_t>(i)];
          const float s = cs[static_cast<size_t>(half + i)];
          const float x1 = v[i];
          const float x2 = v[i + half];
          v[i] = x1 * c - x2 * s;
          v[i + half] = x2 * c + x1 * s;
        }
      }
    }
  });
}

void silu_mul(const float* gate_up, int64_t n, int64_t ff, float* out, ThreadPool& pool) {
  // Split over rows and columns so a single decode row still uses every thread.
  const int64_t chunk = 1024;
  const int64_t per_row = (ff + chunk - 1) / chunk;
  pool.parallel_for(n * per_row, 4, [&](int64_t b, int64_t e) {
    for (int64_t it = b; it < e; ++it) {
      const int64_t j = it / per_row;
      const int64_t c0 = (it % per_row) * chunk;
      const int64_t c1 = std::min(ff, c0 + chunk);
      const float* g = gate_up + j * 2 * ff;
      const float* u = g + ff;
      float* o = out + j * ff;
      if (use_avx512()) {
        cpu::avx512_ops::silu_mul_row(g + c0, u + c0, c1 - c0, o + c0);
      } else {
        for (int64_t i = c0; i < c1; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
      }
    }
  });
}

void kv_store(const KvLayerView& kv, const float* k, const float* v, const int32_t* slot_mapping,
              int64_t n_tokens, ThreadPool& pool) {
  const int64_t row = static_cast<int64_t>(kv.n_kv_heads) * kv.head_dim;
  const int64_t n_slots = kv.n_blocks * kv.block_size;
  const size_t es = dtype_size(kv.dtype);
  pool.parallel_for(n_tokens, 8, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t slot = slot_mapping[t];
      if (slot < 0) continue;  // padding token
      MLXM_CHECK_MSG(slot < n_slots, "kv_store: slot out of range");
      auto* kd = static_cast<uint8_t*>(kv.k) + static_cast<size_t>(slot * row) * es;
      auto* vd = static_cast<uint8_t*>(kv.v) + static_cast<size_t>(slot * row) * es;
      cpu::from_f32(kv.dtype, k + t * row, kd, row);
      cpu::from_f32(kv.dtype, v + t * row, vd, row);
    }
  });
}

void paged_attention(const float* q, const AttnQuery* queries, int64_t n_tokens, int n_heads,
                     const KvLayerView& kv, float scale, float* out, ThreadPool& pool) {
  MLXM_CHECK(kv.n_kv_heads > 0 && n_heads % kv.n_kv_heads == 0);
  const int group = n_heads / kv.n_kv_heads;
  const int64_t items = n_tokens * kv.n_kv_heads;
  pool.parallel_for(items, 1, [&](int64_t b, int64_t e) {
    cpu::AttnScratch scratch;
    for (int64_t it = b; it < e; ++it) {
      const int64_t t = it / kv.n_kv_heads;
      const int kvh = static_cast<int>(it % kv.n_kv_heads);
      const float* qt = q + (t * n_heads + static_cast<int64_t>(kvh) * group) * kv.head_dim;
      float* ot = out + (t * n_heads + static_cast<int64_t>(kvh) * group) * kv.head_dim;
      cpu::attend_group(qt, group, queries[t], kv, kvh, scale, ot, scratch, use_avx512());
    }
  });
}

}  // namespace mlxm::engine
