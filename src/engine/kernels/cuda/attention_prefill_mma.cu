// The prefill attention of attention_prefill.cu on tensor cores (paged_attention_prefill with
// tensor_cores; cuda_ops.h): the same tiles, masks and results up to the rounding of Q and P to
// the cache's type.
//
// One block of 4 warps per (tile, kv head); a tile is up to 64 query rows (tokens × the query
// heads of one kv head, one sequence), warp w owns rows 16w .. 16w + 15. The block walks its
// context in slices of 64 positions, the next slice's K and V copied (cp.async, 16 bytes a
// lane, zeros past the context or the cache) while the current one is used:
//   S (16 × 64 per warp) = Q·Kᵀ by mma.sync m16n8k16 (Q rounded to the cache's type once, its
//   fragments kept in registers; K fragments by ldmatrix from the slice's rows);
//   scores scaled into log2 units and masked per row by the row's own context (causal);
//   online softmax per row in f32 (the 4 lanes of a quad hold a row's 16 scores of a slice);
//   O (16 × head_dim per warp, f32 accumulators) = O·corr + P·V, P rounded to the cache's type
//   and fed from the S accumulators as A fragments (their layouts coincide), V fragments by
//   ldmatrix.trans.
// head_dim 64 or 128; F16/BF16 caches. Shared memory: Q and two slices of K and V, rows padded
// by 8 elements (conflict-free ldmatrix): 85 KB at head_dim 128, 45 KB at 64.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <cstdint>

#include "engine/kernels/cuda/attention_prefill_mma.h"
#include "engine/kernels/cuda/cp_async.cuh"
#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/kernels/cuda/mma.cuh"
#include "engine/kernels/cuda/prefill_tile.cuh"

