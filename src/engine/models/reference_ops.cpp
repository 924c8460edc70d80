#include "engine/models/reference_ops.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace mlxm::engine::reference {
namespace {

float load(DType t, const void* base, int64_t i) {
  switch (t) {
    case DType::kF16: return f16_to_f32(static_cast<const uint16_t*>(base)[i]);
    case DType::kBF16: return bf16_to_f32(static_cast<const uint16_t*>(base)[i]);
    default: return static_cast<const float*>(base)[i];
  }
}

void store(DType t, void* base, int64_t i, float v) {
  switch (t) {
    case DType::kF16: static_cast<uint16_t*>(base)[i] = f32_to_f16(v); break;
    case DType::kBF16: static_cast<uint16_t*>(base)[i] = f32_to_bf16(v); break;
    default: static_cast<float*>(base)[i] = v; break;
  }
}

}  // namespace

void rms_norm(const float* x, const float* weight, float eps, int64_t n, int64_t dim, float* y,
              ThreadPool&) {
  for (int64_t r = 0; r < n; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < dim; ++i) ss += static_cast<double>(x[r * dim + i]) * x[r * dim + i];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(dim) + eps);
    for (int64_t i = 0; i < dim; ++i) {
      y[r * dim + i] = static_cast<float>(x[r * dim + i] * inv) * weight[i];
    }
  }
}

void rope(float* x, const int32_t* positions, int64_t n_tokens, int n_heads, int head_dim,
          const float* inv_freq, ThreadPool&) {
  const int half = head_dim / 2;
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim;
      for (int i = 0; i < half; ++i) {
        // HF: freqs = position * inv_freq in float32, then cos/sin.
        const float ang = static_cast<float>(positions[t]) * inv_freq[i];
        const double c = std::cos(static_cast<double>(ang)), s = std::sin(static_cast<double>(ang));
        const double a = v[i], b = v[i + half];
        v[i] = static_cast<float>(a * c - b * s);
        v[i + half] = static_cast<float>(b * c + a * s);
      }
    }
  }
}

void silu_mul(const float* gate_up, int64_t n, int64_t ff, float* out, ThreadPool&) {
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t i = 0; i < ff; ++i) {
      const double g = gate_up[r * 2 * ff + i], u = gate_up[r * 2 * ff + ff + i];
      out[r * ff + i] = static_cast<float>(g / (1.0 + std::exp(-g)) * u);
    }
  }
}

void kv_store(const KvLayerView& kv, const float* k, const float* v, const int32_t* slot_mapping,
              int64_t n_tokens, ThreadPool&) {
  const int64_t row = int64_t{kv.n_kv_heads} * kv.head_dim;
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t i = 0; i < row; ++i) {
      store(kv.dtype, kv.k, slot_mapping[t] * row + i, k[t * row + i]);
      store(kv.dtype, kv.v, slot_mapping[t] * row + i, v[t * row + i]);
    }
  }
}

void paged_attention(const float* q, const AttnQuery* queries, int64_t n_tokens, int n_heads,
                     const KvLayerView& kv, float scale, float* out, ThreadPool&) {
  const int hd = kv.head_dim;
  const int64_t row = int64_t{kv.n_kv_heads} * hd;
  const int group = n_heads / kv.n_kv_heads;
  std::vector<double> scores, acc(static_cast<size_t>(hd));
  for (int64_t t = 0; t < n_tokens; ++t) {
    const AttnQuery& qr = queries[t];
    scores.assign(static_cast<size_t>(qr.n_ctx), 0.0);
    for (int h = 0; h < n_heads; ++h) {
      const int kvh = h / group;
      const float* qh = q + (t * n_heads + h) * hd;
      double mx = -INFINITY;
      for (int32_t p = 0; p < qr.n_ctx; ++p) {
        const int64_t slot =
            int64_t{qr.block_table[p / kv.block_size]} * kv.block_size + p % kv.block_size;
        double d = 0;
        for (int i = 0; i < hd; ++i)
          d += static_cast<double>(qh[i]) * load(kv.dtype, kv.k, slot * row + kvh * hd + i);
        scores[static_cast<size_t>(p)] = d * scale;
        mx = std::max(mx, d * scale);
      }
      double sum = 0;
      for (auto& s : scores) sum += (s = std::exp(s - mx));
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int32_t p = 0; p < qr.n_ctx; ++p) {
        const int64_t slot =
            int64_t{qr.block_table[p / kv.block_size]} * kv.block_size + p % kv.block_size;
        const double w = scores[static_cast<size_t>(p)] / sum;
        for (int i = 0; i < hd; ++i)
          acc[static_cast<size_t>(i)] += w * load(kv.dtype, kv.v, slot * row + kvh * hd + i);
      }
      float* o = out + (t * n_heads + h) * hd;
      for (int i = 0; i < hd; ++i) o[i] = static_cast<float>(acc[static_cast<size_t>(i)]);
    }
  }
}

}  // namespace mlxm::engine::reference
