// Internal to kernels/cuda: tensor maps (TMA descriptors) of a quantized linear's codes and
// (scale, bias) words, for gemv_bulk.cu's tensor-copy path (ForwardOptions::gemv_bulk_tma):
// one cp.async.bulk.tensor per array brings a step's 4 rows × one piece, where the plain bulk
// path issues one copy per row and array (8 per step). Rows past n_out and units past n_in come
// back as zeros (the consumers never use them). Host code; the maps live in device memory
// (written before any launch that reads them), so a launch passes one pointer.
#pragma once

#include <cuda.h>  // CUtensorMap (types only: the encoder is looked up at run time)

#include <cstdint>

#include "core/status.h"

namespace mlxm::engine::cuda::detail {

constexpr int kBulkTmaRows = 4;          // rows per box: gemv_bulk.cu's 4-row group
constexpr int kBulkTmaCodeWords = 128;   // u64 elements per row and box: a 1 KB piece

struct BulkTma {
  CUtensorMap codes;  // (n_out, n_in·bits/64) u64, box kBulkTmaRows × kBulkTmaCodeWords
  CUtensorMap words;  // (n_out, n_in/group) u32 (scale, bias) pairs, box kBulkTmaRows × a
                      // piece's groups (piece_words)
};

// A piece's (scale, bias) words per row: 1 KB of codes is 2048 values at 4 bits, 1024 at 8.
inline int bulk_tma_piece_words(int bits, int group_size) {
  return (bits == 4 ? 2048 : 1024) / group_size;
}

// Fills *m for the codes w (n_out, n_in·bits/32 u32) and words sb (n_out, n_in/group) of a
// layer gemv_bulk takes (bits 4 or 8, n_in a multiple of 4·group_size, 16-byte aligned device
// pointers). kUnimplemented when the driver has no cuTensorMapEncodeTiled; kInvalidArgument
// when it rejects the shapes.
Status make_bulk_tma(const void* w, const void* sb, int64_t n_out, int64_t n_in, int bits,
                     int group_size, BulkTma* m);

}  // namespace mlxm::engine::cuda::detail
