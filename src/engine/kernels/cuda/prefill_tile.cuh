// Internal to kernels/cuda: what the two prefill attention kernels (attention_prefill.cu in f32,
// attention_prefill_mma.cu on tensor cores) share about a tile, so both read the host's tiles,
// rows and block tables the same way (paged_attention_prefill in cuda_ops.h).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace mlxm::engine::cuda::prefill_tile {

// Block blockIdx.x's tile (tiles: (n_tiles, 3) {first token, token count, table token}): row r
// (< rows) is query head kvh·group + r % group of token first + r / group.
struct Tile {
  int first = 0;
  int group = 1;
  int rows = 0;  // count · group, at most max_rows (the host never builds larger tiles)
  const int32_t* table = nullptr;  // the block table row of the tile's table token
};

__device__ __forceinline__ Tile tile_of(const int32_t* __restrict__ tiles,
                                        const int32_t* __restrict__ block_tables, int max_blocks,
                                        int n_heads, int n_kv_heads, int max_rows) {
  Tile t;
  t.first = tiles[3 * blockIdx.x];
  t.group = n_heads / n_kv_heads;
  t.rows = min(tiles[3 * blockIdx.x + 1] * t.group, max_rows);
  t.table = block_tables + static_cast<size_t>(tiles[3 * blockIdx.x + 2]) * max_blocks;
  return t;
}

// Offset of row r's head_dim values in q / out (n_tokens, n_heads, head_dim).
__device__ __forceinline__ size_t row_offset(const Tile& t, int r, int kvh, int n_heads, int hd) {
  const size_t tok = static_cast<size_t>(t.first + r / t.group);
  const int h = kvh * t.group + r % t.group;
  return (tok * n_heads + h) * hd;
}

// Values 4·c4 .. 4·c4 + 3 of row r's query (q (n_tokens, n_heads, hd) f32, 16-byte aligned
// rows); zeros past the tile's rows or past the row's hd4 = hd / 4 chunks.
__device__ __forceinline__ float4 q_chunk(const float* __restrict__ q, const Tile& t, int r,
                                          int c4, int hd4, int kvh, int n_heads, int hd) {
  float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
  if (r < t.rows && c4 < hd4) {
    v = *reinterpret_cast<const float4*>(q + row_offset(t, r, kvh, n_heads, hd) + c4 * 4);
  }
  return v;
}

// Row r's context length (0 past the tile's rows).
__device__ __forceinline__ int row_context(const Tile& t, int r,
                                           const int32_t* __restrict__ context_lens) {
  return r < t.rows ? context_lens[t.first + r / t.group] : 0;
}

// The cache slot of position p (block · block_size + offset), or -1 where the table's block id
// is past the table's width or outside the cache (never read: the caller marks the rows NaN).
__device__ __forceinline__ int64_t slot_of(const Tile& t, int p, int max_blocks, int block_size,
                                           int64_t n_blocks) {
  const int bi = p / block_size;
  const int64_t blk = bi < max_blocks ? t.table[bi] : -1;
  if (blk < 0 || blk >= n_blocks) return -1;
  return blk * block_size + p % block_size;
}

}  // namespace mlxm::engine::cuda::prefill_tile
