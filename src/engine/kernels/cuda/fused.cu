// Fused decoder-step kernels (cuda_ops.h): q/k norm + RoPE + KV store after the q/k/v
// projection, residual add + RMSNorm, and the row argmax for greedy sampling on the device.
// Each replaces several launches of ops.cu in a step (a decode step is launch-bound: an 8B
// layer ran ~16 kernels, the GEMVs among them).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <string>

#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/kernels/cuda/kv_rope.cuh"
#include "engine/kernels/cuda/norm_rows.cuh"
#include "engine/kernels/cuda/pdl.cuh"
#include "engine/kernels/cuda/slices.cuh"

namespace mlxm::engine::cuda {

namespace {

constexpr int kMaxPairsPerLane = 4;  // head_dim <= 256: half <= 128 = 4 pairs per lane

using norm_rows::warp_sum;

// One warp per (token, head slot): slots [0, n_heads) are q heads, [n_heads, n_heads +
// n_kv_heads) are kv heads (k normed + roped, v copied). Lane l owns the rotary pairs
// (i, i + half) for i = l + 32·t. Same formulas as rms_norm_kernel (x·inv·w) and rope_kernel.
__global__ void qkv_rope_store_kernel(const float* __restrict__ q_in, int64_t q_stride,
                                      const float* __restrict__ k_in,
                                      const float* __restrict__ v_in, int64_t kv_stride,
                                      const float* __restrict__ q_norm,
                                      const float* __restrict__ k_norm, float eps,
                                      const int32_t* __restrict__ positions,
                                      const float* __restrict__ inv_freq,
                                      const int32_t* __restrict__ slots, int64_t n_tokens,
                                      int n_heads, int n_kv_heads, int hd, void* kc, void* vc,
                                      int dt, int64_t n_slots, float* __restrict__ q_out,
                                      Slices in) {
  pdl::launch_dependents();
  pdl::wait();
  const int lane = threadIdx.x & 31;
  const int64_t item = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int slots_per_tok = n_heads + n_kv_heads;
  if (item >= n_tokens * slots_per_tok) return;
  const int64_t t = item / slots_per_tok;
  const int hs = static_cast<int>(item % slots_per_tok);
  const bool is_q = hs < n_heads;
  const int head = is_q ? hs : hs - n_heads;
  const float* src = is_q ? q_in + t * q_stride + static_cast<int64_t>(head) * hd
                          : k_in + t * kv_stride + static_cast<int64_t>(head) * hd;
  const float* nw = is_q ? q_norm : k_norm;
  const int half = hd / 2;

  float x1[kMaxPairsPerLane], x2[kMaxPairsPerLane];
#pragma unroll
  for (int j = 0; j < kMaxPairsPerLane; ++j) {
    const int i = lane + 32 * j;
    x1[j] = i < half && in.kz == 1 ? src[i] : 0.0f;
    x2[j] = i < half && in.kz == 1 ? src[i + half] : 0.0f;
  }
  // Split-K slices: z outer, so a slice's loads are all in flight; each value still sums
  // 0 + p0 + p1 + … in z order (slices.cuh).
#pragma unroll 3
  for (int z = 0; in.kz > 1 && z < in.kz; ++z) {
    const float* sz = src + z * in.stride;
#pragma unroll
    for (int j = 0; j < kMaxPairsPerLane; ++j) {
      const int i = lane + 32 * j;
      if (i < half) {
        x1[j] += sz[i];
        x2[j] += sz[i + half];
      }
    }
  }
  float ss = 0.0f;
#pragma unroll
  for (int j = 0; j < kMaxPairsPerLane; ++j) {
    ss = fmaf(x1[j], x1[j], ss);
    ss = fmaf(x2[j], x2[j], ss);
  }
  if (nw != nullptr) {
    ss = warp_sum(ss);
    const float inv = 1.0f / sqrtf(ss / static_cast<float>(hd) + eps);
#pragma unroll
    for (int j = 0; j < kMaxPairsPerLane; ++j) {
      const int i = lane + 32 * j;
      if (i < half) {
        x1[j] = x1[j] * inv * nw[i];
        x2[j] = x2[j] * inv * nw[i + half];
      }
    }
  }
  const float pos = static_cast<float>(positions[t]);
  const int64_t slot = is_q ? 0 : slots[t];
  const bool store = !is_q && slot >= 0 && slot < n_slots;
  const int64_t kv_base = (slot * n_kv_heads + head) * static_cast<int64_t>(hd);
#pragma unroll
  for (int j = 0; j < kMaxPairsPerLane; ++j) {
    const int i = lane + 32 * j;
    if (i >= half) continue;
    float y1, y2;
    kv_rope::rotate(x1[j], x2[j], pos, inv_freq[i], y1, y2);
    if (is_q) {
      float* o = q_out + (t * n_heads + head) * static_cast<int64_t>(hd);
      o[i] = y1;
      o[i + half] = y2;
    } else if (store) {
      kv_rope::store(kc, dt, kv_base + i, y1);
      kv_rope::store(kc, dt, kv_base + i + half, y2);
      const float* vs = v_in + t * kv_stride + static_cast<int64_t>(head) * hd;
      kv_rope::store(vc, dt, kv_base + i, slices::sum(vs, i, in.kz, in.stride));
      kv_rope::store(vc, dt, kv_base + i + half, slices::sum(vs, i + half, in.kz, in.stride));
    }
  }
}

// One block per row: x += y, then the sum of squares (tree, f32), then xn = x·inv·w.
__global__ void add_rms_norm_kernel(float* __restrict__ x, const float* __restrict__ y,
                                    const float* __restrict__ w, float eps, int64_t dim,
                                    float* __restrict__ xn, Slices ys) {
  pdl::launch_dependents();
  pdl::wait();
  __shared__ float partial[32];
  float* xr = x + blockIdx.x * dim;
  float* on = xn + blockIdx.x * dim;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = xr[i] + slices::sum(y, blockIdx.x * dim + i, ys.kz, ys.stride);
    xr[i] = v;
    ss = fmaf(v, v, ss);
  }
  const float inv =
      1.0f / sqrtf(norm_rows::block_sum(ss, partial) / static_cast<float>(dim) + eps);
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) on[i] = xr[i] * inv * w[i];
}

