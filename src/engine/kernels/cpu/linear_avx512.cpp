// AVX-512 (F/BW/VL + VNNI) kernels of PackedLinear. Layouts: linear_internal.h.
//
// Int path micro-kernel: one tile of 16 weight rows x C activation rows. Per k4 step one
// 64-byte vector holds 4 codes of each of the 16 rows; vpdpbusd with the activation's 4 int8
// values broadcast accumulates the 16 row dots in the 16 i32 lanes, so no horizontal sums are
// needed until the very end and each weight vector is reused for C activation rows (prefill).
// Per 32-block the i32 sums are converted once (x d_b), per group scaled (x scale_g) and the
// bias term added (bias_g x gsum_g).
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on _mm512_undefined_* (a GCC bug).
#if !defined(__clang__)  // GCC flags AVX-512 intrinsics' undefined-vector idiom
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/kernels/cpu/linear_internal.h"

namespace mlxm::engine::cpu::avx512 {

namespace {

constexpr int kSkF32 = static_cast<int>(DType::kF32);
constexpr int kSkF16 = static_cast<int>(DType::kF16);
constexpr int kSkBF16 = static_cast<int>(DType::kBF16);
constexpr int64_t sk_size(int sk) { return sk == kSkF32 ? 4 : 2; }

// 16 scales or biases of a tile in their stored dtype, as f32.
template <int SK>
inline __m512 load16(const uint8_t* p) {
  if constexpr (SK == kSkF32) {
    return _mm512_loadu_ps(p);
  } else if constexpr (SK == kSkF16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  } else {
    return _mm512_castsi512_ps(_mm512_slli_epi32(
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16));
  }
}

inline int32_t load_i32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

template <int BITS, int C, int BPG, int SK>
void tile_kernel(const uint8_t* tile, const uint8_t* sbt, int64_t g_begin,
                 int64_t g_end, const QuantizedX& qx, int64_t j0, float* y, int64_t ldy,
                 __mmask16 store_mask) {
  const int8_t* q[C];
  const float* d[C];
  const float* gs[C];
  for (int c = 0; c < C; ++c) {
    q[c] = qx.q + (j0 + c) * qx.n_in;
    d[c] = qx.d + (j0 + c) * qx.n_blocks;
    gs[c] = qx.gsum + (j0 + c) * qx.n_groups;
  }
  __m512 facc[C];
  for (int c = 0; c < C; ++c) {
    facc[c] = g_begin == 0 ? _mm512_setzero_ps()
                           : _mm512_maskz_loadu_ps(store_mask, y + (j0 + c) * ldy);
  }
  const __m512i nib = _mm512_set1_epi8(0x0F);
  const uint8_t* wp = tile + g_begin * BPG * (kQBlock * BITS / 8) * kTileRows;
  for (int64_t g = g_begin; g < g_end; ++g) {
    __m512 gacc[C];
    for (int c = 0; c < C; ++c) gacc[c] = _mm512_setzero_ps();
    for (int bb = 0; bb < BPG; ++bb) {
      const int64_t b = g * BPG + bb;
      __m512i i0[C], i1[C];
      for (int c = 0; c < C; ++c) {
        i0[c] = _mm512_setzero_si512();
        i1[c] = _mm512_setzero_si512();
      }
      if constexpr (BITS == 4) {
        for (int k8 = 0; k8 < kQBlock / 8; ++k8) {
          const __m512i v = _mm512_load_si512(wp + k8 * 64);
          const __m512i lo = _mm512_and_si512(v, nib);
          const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nib);
          for (int c = 0; c < C; ++c) {
            const int8_t* qc = q[c] + b * kQBlock + k8 * 8;
            i0[c] = _mm512_dpbusd_epi32(i0[c], lo, _mm512_set1_epi32(load_i32(qc)));
            i1[c] = _mm512_dpbusd_epi32(i1[c], hi, _mm512_set1_epi32(load_i32(qc + 4)));
          }
        }
        wp += kQBlock / 8 * 64;
      } else {
        for (int k4 = 0; k4 < kQBlock / 4; k4 += 2) {
          const __m512i v0 = _mm512_load_si512(wp + k4 * 64);
          const __m512i v1 = _mm512_load_si512(wp + k4 * 64 + 64);
          for (int c = 0; c < C; ++c) {
            const int8_t* qc = q[c] + b * kQBlock + k4 * 4;
            i0[c] = _mm512_dpbusd_epi32(i0[c], v0, _mm512_set1_epi32(load_i32(qc)));
            i1[c] = _mm512_dpbusd_epi32(i1[c], v1, _mm512_set1_epi32(load_i32(qc + 4)));
          }
        }
        wp += kQBlock / 4 * 64;
      }
      for (int c = 0; c < C; ++c) {
        gacc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(i0[c], i1[c])),
                                  _mm512_set1_ps(d[c][b]), gacc[c]);
      }
    }
    const uint8_t* e = sbt + g * (2 * kTileRows * sk_size(SK));
    const __m512 sv = load16<SK>(e);
    const __m512 bv = load16<SK>(e + kTileRows * sk_size(SK));
    for (int c = 0; c < C; ++c) {
      facc[c] = _mm512_fmadd_ps(sv, gacc[c], facc[c]);
      facc[c] = _mm512_fmadd_ps(bv, _mm512_set1_ps(gs[c][g]), facc[c]);
    }
  }
  for (int c = 0; c < C; ++c) _mm512_mask_storeu_ps(y + (j0 + c) * ldy, store_mask, facc[c]);
}

