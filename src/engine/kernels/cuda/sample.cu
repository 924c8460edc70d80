// Token sampling on the device, one block of 1024 threads per row: adjustments, max, min_p,
// top_k by radix select, top_p by radix select on the integer mass, then the draw by a
// block-wide prefix scan in token order. The algorithm and its integers are those of
// engine/row_sampling.h (sample_row() is the host twin); no sort, no atomics: every sum is an
// integer sum, so the result is deterministic.
#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <cstdint>

#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/cuda_sample.h"

namespace mlxm::engine::cuda {

namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
constexpr int kBits = 4;  // radix digit of the selects: 8 passes over the row each
constexpr int kDigits = 1 << kBits;
constexpr float kMassScale = 0x1p40f;  // = engine::kRowMassScale

// A key whose unsigned order is the float order (no NaN here); -0 and +0 are one value.
__device__ __forceinline__ uint32_t ordered_key(float v) {
  uint32_t b = __float_as_uint(v);
  if ((b << 1) == 0u) b = 0u;
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// Step 1 of row_sampling.h, with the host's roundings (no contraction into an FMA).
__device__ __forceinline__ float apply_adjust(float v, const SampleAdjust& a) {
  v = __fadd_rn(v, a.add);
  if (a.rep != 1.0f) v = v > 0.0f ? __fdiv_rn(v, a.rep) : __fmul_rn(v, a.rep);
  return __fsub_rn(v, a.sub);
}

// The warp's largest value and its lowest index among equals, in every lane.
__device__ __forceinline__ void warp_argmax(float& bv, int& bi) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const float ov = __shfl_xor_sync(0xFFFFFFFFu, bv, off);
    const int oi = __shfl_xor_sync(0xFFFFFFFFu, bi, off);
    if (ov > bv || (ov == bv && oi < bi)) {
      bv = ov;
      bi = oi;
    }
  }
}

__device__ __forceinline__ uint64_t warp_sum_u64(uint64_t v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
  return v;
}

// Sum over the block, returned to every thread. s_buf: kWarps + 1 entries.
__device__ uint64_t block_sum_u64(uint64_t v, uint64_t* s_buf) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum_u64(v);
  if (lane == 0) s_buf[warp] = v;
  __syncthreads();
  if (warp == 0) {
    uint64_t t = s_buf[lane];  // kWarps == 32 lanes
    t = warp_sum_u64(t);
    if (lane == 0) s_buf[kWarps] = t;
  }
  __syncthreads();
  const uint64_t r = s_buf[kWarps];
  __syncthreads();  // s_buf free again
  return r;
}

// The largest key K with Σ_{i : key(row[i]) >= K} weight(row[i]) >= target, digit by digit
// from the top (REQUIRES: the total weight >= target, so K = 0 qualifies). Each pass sums, for
// every digit d of the current position, the weight of the elements whose key is at least
// prefix | d << shift, and keeps the largest d that still reaches the target.
template <class Weight>
__device__ uint32_t radix_select(const float* row, int n, Weight weight, uint64_t target,
                                 uint64_t (*s_red)[kDigits], uint64_t* s_tot, uint32_t* s_key) {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  uint32_t prefix = 0;
  for (int shift = 32 - kBits; shift >= 0; shift -= kBits) {
    uint64_t acc[kDigits];
#pragma unroll
    for (int d = 0; d < kDigits; ++d) acc[d] = 0;
    const uint64_t hi_p = static_cast<uint64_t>(prefix) >> (shift + kBits);
    for (int i = tid; i < n; i += kThreads) {
      const float v = row[i];
      const uint64_t wt = weight(v);
      if (wt == 0) continue;
      const uint32_t k = ordered_key(v);
      const uint64_t hi_k = static_cast<uint64_t>(k) >> (shift + kBits);
      // Digits d in [1, c] have prefix | d << shift <= k.
      const int c = hi_k > hi_p    ? kDigits - 1
                    : hi_k == hi_p ? static_cast<int>((k >> shift) & (kDigits - 1))
                                   : 0;
#pragma unroll
      for (int d = 1; d < kDigits; ++d) acc[d] += d <= c ? wt : 0;
    }
#pragma unroll
    for (int d = 1; d < kDigits; ++d) acc[d] = warp_sum_u64(acc[d]);
    if (lane == 0) {
#pragma unroll
      for (int d = 0; d < kDigits; ++d) s_red[warp][d] = acc[d];
    }
    __syncthreads();
    if (tid < kDigits) {
      uint64_t t = 0;
      for (int w = 0; w < kWarps; ++w) t += s_red[w][tid];
      s_tot[tid] = t;
    }
    __syncthreads();
    if (tid == 0) {
      int best = 0;
      for (int d = kDigits - 1; d >= 1; --d) {
        if (s_tot[d] >= target) {
          best = d;
          break;
        }
      }
      *s_key = prefix | (static_cast<uint32_t>(best) << shift);
    }
    __syncthreads();
    prefix = *s_key;
  }
  __syncthreads();  // s_key, s_red, s_tot free again
  return prefix;
}

