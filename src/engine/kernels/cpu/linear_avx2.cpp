// AVX2 (+FMA, F16C) kernels of PackedLinear. Layouts: linear_internal.h. A 16-row tile is two
// ymm halves (rows 0-7, 8-15). Integer dots use maddubs (u8 x s8 -> s16 pairs) + madd (-> i32):
//   4-bit: codes <= 15, so a pair sum <= 2*15*127 and two of them still fit in s16.
//   8-bit: codes up to 255 would saturate maddubs, so w' = code - 128 (s8) is used with the
//   sign trick (|w'| as u8, x with w's sign) and Σ code·q = Σ w'·q + 128·Σq per block.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "engine/kernels/cpu/linear_internal.h"

namespace mlxm::engine::cpu::avx2 {

namespace {

constexpr int kSkF32 = static_cast<int>(DType::kF32);
constexpr int kSkF16 = static_cast<int>(DType::kF16);
constexpr int kSkBF16 = static_cast<int>(DType::kBF16);
constexpr int64_t sk_size(int sk) { return sk == kSkF32 ? 4 : 2; }

// 8 scales or biases in their stored dtype, as f32.
template <int SK>
inline __m256 load8(const uint8_t* p) {
  if constexpr (SK == kSkF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  } else if constexpr (SK == kSkF16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  } else {
    return _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16));
  }
}

inline int32_t load_i32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int BITS, int C, int BPG, int SK>
void tile_kernel(const uint8_t* tile, const uint8_t* sbt, int64_t n_groups,
                 const QuantizedX& qx, int64_t j0, float* y, int64_t ldy, int nr) {
  const int8_t* q[C];
  const float* d[C];
  const float* gs[C];
  const int32_t* sq[C];
  for (int c = 0; c < C; ++c) {
    q[c] = qx.q + (j0 + c) * qx.n_in;
    d[c] = qx.d + (j0 + c) * qx.n_blocks;
    gs[c] = qx.gsum + (j0 + c) * qx.n_groups;
    sq[c] = qx.sumq + (j0 + c) * qx.n_blocks;
  }
  __m256 facc[2][C];
  for (int h = 0; h < 2; ++h) {
    for (int c = 0; c < C; ++c) facc[h][c] = _mm256_setzero_ps();
  }
  const __m256i nib = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i x80 = _mm256_set1_epi8(static_cast<char>(0x80));
  const uint8_t* wp = tile;
  for (int64_t g = 0; g < n_groups; ++g) {
    __m256 gacc[2][C];
    for (int h = 0; h < 2; ++h) {
      for (int c = 0; c < C; ++c) gacc[h][c] = _mm256_setzero_ps();
    }
    for (int bb = 0; bb < BPG; ++bb) {
      const int64_t b = g * BPG + bb;
      __m256i acc[2][C];
      for (int h = 0; h < 2; ++h) {
        for (int c = 0; c < C; ++c) acc[h][c] = _mm256_setzero_si256();
      }
      if constexpr (BITS == 4) {
        for (int k8 = 0; k8 < kQBlock / 8; ++k8) {
          for (int h = 0; h < 2; ++h) {
            const __m256i v =
                _mm256_load_si256(reinterpret_cast<const __m256i*>(wp + k8 * 64 + h * 32));
            const __m256i lo = _mm256_and_si256(v, nib);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nib);
            for (int c = 0; c < C; ++c) {
              const int8_t* qc = q[c] + b * kQBlock + k8 * 8;
              const __m256i p = _mm256_add_epi16(
                  _mm256_maddubs_epi16(lo, _mm256_set1_epi32(load_i32(qc))),
                  _mm256_maddubs_epi16(hi, _mm256_set1_epi32(load_i32(qc + 4))));
              acc[h][c] = _mm256_add_epi32(acc[h][c], _mm256_madd_epi16(p, ones));
            }
          }
        }
        wp += kQBlock / 8 * 64;
      } else {
        for (int k4 = 0; k4 < kQBlock / 4; ++k4) {
          for (int h = 0; h < 2; ++h) {
            const __m256i v = _mm256_xor_si256(
                _mm256_load_si256(reinterpret_cast<const __m256i*>(wp + k4 * 64 + h * 32)), x80);
            const __m256i av = _mm256_abs_epi8(v);
            for (int c = 0; c < C; ++c) {
              const __m256i xv = _mm256_set1_epi32(load_i32(q[c] + b * kQBlock + k4 * 4));
              const __m256i p = _mm256_maddubs_epi16(av, _mm256_sign_epi8(xv, v));
              acc[h][c] = _mm256_add_epi32(acc[h][c], _mm256_madd_epi16(p, ones));
            }
          }
        }
        wp += kQBlock / 4 * 64;
      }
      for (int c = 0; c < C; ++c) {
        const __m256 dv = _mm256_set1_ps(d[c][b]);
        __m256i corr = _mm256_setzero_si256();
        if constexpr (BITS == 8) corr = _mm256_set1_epi32(128 * sq[c][b]);
        for (int h = 0; h < 2; ++h) {
          gacc[h][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(acc[h][c], corr)),
                                       dv, gacc[h][c]);
        }
      }
    }
    for (int h = 0; h < 2; ++h) {
      const uint8_t* e = sbt + g * (2 * kTileRows * sk_size(SK)) + h * 8 * sk_size(SK);
      const __m256 sv = load8<SK>(e);
      const __m256 bv = load8<SK>(e + kTileRows * sk_size(SK));
      for (int c = 0; c < C; ++c) {
        facc[h][c] = _mm256_fmadd_ps(sv, gacc[h][c], facc[h][c]);
        facc[h][c] = _mm256_fmadd_ps(bv, _mm256_set1_ps(gs[c][g]), facc[h][c]);
      }
    }
  }
  for (int c = 0; c < C; ++c) {
    float* yr = y + (j0 + c) * ldy;
    if (nr == kTileRows) {
      _mm256_storeu_ps(yr, facc[0][c]);
      _mm256_storeu_ps(yr + 8, facc[1][c]);
    } else {
      alignas(32) float tmp[kTileRows];
      _mm256_store_ps(tmp, facc[0][c]);
      _mm256_store_ps(tmp + 8, facc[1][c]);
      for (int r = 0; r < nr; ++r) yr[r] = tmp[r];
    }
  }
}

