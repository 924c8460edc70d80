// Internal to kernels/cuda: the int8-activation (dp4a) GEMV for MLX affine 4/8-bit weights
// (gemv_i8.cu), used by CudaLinear::forward for few rows when ForwardOptions::gemv_i8 is set
// and a scratch buffer is given.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/status.h"
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
};

// n 1..8, n_in a multiple of 32.
struct GemvI8Args : QuantLinearArgs {
  void* scratch = nullptr;       // >= gemv_i8_scratch_bytes(n_in) bytes, 16-byte aligned
  bool x_ready = false;          // the scratch already holds x quantized (quant_rows.cuh): no
                                 // quantize launch, x unread
  bool stream = false;           // the weight-stream kernel (gemv_stream.cu) for the GEMV
  bool bulk = false;             // stream only: its weights by bulk copies (gemv_bulk.cu) where
                                 // gemv_bulk_supported
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

// The GEMV of launch_gemv_i8 as a weight stream (gemv_stream.cu), x quantized at xq / xds.
Status launch_gemv_stream(const GemvI8Args& a, const uint4* xq, const float2* xds,
                          cudaStream_t stream);

// Whether gemv_bulk.cu takes this layer (n_in a multiple of 4 · group_size).
bool gemv_bulk_supported(const GemvI8Args& a);
// The stream GEMV with bulk-copied weights (gemv_bulk.cu); rows bit-identical to it.
Status launch_gemv_bulk(const GemvI8Args& a, const uint4* xq, const float2* xds,
                        cudaStream_t stream);

}  // namespace mlxm::engine::cuda::detail
