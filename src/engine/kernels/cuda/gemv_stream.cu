// The int8-activation GEMV as a weight stream (ForwardOptions::gemv_stream; gemv_i8.cuh):
// y (n, n_out) = x (n, n_in) · Wᵀ (+ bias), n = 1..8, x already quantized by gemv_i8.cu's
// launch (the same scratch layout and the same per-32-block arithmetic as gemv_i8_kernel).
//
// gemv_i8_kernel's warps each issue one batch of loads (4 rows × 16 bytes per lane), wait,
// reduce through shared memory and exit, so a small part of the time has the SM's loads in
// flight. Here the warps persist: warp gw of tw takes the 4-row groups gw, gw + tw, ..., and
// walks (group, 32-block chunk) steps with a kStages-deep cp.async ring per warp (each lane
// copies its own 16-byte weight chunks and 4-byte (scale, bias) words into its own shared
// slots), so kStages steps of weights stay in flight while one is computed. The first stages
// are requested before pdl::wait() (weights are immutable). A group's sums meet by warp
// shuffles (no shared-memory reduction, no block barrier).
//
// Summation order: per lane its chunks in order, then the butterfly over lanes; it depends on
// the layer only, so a row is bit-identical alone or in a batch (not bit-identical to
// gemv_i8_kernel, whose K-split differs).
//
// RoPE epilogue (GemvRope, ForwardOptions::rope_store; a fused q/k/v projection without q/k
// norms): the groups take the rotary pairs instead of 4 consecutive rows — group g holds dims
// (d, d + 1, d + hd/2, d + 1 + hd/2) of head g / (hd/4), d = 2·(g mod hd/4) — so after its
// butterfly a warp has both halves of two pairs and lanes 0 and 1 rotate them: q heads into
// q_out, k heads into the cache (as qkv_rope_store: kv_rope.cuh's operations), v heads stored
// as they are. It replaces the qkv_rope_store launch of a decode step; no other warp's rows
// are needed, so nothing waits at the end. y is written as always.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "engine/kernels/cuda/cp_async.cuh"
#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/gemm.cuh"
#include "engine/kernels/cuda/gemv_dot.cuh"
#include "engine/kernels/cuda/gemv_i8.cuh"
#include "engine/kernels/cuda/gemv_rope.cuh"
#include "engine/kernels/cuda/pdl.cuh"
#include "engine/kernels/cuda/timeline.cuh"
#include "engine/kernels/cuda/weight_load.cuh"

namespace mlxm::engine::cuda {

namespace {

using detail::GemvRope;
using gemv_rope::group_row;
using weights::half_bits_to_f;

constexpr int kWarps = 4;  // per block
constexpr int kRows = 4;   // weight rows per warp step
constexpr int kBlock = 32;  // activation quantization block (values)

template <int BITS>
struct StreamCfg {
  static constexpr int kChunks = BITS / 4;          // 16-byte weight chunks per 32-block
  static constexpr int kStages = BITS == 4 ? 4 : 2;  // ring depth: 40 / 36 KB per block
};

template <int BITS, typename Tag, int NR, bool ROPE>
__global__ void __launch_bounds__(kWarps * 32)
    gemv_stream_kernel(const uint4* __restrict__ w, const uint32_t* __restrict__ sb,
                       const float* __restrict__ bias, const uint4* __restrict__ xq,
                       const float2* __restrict__ xds, float* __restrict__ y, int n_out,
                       int n_in, int n, int group_shift, GemvRope rope) {
  MLXM_CHAIN_BEGIN(timeline::kGemvStream, threadIdx.x == 0, w);
  constexpr int kCh = StreamCfg<BITS>::kChunks;
  constexpr int kSt = StreamCfg<BITS>::kStages;
  // [stage][warp][row·chunk][lane]: a lane's 16-byte slots are 16 bytes apart across lanes
  // (conflict-free), and a lane reads only what it copied itself.
  __shared__ uint4 s_w[kSt][kWarps][kRows * kCh][32];
  __shared__ uint32_t s_sb[kSt][kWarps][kRows][32];

  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int n_units = n_in / kBlock;
  const int chunks = (n_units + 31) / 32;  // 32-block chunks per row (one unit per lane)
  const int n_groups = n_in >> group_shift;
  const int unit_group_shift = group_shift - 5;
  const int n_rg = (n_out + kRows - 1) / kRows;
  const int quarter = ROPE ? rope.head_dim / 4 : 0;  // group_row
  const int gw = blockIdx.x * kWarps + warp;
  const int tw = gridDim.x * kWarps;
  const int my_groups = gw < n_rg ? (n_rg - 1 - gw) / tw + 1 : 0;
  const int total = my_groups * chunks;  // warp-uniform
  const ptrdiff_t w_stride = static_cast<ptrdiff_t>(n_units) * kCh;  // uint4 per weight row

  // Step `it` (group it / chunks, chunk it % chunks) into ring slot it % kSt. Rows past the
  // end read row n_out - 1 (unstored); units past n_in copy zeros (never used).
  auto issue = [&](int it) {
    const int slot = it % kSt;
    const int g = gw + (it / chunks) * tw;
    const int u = (it % chunks) * 32 + lane;
    const bool uv = u < n_units;
    const int uu = uv ? u : 0;
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const ptrdiff_t row = min(group_row<ROPE>(g, r, quarter), n_out - 1);
#pragma unroll
      for (int c = 0; c < kCh; ++c) {
        cp_async::copy<16>(cp_async::smem_addr(&s_w[slot][warp][r * kCh + c][lane]),
                           w + row * w_stride + uu * kCh + c, uv);
      }
      cp_async::copy<4>(cp_async::smem_addr(&s_sb[slot][warp][r][lane]),
                        sb + row * n_groups + (uu >> unit_group_shift), uv);
    }
  };

