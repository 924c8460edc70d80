// Internal to kernels/cuda: RMSNorm of rows (optionally after a residual add), one block per
// row with every value in registers: rms_norm (ops.cu) and add_rms_norm (fused.cu).
//
// A decode step normalizes one row per token; one block of 256 threads walking a 3072-wide row
// with scalar loads made 12 dependent load rounds before the reduction and 12 more after it
// (~9 µs on the H200, 20 % of a 3B decode step's kernel time). Here each thread owns at most
// V float4 chunks (chunk c = threadIdx.x + k·blockDim.x), issues all its loads (x, y and the
// weight) at once, keeps the values for the second pass and optionally writes the row in the
// next linear's form (x_target.cuh).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/status.h"
#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/kernels/cuda/pdl.cuh"
#include "engine/kernels/cuda/timeline.cuh"
#include "engine/kernels/cuda/x_target.cuh"

namespace mlxm::engine::cuda::norm_rows {

constexpr int kMaxThreads = 1024;
constexpr int kMaxChunks = 4;  // per thread: rows up to 4·4·1024 = 16384 values

// The sum of v over a warp (butterfly; every lane gets it).
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
  return v;
}

// The sum of v over the block (blockDim a multiple of 32, at most 1024): per warp, then warp 0
// over the warps' sums in `partial` (32 floats of shared memory); every thread gets it. The
// RMSNorm kernels' sum of squares (norm_rows_kernel, rms_norm_kernel, add_rms_norm_kernel).
__device__ __forceinline__ float block_sum(float v, float* partial) {
  v = warp_sum(v);
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float t = lane < static_cast<int>(blockDim.x >> 5) ? partial[lane] : 0.0f;
    t = warp_sum(t);
    if (lane == 0) partial[0] = t;
  }
  __syncthreads();
  return partial[0];
}

// Launch shape for a row of `dim` values: 0 chunks when the vector kernel does not apply
// (dim % 4 != 0 or dim > 16384); threads a multiple of 32.
struct Shape {
  int chunks = 0;
  int threads = 0;
};
inline Shape shape_for(int64_t dim) {
  if (dim <= 0 || dim % 4 != 0 || dim / 4 > int64_t{kMaxChunks} * kMaxThreads) return {};
  const int n4 = static_cast<int>(dim / 4);
  const int chunks = (n4 + kMaxThreads - 1) / kMaxThreads;
  const int per = (n4 + chunks - 1) / chunks;
  return {chunks, (per + 31) / 32 * 32};
}

// x (rows, dim) [+= y, read by `ys` (split_k.h)]; xn (rows, dim) = x / sqrt(mean(x²) + eps)
// · w, (x·inv)·w as the CPU.
// xq != null: xn also goes to `xq` in the form `form` (x_target.cuh; dim % 32 == 0, % 64 for
// the GEMM's form). x and xn may alias when !ADD (in-place rms_norm): every read precedes the
// barrier of the reduction, every write follows it. All pointers 16-byte aligned.
template <bool ADD, int V>
__global__ void __launch_bounds__(kMaxThreads)
    norm_rows_kernel(float* x, const float* __restrict__ y, const float* __restrict__ w,
                     float eps, int dim, float* xn, void* xq, int form, Slices ys) {
  MLXM_CHAIN_BEGIN(timeline::kNorm, threadIdx.x == 0, w);
  pdl::launch_dependents();
  __shared__ float partial[32];
  const int n4 = dim / 4;
  const int64_t row = blockIdx.x;
  const float4* w4 = reinterpret_cast<const float4*>(w);
  float4 wv[V];
#pragma unroll
  for (int k = 0; k < V; ++k) {
    const int c = threadIdx.x + k * blockDim.x;
    if (c < n4) wv[k] = __ldg(w4 + c);  // immutable: read before the predecessor is done
  }
  pdl::wait();
  MLXM_CHAIN_WAIT();
  float4* x4 = reinterpret_cast<float4*>(x) + row * n4;
  const float4* y4 = reinterpret_cast<const float4*>(y);
  float4 v[V];
  float ss = 0.0f;
#pragma unroll
  for (int k = 0; k < V; ++k) {
    const int c = threadIdx.x + k * blockDim.x;
    v[k] = make_float4(0.f, 0.f, 0.f, 0.f);
    if (c < n4) v[k] = x4[c];
  }
  if constexpr (ADD) {
    // y, or the sum of its split-K slices (z outer: a slice's loads all in flight; each value
    // sums 0 + p0 + p1 + … in z order, slices.cuh), then x + y.
    float4 b[V];
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const int c = threadIdx.x + k * blockDim.x;
      b[k] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (c < n4 && ys.kz == 1) b[k] = y4[row * n4 + c];
    }
#pragma unroll 3
    for (int z = 0; ys.kz > 1 && z < ys.kz; ++z) {
      const float4* yz = y4 + z * (ys.stride / 4) + row * n4;
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const int c = threadIdx.x + k * blockDim.x;
        if (c < n4) {
          const float4 t = yz[c];
          b[k].x += t.x;
          b[k].y += t.y;
          b[k].z += t.z;
          b[k].w += t.w;
        }
      }
    }
