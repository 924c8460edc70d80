// Internal to kernels/cuda: the epilogue of the int8 stream GEMVs (gemv_stream.cu and its
// bulk-copied twin gemv_bulk.cu), so both store a group's sums the same way, and its RoPE
// form: a fused q/k/v projection's 4-row groups take the rotary pairs, and after a group's
// butterfly lanes 0 and 1 rotate its two pairs into q_out or the paged cache (kv_rope.cuh's
// operations, as qkv_rope_store). Before its wait such a GEMV can also prefetch the step's
// K/V into L2 for the decode attention (prefetch_kv, RopeStore::block_tables).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/kernels/cuda/cuda_linear.h"  // RopeStore
#include "engine/kernels/cuda/gemv_i8.cuh"
#include "engine/kernels/cuda/kv_rope.cuh"
#include "engine/kernels/cuda/weight_load.cuh"

namespace mlxm::engine::cuda::gemv_rope {

using detail::GemvRope;

// The device form of a RopeStore.
inline GemvRope of(const RopeStore& r) {
  return {r.positions, r.inv_freq, r.slots, r.kv.k, r.kv.v, kv_rope::code_of(r.kv.dtype),
          r.kv.n_blocks * r.kv.block_size, r.q_out, r.n_heads, r.kv.n_kv_heads, r.kv.head_dim,
          r.block_tables, r.context_lens, r.max_blocks, r.kv.block_size};
}

// RopeStore's K/V prefetch, by one of n_workers threads (worker w): the K and V blocks of
// each row's context, line i of them (128 bytes) by worker i mod n_workers, each one
// prefetch.global.L2. Workers should be numbered so that consecutive ones sit in different
// warps, spread over the SMs. The tables and lengths are read through L2 only (ld.global.cg),
// so no line of them stays in L1 for reads after the step's inputs are ready.
__device__ __forceinline__ void prefetch_kv(const GemvRope& R, int n, int worker, int n_workers) {
  constexpr int kLine = 128;
  if (R.tables == nullptr || R.block_size <= 0) return;
  const int elt = R.dt == kv_rope::kF32 ? 4 : 2;
  const int64_t block_bytes =
      int64_t{R.block_size} * R.n_kv_heads * R.head_dim * elt;  // one block of K (or V)
  if (block_bytes % kLine != 0) return;
  const int64_t n_blocks = R.n_slots / R.block_size;
  const int64_t lines = block_bytes / kLine;  // per block of K (or V)
  int64_t first = 0;  // the row's first line in the numbering over all rows
  for (int j = 0; j < n; ++j) {
    const int ctx = __ldcg(R.ctx + j);
    const int64_t nb = min(static_cast<int64_t>(R.max_blocks),
                           (static_cast<int64_t>(max(ctx, 0)) + R.block_size - 1) / R.block_size);
    const int64_t row_lines = nb * 2 * lines;
    for (int64_t i = ((worker - first) % n_workers + n_workers) % n_workers; i < row_lines;
         i += n_workers) {
      const int64_t bi = i / (2 * lines);
      const int64_t in = i - bi * 2 * lines;  // K lines, then V lines
      const int blk = __ldcg(R.tables + static_cast<int64_t>(j) * R.max_blocks + bi);
      if (blk < 0 || blk >= n_blocks) continue;
      const char* base = static_cast<const char*>(in < lines ? R.kc : R.vc);
      const char* src = base + blk * block_bytes + (in % lines) * kLine;
      asm volatile("prefetch.global.L2 [%0];" ::"l"(src));
    }
    first += row_lines;
  }
}

// Row r (0..3) of 4-row group g: 4g + r, or with RoPE (quarter = head_dim/4 > 0) the dims
// (d, d + 1, d + half, d + 1 + half) of head g / quarter, d = 2·(g mod quarter).
template <bool ROPE>
__device__ __forceinline__ int group_row(int g, int r, int quarter) {
  if constexpr (!ROPE) return g * 4 + r;
  const int head = g / quarter;
  const int d = 2 * (g - head * quarter);
  return head * 4 * quarter + d + (r & 1) + (r >> 1) * 2 * quarter;
}

// The RoPE epilogue for token j of group g: pair p (0 or 1) of the group, (x1, x2) its dims
// (d + p, d + p + half) with the bias added.
__device__ __forceinline__ void rope_pair(const GemvRope& R, int g, int quarter, int j, int p,
                                          float x1, float x2) {
  const int hd = 4 * quarter, half = 2 * quarter;
  const int head = g / quarter;
  const int i = 2 * (g - head * quarter) + p;
  if (head < R.n_heads) {
    float* o = R.q_out + (static_cast<int64_t>(j) * R.n_heads + head) * hd;
    kv_rope::rotate(x1, x2, static_cast<float>(R.positions[j]), R.inv_freq[i], o[i], o[i + half]);
    return;
  }
  const int64_t slot = R.slots[j];
  if (slot < 0 || slot >= R.n_slots) return;  // not stored (as qkv_rope_store)
  const bool is_k = head < R.n_heads + R.n_kv_heads;
  const int kvh = head - R.n_heads - (is_k ? 0 : R.n_kv_heads);
  const int64_t base = (slot * R.n_kv_heads + kvh) * static_cast<int64_t>(hd);
  if (is_k) {
    float y1, y2;
    kv_rope::rotate(x1, x2, static_cast<float>(R.positions[j]), R.inv_freq[i], y1, y2);
    kv_rope::store(R.kc, R.dt, base + i, y1);
    kv_rope::store(R.kc, R.dt, base + i + half, y2);
  } else {
    kv_rope::store(R.vc, R.dt, base + i, x1);
    kv_rope::store(R.vc, R.dt, base + i + half, x2);
  }
}

// The end of 4-row group g: each acc[r][j] summed over the warp's lanes (then zeroed for the
// next group), bias added, lane 0 storing y (n, n_out) for rows < n_out and activation rows
// j < n; with ROPE lanes 0 and 1 also rotate the group's pairs (rope_pair). Every lane calls it.
template <int NR, bool ROPE>
__device__ __forceinline__ void store_group(float (&acc)[4][NR], int g, int quarter, int n,
                                            int n_out, const float* __restrict__ bias,
                                            float* __restrict__ y, const GemvRope& rope,
                                            int lane) {
  if constexpr (!ROPE) {
    const int row0 = g * 4;
#pragma unroll
    for (int r = 0; r < 4; ++r) {
#pragma unroll
      for (int j = 0; j < NR; ++j) {
        const float v = weights::warp_allsum(acc[r][j]);
        acc[r][j] = 0.0f;
        const int row = row0 + r;
        if (lane == 0 && row < n_out && j < n) {
          y[static_cast<size_t>(j) * n_out + row] = v + (bias != nullptr ? bias[row] : 0.0f);
        }
      }
    }
  } else {
#pragma unroll
    for (int j = 0; j < NR; ++j) {
      float out[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const float v = weights::warp_allsum(acc[r][j]);
        acc[r][j] = 0.0f;
        const int row = group_row<ROPE>(g, r, quarter);
        const bool ok = row < n_out && j < n;
        out[r] = ok ? v + (bias != nullptr ? bias[row] : 0.0f) : 0.0f;
        if (lane == 0 && ok) y[static_cast<size_t>(j) * n_out + row] = out[r];
      }
      if (lane < 2 && j < n) {
        rope_pair(rope, g, quarter, j, lane, lane == 0 ? out[0] : out[1],
                  lane == 0 ? out[2] : out[3]);
      }
    }
  }
}

}  // namespace mlxm::engine::cuda::gemv_rope