constexpr int kMaxC = 6;

template <int BITS, int BPG, int SK>
void int_gemm_t(const PackedWeights& w, const QuantizedX& qx, int64_t tile_begin,
                int64_t tile_end, float* y, int64_t ldy) {
  const size_t tile_bytes = w.tile_code_bytes();
  // Decode (few rows): one pass over K; prefill: chunks of ~16 KiB of codes per tile.
  const int64_t k_chunk = qx.n <= kMaxC ? w.n_in : (16384 * 8 / BITS) / kTileRows;
  const int64_t groups_per_chunk = std::max<int64_t>(1, k_chunk / w.group_size);
  for (int64_t t = tile_begin; t < tile_end; ++t) {
    const uint8_t* tile = w.codes.data() + static_cast<size_t>(t) * tile_bytes;
    const uint8_t* sbt = w.sb_tile(t);
    const int nr = static_cast<int>(std::min<int64_t>(kTileRows, w.n_out - t * kTileRows));
    const __mmask16 mask = static_cast<__mmask16>((1u << nr) - 1);
    float* yt = y + t * kTileRows;
    // K is cut into chunks whose weight tile stays in L1 while every activation row passes.
    for (int64_t g0 = 0; g0 < w.n_groups; g0 += groups_per_chunk) {
      const int64_t g1 = std::min(w.n_groups, g0 + groups_per_chunk);
      int64_t j = 0;
      for (; j + kMaxC <= qx.n; j += kMaxC) {
        tile_kernel<BITS, kMaxC, BPG, SK>(tile, sbt, g0, g1, qx, j, yt, ldy, mask);
      }
      switch (qx.n - j) {
        case 5: tile_kernel<BITS, 5, BPG, SK>(tile, sbt, g0, g1, qx, j, yt, ldy, mask); break;
        case 4: tile_kernel<BITS, 4, BPG, SK>(tile, sbt, g0, g1, qx, j, yt, ldy, mask); break;
        case 3: tile_kernel<BITS, 3, BPG, SK>(tile, sbt, g0, g1, qx, j, yt, ldy, mask); break;
        case 2: tile_kernel<BITS, 2, BPG, SK>(tile, sbt, g0, g1, qx, j, yt, ldy, mask); break;
        case 1: tile_kernel<BITS, 1, BPG, SK>(tile, sbt, g0, g1, qx, j, yt, ldy, mask); break;
        default: break;
      }
    }
  }
}

template <int BITS, int SK>
void int_gemm_bits(const PackedWeights& w, const QuantizedX& qx, int64_t tb, int64_t te,
                   float* y, int64_t ldy) {
  switch (w.group_size / kQBlock) {
    case 1: int_gemm_t<BITS, 1, SK>(w, qx, tb, te, y, ldy); break;
    case 2: int_gemm_t<BITS, 2, SK>(w, qx, tb, te, y, ldy); break;
    default: int_gemm_t<BITS, 4, SK>(w, qx, tb, te, y, ldy); break;
  }
}

}  // namespace

void quantize_rows(const float* x, int64_t row_begin, int64_t row_end, int group_size,
                   const QuantizedX& qx) {
  const int64_t bpg = group_size / kQBlock;
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (int64_t j = row_begin; j < row_end; ++j) {
    const float* xr = x + j * qx.n_in;
    int8_t* q = qx.q + j * qx.n_in;
    float* d = qx.d + j * qx.n_blocks;
    int32_t* sq = qx.sumq + j * qx.n_blocks;
    for (int64_t b = 0; b < qx.n_blocks; ++b) {
      const __m512 a = _mm512_loadu_ps(xr + b * kQBlock);
      const __m512 c = _mm512_loadu_ps(xr + b * kQBlock + 16);
      const float amax = _mm512_reduce_max_ps(
          _mm512_max_ps(_mm512_and_ps(a, abs_mask), _mm512_and_ps(c, abs_mask)));
      const float id = amax > 0 ? 127.0f / amax : 0.0f;
      const __m512 idv = _mm512_set1_ps(id);
      const __m512i qa = _mm512_cvtps_epi32(_mm512_mul_ps(a, idv));  // round to nearest even
      const __m512i qc = _mm512_cvtps_epi32(_mm512_mul_ps(c, idv));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * kQBlock), _mm512_cvtsepi32_epi8(qa));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * kQBlock + 16),
                       _mm512_cvtsepi32_epi8(qc));
      d[b] = amax / 127.0f;
      sq[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qc));
    }
    float* gs = qx.gsum + j * qx.n_groups;
    for (int64_t g = 0; g < qx.n_groups; ++g) {
      float acc = 0;
      for (int64_t b = g * bpg; b < (g + 1) * bpg; ++b) acc += d[b] * static_cast<float>(sq[b]);
      gs[g] = acc;
    }
  }
}