namespace mlxm::engine::cuda {

namespace {

constexpr int kRows = 64;  // query rows per block (16 per warp)
constexpr int kKeys = 64;  // positions per slice
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;

template <int HD>
__host__ __device__ constexpr int row_stride() {
  return HD + 8;  // elements: rows 16 bytes apart in the banks
}

template <typename T, int HD>
constexpr size_t mma_smem_bytes() {
  return sizeof(T) * size_t{kRows + 4 * kKeys} * row_stride<HD>() + sizeof(int) * kRows;
}

template <typename T, int HD>
__global__ void __launch_bounds__(kThreads)
    paged_prefill_mma_kernel(const float* __restrict__ q, const int32_t* __restrict__ block_tables,
                             int max_blocks, const int32_t* __restrict__ context_lens,
                             const int32_t* __restrict__ tiles, int n_heads,
                             const T* __restrict__ kc, const T* __restrict__ vc, int block_size,
                             int n_kv_heads, int64_t n_blocks, float scale,
                             float* __restrict__ out) {
  using Tag = mma::TagOf<T>;
  constexpr int RS = row_stride<HD>();
  constexpr int kChunks = HD / 8;  // 16-byte chunks per K/V row
  extern __shared__ __align__(16) unsigned char smem[];
  T* sQ = reinterpret_cast<T*>(smem);  // [kRows][RS]
  T* sK = sQ + kRows * RS;             // [2][kKeys][RS]
  T* sV = sK + 2 * kKeys * RS;         // [2][kKeys][RS]
  int* sCtx = reinterpret_cast<int*>(sV + 2 * kKeys * RS);  // [kRows]: 0 for unused rows
  __shared__ int bad_pos, max_ctx;

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int kvh = blockIdx.y;
  const prefill_tile::Tile tile =
      prefill_tile::tile_of(tiles, block_tables, max_blocks, n_heads, n_kv_heads, kRows);
  const int rows = tile.rows;
  const int64_t kv_row = static_cast<int64_t>(n_kv_heads) * HD;

  if (tid == 0) {
    bad_pos = INT_MAX;
    max_ctx = 0;
  }
  __syncthreads();
  // Q rounded to T; rows past the tile zero.
  for (int e = tid; e < kRows * (HD / 4); e += kThreads) {
    const int r = e / (HD / 4);
    const int c4 = e % (HD / 4);
    const float4 v = prefill_tile::q_chunk(q, tile, r, c4, HD / 4, kvh, n_heads, HD);
    uint32_t* d = reinterpret_cast<uint32_t*>(sQ + r * RS + c4 * 4);
    d[0] = weights::pack2(v.x, v.y, Tag{});
    d[1] = weights::pack2(v.z, v.w, Tag{});
  }
  if (tid < kRows) {
    const int ctx = prefill_tile::row_context(tile, tid, context_lens);
    sCtx[tid] = ctx;
    atomicMax(&max_ctx, ctx);
  }
  __syncthreads();
  const int n_ctx = max_ctx;

  // Slice k0 into buffer b: thread tid copies chunk tid % kChunks of keys tid / kChunks + i·kStep.
  constexpr int kStep = kThreads / kChunks;
  auto load_slice = [&](int b, int k0) {
    const int c = tid % kChunks;
    T* dk = sK + b * kKeys * RS;
    T* dv = sV + b * kKeys * RS;
#pragma unroll
    for (int kk = tid / kChunks; kk < kKeys; kk += kStep) {
      const int p = k0 + kk;
      bool ok = false;
      int64_t off = 0;
      if (p < n_ctx) {
        const int64_t slot = prefill_tile::slot_of(tile, p, max_blocks, block_size, n_blocks);
        if (slot < 0) {
          if (c == 0) atomicMin(&bad_pos, p);
        } else {
          ok = true;
          off = slot * kv_row + int64_t{kvh} * HD + c * 8;
        }
      }
      cp_async::copy<16>(cp_async::smem_addr(dk + kk * RS + c * 8), ok ? kc + off : kc, ok);
      cp_async::copy<16>(cp_async::smem_addr(dv + kk * RS + c * 8), ok ? vc + off : vc, ok);
    }
    cp_async::commit();
  };
  if (n_ctx > 0) load_slice(0, 0);

  // The warp's Q fragments (A, m16k16 row-major) for every 16 dims.
  const int g = lane >> 2;  // accumulator rows g and g + 8 of the warp's 16
  const int qc = lane & 3;  // accumulator columns 2·qc, 2·qc + 1 of each 8
  uint32_t qa[HD / 16][4];
  {
    const T* base = sQ + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * RS + (lane >> 4) * 8;
#pragma unroll
    for (int ks = 0; ks < HD / 16; ++ks) mma::ldmatrix_x4(qa[ks], base + ks * 16);
  }
  const int r0 = warp * 16 + g;
  const int ctx0 = sCtx[r0], ctx1 = sCtx[r0 + 8];
  const float sl2 = scale * 1.4426950408889634f;  // scores in log2 units
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
  float o[HD / 8][4];
#pragma unroll
  for (int nt = 0; nt < HD / 8; ++nt) {
#pragma unroll
    for (int i = 0; i < 4; ++i) o[nt][i] = 0.0f;
  }

  for (int k0 = 0, b = 0; k0 < n_ctx; k0 += kKeys, b ^= 1) {
    if (k0 + kKeys < n_ctx) {
      load_slice(b ^ 1, k0 + kKeys);
      cp_async::wait<1>();
    } else {
      cp_async::wait<0>();
    }
    __syncthreads();  // the slice's copies by every thread have landed
    const T* K = sK + b * kKeys * RS;
    const T* V = sV + b * kKeys * RS;

    // S = Q·Kᵀ: n-tiles of 8 keys, two per ldmatrix_x4 (keys n0 .. n0 + 15, 16 dims).
    float s[kKeys / 8][4];
#pragma unroll
    for (int nt = 0; nt < kKeys / 8; ++nt) {
#pragma unroll
      for (int i = 0; i < 4; ++i) s[nt][i] = 0.0f;
    }
    {
      const T* kb = K + ((lane & 7) + (lane >> 4) * 8) * RS + ((lane >> 3) & 1) * 8;
#pragma unroll
      for (int np = 0; np < kKeys / 16; ++np) {
#pragma unroll
        for (int ks = 0; ks < HD / 16; ++ks) {
          uint32_t kb4[4];
          mma::ldmatrix_x4(kb4, kb + np * 16 * RS + ks * 16);
          mma::m16n8k16(s[2 * np], qa[ks], kb4, Tag{});
          mma::m16n8k16(s[2 * np + 1], qa[ks], kb4 + 2, Tag{});
        }
      }
    }
    // Scale, mask, row maxima (rows r0: s[.][0..1], r0 + 8: s[.][2..3]).
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < kKeys / 8; ++nt) {
      const int key = k0 + nt * 8 + 2 * qc;
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        s[nt][i] = key + i < ctx0 ? s[nt][i] * sl2 : -INFINITY;
        s[nt][2 + i] = key + i < ctx1 ? s[nt][2 + i] * sl2 : -INFINITY;
        mx0 = fmaxf(mx0, s[nt][i]);
        mx1 = fmaxf(mx1, s[nt][2 + i]);
      }
    }
#pragma unroll
    for (int off = 1; off < 4; off <<= 1) {
      mx0 = fmaxf(mx0, __shfl_xor_sync(0xFFFFFFFFu, mx0, off));
      mx1 = fmaxf(mx1, __shfl_xor_sync(0xFFFFFFFFu, mx1, off));
    }
    const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
    // A row that has seen no position yet keeps max -inf: exp2(-inf - 0) = 0 everywhere.
    const float u0 = n0 == -INFINITY ? 0.0f : n0, u1 = n1 == -INFINITY ? 0.0f : n1;
    const float c0 = exp2f(m0 - u0), c1 = exp2f(m1 - u1);
    m0 = n0;
    m1 = n1;
    float sum0 = 0.0f, sum1 = 0.0f;
#pragma unroll
    for (int nt = 0; nt < kKeys / 8; ++nt) {
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        s[nt][i] = exp2f(s[nt][i] - u0);
        s[nt][2 + i] = exp2f(s[nt][2 + i] - u1);
        sum0 += s[nt][i];
        sum1 += s[nt][2 + i];
      }
    }
    l0 = l0 * c0 + sum0;  // per lane: the quad's lanes are summed at the end
    l1 = l1 * c1 + sum1;
#pragma unroll
    for (int nt = 0; nt < HD / 8; ++nt) {
      o[nt][0] *= c0;
      o[nt][1] *= c0;
      o[nt][2] *= c1;
      o[nt][3] *= c1;
    }
    // O += P·V: k-steps of 16 keys (P from S tiles 2j, 2j + 1), V fragments for 16 dims at a
    // time (keys 16j + (lane & 15), dims + (lane >> 4)·8, transposed).
    const T* vb = V + ((lane & 7) + ((lane >> 3) & 1) * 8) * RS + (lane >> 4) * 8;
#pragma unroll
    for (int j = 0; j < kKeys / 16; ++j) {
      if (k0 + 16 * j >= n_ctx) break;  // keys past every row's context: P is zero
      const uint32_t pa[4] = {weights::pack2(s[2 * j][0], s[2 * j][1], Tag{}),
                              weights::pack2(s[2 * j][2], s[2 * j][3], Tag{}),
                              weights::pack2(s[2 * j + 1][0], s[2 * j + 1][1], Tag{}),
                              weights::pack2(s[2 * j + 1][2], s[2 * j + 1][3], Tag{})};
#pragma unroll
      for (int dp = 0; dp < HD / 16; ++dp) {
        uint32_t vb4[4];
        mma::ldmatrix_x4_trans(vb4, vb + 16 * j * RS + dp * 16);
        mma::m16n8k16(o[2 * dp], pa, vb4, Tag{});
        mma::m16n8k16(o[2 * dp + 1], pa, vb4 + 2, Tag{});
      }
    }
    __syncthreads();  // every warp is done with buffer b before the next slice's copy into it
  }