__global__ void __launch_bounds__(kThreads)
    sample_rows_kernel(float* __restrict__ x, int64_t n_rows, int n,
                       const SampleRowSpec* __restrict__ specs,
                       const SampleAdjust* __restrict__ adjust, int32_t* __restrict__ ids) {
  __shared__ uint64_t s_red[kWarps][kDigits];
  __shared__ uint64_t s_tot[kDigits];
  __shared__ uint64_t s_buf[kWarps + 1];
  __shared__ float s_v[kWarps];
  __shared__ int s_i[kWarps];
  __shared__ uint32_t s_key;
  __shared__ int s_token;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const SampleRowSpec s = specs[blockIdx.x];
  if (s.row < 0 || s.row >= n_rows) {
    if (tid == 0) ids[blockIdx.x] = kSampleBadRow;
    return;
  }
  float* row = x + static_cast<int64_t>(s.row) * n;

  // 1. Adjustments, in place (distinct tokens: no two threads touch one logit).
  for (int j = tid; j < s.adjust_count; j += kThreads) {
    const SampleAdjust a = adjust[s.adjust_begin + j];
    if (a.token >= 0 && a.token < n) row[a.token] = apply_adjust(row[a.token], a);
  }
  __syncthreads();

  // 2-3. Max (lowest index among equals; NaN never wins) and the NaN / +inf check.
  float bv = -INFINITY;
  int bi = INT_MAX;
  bool bad = false;
  for (int i = tid; i < n; i += kThreads) {
    const float v = row[i];
    bad |= (v != v) || (v == INFINITY);
    if (v > bv || (v == bv && i < bi)) {
      bv = v;
      bi = i;
    }
  }
  if (__syncthreads_or(bad)) {
    if (tid == 0) ids[blockIdx.x] = kSampleBadLogits;
    return;
  }
  warp_argmax(bv, bi);
  if (lane == 0) {
    s_v[warp] = bv;
    s_i[warp] = bi;
  }
  __syncthreads();
  if (warp == 0) {
    bv = s_v[lane];
    bi = s_i[lane];
    warp_argmax(bv, bi);
    if (lane == 0) {
      s_v[0] = bv;
      s_i[0] = bi;
    }
  }
  __syncthreads();
  const float m = s_v[0];
  const int argmax = s_i[0];
  if (m == -INFINITY) {
    if (tid == 0) ids[blockIdx.x] = kSampleAllNegInf;
    return;
  }
  if (s.greedy) {
    if (tid == 0) ids[blockIdx.x] = argmax;
    return;
  }

  // 4. Integer masses, recomputed where needed (the row does not fit in shared memory).
  const float inv_t = s.inv_t;
  auto mass = [m, inv_t](float v) -> uint64_t {
    const float p = expf(__fmul_rn(__fsub_rn(v, m), inv_t));
    return __float2ull_rz(__fmul_rn(p, kMassScale));
  };
  // 5. min_p.
  const float t_min = __fadd_rn(m, __fmul_rn(s.temperature, s.log_min_p));
  // 6. top_k: the key of the k-th largest candidate, when there are more than k.
  uint32_t key_k = 0;
  if (s.top_k > 0) {
    uint64_t c = 0;
    for (int i = tid; i < n; i += kThreads) c += row[i] >= t_min ? 1u : 0u;
    c = block_sum_u64(c, s_buf);
    if (c > static_cast<uint64_t>(s.top_k)) {
      key_k = radix_select(
          row, n, [t_min](float v) -> uint64_t { return v >= t_min ? 1u : 0u; },
          static_cast<uint64_t>(s.top_k), s_red, s_tot, &s_key);
    }
  }
  auto in2 = [t_min, key_k](float v) { return v >= t_min && ordered_key(v) >= key_k; };
  // 7. top_p: the key of the nucleus edge.
  uint32_t key_p = 0;
  if (s.top_p < 1.0f) {
    uint64_t z2 = 0;
    for (int i = tid; i < n; i += kThreads) {
      const float v = row[i];
      if (in2(v)) z2 += mass(v);
    }
    z2 = block_sum_u64(z2, s_buf);
    uint64_t target = static_cast<uint64_t>(
        ceil(__dmul_rn(static_cast<double>(s.top_p), __ull2double_rn(z2))));
    if (target > z2) target = z2;
    key_p = radix_select(
        row, n, [&](float v) -> uint64_t { return in2(v) ? mass(v) : 0u; }, target, s_red,
        s_tot, &s_key);
  }
  auto in3 = [&](float v) { return in2(v) && ordered_key(v) >= key_p; };

  // 8. The draw: thread t owns tokens [b, e); an exclusive scan of the per-thread masses finds
  // the thread holding the r-th unit of mass, which walks its tokens.
  const int chunk = (n + kThreads - 1) / kThreads;
  const int b = min(n, tid * chunk), e = min(n, b + chunk);
  uint64_t sum = 0;
  for (int i = b; i < e; ++i) {
    const float v = row[i];
    if (in3(v)) sum += mass(v);
  }
  uint64_t incl = sum;
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    const uint64_t o = __shfl_up_sync(0xFFFFFFFFu, incl, off);
    if (lane >= off) incl += o;
  }
  if (lane == 31) s_buf[warp] = incl;
  if (tid == 0) s_token = -1;
  __syncthreads();
  if (warp == 0) {
    uint64_t t = s_buf[lane];
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
      const uint64_t o = __shfl_up_sync(0xFFFFFFFFu, t, off);
      if (lane >= off) t += o;
    }
    s_buf[lane] = t;
  }
  __syncthreads();
  const uint64_t before = (warp > 0 ? s_buf[warp - 1] : 0) + incl - sum;
  const uint64_t z3 = s_buf[kWarps - 1];  // >= 2^40: the max token is always kept
  uint64_t r = static_cast<uint64_t>(floor(__dmul_rn(s.u, __ull2double_rn(z3))));
  if (r >= z3) r = z3 - 1;
  if (sum > 0 && before <= r && r < before + sum) {
    uint64_t cum = before;
    for (int i = b; i < e; ++i) {
      const float v = row[i];
      if (in3(v)) {
        cum += mass(v);
        if (cum > r) {
          s_token = i;
          break;
        }
      }
    }
  }
  __syncthreads();
  // s_token < 0 cannot happen (the masses are recomputed bit-identically); the argmax keeps a
  // token valid if it ever did.
  if (tid == 0) ids[blockIdx.x] = s_token >= 0 ? s_token : argmax;
}

}  // namespace

Status sample_rows(float* x, int64_t n_rows, int64_t vocab, const SampleRowSpec* specs,
                   int64_t n_specs, const SampleAdjust* adjust, int32_t* ids, Stream stream) {
  if (n_rows < 0 || n_specs < 0 || vocab <= 0 || vocab > INT_MAX - kThreads) {
    return invalid_argument("cuda::sample_rows: bad shape");
  }
  if (n_specs == 0) return ok_status();
  if (x == nullptr || specs == nullptr || ids == nullptr) {
    return invalid_argument("cuda::sample_rows: null pointer");
  }
  if (n_specs > 0x7FFFFFFF) return invalid_argument("cuda::sample_rows: too many rows");
  sample_rows_kernel<<<static_cast<unsigned>(n_specs), kThreads, 0, stream>>>(
      x, n_rows, static_cast<int>(vocab), specs, adjust, ids);
  MLXM_CUDA_CHECK_LAUNCH("sample_rows_kernel");
  return ok_status();
}

}  // namespace mlxm::engine::cuda