  // Weights only before the wait: the ring's first kSt steps.
#pragma unroll
  for (int s = 0; s < kSt; ++s) {
    if (s < total) issue(s);
    cp_async::commit();  // empty groups too: the wait below counts groups
  }
  // The K/V of the step's attention into L2 meanwhile (RopeStore::block_tables; workers
  // numbered across blocks first).
  if constexpr (ROPE) {
    gemv_rope::prefetch_kv(rope, n, lane * tw + warp * gridDim.x + blockIdx.x, tw * 32);
  }
  pdl::wait();
  MLXM_CHAIN_WAIT();

  const int x_stride = n_in / 16;  // uint4 per activation row of xq
  float acc[kRows][NR];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int j = 0; j < NR; ++j) acc[r][j] = 0.0f;
  }
  for (int it = 0; it < total; ++it) {
    cp_async::wait<kSt - 1>();  // step it's group is complete (kSt groups were pending)
    const int slot = it % kSt;
    const int c_idx = it % chunks;
    const int u = c_idx * 32 + lane;
    if (u < n_units) {
      uint4 wv[kRows][kCh];
      float s[kRows], b[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
#pragma unroll
        for (int c = 0; c < kCh; ++c) wv[r][c] = s_w[slot][warp][r * kCh + c][lane];
        const uint32_t sbv = s_sb[slot][warp][r][lane];
        s[r] = half_bits_to_f(sbv & 0xFFFFu, Tag{});
        b[r] = half_bits_to_f(sbv >> 16, Tag{});
      }
      gemv_dot::accumulate_unit<BITS>(wv, s, b, xq, xds, x_stride, n_units, u, n, acc);
    }
    // The slot is read (the barrier keeps the reads before the refill); refill it.
    __syncwarp();
    if (it + kSt < total) issue(it + kSt);
    cp_async::commit();
    if (c_idx == chunks - 1) {
      gemv_rope::store_group<NR, ROPE>(acc, gw + (it / chunks) * tw, quarter, n, n_out, bias, y,
                                       rope, lane);
    }
  }
  cp_async::wait<0>();
  MLXM_CHAIN_END();
  pdl::launch_dependents();
}

template <int BITS, typename Tag, int NR, bool ROPE>
Status launch(const detail::GemvI8Args& a, const uint4* xq, const float2* xds,
              cudaStream_t stream) {
  auto kernel = gemv_stream_kernel<BITS, Tag, NR, ROPE>;
  // kBlocksPerSm blocks per SM at once (what the shared memory allows at 40 / 36 KB each; a
  // constant, so nothing is queried inside a graph capture), but no more warps than groups:
  // the warps persist.
  constexpr int kBlocksPerSm = 5;
  const unsigned blocks = detail::stream_blocks(a.n_out, kWarps, kBlocksPerSm);
  MLXM_CUDA_LAUNCH_PDL("gemv_stream_kernel", kernel, blocks, kWarps * 32, 0, stream, a.w, a.sb,
                       a.bias, xq, xds, a.y, a.n_out, a.n_in, a.n, detail::log2_exact(a.group_size),
                       a.rope);
  return ok_status();
}

}  // namespace

namespace detail {

unsigned stream_blocks(int n_out, int warps, int blocks_per_sm) {
  const int64_t groups = (static_cast<int64_t>(n_out) + kRows - 1) / kRows;
  const int64_t want = (groups + warps - 1) / warps;
  return static_cast<unsigned>(std::max<int64_t>(
      1, std::min<int64_t>(want, int64_t{gemm_sm_count()} * blocks_per_sm)));
}

Status launch_gemv_stream(const GemvI8Args& a, const uint4* xq, const float2* xds,
                          cudaStream_t stream) {
  return dispatch_stream(a, [&]<int BITS, typename Tag, int NR, bool ROPE>() {
    return launch<BITS, Tag, NR, ROPE>(a, xq, xds, stream);
  });
}

}  // namespace detail
}  // namespace mlxm::engine::cuda

MLXM_CHAIN_DUMP_UNIT(gemv_stream)  // this unit's kernel-chain rings (timeline.cuh)
