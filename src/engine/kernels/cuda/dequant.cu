// Operand preparation for the cuBLASLt path (dequant.cuh).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/dequant.cuh"
#include "engine/kernels/cuda/linear_args.cuh"
#include "engine/kernels/cuda/weight_load.cuh"

namespace mlxm::engine::cuda::detail {
namespace {

using weights::BF16Tag;
using weights::code_f;
using weights::F16Tag;
using weights::half_bits_to_f;
using weights::pack2;

// One thread per 16-byte chunk of codes of rows [r0, r0 + rows): kCodes values of the operand
// type, written as kCodes/8 16-byte stores at out[(row − r0)·n_in + chunk·kCodes].
template <int BITS, typename Tag>
__global__ void dequant_rows_kernel(const uint4* __restrict__ w, const uint32_t* __restrict__ sb,
                                    int64_t n_in, int group_shift, int64_t r0, int64_t rows,
                                    uint4* __restrict__ out) {
  constexpr int kCodes = 128 / BITS;  // codes per 16-byte chunk
  constexpr int kPer = 32 / BITS;     // codes per u32 word
  const int64_t cpr = n_in / kCodes;  // chunks per row
  const int64_t n_groups = n_in >> group_shift;
  const int64_t total = rows * cpr;
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < total;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = c / cpr;
    const int64_t cc = c - r * cpr;
    const int64_t row = r0 + r;
    const int64_t k0 = cc * kCodes;
    const uint4 wv = weights::ld_stream(w + row * cpr + cc);
    const uint32_t sbv = __ldg(sb + row * n_groups + (k0 >> group_shift));
    const float s = half_bits_to_f(sbv, Tag{});
    const float b = half_bits_to_f(sbv >> 16, Tag{});
    const uint32_t words[4] = {wv.x, wv.y, wv.z, wv.w};
    uint32_t packed[kCodes / 2];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
#pragma unroll
      for (int e = 0; e < kPer; e += 2) {
        packed[(q * kPer + e) / 2] = pack2(fmaf(s, code_f<BITS>(words[q], e), b),
                                           fmaf(s, code_f<BITS>(words[q], e + 1), b), Tag{});
      }
    }
    // 2 bytes per value: kCodes values = kCodes/8 uint4s; rows are n_in/8 uint4s apart.
    uint4* dst = out + r * (n_in / 8) + cc * (kCodes / 8);
#pragma unroll
    for (int v = 0; v < kCodes / 8; ++v) {
      dst[v] = make_uint4(packed[4 * v], packed[4 * v + 1], packed[4 * v + 2], packed[4 * v + 3]);
    }
  }
}

template <typename Tag>
__global__ void round_operand_kernel(const float4* __restrict__ x, uint2* __restrict__ out,
                                     int64_t count4) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count4;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float4 v = x[i];
    out[i] = make_uint2(pack2(v.x, v.y, Tag{}), pack2(v.z, v.w, Tag{}));
  }
}

__global__ void add_bias_kernel(float* __restrict__ y, const float* __restrict__ bias,
                                int64_t total, int64_t n_out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    y[i] += bias[i % n_out];
  }
}

// Grid-stride launches: enough 256-thread blocks for `items`, at most 64K blocks.
unsigned grid_for(int64_t items) {
  return static_cast<unsigned>(std::clamp<int64_t>((items + 255) / 256, 1, 65536));
}

template <int BITS, typename Tag>
Status launch_dequant(const uint4* w, const uint32_t* sb, int64_t n_in, int group_size,
                      int64_t r0, int64_t rows, void* out, cudaStream_t stream) {
  const int64_t chunks = rows * (n_in / (128 / BITS));
  dequant_rows_kernel<BITS, Tag><<<grid_for(chunks), 256, 0, stream>>>(
      w, sb, n_in, detail::log2_exact(group_size), r0, rows, static_cast<uint4*>(out));
  MLXM_CUDA_CHECK_LAUNCH("dequant_rows_kernel");
  return ok_status();
}

}  // namespace

Status launch_dequant_rows(const uint4* w, const uint32_t* sb, int64_t n_out, int64_t n_in,
                           int bits, int group_size, bool f16, int64_t r0, int64_t r1, void* out,
                           cudaStream_t stream) {
  if (bits != 4 && bits != 8) return invalid_argument("dequant: 4 or 8 bits only");
  if (group_size != 32 && group_size != 64 && group_size != 128) {
    return invalid_argument("dequant: group_size must be 32, 64 or 128");
  }
  if (n_in <= 0 || n_in % 32 != 0 || n_in % group_size != 0) {
    return invalid_argument("dequant: n_in must be a positive multiple of 32 and of group_size");
  }
  if (r0 < 0 || r1 > n_out || r0 > r1) return invalid_argument("dequant: bad row range");
  if (reinterpret_cast<uintptr_t>(out) % 16 != 0) {
    return invalid_argument("dequant: output must be 16-byte aligned");
  }
  if (r0 == r1) return ok_status();
  const int64_t rows = r1 - r0;
  if (bits == 4) {
    return f16 ? launch_dequant<4, F16Tag>(w, sb, n_in, group_size, r0, rows, out, stream)
               : launch_dequant<4, BF16Tag>(w, sb, n_in, group_size, r0, rows, out, stream);
  }
  return f16 ? launch_dequant<8, F16Tag>(w, sb, n_in, group_size, r0, rows, out, stream)
             : launch_dequant<8, BF16Tag>(w, sb, n_in, group_size, r0, rows, out, stream);
}

Status launch_round_operand(const float* x, void* out, int64_t count, bool f16,
                            cudaStream_t stream) {
  if (count % 4 != 0 || reinterpret_cast<uintptr_t>(x) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(out) % 8 != 0) {
    return invalid_argument("round_operand: count % 4, x 16-byte and out 8-byte alignment");
  }
  if (count == 0) return ok_status();
  const int64_t count4 = count / 4;
  const auto* x4 = reinterpret_cast<const float4*>(x);
  auto* o2 = static_cast<uint2*>(out);
  if (f16) {
    round_operand_kernel<F16Tag><<<grid_for(count4), 256, 0, stream>>>(x4, o2, count4);
  } else {
    round_operand_kernel<BF16Tag><<<grid_for(count4), 256, 0, stream>>>(x4, o2, count4);
  }
  MLXM_CUDA_CHECK_LAUNCH("round_operand_kernel");
  return ok_status();
}

Status launch_add_bias(float* y, const float* bias, int64_t n, int64_t n_out,
                       cudaStream_t stream) {
  const int64_t total = n * n_out;
  if (total <= 0) return ok_status();
  add_bias_kernel<<<grid_for(total), 256, 0, stream>>>(y, bias, total, n_out);
  MLXM_CUDA_CHECK_LAUNCH("add_bias_kernel");
  return ok_status();
}

}  // namespace mlxm::engine::cuda::detail
