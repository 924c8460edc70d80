// Flash-attention-style prefill attention over the paged KV cache (cuda_ops.h), in f32; with
// tensor_cores, head_dim 64 and 128 run attention_prefill_mma.cu's kernel instead.
//
// One block per (tile, kv head): a tile is up to 64 query rows = tokens × the query heads of
// one kv head, all of one sequence. The block walks its context in slices of 32 positions:
//   load the slice's K and V (F16/BF16 -> f32) into shared memory once for all 64 rows;
//   S (64 × 32) = Q·Kᵀ·scale (each thread 2 rows × 4 keys, float4 shared loads), masked per
//   row by its own context length (causal), stored key-major;
//   online softmax per row (4 threads a row): new max, P = exp(S − max), row sums, the
//   correction exp(old max − new max);
//   O (64 × head_dim, registers: warp w owns rows 8w..8w+7, lane l dims l·hd/32..) =
//   O·corr + P·V.
// The loop stops at the largest context of the tile, so causal prefill does about half the
// work of the full square. All arithmetic in f32 (the same function as the decode kernel up to
// rounding order). Shared memory: (64 + 2·32)·(HD + 4) + 32·68 + 4·64 floats (77 KB at HD
// 128: two blocks per SM).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <string>

#include "engine/kernels/cuda/attention_prefill_mma.h"
#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/kernels/cuda/prefill_tile.cuh"

namespace mlxm::engine::cuda {

namespace {

constexpr int kRows = 64;     // query rows per block
constexpr int kKeys = 32;     // positions per K/V slice
constexpr int kThreads = 256;
constexpr int kPStride = kRows + 4;  // P is stored key-major: sP[key][row]

__device__ __forceinline__ float4 to_f4(const __half* p) {
  const uint2 raw = *reinterpret_cast<const uint2*>(p);
  const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&raw.x));
  const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&raw.y));
  return make_float4(a.x, a.y, b.x, b.y);
}
__device__ __forceinline__ float4 to_f4(const __nv_bfloat16* p) {
  const uint2 raw = *reinterpret_cast<const uint2*>(p);
  return make_float4(__uint_as_float(raw.x << 16), __uint_as_float(raw.x & 0xFFFF0000u),
                     __uint_as_float(raw.y << 16), __uint_as_float(raw.y & 0xFFFF0000u));
}

__device__ __forceinline__ float dot4(const float4 a, const float4 b, float s) {
  s = fmaf(a.x, b.x, s);
  s = fmaf(a.y, b.y, s);
  s = fmaf(a.z, b.z, s);
  return fmaf(a.w, b.w, s);
}

// Element i (a compile-time constant after unrolling) of the 8 floats pa, pb.
__device__ __forceinline__ float pick(const float4& pa, const float4& pb, int i) {
  switch (i) {
    case 0: return pa.x;
    case 1: return pa.y;
    case 2: return pa.z;
    case 3: return pa.w;
    case 4: return pb.x;
    case 5: return pb.y;
    case 6: return pb.z;
    default: return pb.w;
  }
}

template <int HD>
constexpr size_t smem_bytes() {
  return sizeof(float) * ((kRows + 2 * kKeys) * (HD + 4) + kKeys * kPStride + 3 * kRows) +
         sizeof(int) * kRows;
}

