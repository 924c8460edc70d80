// Elementwise kernels of cuda_ops.h: RMSNorm (with norm_rows.cuh), RoPE, SiLU·mul, the residual
// add, row gathers and the KV store. The decode attention is in ops.cu.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/kernels/cuda/grid.cuh"
#include "engine/kernels/cuda/kv_rope.cuh"
#include "engine/kernels/cuda/norm_rows.cuh"
#include "engine/kernels/cuda/pdl.cuh"
#include "engine/kernels/cuda/slices.cuh"
#include "engine/kernels/cuda/timeline.cuh"
#include "engine/kernels/cuda/x_target.cuh"

namespace mlxm::engine::cuda {

namespace {

// One block per row: sum of squares in f32 (tree), then y = x * inv * w like the CPU.
__global__ void rms_norm_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                float eps, int64_t dim, float* y) {
  pdl::launch_dependents();
  pdl::wait();
  __shared__ float partial[32];
  const float* xr = x + blockIdx.x * dim;
  float* yr = y + blockIdx.x * dim;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss = fmaf(xr[i], xr[i], ss);
  const float inv =
      1.0f / sqrtf(norm_rows::block_sum(ss, partial) / static_cast<float>(dim) + eps);
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = xr[i] * inv * w[i];
}

// One thread per (token, head, i < half): the pair (i, i + half).
__global__ void rope_kernel(float* x, const int32_t* __restrict__ positions, int64_t n_tokens,
                            int n_heads, int head_dim, const float* __restrict__ inv_freq) {
  const int half = head_dim / 2;
  const int64_t total = n_tokens * n_heads * half;
  for (int64_t it = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; it < total;
       it += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int i = static_cast<int>(it % half);
    const int64_t th = it / half;  // token * n_heads + head
    const int64_t t = th / n_heads;
    float* v = x + th * head_dim;
    kv_rope::rotate(v[i], v[i + half], static_cast<float>(positions[t]), inv_freq[i], v[i],
                    v[i + half]);
  }
}

__global__ void silu_mul_kernel(const float* __restrict__ gate_up, int64_t n, int64_t ff,
                                float* __restrict__ out, Slices in) {
  pdl::launch_dependents();
  pdl::wait();
  const int64_t total = n * ff;
  for (int64_t it = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; it < total;
       it += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = it / ff;
    const int64_t i = it % ff;
    const float g = slices::sum(gate_up, j * 2 * ff + i, in.kz, in.stride);
    const float u = slices::sum(gate_up, j * 2 * ff + ff + i, in.kz, in.stride);
    out[it] = g / (1.0f + expf(-g)) * u;
  }
}

// The same with float4 loads, one thread per 4 values (ff % 4 == 0, 16-byte aligned), and
// optionally the rows in the down projection's form (x_target.cuh; ff % 32 == 0, % 64 for
// the GEMM's).
__global__ void silu_mul_vec_kernel(const float* __restrict__ gate_up, int64_t n, int ff,
                                    float* __restrict__ out, void* xq, int form, Slices gs) {
  MLXM_CHAIN_BEGIN(timeline::kSiluMul, threadIdx.x == 0, gate_up);
  pdl::launch_dependents();
  pdl::wait();
  MLXM_CHAIN_WAIT();
  const int f4 = ff / 4;
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const bool in = c < n * f4;
  const int64_t j = in ? c / f4 : 0;
  const int cc = in ? static_cast<int>(c % f4) : 0;
  float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
  if (in) {
    const float4* gu4 = reinterpret_cast<const float4*>(gate_up);
    float4 g, u;
    slices::sum4x2(gu4, (j * 2 * ff) / 4 + cc, (j * 2 * ff + ff) / 4 + cc, gs.kz, gs.stride, g, u);
    o = make_float4(g.x / (1.0f + expf(-g.x)) * u.x, g.y / (1.0f + expf(-g.y)) * u.y,
                    g.z / (1.0f + expf(-g.z)) * u.z, g.w / (1.0f + expf(-g.w)) * u.w);
    reinterpret_cast<float4*>(out + j * ff)[cc] = o;
  }
  if (xq != nullptr) x_target::store(o, in, cc, xq, ff, j, form);
  MLXM_CHAIN_END();
}

__global__ void add_kernel(float* __restrict__ x, const float* __restrict__ y, int64_t n) {
  pdl::launch_dependents();
  pdl::wait();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] += y[i];
  }
}