// (value, index) order of the argmax: larger value first, then the lower index; NaN never wins.
__device__ __forceinline__ void better(float v, int i, float& bv, int& bi) {
  if (v > bv || (v == bv && i < bi)) {
    bv = v;
    bi = i;
  }
}

constexpr int kArgmaxThreads = 1024;

__global__ void __launch_bounds__(kArgmaxThreads)
    argmax_rows_kernel(const float* __restrict__ x, int64_t dim, int32_t* __restrict__ ids) {
  pdl::launch_dependents();
  pdl::wait();
  __shared__ float sv[32];
  __shared__ int si[32];
  const float* row = x + blockIdx.x * dim;
  float bv = -INFINITY;
  int bi = INT_MAX;
  if ((dim & 3) == 0 && (reinterpret_cast<uintptr_t>(x) & 15) == 0) {
    // kIn float4 loads in flight per thread before their comparisons: a 128k-entry row is
    // 4 memory round trips of the block instead of 125 dependent scalar loads.
    constexpr int kIn = 8;
    const float4* r4 = reinterpret_cast<const float4*>(row);
    const int64_t n4 = dim / 4, step = blockDim.x;
    for (int64_t b = threadIdx.x; b < n4; b += kIn * step) {
      float4 v[kIn];
#pragma unroll
      for (int j = 0; j < kIn; ++j) {
        if (b + j * step < n4) v[j] = r4[b + j * step];
      }
#pragma unroll
      for (int j = 0; j < kIn; ++j) {
        const int64_t i = b + j * step;
        if (i >= n4) break;
        const int k = static_cast<int>(4 * i);
        better(v[j].x, k, bv, bi);
        better(v[j].y, k + 1, bv, bi);
        better(v[j].z, k + 2, bv, bi);
        better(v[j].w, k + 3, bv, bi);
      }
    }
  } else {
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) better(row[i], static_cast<int>(i), bv, bi);
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const float ov = __shfl_xor_sync(0xFFFFFFFFu, bv, off);
    const int oi = __shfl_xor_sync(0xFFFFFFFFu, bi, off);
    better(ov, oi, bv, bi);
  }
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  if (lane == 0) {
    sv[warp] = bv;
    si[warp] = bi;
  }
  __syncthreads();
  if (warp == 0) {
    const int n_warps = static_cast<int>(blockDim.x >> 5);
    bv = lane < n_warps ? sv[lane] : -INFINITY;
    bi = lane < n_warps ? si[lane] : INT_MAX;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
      const float ov = __shfl_xor_sync(0xFFFFFFFFu, bv, off);
      const int oi = __shfl_xor_sync(0xFFFFFFFFu, bi, off);
      better(ov, oi, bv, bi);
    }
    if (lane == 0) ids[blockIdx.x] = bi == INT_MAX ? -1 : bi;
  }
}

}  // namespace