template <typename T, int HD>
__global__ void __launch_bounds__(kThreads)
    paged_prefill_kernel(const float* __restrict__ q, const int32_t* __restrict__ block_tables,
                         int max_blocks, const int32_t* __restrict__ context_lens,
                         const int32_t* __restrict__ tiles, int n_heads,
                         const T* __restrict__ kc, const T* __restrict__ vc, int block_size,
                         int n_kv_heads, int hd, int64_t n_blocks, float scale,
                         float* __restrict__ out) {
  constexpr int QS = HD + 4;      // row stride of Q/K/V in shared memory (floats)
  constexpr int DPT = HD / 32;    // output dims per lane
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
  float* sQ = smem;                   // [kRows][QS]
  float* sK = sQ + kRows * QS;        // [kKeys][QS]
  float* sV = sK + kKeys * QS;        // [kKeys][QS]
  float* sP = sV + kKeys * QS;        // [kKeys][kPStride]
  float* sM = sP + kKeys * kPStride;  // [kRows] running max
  float* sL = sM + kRows;             // [kRows] running sum
  float* sC = sL + kRows;             // [kRows] correction of the current slice
  int* sCtx = reinterpret_cast<int*>(sC + kRows);  // [kRows] context of each row (0: unused)
  __shared__ int bad_pos, max_ctx;

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int kvh = blockIdx.y;
  const prefill_tile::Tile tile =
      prefill_tile::tile_of(tiles, block_tables, max_blocks, n_heads, n_kv_heads, kRows);
  const int rows = tile.rows;
  const int hd4 = hd / 4;
  const int64_t kv_row = static_cast<int64_t>(n_kv_heads) * hd;

  if (tid == 0) {
    bad_pos = INT_MAX;
    max_ctx = 0;
  }
  __syncthreads();
  for (int e = tid; e < kRows * (HD / 4); e += kThreads) {
    const int r = e / (HD / 4);
    const int c4 = e % (HD / 4);
    const float4 v = prefill_tile::q_chunk(q, tile, r, c4, hd4, kvh, n_heads, hd);
    *reinterpret_cast<float4*>(sQ + r * QS + c4 * 4) = v;
  }
  if (tid < kRows) {
    const int ctx = prefill_tile::row_context(tile, tid, context_lens);
    sCtx[tid] = ctx;
    sM[tid] = -INFINITY;
    sL[tid] = 0.0f;
    atomicMax(&max_ctx, ctx);
  }
  __syncthreads();
  const int n_ctx = max_ctx;

  float acc[8][DPT];
#pragma unroll
  for (int i = 0; i < 8; ++i) {
#pragma unroll
    for (int d = 0; d < DPT; ++d) acc[i][d] = 0.0f;
  }
  // S-phase mapping: rows 2·rg, 2·rg + 1; keys kg + 8j.
  const int rg = tid >> 3;
  const int kg = tid & 7;

  for (int k0 = 0; k0 < n_ctx; k0 += kKeys) {
    for (int e = tid; e < kKeys * (HD / 4); e += kThreads) {
      const int kk = e / (HD / 4);
      const int c4 = e % (HD / 4);
      const int p = k0 + kk;
      float4 kf = make_float4(0.f, 0.f, 0.f, 0.f), vf = kf;
      if (p < n_ctx && c4 < hd4) {
        const int64_t slot = prefill_tile::slot_of(tile, p, max_blocks, block_size, n_blocks);
        if (slot < 0) {
          atomicMin(&bad_pos, p);
        } else {
          const int64_t off = slot * kv_row + static_cast<int64_t>(kvh) * hd + c4 * 4;
          kf = to_f4(kc + off);
          vf = to_f4(vc + off);
        }
      }
      *reinterpret_cast<float4*>(sK + kk * QS + c4 * 4) = kf;
      *reinterpret_cast<float4*>(sV + kk * QS + c4 * 4) = vf;
    }
    __syncthreads();

    {  // S = Q·Kᵀ·scale, masked; stored as sP[key][row].
      float s[2][4];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) s[i][j] = 0.0f;
      }
      const float* q0 = sQ + (2 * rg) * QS;
      const float* q1 = q0 + QS;
#pragma unroll 4
      for (int d = 0; d < hd; d += 4) {
        const float4 a0 = *reinterpret_cast<const float4*>(q0 + d);
        const float4 a1 = *reinterpret_cast<const float4*>(q1 + d);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const float4 b = *reinterpret_cast<const float4*>(sK + (kg + 8 * j) * QS + d);
          s[0][j] = dot4(a0, b, s[0][j]);
          s[1][j] = dot4(a1, b, s[1][j]);
        }
      }
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int r = 2 * rg + i;
        const int ctx = sCtx[r];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const int key = kg + 8 * j;
          sP[key * kPStride + r] = k0 + key < ctx ? s[i][j] * scale : -INFINITY;
        }
      }
    }
    __syncthreads();

    {  // Online softmax: 4 threads per row, keys sub + 4·kk.
      const int r = tid >> 2;
      const int sub = tid & 3;
      float mx = -INFINITY;
#pragma unroll
      for (int kk = 0; kk < kKeys / 4; ++kk) mx = fmaxf(mx, sP[(sub + 4 * kk) * kPStride + r]);
      mx = fmaxf(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, 2));
      const float m_old = sM[r];
      const float m_new = fmaxf(m_old, mx);
      float sum = 0.0f;