#pragma unroll
  for (int off = 1; off < 4; off <<= 1) {
    l0 += __shfl_xor_sync(0xFFFFFFFFu, l0, off);
    l1 += __shfl_xor_sync(0xFFFFFFFFu, l1, off);
  }
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int r = r0 + 8 * half;
    if (r >= rows) continue;
    const float l = half == 0 ? l0 : l1;
    const bool bad = bad_pos < sCtx[r];
    float* orow = out + prefill_tile::row_offset(tile, r, kvh, n_heads, HD);
#pragma unroll
    for (int nt = 0; nt < HD / 8; ++nt) {
      float2 v;
      v.x = bad ? NAN : (l > 0.0f ? o[nt][2 * half] / l : 0.0f);
      v.y = bad ? NAN : (l > 0.0f ? o[nt][2 * half + 1] / l : 0.0f);
      *reinterpret_cast<float2*>(orow + nt * 8 + 2 * qc) = v;
    }
  }
}

template <typename T, int HD>
Status allow_smem() {
  static const cudaError_t err = cudaFuncSetAttribute(
      paged_prefill_mma_kernel<T, HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
      static_cast<int>(mma_smem_bytes<T, HD>()));
  MLXM_CUDA_TRY(err);
  return ok_status();
}

template <typename T, int HD>
Status launch(const float* q, const int32_t* bt, int max_blocks, const int32_t* cl,
              const int32_t* tiles, int64_t n_tiles, int n_heads, const KvLayerView& kv,
              float scale, float* out, cudaStream_t stream) {
  MLXM_RETURN_IF_ERROR((allow_smem<T, HD>()));
  const dim3 grid(static_cast<unsigned>(n_tiles), static_cast<unsigned>(kv.n_kv_heads));
  paged_prefill_mma_kernel<T, HD><<<grid, kThreads, mma_smem_bytes<T, HD>(), stream>>>(
      q, bt, max_blocks, cl, tiles, n_heads, static_cast<const T*>(kv.k),
      static_cast<const T*>(kv.v), kv.block_size, kv.n_kv_heads, kv.n_blocks, scale, out);
  MLXM_CUDA_CHECK_LAUNCH("paged_prefill_mma_kernel");
  return ok_status();
}

}  // namespace