__global__ void gather_rows_kernel(const float* __restrict__ src, int64_t n_src, int64_t dim,
                                   const int32_t* __restrict__ rows, int64_t n,
                                   float* __restrict__ dst) {
  pdl::launch_dependents();
  pdl::wait();
  const int64_t total = n * dim;
  for (int64_t it = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; it < total;
       it += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = rows[it / dim];
    dst[it] = r >= 0 && r < n_src ? src[r * dim + it % dim] : NAN;
  }
}

__global__ void kv_store_kernel(void* kc, void* vc, int dt, int64_t row, int64_t n_slots,
                                const float* __restrict__ k, const float* __restrict__ v,
                                const int32_t* __restrict__ slots, int64_t n_tokens) {
  const int64_t total = n_tokens * row;
  for (int64_t it = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; it < total;
       it += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = it / row;
    const int64_t e = it % row;
    const int64_t slot = slots[t];
    if (slot < 0 || slot >= n_slots) continue;
    const int64_t d = slot * row + e;
    kv_rope::store(kc, dt, d, k[it]);
    kv_rope::store(vc, dt, d, v[it]);
  }
}

}  // namespace

Status rms_norm(const float* x, const float* weight, float eps, int64_t n, int64_t dim, float* y,
                Stream stream) {
  if (n < 0 || dim <= 0) return invalid_argument("cuda::rms_norm: bad shape");
  if (n == 0) return ok_status();
  if (x == nullptr || weight == nullptr || y == nullptr) {
    return invalid_argument("cuda::rms_norm: null pointer");
  }
  if (n > 0x7FFFFFFF) return invalid_argument("cuda::rms_norm: too many rows");
  const norm_rows::Shape sh = norm_rows::shape_for(dim);
  if (sh.chunks > 0 && norm_rows::aligned16({x, weight, y})) {
    // The kernel never writes x without ADD (x may alias y).
    return norm_rows::launch<false>(sh, const_cast<float*>(x), nullptr, weight, eps, n, dim, y, {},
                                    stream);
  }
  MLXM_CUDA_LAUNCH_PDL("rms_norm_kernel", rms_norm_kernel, static_cast<unsigned>(n), 256, 0, stream,
                       x, weight, eps, dim, y);
  return ok_status();
}

Status rope(float* x, const int32_t* positions, int64_t n_tokens, int n_heads, int head_dim,
            const float* inv_freq, Stream stream) {
  if (n_tokens < 0 || n_heads <= 0 || head_dim <= 0 || head_dim % 2 != 0) {
    return invalid_argument("cuda::rope: bad shape (head_dim must be even and positive)");
  }
  if (n_tokens == 0) return ok_status();
  if (x == nullptr || positions == nullptr || inv_freq == nullptr) {
    return invalid_argument("cuda::rope: null pointer");
  }
  const int64_t total = n_tokens * n_heads * (head_dim / 2);
  rope_kernel<<<grid_for(total, 256), 256, 0, stream>>>(x, positions, n_tokens, n_heads, head_dim,
                                                        inv_freq);
  MLXM_CUDA_CHECK_LAUNCH("rope_kernel");
  return ok_status();
}

bool gemv_i8_target_supported(int64_t dim) {
  return dim > 0 && dim % 32 == 0 && norm_rows::shape_for(dim).chunks > 0;
}