void int_gemm(const PackedWeights& w, const QuantizedX& qx, int64_t tile_begin, int64_t tile_end,
              float* y, int64_t ldy) {
  const int sk = static_cast<int>(w.dtype);
  if (w.bits == 4) {
    if (sk == kSkBF16) int_gemm_bits<4, kSkBF16>(w, qx, tile_begin, tile_end, y, ldy);
    else if (sk == kSkF16) int_gemm_bits<4, kSkF16>(w, qx, tile_begin, tile_end, y, ldy);
    else int_gemm_bits<4, kSkF32>(w, qx, tile_begin, tile_end, y, ldy);
  } else {
    if (sk == kSkBF16) int_gemm_bits<8, kSkBF16>(w, qx, tile_begin, tile_end, y, ldy);
    else if (sk == kSkF16) int_gemm_bits<8, kSkF16>(w, qx, tile_begin, tile_end, y, ldy);
    else int_gemm_bits<8, kSkF32>(w, qx, tile_begin, tile_end, y, ldy);
  }
}

void rows_to_f32(const PackedWeights& w, int64_t r0, int64_t nr, float* out) {
  if (w.bits != 0 || w.dtype == DType::kF32) {
    portable::rows_to_f32(w, r0, nr, out);
    return;
  }
  const int64_t n = nr * w.n_in;
  const auto* s = reinterpret_cast<const uint16_t*>(w.raw.data()) + r0 * w.n_in;
  int64_t i = 0;
  if (w.dtype == DType::kF16) {
    for (; i + 16 <= n; i += 16) {
      _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(
                                    reinterpret_cast<const __m256i*>(s + i))));
    }
    for (; i < n; ++i) out[i] = f16_to_f32(s[i]);
  } else {
    for (; i + 16 <= n; i += 16) {
      const __m512i v = _mm512_cvtepu16_epi32(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i)));
      _mm512_storeu_ps(out + i, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
    }
    for (; i < n; ++i) out[i] = bf16_to_f32(s[i]);
  }
}

namespace {

// y[j][r] for R weight rows x C activation rows: R*C zmm accumulators over k.
template <int R, int C>
void f32_block(const float* w, int64_t n_in, const float* x, float* y, int64_t ldy) {
  __m512 acc[R][C];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  }
  int64_t k = 0;
  for (; k + 16 <= n_in; k += 16) {
    __m512 xv[C];
    for (int c = 0; c < C; ++c) xv[c] = _mm512_loadu_ps(x + c * n_in + k);
    for (int r = 0; r < R; ++r) {
      const __m512 wv = _mm512_loadu_ps(w + r * n_in + k);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);
    }
  }
  if (k < n_in) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n_in - k)) - 1);
    __m512 xv[C];
    for (int c = 0; c < C; ++c) xv[c] = _mm512_maskz_loadu_ps(m, x + c * n_in + k);
    for (int r = 0; r < R; ++r) {
      const __m512 wv = _mm512_maskz_loadu_ps(m, w + r * n_in + k);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) y[c * ldy + r] = _mm512_reduce_add_ps(acc[r][c]);
  }
}

template <int C>
void f32_rows(const float* w, int64_t nr, int64_t n_in, const float* x, float* y, int64_t ldy) {
  int64_t r = 0;
  for (; r + 4 <= nr; r += 4) f32_block<4, C>(w + r * n_in, n_in, x, y + r, ldy);
  for (; r < nr; ++r) f32_block<1, C>(w + r * n_in, n_in, x, y + r, ldy);
}

}  // namespace

void f32_gemm(const float* w, int64_t nr, int64_t n_in, const float* x, int64_t n, float* y,
              int64_t ldy) {
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) f32_rows<4>(w, nr, n_in, x + j * n_in, y + j * ldy, ldy);
  switch (n - j) {
    case 3: f32_rows<3>(w, nr, n_in, x + j * n_in, y + j * ldy, ldy); break;
    case 2: f32_rows<2>(w, nr, n_in, x + j * n_in, y + j * ldy, ldy); break;
    case 1: f32_rows<1>(w, nr, n_in, x + j * n_in, y + j * ldy, ldy); break;
    default: break;
  }
}

}  // namespace mlxm::engine::cpu::avx512
