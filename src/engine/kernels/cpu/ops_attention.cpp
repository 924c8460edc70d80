// Paged attention of one query token and one kv-head group: online softmax over KV blocks.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/check.h"
#include "engine/kernels/cpu/ops_internal.h"

namespace mlxm::engine::cpu {

void from_f32(DType t, const float* src, void* dst, int64_t n) {
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::kF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
      return;
    }
    case DType::kBF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return;
    }
    default:
      MLXM_CHECK_MSG(false, "kv: dtype must be F32, F16 or BF16");
  }
}

namespace {

inline float dot_portable(const float* a, const float* b, int64_t n) {
  float s[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) s[j] += a[i + j] * b[i + j];
  }
  for (; i < n; ++i) s[0] += a[i] * b[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

}  // namespace

void attend_group(const float* q, int group, const AttnQuery& query, const KvLayerView& kv,
                  int kvh, float scale, float* out, AttnScratch& s, bool avx512) {
  const int hd = kv.head_dim;
  const int bs = kv.block_size;
  const size_t es = dtype_size(kv.dtype);
  s.k.resize(static_cast<size_t>(bs * hd));
  s.v.resize(static_cast<size_t>(bs * hd));
  s.scores.resize(static_cast<size_t>(group * bs));
  s.acc.assign(static_cast<size_t>(group * hd), 0.0f);
  s.m.assign(static_cast<size_t>(group), -std::numeric_limits<float>::infinity());
  s.l.assign(static_cast<size_t>(group), 0.0f);
  const int64_t row = static_cast<int64_t>(kv.n_kv_heads) * hd;
  const int n_ctx = query.n_ctx;
  const int n_blk = (n_ctx + bs - 1) / bs;
  auto convert = [&](const void* src, float* dst) {
    if (avx512) {
      avx512_ops::to_f32_row(kv.dtype, src, dst, hd);
    } else {
      to_f32(kv.dtype, src, dst, static_cast<size_t>(hd));
    }
  };
  auto dot = [&](const float* a, const float* b) {
    return avx512 ? avx512_ops::dot(a, b, hd) : dot_portable(a, b, hd);
  };
  for (int bi = 0; bi < n_blk; ++bi) {
    const int64_t blk = query.block_table[bi];
    MLXM_CHECK_MSG(blk >= 0 && blk < kv.n_blocks, "paged_attention: block id out of range");
    const int np = std::min(bs, n_ctx - bi * bs);
    const auto* kb = static_cast<const uint8_t*>(kv.k) +
                     static_cast<size_t>((blk * bs * row + static_cast<int64_t>(kvh) * hd)) * es;
    const auto* vb = static_cast<const uint8_t*>(kv.v) +
                     static_cast<size_t>((blk * bs * row + static_cast<int64_t>(kvh) * hd)) * es;
    for (int p = 0; p < np; ++p) {
      convert(kb + static_cast<size_t>(p * row) * es, s.k.data() + p * hd);
      convert(vb + static_cast<size_t>(p * row) * es, s.v.data() + p * hd);
    }
    for (int h = 0; h < group; ++h) {
      const float* qh = q + h * hd;
      float* sc = s.scores.data() + h * bs;
      float mx = s.m[static_cast<size_t>(h)];
      for (int p = 0; p < np; ++p) {
        sc[p] = dot(qh, s.k.data() + p * hd) * scale;
        mx = std::max(mx, sc[p]);
      }
      float* acc = s.acc.data() + h * hd;
      const float corr = std::exp(s.m[static_cast<size_t>(h)] - mx);  // exp(-inf) = 0 at start
      float l = s.l[static_cast<size_t>(h)] * corr;
      if (corr != 1.0f) {
        for (int i = 0; i < hd; ++i) acc[i] *= corr;
      }
      for (int p = 0; p < np; ++p) {
        const float wgt = std::exp(sc[p] - mx);
        l += wgt;
        if (avx512) {
          avx512_ops::axpy(wgt, s.v.data() + p * hd, hd, acc);
        } else {
          const float* vp = s.v.data() + p * hd;
          for (int i = 0; i < hd; ++i) acc[i] += wgt * vp[i];
        }
      }
      s.m[static_cast<size_t>(h)] = mx;
      s.l[static_cast<size_t>(h)] = l;
    }
  }
  for (int h = 0; h < group; ++h) {
    const float l = s.l[static_cast<size_t>(h)];
    const float inv = l > 0 ? 1.0f / l : 0.0f;
    for (int i = 0; i < hd; ++i) out[h * hd + i] = s.acc[static_cast<size_t>(h * hd + i)] * inv;
  }
}

}  // namespace mlxm::engine::cpu
