#include "engine/kernels/cuda/gemm_decode_plan.h"

#include <algorithm>
#include <cstdint>

namespace mlxm::engine::cuda::detail {
namespace {

size_t align256(size_t b) { return (b + 255) / 256 * 256; }

int padded_k(int n_in) { return (n_in + kDecodeGemmK - 1) / kDecodeGemmK * kDecodeGemmK; }

DecodeGemmPlan rejected(const char* why) {
  DecodeGemmPlan p;
  p.why = why;
  return p;
}

// Splits at 1-16 rows (8-warp blocks, 4 resident per SM): the kz whose busiest SM finishes
// first, modelled as ceil(blocks / SMs) blocks of tiles_per_split + 2 K-tiles each (the 2: a
// block's ring fill and partial-sum store), at most 4 at a time; splits keep 4 K-tiles. Forced
// splits per call at 16 rows (bench/NOTES.md run 205, 8B, µs): qkv kz 8 / 11 14.92 / 13.66,
// o 8 / 16 13.85 / 10.49, gate+up 2 / 4 46.69 / 42.99; down best at 16, as before.
int splits_16(int64_t tiles, int k_tiles, int64_t sms) {
  int best = 1;
  double best_cost = 0.0;
  for (int kz = 1; kz <= 16; ++kz) {
    const int tps = (k_tiles + kz - 1) / kz;
    if (kz > 1 && tps < 4) break;
    if ((k_tiles + tps - 1) / tps != kz) continue;  // the same splits as a smaller kz
    const int64_t per_sm = (tiles * kz + sms - 1) / sms;
    const double cost = static_cast<double>(per_sm) * (tps + 2) /
                        static_cast<double>(std::min<int64_t>(per_sm, 4));
    if (kz == 1 || cost < best_cost) {
      best = kz;
      best_cost = cost;
    }
  }
  return best;
}

}  // namespace

size_t gemm_decode_workspace_floats(int n_out, int n_in, int kz, int row_class) {
  const size_t x_bytes =
      static_cast<size_t>(kDecodeGemmMaxRows) * static_cast<size_t>(padded_k(n_in)) * 2;
  const size_t x_floats = align256(x_bytes) / 4;
  return x_floats + (kz > 1 ? static_cast<size_t>(kz) * row_class * static_cast<size_t>(n_out) : 0);
}

DecodeGemmPlan plan_gemm_decode(int n, int n_out, int n_in, int bits, int group_size,
                                size_t workspace_floats, GemmDecode mode, int sm_count) {
  if (mode == GemmDecode::kOff) return rejected("the decode GEMM is off");
  if (bits != 4 || n < 1 || n > kDecodeGemmMaxRows || n_out < 1 || n_in < 32 || n_in % 32 != 0 ||
      (group_size != 32 && group_size != 64 && group_size != 128)) {
    return rejected("the decode GEMM takes 4-bit weights and 1..64 rows only");
  }
  if (gemm_decode_workspace_floats(n_out, n_in, 1) > workspace_floats) {
    return rejected("no workspace, or too small for the rounded x");
  }
  DecodeGemmPlan p;
  p.row_class = n <= 16 ? 16 : n <= 32 ? 32 : 64;
  p.kpad = padded_k(n_in);
  p.x_floats = gemm_decode_workspace_floats(n_out, n_in, 1);
  const int k_tiles = p.kpad / kDecodeGemmK;
  const int64_t tiles = (n_out + kDecodeGemmBN - 1) / kDecodeGemmBN;
  const int64_t sms = std::max(1, sm_count);
  // At 17-64 rows splits aim at one wave of 4 blocks per SM, each keeping 8 K-tiles. At 1-16
  // rows splits_16 chooses them (run 206 against that rule: 8B x 16 +1.9 %, 8B x 12 +4.0 %,
  // 3B x 16 -0.6 %). Partial sums are sized for the class's rows, so the workspace does not
  // cut 8B gate+up below 64 rows.
  constexpr int64_t kBlocksPerSm = 4;
  int kz = p.row_class == 16
               ? splits_16(tiles, k_tiles, sms)
               : std::min(static_cast<int>(std::clamp<int64_t>(sms * kBlocksPerSm / tiles, 1, 16)),
                          std::max(1, k_tiles / 8));
  while (kz > 1 && gemm_decode_workspace_floats(n_out, n_in, kz, p.row_class) > workspace_floats) {
    --kz;
  }
  // Where the 64x64 GEMM measured faster on the H200: fewer blocks than SMs (runs 25-27;
  // forcing kz to 1/3/4 at 8B x 64 measured 6,333 / 7,570 / 7,584 tok/s against 7,558 with this
  // rule, run 29) and, above 32 rows, fewer than two blocks per SM (run 185: 8B o_proj's 256
  // blocks 25.9 against 22.4 µs; qkv's 384 29.2 against 36.6).
  if (mode == GemmDecode::kAuto &&
      (tiles * kz < sms || (p.row_class == 64 && tiles * kz < 2 * sms))) {
    return rejected("the 64x64 GEMM measured faster for this layer and row count");
  }
  p.tiles_per_split = (k_tiles + kz - 1) / kz;
  p.kz = (k_tiles + p.tiles_per_split - 1) / p.tiles_per_split;
  // 8 warps of 16 output rows double the warps per SM of a grid below one wave (run 197: 16
  // rows, per call -6 to -7 %). At 32 rows they take 72 registers (3 blocks per SM) and win
  // only where the grid fits one wave of those (run 198, µs per call, 4 / 8 warps: 8B qkv 384
  // blocks 18.6 / 16.4, o 256 blocks 16.8 / 15.1; gate+up 448 blocks 54.6 / 62.7, down 512
  // blocks 30.2 / 36.0).
  const bool one_wave_of_3 = tiles * p.kz <= 3 * sms;
  p.warps = p.row_class == 16 || (p.row_class == 32 && one_wave_of_3) ? 8 : 4;
  p.use = true;
  return p;
}

}  // namespace mlxm::engine::cuda::detail