bool paged_attention_prefill_tc_supported(int n_heads, const KvLayerView& kv) {
  return paged_attention_prefill_supported(n_heads, kv) &&
         (kv.head_dim == 64 || kv.head_dim == 128);
}

namespace detail {

Status prefill_mma_prepare() {
  MLXM_RETURN_IF_ERROR((allow_smem<__half, 64>()));
  MLXM_RETURN_IF_ERROR((allow_smem<__half, 128>()));
  MLXM_RETURN_IF_ERROR((allow_smem<__nv_bfloat16, 64>()));
  return allow_smem<__nv_bfloat16, 128>();
}

Status launch_prefill_mma(const float* q, const int32_t* bt, int max_blocks, const int32_t* cl,
                          const int32_t* tiles, int64_t n_tiles, int n_heads,
                          const KvLayerView& kv, float scale, float* out, Stream stream) {
  const bool f16 = kv.dtype == DType::kF16;
  if (kv.head_dim == 64) {
    return f16 ? launch<__half, 64>(q, bt, max_blocks, cl, tiles, n_tiles, n_heads, kv, scale, out,
                                    stream)
               : launch<__nv_bfloat16, 64>(q, bt, max_blocks, cl, tiles, n_tiles, n_heads, kv,
                                           scale, out, stream);
  }
  return f16 ? launch<__half, 128>(q, bt, max_blocks, cl, tiles, n_tiles, n_heads, kv, scale, out,
                                   stream)
             : launch<__nv_bfloat16, 128>(q, bt, max_blocks, cl, tiles, n_tiles, n_heads, kv,
                                          scale, out, stream);
}

}  // namespace detail

}  // namespace mlxm::engine::cuda