#pragma unroll
      for (int kk = 0; kk < kKeys / 4; ++kk) {
        float* ps = sP + (sub + 4 * kk) * kPStride + r;
        const float pv = m_new == -INFINITY ? 0.0f : expf(*ps - m_new);  // masked: exp(-inf) = 0
        *ps = pv;
        sum += pv;
      }
      sum += __shfl_xor_sync(0xFFFFFFFFu, sum, 1);
      sum += __shfl_xor_sync(0xFFFFFFFFu, sum, 2);
      __syncwarp();
      if (sub == 0) {
        const float corr = m_old == -INFINITY ? 0.0f : expf(m_old - m_new);
        sM[r] = m_new;
        sL[r] = sL[r] * corr + sum;
        sC[r] = corr;
      }
    }
    __syncthreads();

    {  // O = O·corr + P·V for rows 8·warp.., dims lane·DPT..
      const int r0 = warp * 8;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const float c = sC[r0 + i];
#pragma unroll
        for (int d = 0; d < DPT; ++d) acc[i][d] *= c;
      }
      const int kend = min(kKeys, n_ctx - k0);
      for (int key = 0; key < kend; ++key) {
        const float4 pa = *reinterpret_cast<const float4*>(sP + key * kPStride + r0);
        const float4 pb = *reinterpret_cast<const float4*>(sP + key * kPStride + r0 + 4);
        float v[DPT];
        if constexpr (DPT == 4) {
          const float4 vv = *reinterpret_cast<const float4*>(sV + key * QS + lane * 4);
          v[0] = vv.x;
          v[1] = vv.y;
          v[2] = vv.z;
          v[3] = vv.w;
        } else {
          const float2 vv = *reinterpret_cast<const float2*>(sV + key * QS + lane * 2);
          v[0] = vv.x;
          v[1] = vv.y;
        }
#pragma unroll
        for (int i = 0; i < 8; ++i) {
#pragma unroll
          for (int d = 0; d < DPT; ++d) acc[i][d] = fmaf(pick(pa, pb, i), v[d], acc[i][d]);
        }
      }
    }
    __syncthreads();  // before the next slice overwrites sK, sV, sP
  }

  const int r0 = warp * 8;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int r = r0 + i;
    if (r >= rows) break;
    const float l = sL[r];
    const bool bad = bad_pos < sCtx[r];
    float* o = out + prefill_tile::row_offset(tile, r, kvh, n_heads, hd);
#pragma unroll
    for (int d = 0; d < DPT; ++d) {
      const int dim = lane * DPT + d;
      if (dim < hd) o[dim] = bad ? NAN : (l > 0.0f ? acc[i][d] / l : 0.0f);
    }
  }
}

// Above 48 KB a kernel needs its dynamic shared-memory limit raised, once per instance
// (thread-safe static; not a stream operation, so it may happen during graph capture too).
template <typename T, int HD>
Status allow_smem() {
  static const cudaError_t err = cudaFuncSetAttribute(
      paged_prefill_kernel<T, HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
      static_cast<int>(smem_bytes<HD>()));
  MLXM_CUDA_TRY(err);
  return ok_status();
}

template <typename T, int HD>
Status launch_prefill(const float* q, const int32_t* bt, int max_blocks, const int32_t* cl,
                      const int32_t* tiles, int64_t n_tiles, int n_heads, const KvLayerView& kv,
                      float scale, float* out, cudaStream_t stream) {
  constexpr size_t kSmem = smem_bytes<HD>();
  MLXM_RETURN_IF_ERROR((allow_smem<T, HD>()));
  const dim3 grid(static_cast<unsigned>(n_tiles), static_cast<unsigned>(kv.n_kv_heads));
  paged_prefill_kernel<T, HD><<<grid, kThreads, kSmem, stream>>>(
      q, bt, max_blocks, cl, tiles, n_heads, static_cast<const T*>(kv.k),
      static_cast<const T*>(kv.v), kv.block_size, kv.n_kv_heads, kv.head_dim, kv.n_blocks, scale,
      out);
  MLXM_CUDA_CHECK_LAUNCH("paged_prefill_kernel");
  return ok_status();
}

}  // namespace

