// Internal to kernels/cuda, host only (no CUDA include): how the batched-decode GEMM
// (gemm_decode.cu) runs a call, or that the 64x64 GEMM takes it instead. Split out of the
// launcher so that the choice, measured on the H200 (bench/NOTES.md, runs 25-29), is tested on
// any machine (tests/engine/kernels/cuda/gemm_decode_plan_test.cpp).
#pragma once

#include <cstddef>

#include "engine/kernels/cuda/cuda_linear.h"

namespace mlxm::engine::cuda::detail {

inline constexpr int kDecodeGemmK = 64;         // K per tile
inline constexpr int kDecodeGemmBN = 128;       // output rows per block
inline constexpr int kDecodeGemmMaxRows = 64;   // activation rows per call

struct DecodeGemmPlan {
  bool use = false;           // false: the 64x64 GEMM takes the call (`why` says why)
  const char* why = "";
  int row_class = 16;         // the instantiation: 16, 32 or 64 activation rows
  int kpad = 0;               // n_in rounded up to the K-tile
  int kz = 1;                 // K splits (grid.y); partial sums after x in the workspace
  int tiles_per_split = 0;    // K-tiles per split
  int warps = 4;              // per block: 4 of 32 output rows, or 8 of 16
  size_t x_floats = 0;        // workspace floats at its head holding the rounded x (64 rows)
};

// Workspace floats the decode GEMM needs for a layer at kz K-splits and a row class (16, 32 or
// 64): x rounded to 16 bits for 64 rows of K padded to 64 (256-byte aligned), then
// kz·row_class·n_out partial sums when kz > 1.
size_t gemm_decode_workspace_floats(int n_out, int n_in, int kz, int row_class = 64);

// The plan for y (n, n_out) = x (n, n_in) · Wᵀ under `mode` (cuda_linear.h GemmDecode: kOff
// never the decode GEMM, kAuto where it measured faster, kAlways whenever the call
// qualifies). Qualifies: 4-bit weights, groups of 32/64/128, 1..64 rows, n_in % 32 == 0, a
// workspace of at least the x part. kz (at most 16, partial sums for the row class fitting
// the workspace): at 17-64 rows up to one wave of 4 blocks per SM, each split >= 8 K-tiles; at
// 1-16 rows the kz whose busiest SM finishes first (splits >= 4 K-tiles, at most 4 blocks at
// a time per SM).
// Warps: 8 at 1-16 rows; at 17-32 rows 8 when the blocks fit one wave of 3 per SM, else 4; 4 at
// 33-64 rows. kz and warps depend on the layer, the row class and the SM count, never on n
// within a class. Auto leaves to the 64x64 GEMM the layers with fewer blocks than SMs and,
// above 32 rows, those with fewer than two blocks (128-row tiles times kz) per SM.
DecodeGemmPlan plan_gemm_decode(int n, int n_out, int n_in, int bits, int group_size,
                                size_t workspace_floats, GemmDecode mode, int sm_count);

}  // namespace mlxm::engine::cuda::detail
