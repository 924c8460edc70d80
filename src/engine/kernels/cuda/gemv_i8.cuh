// Internal to kernels/cuda: the int8-activation (dp4a) GEMV for MLX affine 4/8-bit weights
// (gemv_i8.cu), used by CudaLinear::forward for few rows when ForwardOptions::gemv_i8 is set
// and a scratch buffer is given.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "engine/kernels/cuda/bulk_copy.cuh"  // device_has_bulk_copy
#include "engine/kernels/cuda/linear_args.cuh"
#include "engine/kernels/cuda/weight_load.cuh"  // F16Tag, BF16Tag

namespace mlxm::engine::cuda::detail {

// ForwardOptions::rope_store on the device (q_out null: none): the stream GEMV of a fused
// q/k/v projection ropes q into q_out and k, v into the paged cache (gemv_stream.cu).
struct GemvRope {
  const int32_t* positions = nullptr;  // (n)
  const float* inv_freq = nullptr;     // (head_dim/2)
  const int32_t* slots = nullptr;      // (n)
  void* kc = nullptr;
  void* vc = nullptr;
  int dt = 0;  // kv_rope::Code
  int64_t n_slots = 0;
  float* q_out = nullptr;  // (n, n_heads, head_dim)
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  // RopeStore's K/V prefetch (tables null: none).
  const int32_t* tables = nullptr;  // (n, max_blocks)
  const int32_t* ctx = nullptr;     // (n)
  int max_blocks = 0, block_size = 0;
};

// n 1..8, n_in a multiple of 32.
struct GemvI8Args : QuantLinearArgs {
  void* scratch = nullptr;       // >= gemv_i8_scratch_bytes(n_in) bytes, 16-byte aligned
  bool x_ready = false;          // the scratch already holds x quantized (quant_rows.cuh): no
                                 // quantize launch, x unread
  bool stream = false;           // the weight-stream kernel (gemv_stream.cu) for the GEMV
  bool bulk = false;             // stream only: its weights by bulk copies (gemv_bulk.cu); set
                                 // only where CudaLinear::uses_gemv_bulk (width and device)
  bool evict_first = false;      // bulk only: weights copied with an L2 evict_first policy
  int* ticket = nullptr;         // bulk only: the layer's group counter (one int, zero between
                                 // launches, which must not overlap); null: groups by warp
  bool deep = false;             // bulk only: 4-slot rings (set where gemv_bulk_deep_fits)
  GemvRope rope;                 // stream only
};

// Two launches on `stream`: x quantized into the scratch (unless x_ready), then the GEMV.
Status launch_gemv_i8(const GemvI8Args& a, cudaStream_t stream);

// f.template operator()<BITS, Tag>() for a's weight format: 4 or 8 bits, F16 or BF16 scales.
template <typename F>
Status dispatch_format(const GemvI8Args& a, F&& f) {
  if (a.bits == 4) {
    return a.f16 ? f.template operator()<4, weights::F16Tag>()
                 : f.template operator()<4, weights::BF16Tag>();
  }
  return a.f16 ? f.template operator()<8, weights::F16Tag>()
               : f.template operator()<8, weights::BF16Tag>();
}

// f.template operator()<NR, ROPE>() for the stream kernels' instantiations: NR activation
// rows (1-6, or 8 for 7 and 8; at least a.n) and the RoPE epilogue when a.rope asks for it.
// On the next larger kernel a 3-sequence step took a 4-sequence step's time, and 5 and 6 rows
// on the 8-row one lost 21-27 % and 10-15 %; a 7-row kernel ran as the 8-row one (bench/NOTES.md
// runs 157, 161, 162).
template <typename F>
Status dispatch_rows(const GemvI8Args& a, F&& f) {
  if (a.rope.q_out != nullptr) {
    if (a.n == 1) return f.template operator()<1, true>();
    if (a.n == 2) return f.template operator()<2, true>();
    if (a.n == 3) return f.template operator()<3, true>();
    if (a.n == 4) return f.template operator()<4, true>();
    if (a.n == 5) return f.template operator()<5, true>();
    if (a.n == 6) return f.template operator()<6, true>();
    return f.template operator()<8, true>();
  }
  if (a.n == 1) return f.template operator()<1, false>();
  if (a.n == 2) return f.template operator()<2, false>();
  if (a.n == 3) return f.template operator()<3, false>();
  if (a.n == 4) return f.template operator()<4, false>();
  if (a.n == 5) return f.template operator()<5, false>();
  if (a.n == 6) return f.template operator()<6, false>();
  return f.template operator()<8, false>();
}

// f.template operator()<BITS, Tag, NR, ROPE>() for a's format and rows (dispatch_format, then
// dispatch_rows): the stream kernels' launchers.
template <typename F>
Status dispatch_stream(const GemvI8Args& a, F&& f) {
  return dispatch_format(a, [&]<int BITS, typename Tag>() {
    return dispatch_rows(a, [&]<int NR, bool ROPE>() {
      return f.template operator()<BITS, Tag, NR, ROPE>();
    });
  });
}

// Blocks of a persistent stream GEMV launch: enough for every 4-row group to have a warp
// (`warps` group-walking warps per block), at most blocks_per_sm per SM.
unsigned stream_blocks(int n_out, int warps, int blocks_per_sm);

// The GEMV of launch_gemv_i8 as a weight stream (gemv_stream.cu), x quantized at xq / xds.
Status launch_gemv_stream(const GemvI8Args& a, const uint4* xq, const float2* xds,
                          cudaStream_t stream);

// Whether gemv_bulk.cu takes a layer of this width and group size: n_in a multiple of
// 4 · group_size (a piece's (scale, bias) words fill 16-byte copies).
inline bool gemv_bulk_supported(int64_t n_in, int group_size) {
  return group_size >= 32 && n_in % (4 * int64_t{group_size}) == 0;
}

// device_has_bulk_copy() (bulk_copy.cuh) says whether device 0 can take it.
// The stream GEMV with bulk-copied weights (gemv_bulk.cu); rows bit-identical to it.
Status launch_gemv_bulk(const GemvI8Args& a, const uint4* xq, const float2* xds,
                        cudaStream_t stream);

// Whether the bulk GEMV can run a layer of this shape with 4-slot rings
// (ForwardOptions::gemv_bulk_deep): more than 3 pieces per 4-row group (n_in above 6,144
// 4-bit or 3,072 8-bit values) and at most one group per consumer warp at 3 blocks per SM.
bool gemv_bulk_deep_fits(int64_t n_out, int64_t n_in, int bits);

}  // namespace mlxm::engine::cuda::detail