#pragma unroll
    for (int k = 0; k < V; ++k) {
      v[k].x += b[k].x;
      v[k].y += b[k].y;
      v[k].z += b[k].z;
      v[k].w += b[k].w;
    }
  }
#pragma unroll
  for (int k = 0; k < V; ++k) {
    const int c = threadIdx.x + k * blockDim.x;
    if (c < n4) {
      if constexpr (ADD) x4[c] = v[k];
      ss = fmaf(v[k].x, v[k].x, ss);
      ss = fmaf(v[k].y, v[k].y, ss);
      ss = fmaf(v[k].z, v[k].z, ss);
      ss = fmaf(v[k].w, v[k].w, ss);
    }
  }
  const float inv = 1.0f / sqrtf(block_sum(ss, partial) / static_cast<float>(dim) + eps);
  float4* o4 = reinterpret_cast<float4*>(xn) + row * n4;
#pragma unroll
  for (int k = 0; k < V; ++k) {
    const int c = threadIdx.x + k * blockDim.x;
    const bool in = c < n4;
    float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
    if (in) {
      o = make_float4(v[k].x * inv * wv[k].x, v[k].y * inv * wv[k].y, v[k].z * inv * wv[k].z,
                      v[k].w * inv * wv[k].w);
      o4[c] = o;
    }
    if (xq != nullptr) x_target::store(o, in, c, xq, dim, row, form);
  }
  MLXM_CHAIN_END();
}

// Host side. Null pointers count as aligned.
inline bool aligned16(std::initializer_list<const void*> ptrs) {
  for (const void* p : ptrs) {
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  }
  return true;
}

// The checks of an XTarget request for n rows of dim values (`vec`: the vector kernel applies
// to this call; `gemm_ok`: the producer writes the GEMM's form).
inline Status check_target(const XTarget& q, int64_t n, int64_t dim, bool vec, const char* who,
                           bool gemm_ok = true) {
  const std::string w(who);
  if (q.gemm) {
    if (!gemm_ok) return invalid_argument(w + ": XTarget takes only the int8 GEMV's form here");
    if (n > 64) return invalid_argument(w + ": XTarget in the GEMM's form takes at most 64 rows");
    if (dim % 64 != 0 || !vec) {
      return invalid_argument(w + ": XTarget in the GEMM's form needs rows of a multiple of 64 "
                                  "values and 16-byte aligned pointers");
    }
    return ok_status();
  }
  if (q.bits != 4 && q.bits != 8) return invalid_argument(w + ": XTarget bits must be 4 or 8");
  if (n > 8) return invalid_argument(w + ": XTarget in the int8 form takes at most 8 rows");
  if (!gemv_i8_target_supported(dim) || !vec) {
    return invalid_argument(w + ": XTarget needs rows of a multiple of 32 values (<= 16384) "
                                "and 16-byte aligned pointers");
  }
  return ok_status();
}

// norm_rows_kernel<ADD, V> for n rows, V = sh.chunks (1..kMaxChunks).
template <bool ADD>
Status launch(const Shape& sh, float* x, const float* y, const float* w, float eps, int64_t n,
              int64_t dim, float* xn, const XTarget& q, cudaStream_t stream,
              const Slices& ys = {}) {
  const int form = x_target::form_of(q);
  const int d = static_cast<int>(dim);
  const unsigned blocks = static_cast<unsigned>(n);
  switch (sh.chunks) {
    case 1:
      MLXM_CUDA_LAUNCH_PDL("norm_rows_kernel", (norm_rows_kernel<ADD, 1>), blocks, sh.threads, 0,
                           stream, x, y, w, eps, d, xn, q.scratch, form, ys);
      break;
    case 2:
      MLXM_CUDA_LAUNCH_PDL("norm_rows_kernel", (norm_rows_kernel<ADD, 2>), blocks, sh.threads, 0,
                           stream, x, y, w, eps, d, xn, q.scratch, form, ys);
      break;
    case 3:
      MLXM_CUDA_LAUNCH_PDL("norm_rows_kernel", (norm_rows_kernel<ADD, 3>), blocks, sh.threads, 0,
                           stream, x, y, w, eps, d, xn, q.scratch, form, ys);
      break;
    default:
      MLXM_CUDA_LAUNCH_PDL("norm_rows_kernel", (norm_rows_kernel<ADD, 4>), blocks, sh.threads, 0,
                           stream, x, y, w, eps, d, xn, q.scratch, form, ys);
      break;
  }
  return ok_status();
}

}  // namespace mlxm::engine::cuda::norm_rows