template <int BITS, int BPG, int SK>
void int_gemm_t(const PackedWeights& w, const QuantizedX& qx, int64_t tile_begin,
                int64_t tile_end, float* y, int64_t ldy) {
  const size_t tile_bytes = w.tile_code_bytes();
  for (int64_t t = tile_begin; t < tile_end; ++t) {
    const uint8_t* tile = w.codes.data() + static_cast<size_t>(t) * tile_bytes;
    const uint8_t* sbt = w.sb_tile(t);
    const int nr = static_cast<int>(std::min<int64_t>(kTileRows, w.n_out - t * kTileRows));
    float* yt = y + t * kTileRows;
    int64_t j = 0;
    for (; j + 2 <= qx.n; j += 2) {
      tile_kernel<BITS, 2, BPG, SK>(tile, sbt, w.n_groups, qx, j, yt, ldy, nr);
    }
    if (j < qx.n) tile_kernel<BITS, 1, BPG, SK>(tile, sbt, w.n_groups, qx, j, yt, ldy, nr);
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
  // Not hot (n * n_in per layer vs n_out * n_in for the GEMM): the portable loop is enough.
  quantize_rows_portable(x, row_begin, row_end, group_size, qx);
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
    for (; i + 8 <= n; i += 8) {
      _mm256_storeu_ps(out + i,
                       _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
    }
    for (; i < n; ++i) out[i] = f16_to_f32(s[i]);
  } else {
    for (; i + 8 <= n; i += 8) {
      const __m256i v =
          _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)));
      _mm256_storeu_ps(out + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; i < n; ++i) out[i] = bf16_to_f32(s[i]);
  }
}

namespace {

template <int R, int C>
void f32_block(const float* w, int64_t n_in, const float* x, float* y, int64_t ldy) {
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  int64_t k = 0;
  for (; k + 8 <= n_in; k += 8) {
    __m256 xv[C];
    for (int c = 0; c < C; ++c) xv[c] = _mm256_loadu_ps(x + c * n_in + k);
    for (int r = 0; r < R; ++r) {
      const __m256 wv = _mm256_loadu_ps(w + r * n_in + k);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) {
      float s = hsum(acc[r][c]);
      for (int64_t kk = k; kk < n_in; ++kk) s += w[r * n_in + kk] * x[c * n_in + kk];
      y[c * ldy + r] = s;
    }
  }
}

template <int C>
void f32_rows(const float* w, int64_t nr, int64_t n_in, const float* x, float* y, int64_t ldy) {
  int64_t r = 0;
  for (; r + 3 <= nr; r += 3) f32_block<3, C>(w + r * n_in, n_in, x, y + r, ldy);
  for (; r < nr; ++r) f32_block<1, C>(w + r * n_in, n_in, x, y + r, ldy);
}

}  // namespace

void f32_gemm(const float* w, int64_t nr, int64_t n_in, const float* x, int64_t n, float* y,
              int64_t ldy) {
  int64_t j = 0;
  for (; j + 3 <= n; j += 3) f32_rows<3>(w, nr, n_in, x + j * n_in, y + j * ldy, ldy);
  switch (n - j) {
    case 2: f32_rows<2>(w, nr, n_in, x + j * n_in, y + j * ldy, ldy); break;
    case 1: f32_rows<1>(w, nr, n_in, x + j * n_in, y + j * ldy, ldy); break;
    default: break;
  }
}

}  // namespace mlxm::engine::cpu::avx2
