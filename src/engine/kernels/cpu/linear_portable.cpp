// Portable C++ kernels of PackedLinear (any CPU) and the shared scalar helpers.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/kernels/cpu/linear_internal.h"

namespace mlxm::engine::cpu {

void quantize_rows_portable(const float* x, int64_t row_begin, int64_t row_end, int group_size,
                            const QuantizedX& qx) {
  const int64_t bpg = group_size / kQBlock;
  for (int64_t j = row_begin; j < row_end; ++j) {
    const float* xr = x + j * qx.n_in;
    int8_t* q = qx.q + j * qx.n_in;
    float* d = qx.d + j * qx.n_blocks;
    int32_t* sq = qx.sumq + j * qx.n_blocks;
    for (int64_t b = 0; b < qx.n_blocks; ++b) {
      float amax = 0;
      for (int i = 0; i < kQBlock; ++i) amax = std::max(amax, std::fabs(xr[b * kQBlock + i]));
      const float db = amax / 127.0f;
      const float id = amax > 0 ? 127.0f / amax : 0.0f;
      int32_t s = 0;
      for (int i = 0; i < kQBlock; ++i) {
        const int v = static_cast<int>(std::nearbyint(xr[b * kQBlock + i] * id));
        q[b * kQBlock + i] = static_cast<int8_t>(std::clamp(v, -127, 127));
        s += q[b * kQBlock + i];
      }
      d[b] = db;
      sq[b] = s;
    }
    float* gs = qx.gsum + j * qx.n_groups;
    for (int64_t g = 0; g < qx.n_groups; ++g) {
      float acc = 0;
      for (int64_t b = g * bpg; b < (g + 1) * bpg; ++b) acc += d[b] * static_cast<float>(sq[b]);
      gs[g] = acc;
    }
  }
}

void dequantize_row_generic(const PackedWeights& w, int64_t row, float* out) {
  if (w.bits == 0) {
    const size_t es = dtype_size(w.dtype);
    to_f32(w.dtype, w.raw.data() + static_cast<size_t>(row * w.n_in) * es, out,
           static_cast<size_t>(w.n_in));
    return;
  }
  const int64_t words_per_row = w.n_in * w.bits / 32;
  const auto* words = reinterpret_cast<const uint32_t*>(w.raw.data()) + row * words_per_row;
  const float* sc = w.row_scales.data() + row * w.n_groups;
  const float* bi = w.row_biases.data() + row * w.n_groups;
  for (int64_t k = 0; k < w.n_in; ++k) {
    const int64_t g = k / w.group_size;
    out[k] = sc[g] * static_cast<float>(read_code(words, k, w.bits)) + bi[g];
  }
}

namespace portable {

void quantize_rows(const float* x, int64_t row_begin, int64_t row_end, int group_size,
                   const QuantizedX& qx) {
  quantize_rows_portable(x, row_begin, row_end, group_size, qx);
}

void int_gemm(const PackedWeights& w, const QuantizedX& qx, int64_t tile_begin, int64_t tile_end,
              float* y, int64_t ldy) {
  const int64_t bpg = w.group_size / kQBlock;
  const size_t tile_bytes = w.tile_code_bytes();
  for (int64_t t = tile_begin; t < tile_end; ++t) {
    const uint8_t* tile = w.codes.data() + static_cast<size_t>(t) * tile_bytes;
    const uint8_t* sbt = w.sb_tile(t);
    const int nr = static_cast<int>(std::min<int64_t>(kTileRows, w.n_out - t * kTileRows));
    for (int64_t j = 0; j < qx.n; ++j) {
      const int8_t* q = qx.q + j * qx.n_in;
      const float* d = qx.d + j * qx.n_blocks;
      const float* gs = qx.gsum + j * qx.n_groups;
      float acc[kTileRows] = {};
      for (int64_t g = 0; g < w.n_groups; ++g) {
        float gacc[kTileRows] = {};
        for (int64_t b = g * bpg; b < (g + 1) * bpg; ++b) {
          int32_t dot[kTileRows] = {};
          const int8_t* qb = q + b * kQBlock;
          if (w.bits == 8) {
            const uint8_t* c = tile + b * (kQBlock / 4) * 64;
            for (int k4 = 0; k4 < kQBlock / 4; ++k4, c += 64) {
              for (int r = 0; r < kTileRows; ++r) {
                for (int i = 0; i < 4; ++i) dot[r] += c[r * 4 + i] * qb[k4 * 4 + i];
              }
            }
          } else {
            const uint8_t* c = tile + b * (kQBlock / 8) * 64;
            for (int k8 = 0; k8 < kQBlock / 8; ++k8, c += 64) {
              for (int r = 0; r < kTileRows; ++r) {
                for (int i = 0; i < 4; ++i) {
                  dot[r] += (c[r * 4 + i] & 0xF) * qb[k8 * 8 + i] +
                            (c[r * 4 + i] >> 4) * qb[k8 * 8 + 4 + i];
                }
              }
            }
          }
          for (int r = 0; r < kTileRows; ++r) gacc[r] += static_cast<float>(dot[r]) * d[b];
        }
        const uint8_t* e = sbt + static_cast<size_t>(g) * w.sb_group_bytes();
        for (int r = 0; r < kTileRows; ++r) {
          acc[r] += load_scalar(w.dtype, e, r) * gacc[r] +
                    load_scalar(w.dtype, e, kTileRows + r) * gs[g];
        }
      }
      float* yr = y + j * ldy + t * kTileRows;
      for (int r = 0; r < nr; ++r) yr[r] = acc[r];
    }
  }
}

void rows_to_f32(const PackedWeights& w, int64_t r0, int64_t nr, float* out) {
  for (int64_t r = 0; r < nr; ++r) dequantize_row_generic(w, r0 + r, out + r * w.n_in);
}

void f32_gemm(const float* w, int64_t nr, int64_t n_in, const float* x, int64_t n, float* y,
              int64_t ldy) {
  for (int64_t j = 0; j < n; ++j) {
    const float* xr = x + j * n_in;
    for (int64_t r = 0; r < nr; ++r) {
      const float* wr = w + r * n_in;
      float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      int64_t k = 0;
      for (; k + 4 <= n_in; k += 4) {
        a0 += wr[k] * xr[k];
        a1 += wr[k + 1] * xr[k + 1];
        a2 += wr[k + 2] * xr[k + 2];
        a3 += wr[k + 3] * xr[k + 3];
      }
      for (; k < n_in; ++k) a0 += wr[k] * xr[k];
      y[j * ldy + r] = (a0 + a1) + (a2 + a3);
    }
  }
}

}  // namespace portable
}  // namespace mlxm::engine::cpu