Status qkv_rope_store(const float* q_in, int64_t q_stride, const float* k_in, const float* v_in,
                      int64_t kv_stride, const float* q_norm, const float* k_norm, float eps,
                      const int32_t* positions, const float* inv_freq, const int32_t* slots,
                      int64_t n_tokens, int n_heads, const KvLayerView& kv, float* q_out,
                      Stream stream, const Slices& in) {
  if (kv.dtype != DType::kF16 && kv.dtype != DType::kBF16 && kv.dtype != DType::kF32) {
    return invalid_argument("cuda::qkv_rope_store: KV dtype must be F16, BF16 or F32");
  }
  const int hd = kv.head_dim;
  if (n_tokens < 0 || n_heads <= 0 || kv.n_kv_heads <= 0 || hd <= 0 || hd % 2 != 0 ||
      hd > 2 * 32 * kMaxPairsPerLane || kv.block_size <= 0 || kv.n_blocks < 0) {
    return invalid_argument("cuda::qkv_rope_store: bad shape (head_dim even, <= 256)");
  }
  if (q_stride < int64_t{n_heads} * hd || kv_stride < int64_t{kv.n_kv_heads} * hd) {
    return invalid_argument("cuda::qkv_rope_store: row strides shorter than the rows");
  }
  if (n_tokens == 0) return ok_status();
  if (q_in == nullptr || k_in == nullptr || v_in == nullptr || positions == nullptr ||
      inv_freq == nullptr || slots == nullptr || q_out == nullptr || kv.k == nullptr ||
      kv.v == nullptr) {
    return invalid_argument("cuda::qkv_rope_store: null pointer");
  }
  MLXM_RETURN_IF_ERROR(check_slices(in, n_tokens * std::max(q_stride, kv_stride),
                                    "cuda::qkv_rope_store"));
  const int64_t warps = n_tokens * (n_heads + kv.n_kv_heads);
  const int64_t blocks = (warps + 7) / 8;
  if (blocks > 0x7FFFFFFF) return invalid_argument("cuda::qkv_rope_store: too many tokens");
  MLXM_CUDA_LAUNCH_PDL("qkv_rope_store_kernel", qkv_rope_store_kernel,
                       static_cast<unsigned>(blocks), 256, 0, stream, q_in, q_stride, k_in, v_in,
                       kv_stride, q_norm, k_norm, eps, positions, inv_freq, slots, n_tokens,
                       n_heads, kv.n_kv_heads, hd, kv.k, kv.v, kv_rope::code_of(kv.dtype),
                       kv.n_blocks * kv.block_size, q_out, in);
  return ok_status();
}

Status add_rms_norm(float* x, const float* y, const float* weight, float eps, int64_t n,
                    int64_t dim, float* xn, Stream stream, const XTarget& q,
                    const Slices& ys) {
  if (n < 0 || dim <= 0) return invalid_argument("cuda::add_rms_norm: bad shape");
  if (n == 0) return ok_status();
  if (x == nullptr || y == nullptr || weight == nullptr || xn == nullptr) {
    return invalid_argument("cuda::add_rms_norm: null pointer");
  }
  if (xn == x || xn == y) return invalid_argument("cuda::add_rms_norm: xn aliases x or y");
  if (n > 0x7FFFFFFF) return invalid_argument("cuda::add_rms_norm: too many rows");
  MLXM_RETURN_IF_ERROR(check_slices(ys, n * dim, "cuda::add_rms_norm"));
  const norm_rows::Shape sh = norm_rows::shape_for(dim);
  const bool vec = sh.chunks > 0 && ys.stride % 4 == 0 &&
                   norm_rows::aligned16({x, y, weight, xn, q.scratch});
  if (q.scratch != nullptr) {
    MLXM_RETURN_IF_ERROR(norm_rows::check_target(q, n, dim, vec, "cuda::add_rms_norm"));
  }
  if (vec) {
    return norm_rows::launch<true>(sh, x, y, weight, eps, n, dim, xn, q, stream, ys);
  }
  MLXM_CUDA_LAUNCH_PDL("add_rms_norm_kernel", add_rms_norm_kernel, static_cast<unsigned>(n), 256,
                       0, stream, x, y, weight, eps, dim, xn, ys);
  return ok_status();
}

Status argmax_rows(const float* x, int64_t n_rows, int64_t dim, int32_t* ids, Stream stream) {
  if (n_rows < 0 || dim <= 0 || dim > 0x7FFFFFFF) {
    return invalid_argument("cuda::argmax_rows: bad shape");
  }
  if (n_rows == 0) return ok_status();
  if (x == nullptr || ids == nullptr) return invalid_argument("cuda::argmax_rows: null pointer");
  if (n_rows > 0x7FFFFFFF) return invalid_argument("cuda::argmax_rows: too many rows");
  MLXM_CUDA_LAUNCH_PDL("argmax_rows_kernel", argmax_rows_kernel, static_cast<unsigned>(n_rows),
                       kArgmaxThreads, 0, stream, x, dim, ids);
  return ok_status();
}

}  // namespace mlxm::engine::cuda

MLXM_CHAIN_DUMP_UNIT(fused)  // this unit's kernel-chain rings (timeline.cuh)