Status silu_mul(const float* gate_up, int64_t n, int64_t ff, float* out, Stream stream,
                const XTarget& q, const Slices& in) {
  if (n < 0 || ff <= 0) return invalid_argument("cuda::silu_mul: bad shape");
  if (n == 0) return ok_status();
  if (gate_up == nullptr || out == nullptr) return invalid_argument("cuda::silu_mul: null pointer");
  MLXM_RETURN_IF_ERROR(check_slices(in, n * 2 * ff, "cuda::silu_mul"));
  const bool vec = ff % 4 == 0 && in.stride % 4 == 0 && ff <= 0x7FFFFFFF &&
                   n * (ff / 4) <= int64_t{65535} * 16 * 256 &&
                   norm_rows::aligned16({gate_up, out, q.scratch});
  if (q.scratch != nullptr) {
    MLXM_RETURN_IF_ERROR(norm_rows::check_target(q, n, ff, vec, "cuda::silu_mul"));
  }
  if (vec) {
    const int64_t threads = n * (ff / 4);
    MLXM_CUDA_LAUNCH_PDL("silu_mul_vec_kernel", silu_mul_vec_kernel, grid_for(threads, 256), 256, 0,
                         stream, gate_up, n, static_cast<int>(ff), out, q.scratch,
                         x_target::form_of(q), in);
    return ok_status();
  }
  MLXM_CUDA_LAUNCH_PDL("silu_mul_kernel", silu_mul_kernel, grid_for(n * ff, 256), 256, 0, stream,
                       gate_up, n, ff, out, in);
  return ok_status();
}

Status add_inplace(float* x, const float* y, int64_t n, Stream stream) {
  if (n < 0) return invalid_argument("cuda::add_inplace: negative size");
  if (n == 0) return ok_status();
  if (x == nullptr || y == nullptr) return invalid_argument("cuda::add_inplace: null pointer");
  MLXM_CUDA_LAUNCH_PDL("add_kernel", add_kernel, grid_for(n, 256), 256, 0, stream, x, y, n);
  return ok_status();
}

Status gather_rows(const float* src, int64_t n_src_rows, int64_t dim, const int32_t* rows,
                   int64_t n, float* dst, Stream stream) {
  if (n < 0 || dim <= 0 || n_src_rows < 0) return invalid_argument("cuda::gather_rows: bad shape");
  if (n == 0) return ok_status();
  if (src == nullptr || rows == nullptr || dst == nullptr) {
    return invalid_argument("cuda::gather_rows: null pointer");
  }
  MLXM_CUDA_LAUNCH_PDL("gather_rows_kernel", gather_rows_kernel, grid_for(n * dim, 256), 256, 0,
                       stream, src, n_src_rows, dim, rows, n, dst);
  return ok_status();
}

Status kv_store(const KvLayerView& kv, const float* k, const float* v,
                const int32_t* slot_mapping, int64_t n_tokens, Stream stream) {
  if (kv.dtype != DType::kF16 && kv.dtype != DType::kBF16 && kv.dtype != DType::kF32) {
    return invalid_argument("cuda::kv_store: KV dtype must be F16, BF16 or F32");
  }
  if (kv.n_kv_heads <= 0 || kv.head_dim <= 0 || kv.block_size <= 0 || kv.n_blocks < 0 ||
      n_tokens < 0) {
    return invalid_argument("cuda::kv_store: bad shape");
  }
  if (n_tokens == 0) return ok_status();
  if (kv.k == nullptr || kv.v == nullptr || k == nullptr || v == nullptr ||
      slot_mapping == nullptr) {
    return invalid_argument("cuda::kv_store: null pointer");
  }
  const int64_t row = static_cast<int64_t>(kv.n_kv_heads) * kv.head_dim;
  kv_store_kernel<<<grid_for(n_tokens * row, 256), 256, 0, stream>>>(
      kv.k, kv.v, kv_rope::code_of(kv.dtype), row, kv.n_blocks * kv.block_size, k, v, slot_mapping,
      n_tokens);
  MLXM_CUDA_CHECK_LAUNCH("kv_store_kernel");
  return ok_status();
}

}  // namespace mlxm::engine::cuda

// This unit's kernel-chain rings (the norms of rms_norm, SiLU·mul; timeline.cuh).
MLXM_CHAIN_DUMP_UNIT(elementwise)