Status paged_attention_prefill_prepare() {
  MLXM_RETURN_IF_ERROR((allow_smem<__half, 64>()));
  MLXM_RETURN_IF_ERROR((allow_smem<__half, 128>()));
  MLXM_RETURN_IF_ERROR((allow_smem<__nv_bfloat16, 64>()));
  MLXM_RETURN_IF_ERROR((allow_smem<__nv_bfloat16, 128>()));
  return detail::prefill_mma_prepare();
}

bool paged_attention_prefill_supported(int n_heads, const KvLayerView& kv) {
  return (kv.dtype == DType::kF16 || kv.dtype == DType::kBF16) && kv.n_kv_heads > 0 &&
         n_heads > 0 && n_heads % kv.n_kv_heads == 0 && n_heads / kv.n_kv_heads <= 8 &&
         kv.head_dim > 0 && kv.head_dim <= 128 && kv.head_dim % 4 == 0 && kv.block_size > 0;
}

int paged_attention_prefill_tile_tokens(int n_heads, int n_kv_heads) {
  const int group = n_kv_heads > 0 && n_heads >= n_kv_heads ? n_heads / n_kv_heads : 1;
  return group > 0 && group <= kRows ? kRows / group : 1;
}

Status paged_attention_prefill(const float* q, const int32_t* block_tables, int max_blocks_per_seq,
                               const int32_t* context_lens, const int32_t* tiles, int64_t n_tiles,
                               int64_t n_tokens, int n_heads, const KvLayerView& kv, float scale,
                               float* out, Stream stream, bool tensor_cores) {
  if (!paged_attention_prefill_supported(n_heads, kv)) {
    return unimplemented("cuda::paged_attention_prefill: " + std::to_string(n_heads) +
                         " query heads over " + std::to_string(kv.n_kv_heads) +
                         " kv heads, head_dim " + std::to_string(kv.head_dim) + ", KV " +
                         dtype_name(kv.dtype) +
                         " (want <= 8 heads per kv head, head_dim a multiple of 4 up to 128, "
                         "F16/BF16)");
  }
  if (max_blocks_per_seq <= 0 || n_tiles < 0 || n_tokens < 0 || n_tiles > 0x7FFFFFFF) {
    return invalid_argument("cuda::paged_attention_prefill: bad shape");
  }
  if (n_tiles == 0 || n_tokens == 0) return ok_status();
  if (q == nullptr || block_tables == nullptr || context_lens == nullptr || tiles == nullptr ||
      out == nullptr || kv.k == nullptr || kv.v == nullptr) {
    return invalid_argument("cuda::paged_attention_prefill: null pointer");
  }
  if (tensor_cores && paged_attention_prefill_tc_supported(n_heads, kv)) {
    return detail::launch_prefill_mma(q, block_tables, max_blocks_per_seq, context_lens, tiles,
                                      n_tiles, n_heads, kv, scale, out, stream);
  }
  const bool small = kv.head_dim <= 64;
  if (kv.dtype == DType::kF16) {
    return small ? launch_prefill<__half, 64>(q, block_tables, max_blocks_per_seq, context_lens,
                                              tiles, n_tiles, n_heads, kv, scale, out, stream)
                 : launch_prefill<__half, 128>(q, block_tables, max_blocks_per_seq, context_lens,
                                               tiles, n_tiles, n_heads, kv, scale, out, stream);
  }
  return small ? launch_prefill<__nv_bfloat16, 64>(q, block_tables, max_blocks_per_seq,
                                                   context_lens, tiles, n_tiles, n_heads, kv,
                                                   scale, out, stream)
               : launch_prefill<__nv_bfloat16, 128>(q, block_tables, max_blocks_per_seq,
                                                    context_lens, tiles, n_tiles, n_heads, kv,
                                                    scale, out, stream);
}

}  // namespace mlxm::engine::cuda
