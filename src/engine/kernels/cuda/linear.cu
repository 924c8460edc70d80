// CudaLinear: device copies of linear layers and the GEMV kernels (cuda_linear.h).
//
// Fast path (4/8 bits, F16/BF16 scales), per 16-byte chunk of one row (32 codes at 4 bits, 16
// at 8) that lies inside one quantization group:
//   Σ_i (s·c_i + b)·x_i = L·s·Σ_i m_i·x_i + (b − L·s)·Σ_i x_i,   L = 2^bits, m_i = 1 + c_i/L,
// where m_i is built exactly by OR-ing the code into the mantissa of 1.0f (a shift and a
// LOP3, no int→float conversion), so each code costs ~2 integer ops + one FFMA per
// activation row. Block = 8 warps: warp w takes rows (w >> wk_log2)*4 .. +3 of the block and
// chunks c ≡ lane (mod 32) of its K-slice (w & (wk−1)); partial sums meet in shared memory.
// The int8-activation GEMV (ForwardOptions::gemv_i8) lives in gemv_i8.cu.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/kernels/cuda/cublas_gemm.cuh"
#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/cuda_linear.h"
#include "engine/kernels/cuda/gemm.cuh"
#include "engine/kernels/cuda/gemm_decode_plan.h"
#include "engine/kernels/cuda/weight_load.cuh"
#include "engine/kernels/cuda/gemv_i8.cuh"
#include "engine/kernels/cuda/gemv_rope.cuh"

namespace mlxm::engine::cuda {

struct CudaLinear::Impl {
  int64_t n_out = 0;
  int64_t n_in = 0;
  int bits = 0;
  int group_size = 0;
  DType dtype = DType::kF32;
  bool fast = false;
  DeviceBuffer weight;  // codes (n_out, n_in*bits/32) u32, or dense (n_out, n_in) dtype
  DeviceBuffer sb;      // (n_out, n_groups, 2) dtype: (scale, bias) pairs
  DeviceBuffer bias;    // (n_out) f32 or empty
  // Layers the bulk GEMV takes, on sm_90+ (prepare_bulk; else empty): one int32, zero between
  // launches, its group counter (GemvI8Args::ticket). The one mutable part of a layer: calls
  // that use it must not overlap (cuda_linear.h, thread-safety).
  DeviceBuffer ticket;
};

namespace {

using weights::BF16Tag;
using weights::F16Tag;
using weights::half_bits_to_f;
using weights::ld_stream;
using weights::word_of;

constexpr int kWarps = 8;        // per block, both kernels
constexpr int kRowsPerWarp = 4;  // fast kernel
constexpr int kMaxRows = 8;      // activation rows per launch

enum DCode : int { kDF32 = 0, kDF16 = 1, kDBF16 = 2 };

int dtype_code(DType t) { return t == DType::kF16 ? kDF16 : (t == DType::kBF16 ? kDBF16 : kDF32); }

__device__ __forceinline__ float load_elem(int dt, const void* p, size_t i) {
  if (dt == kDF32) return __ldg(static_cast<const float*>(p) + i);
  const uint32_t raw = __ldg(static_cast<const unsigned short*>(p) + i);
  return dt == kDF16 ? half_bits_to_f(raw, F16Tag{}) : half_bits_to_f(raw, BF16Tag{});
}

// 1 + c/2^BITS, c = code E of the word (bits [E*BITS, (E+1)*BITS)), exact.
template <int BITS, int E>
__device__ __forceinline__ float code_m(uint32_t v) {
  constexpr int kPos = E * BITS;
  constexpr int kDst = 23 - BITS;  // the top BITS bits of the mantissa
  constexpr uint32_t kMask = ((1u << BITS) - 1u) << kDst;
  uint32_t t;
  if constexpr (kDst >= kPos) {
    t = v << (kDst - kPos);
  } else {
    t = v >> (kPos - kDst);
  }
  return __uint_as_float((t & kMask) | 0x3F800000u);
}

template <int BITS, int NR>
__device__ __forceinline__ void word_dot(uint32_t word, const float* xv, float& a) {
  constexpr int kPer = 32 / BITS;
  if constexpr (kPer == 8) {
    a = fmaf(code_m<BITS, 0>(word), xv[0], a);
    a = fmaf(code_m<BITS, 1>(word), xv[1], a);
    a = fmaf(code_m<BITS, 2>(word), xv[2], a);
    a = fmaf(code_m<BITS, 3>(word), xv[3], a);
    a = fmaf(code_m<BITS, 4>(word), xv[4], a);
    a = fmaf(code_m<BITS, 5>(word), xv[5], a);
    a = fmaf(code_m<BITS, 6>(word), xv[6], a);
    a = fmaf(code_m<BITS, 7>(word), xv[7], a);
  } else {
    a = fmaf(code_m<BITS, 0>(word), xv[0], a);
    a = fmaf(code_m<BITS, 1>(word), xv[1], a);
    a = fmaf(code_m<BITS, 2>(word), xv[2], a);
    a = fmaf(code_m<BITS, 3>(word), xv[3], a);
  }
}

template <int BITS, typename Tag, int NR>
__global__ void __launch_bounds__(kWarps * 32)
    gemv_fast_kernel(const uint4* __restrict__ w, const uint32_t* __restrict__ sb,
                     const float* __restrict__ bias, const float* __restrict__ x,
                     float* __restrict__ y, int n_out, int n_in, int n, int group_shift,
                     int wk_log2) {
  constexpr int kPer = 32 / BITS;   // codes per u32 word
  constexpr int kCodes = 4 * kPer;  // codes per 16-byte chunk
  constexpr float kLevels = static_cast<float>(1 << BITS);
  __shared__ float red[kWarps][kRowsPerWarp * NR];

  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int wk = 1 << wk_log2;
  const int kw = warp & (wk - 1);
  const int rw = warp >> wk_log2;
  const int rows_per_block = kRowsPerWarp * (kWarps >> wk_log2);
  const int row0 = blockIdx.x * rows_per_block + rw * kRowsPerWarp;
  const int n_chunks = n_in / kCodes;
  const int n_groups = n_in >> group_shift;

  const uint4* wr[kRowsPerWarp];
  const uint32_t* sbr[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int row = min(row0 + r, n_out - 1);  // rows past the end compute row n_out-1, unstored
    wr[r] = w + static_cast<size_t>(row) * n_chunks;
    sbr[r] = sb + static_cast<size_t>(row) * n_groups;
  }
  const float* xr[NR];
#pragma unroll
  for (int j = 0; j < NR; ++j) xr[j] = x + static_cast<size_t>(min(j, n - 1)) * n_in;

  float acc[kRowsPerWarp][NR];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
#pragma unroll
    for (int j = 0; j < NR; ++j) acc[r][j] = 0.0f;
  }

  for (int c = kw * 32 + lane; c < n_chunks; c += wk * 32) {
    uint4 wv[kRowsPerWarp];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) wv[r] = ld_stream(wr[r] + c);
    const int k0 = c * kCodes;
    const int g = k0 >> group_shift;
    uint32_t sbv[kRowsPerWarp];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) sbv[r] = __ldg(sbr[r] + g);

    float a[kRowsPerWarp][NR];
    float xs[NR];
#pragma unroll
    for (int j = 0; j < NR; ++j) {
      xs[j] = 0.0f;
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) a[r][j] = 0.0f;
    }
#pragma unroll
    for (int q = 0; q < 4; ++q) {
#pragma unroll
      for (int j = 0; j < NR; ++j) {
        float xv[kPer];
        const float4* xp = reinterpret_cast<const float4*>(xr[j] + k0 + q * kPer);
#pragma unroll
        for (int t = 0; t < kPer / 4; ++t) {
          const float4 f = __ldg(xp + t);
          xv[4 * t + 0] = f.x;
          xv[4 * t + 1] = f.y;
          xv[4 * t + 2] = f.z;
          xv[4 * t + 3] = f.w;
        }
#pragma unroll
        for (int e = 0; e < kPer; ++e) xs[j] += xv[e];
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) word_dot<BITS, NR>(word_of(wv[r], q), xv, a[r][j]);
      }
    }
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const float s = half_bits_to_f(sbv[r] & 0xFFFFu, Tag{});
      const float b = half_bits_to_f(sbv[r] >> 16, Tag{});
      const float ls = kLevels * s;
      const float bb = b - ls;
#pragma unroll
      for (int j = 0; j < NR; ++j) acc[r][j] = fmaf(ls, a[r][j], fmaf(bb, xs[j], acc[r][j]));
    }
  }

  weights::store_split_k_rows<kWarps, kRowsPerWarp, NR>(acc, red, wk_log2, bias, y, n_out, n);
}

// Any format: one warp per row, lanes stride over the columns; w = s·c + b per element.
__global__ void __launch_bounds__(kWarps * 32)
    gemv_generic_kernel(const void* __restrict__ w, const void* __restrict__ sb, int dt, int bits,
                        int group_size, const float* __restrict__ bias,
                        const float* __restrict__ x, float* __restrict__ y, int n_out, int n_in,
                        int n) {
  const int lane = threadIdx.x & 31;
  const int row = blockIdx.x * kWarps + (threadIdx.x >> 5);
  if (row >= n_out) return;
  float acc[kMaxRows];
#pragma unroll
  for (int j = 0; j < kMaxRows; ++j) acc[j] = 0.0f;
  const int n_groups = bits != 0 ? n_in / group_size : 0;
  const uint32_t* words =
      static_cast<const uint32_t*>(w) + static_cast<size_t>(row) * (static_cast<size_t>(n_in) * bits / 32);
  const uint32_t mask = bits != 0 ? (1u << bits) - 1u : 0u;
  for (int k = lane; k < n_in; k += 32) {
    float wv;
    if (bits == 0) {
      wv = load_elem(dt, w, static_cast<size_t>(row) * n_in + k);
    } else {
      const int64_t bit = static_cast<int64_t>(k) * bits;
      const int wi = static_cast<int>(bit >> 5);
      const int off = static_cast<int>(bit & 31);
      uint32_t c = __ldg(words + wi) >> off;
      if (off + bits > 32) c |= __ldg(words + wi + 1) << (32 - off);
      c &= mask;
      const size_t gi = (static_cast<size_t>(row) * n_groups + k / group_size) * 2;
      wv = fmaf(load_elem(dt, sb, gi), static_cast<float>(c), load_elem(dt, sb, gi + 1));
    }
#pragma unroll
    for (int j = 0; j < kMaxRows; ++j) {
      if (j < n) acc[j] = fmaf(wv, __ldg(x + static_cast<size_t>(j) * n_in + k), acc[j]);
    }
  }
#pragma unroll
  for (int j = 0; j < kMaxRows; ++j) {
    float v = acc[j];
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
    if (lane == 0 && j < n) {
      y[static_cast<size_t>(j) * n_out + row] = v + (bias != nullptr ? bias[row] : 0.0f);
    }
  }
}

// Embedding rows: out[j][k] = w[ids[j]][k] dequantized (same formula as the generic GEMV).
__global__ void gather_rows_kernel(const void* __restrict__ w, const void* __restrict__ sb, int dt,
                                   int bits, int group_size, const int32_t* __restrict__ ids,
                                   const int32_t* __restrict__ prev_ids, int64_t n, int n_out,
                                   int n_in, float* __restrict__ out) {
  const int64_t total = n * n_in;
  const int n_groups = bits != 0 ? n_in / group_size : 0;
  const uint32_t mask = bits != 0 ? (1u << bits) - 1u : 0u;
  for (int64_t it = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; it < total;
       it += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t row = ids[it / n_in];
    if (row < 0 && prev_ids != nullptr) row = prev_ids[-1 - row];
    const int k = static_cast<int>(it % n_in);
    if (row < 0 || row >= n_out) {
      out[it] = NAN;
      continue;
    }
    float wv;
    if (bits == 0) {
      wv = load_elem(dt, w, static_cast<size_t>(row) * n_in + k);
    } else {
      const uint32_t* words = static_cast<const uint32_t*>(w) +
                              static_cast<size_t>(row) * (static_cast<size_t>(n_in) * bits / 32);
      const int64_t bit = static_cast<int64_t>(k) * bits;
      const int wi = static_cast<int>(bit >> 5);
      const int off = static_cast<int>(bit & 31);
      uint32_t c = __ldg(words + wi) >> off;
      if (off + bits > 32) c |= __ldg(words + wi + 1) << (32 - off);
      c &= mask;
      const size_t gi = (static_cast<size_t>(row) * n_groups + k / group_size) * 2;
      wv = fmaf(load_elem(dt, sb, gi), static_cast<float>(c), load_elem(dt, sb, gi + 1));
    }
    out[it] = wv;
  }
}

template <int BITS, typename Tag, int NR>
Status launch_fast(const CudaLinear& m, const uint4* w, const uint32_t* sb, const float* bias,
                   const float* x, int n, float* y, cudaStream_t stream) {
  constexpr int kCodes = 128 / BITS;
  const int n_in = static_cast<int>(m.n_in());
  const int n_out = static_cast<int>(m.n_out());
  const int n_chunks = n_in / kCodes;
  // As many K-slices as keep every lane busy with at least one chunk.
  int wk_log2 = 3;
  while (wk_log2 > 0 && n_chunks < (32 << wk_log2)) --wk_log2;
  const int rows_per_block = kRowsPerWarp * (kWarps >> wk_log2);
  const unsigned blocks = static_cast<unsigned>((n_out + rows_per_block - 1) / rows_per_block);
  gemv_fast_kernel<BITS, Tag, NR><<<blocks, kWarps * 32, 0, stream>>>(
      w, sb, bias, x, y, n_out, n_in, n, detail::log2_exact(m.group_size()), wk_log2);
  MLXM_CUDA_CHECK_LAUNCH("gemv_fast_kernel");
  return ok_status();
}

template <int BITS, typename Tag>
Status launch_fast_rows(const CudaLinear& m, const uint4* w, const uint32_t* sb,
                        const float* bias, const float* x, int n, float* y, cudaStream_t s) {
  if (n == 1) return launch_fast<BITS, Tag, 1>(m, w, sb, bias, x, n, y, s);
  if (n == 2) return launch_fast<BITS, Tag, 2>(m, w, sb, bias, x, n, y, s);
  if (n <= 4) return launch_fast<BITS, Tag, 4>(m, w, sb, bias, x, n, y, s);
  return launch_fast<BITS, Tag, 8>(m, w, sb, bias, x, n, y, s);
}

// Same rules and messages as PackedLinear::pack.
Status validate(int64_t n_out, int64_t n_in, int bits, int group, DType dtype) {
  const std::string dims = "(" + std::to_string(n_out) + " x " + std::to_string(n_in) + ")";
  if (n_out <= 0 || n_in <= 0) return invalid_argument("linear: non-positive shape " + dims);
  if (n_out > (int64_t{1} << 31) - 1 || n_in > (int64_t{1} << 30)) {
    return invalid_argument("linear: shape too large " + dims);
  }
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16) {
    return invalid_argument(std::string("linear: unsupported dtype ") + dtype_name(dtype) +
                            " (want F32, F16 or BF16)");
  }
  if (bits == 0) return ok_status();
  if (bits != 2 && bits != 3 && bits != 4 && bits != 5 && bits != 6 && bits != 8) {
    return invalid_argument("linear: unsupported bits " + std::to_string(bits) +
                            " (want 2, 3, 4, 5, 6 or 8)");
  }
  if (group != 32 && group != 64 && group != 128) {
    return invalid_argument("linear: unsupported group_size " + std::to_string(group) +
                            " (want 32, 64 or 128)");
  }
  if (n_in % group != 0) {
    return invalid_argument("linear: n_in " + std::to_string(n_in) +
                            " not divisible by group_size " + std::to_string(group));
  }
  if ((n_in * bits) % 32 != 0) {
    return invalid_argument("linear: n_in " + std::to_string(n_in) + " at " +
                            std::to_string(bits) + " bits does not fill whole u32 words");
  }
  return ok_status();
}

bool fast_format(int bits, DType dtype) {
  return (bits == 4 || bits == 8) && (dtype == DType::kF16 || dtype == DType::kBF16);
}

}  // namespace

CudaLinear::CudaLinear() : impl_(std::make_unique<Impl>()) {}
CudaLinear::~CudaLinear() = default;
CudaLinear::CudaLinear(CudaLinear&&) noexcept = default;
CudaLinear& CudaLinear::operator=(CudaLinear&&) noexcept = default;

int64_t CudaLinear::n_out() const { return impl_->n_out; }
int64_t CudaLinear::n_in() const { return impl_->n_in; }
int CudaLinear::bits() const { return impl_->bits; }
int CudaLinear::group_size() const { return impl_->group_size; }
DType CudaLinear::dtype() const { return impl_->dtype; }
bool CudaLinear::fast_path() const { return impl_->fast; }
size_t CudaLinear::bytes() const { return impl_->weight.size() + impl_->sb.size(); }

Status CudaLinear::prepare_bulk() {
  Impl& m = *impl_;
  if (!m.fast || !detail::gemv_bulk_supported(m.n_in, m.group_size) ||
      !detail::device_has_bulk_copy()) {
    return ok_status();
  }
  const int32_t zero = 0;
  MLXM_ASSIGN_OR_RETURN(m.ticket, DeviceBuffer::from_host(&zero, sizeof(zero)));
  return ok_status();
}

Result<CudaLinear> CudaLinear::upload(const LinearSource& src) {
  MLXM_RETURN_IF_ERROR(validate(src.n_out, src.n_in, src.bits, src.group_size, src.dtype));
  if (src.weight == nullptr) return invalid_argument("linear: missing weight data");
  const bool quantized = src.bits != 0;
  if (quantized && (src.scales == nullptr || src.biases == nullptr)) {
    return invalid_argument("linear: quantized weight (" + std::to_string(src.n_out) + " x " +
                            std::to_string(src.n_in) + ") without scales/biases");
  }
  CudaLinear out;
  Impl& m = *out.impl_;
  m.n_out = src.n_out;
  m.n_in = src.n_in;
  m.bits = src.bits;
  m.group_size = quantized ? src.group_size : 0;
  m.dtype = src.dtype;
  m.fast = fast_format(src.bits, src.dtype);
  if (m.fast) detail::gemm_sm_count();
  const size_t es = dtype_size(src.dtype);
  const size_t w_bytes = quantized
      ? static_cast<size_t>(src.n_out) * static_cast<size_t>(src.n_in * src.bits / 32) * 4
      : static_cast<size_t>(src.n_out * src.n_in) * es;
  MLXM_ASSIGN_OR_RETURN(m.weight, DeviceBuffer::from_host(src.weight, w_bytes));
  if (quantized) {
    const size_t n_sb = static_cast<size_t>(src.n_out * (src.n_in / src.group_size));
    std::vector<uint8_t> pairs(n_sb * 2 * es);
    const auto* s = static_cast<const uint8_t*>(src.scales);
    const auto* b = static_cast<const uint8_t*>(src.biases);
    for (size_t i = 0; i < n_sb; ++i) {
      std::memcpy(pairs.data() + (2 * i) * es, s + i * es, es);
      std::memcpy(pairs.data() + (2 * i + 1) * es, b + i * es, es);
    }
    MLXM_ASSIGN_OR_RETURN(m.sb, DeviceBuffer::from_host(pairs.data(), pairs.size()));
  }
  MLXM_RETURN_IF_ERROR(out.prepare_bulk());
  if (src.bias != nullptr) {
    std::vector<float> bf(static_cast<size_t>(src.n_out));
    to_f32(src.dtype, src.bias, bf.data(), bf.size());
    MLXM_ASSIGN_OR_RETURN(m.bias, DeviceBuffer::from_host(bf.data(), bf.size() * 4));
  }
  return Result<CudaLinear>(std::move(out));
}

Result<CudaLinear> CudaLinear::random(int64_t n_out, int64_t n_in, int bits, int group_size,
                                      DType dtype, uint64_t seed) {
  if (bits == 0) return invalid_argument("CudaLinear::random: quantized formats only");
  MLXM_RETURN_IF_ERROR(validate(n_out, n_in, bits, group_size, dtype));
  CudaLinear out;
  Impl& m = *out.impl_;
  m.n_out = n_out;
  m.n_in = n_in;
  m.bits = bits;
  m.group_size = group_size;
  m.dtype = dtype;
  m.fast = fast_format(bits, dtype);
  if (m.fast) detail::gemm_sm_count();
  const size_t es = dtype_size(dtype);
  const size_t w_bytes = static_cast<size_t>(n_out) * static_cast<size_t>(n_in * bits / 32) * 4;
  MLXM_ASSIGN_OR_RETURN(m.weight, DeviceBuffer::alloc(w_bytes));
  MLXM_RETURN_IF_ERROR(fill_random_bits(m.weight.data(), w_bytes, seed));
  // A table of random (scale, bias) pairs, tiled over the layer.
  constexpr size_t kTable = 4093;
  std::vector<uint8_t> table(kTable * 2 * es);
  uint64_t st = seed * 0x9E3779B97F4A7C15ull + 1;
  const float levels = static_cast<float>((1 << bits) - 1);
  for (size_t i = 0; i < kTable; ++i) {
    st ^= st << 13;
    st ^= st >> 7;
    st ^= st << 17;
    const float u = static_cast<float>(st >> 40) / static_cast<float>(1 << 24);  // [0, 1)
    const float s = (0.01f + 0.02f * u) * 15.0f / levels;
    const float b = -s * levels / 2.0f;
    float v[2] = {s, b};
    for (int k = 0; k < 2; ++k) {
      uint8_t* d = table.data() + (2 * i + k) * es;
      if (dtype == DType::kF32) {
        std::memcpy(d, &v[k], 4);
      } else {
        const uint16_t h = dtype == DType::kBF16 ? f32_to_bf16(v[k]) : f32_to_f16(v[k]);
        std::memcpy(d, &h, 2);
      }
    }
  }
  const size_t n_sb = static_cast<size_t>(n_out * (n_in / group_size));
  std::vector<uint8_t> pairs(n_sb * 2 * es);
  for (size_t i = 0; i < n_sb; i += kTable) {
    const size_t cnt = std::min(kTable, n_sb - i);
    std::memcpy(pairs.data() + i * 2 * es, table.data(), cnt * 2 * es);
  }
  MLXM_ASSIGN_OR_RETURN(m.sb, DeviceBuffer::from_host(pairs.data(), pairs.size()));
  MLXM_RETURN_IF_ERROR(out.prepare_bulk());
  MLXM_RETURN_IF_ERROR(synchronize());
  return Result<CudaLinear>(std::move(out));
}

// The tensor-core GEMM's row range (when the cuBLASLt path does not take the call).
static bool gemm_rows(bool fast, int64_t n, const ForwardOptions& opt) {
  return fast && n >= std::max(1, opt.gemm_min_rows) && n <= (int64_t{1} << 30) / 2;
}

bool CudaLinear::uses_gemm(int64_t n, const ForwardOptions& opt) const {
  return gemm_rows(impl_->fast, n, opt) && !uses_cublas(n, opt);
}

bool CudaLinear::uses_cublas(int64_t n, const ForwardOptions& opt) const {
  return impl_->fast && n >= std::max(1, opt.cublas_min_rows) && n <= (int64_t{1} << 30) / 2 &&
         opt.cublas_scratch != nullptr && cublaslt_status().ok();
}

bool CudaLinear::uses_gemm_decode(int64_t n, const ForwardOptions& opt) const {
  const Impl& m = *impl_;
  if (!uses_gemm(n, opt) || m.bits != 4 || n > 64 || opt.gemm_decode == GemmDecode::kOff) {
    return false;
  }
  return detail::plan_gemm_decode(static_cast<int>(n), static_cast<int>(m.n_out),
                                  static_cast<int>(m.n_in), m.bits, m.group_size,
                                  opt.workspace != nullptr ? opt.workspace_floats : 0,
                                  opt.gemm_decode, detail::gemm_sm_count())
      .use;
}

size_t gemm_x_bytes(int64_t n_in) {
  return n_in <= 0 ? 0 : size_t{64} * static_cast<size_t>((n_in + 63) / 64 * 64) * 2;
}

bool CudaLinear::uses_gemv_i8(int64_t n, const ForwardOptions& opt) const {
  return impl_->fast && n > 0 && !uses_gemm(n, opt) && !uses_cublas(n, opt) && opt.gemv_i8 &&
         opt.gemv_scratch != nullptr;
}

bool CudaLinear::uses_gemv_stream(int64_t n, const ForwardOptions& opt) const {
  return uses_gemv_i8(n, opt) && opt.gemv_stream && n <= kMaxRows;
}

bool CudaLinear::uses_gemv_bulk(int64_t n, const ForwardOptions& opt) const {
  return uses_gemv_stream(n, opt) && opt.gemv_bulk &&
         detail::gemv_bulk_supported(impl_->n_in, impl_->group_size) &&
         detail::device_has_bulk_copy();
}

bool CudaLinear::uses_gemv_bulk_deep(int64_t n, const ForwardOptions& opt) const {
  return opt.gemv_bulk_deep && opt.rope_store == nullptr && uses_gemv_bulk(n, opt) &&
         detail::gemv_bulk_deep_fits(impl_->n_out, impl_->n_in, impl_->bits);
}

// ForwardOptions::rope_store's conditions (cuda_linear.h).
Status CudaLinear::check_rope_store(const RopeStore& r, int64_t n,
                                    const ForwardOptions& opt) const {
  auto bad = [](const std::string& why) {
    return invalid_argument("CudaLinear::forward: rope_store " + why);
  };
  if (!uses_gemv_stream(n, opt)) return bad("needs the stream GEMV (int8, gemv_stream), n <= 8");
  const KvLayerView& kv = r.kv;
  if (kv.dtype != DType::kF16 && kv.dtype != DType::kBF16 && kv.dtype != DType::kF32) {
    return bad("needs an F16, BF16 or F32 cache");
  }
  const int64_t hd = kv.head_dim;
  if (hd <= 0 || hd % 4 != 0 || hd > 256 || r.n_heads <= 0 || kv.n_kv_heads <= 0 ||
      kv.block_size <= 0 || kv.n_blocks < 0) {
    return bad("needs head_dim a multiple of 4 up to 256 and heads");
  }
  if ((int64_t{r.n_heads} + 2 * int64_t{kv.n_kv_heads}) * hd != impl_->n_out) {
    return bad("needs n_out = (n_heads + 2 n_kv_heads) head_dim (a fused q/k/v projection)");
  }
  if (r.positions == nullptr || r.inv_freq == nullptr || r.slots == nullptr ||
      r.q_out == nullptr || kv.k == nullptr || kv.v == nullptr) {
    return bad("has a null pointer");
  }
  if (r.block_tables != nullptr && (r.context_lens == nullptr || r.max_blocks <= 0)) {
    return bad("K/V prefetch needs context lengths and max_blocks > 0 with block tables");
  }
  return ok_status();
}

Status CudaLinear::forward(const float* x, int64_t n, float* y, Stream stream,
                           const ForwardOptions& opt) const {
  const Impl& m = *impl_;
  if (m.n_out == 0) return invalid_argument("CudaLinear::forward: empty layer");
  if (n < 0) return invalid_argument("CudaLinear::forward: negative row count");
  if (n == 0) return ok_status();
  if (x == nullptr || y == nullptr) return invalid_argument("CudaLinear::forward: null pointer");
  if (m.fast && reinterpret_cast<uintptr_t>(x) % 16 != 0) {
    return invalid_argument("CudaLinear::forward: x must be 16-byte aligned");
  }
  const float* bias = m.bias.size() != 0 ? m.bias.as<const float>() : nullptr;
  const bool i8 = uses_gemv_i8(n, opt);
  if (i8 && (opt.gemv_scratch_bytes < gemv_i8_scratch_bytes(m.n_in) ||
             reinterpret_cast<uintptr_t>(opt.gemv_scratch) % 16 != 0)) {
    return invalid_argument("CudaLinear::forward: gemv_scratch must be 16-byte aligned and hold " +
                            std::to_string(gemv_i8_scratch_bytes(m.n_in)) + " bytes (has " +
                            std::to_string(opt.gemv_scratch_bytes) + ")");
  }
  if (opt.gemv_x_ready && (!i8 || n > kMaxRows)) {
    return invalid_argument("CudaLinear::forward: gemv_x_ready needs the int8 GEMV and <= 8 rows");
  }
  const bool x_in_gemm_x = opt.gemm_x_ready && uses_gemm_decode(n, opt);
  if (x_in_gemm_x && (m.n_in % 64 != 0 || opt.gemm_x == nullptr ||
                      opt.gemm_x_bytes < gemm_x_bytes(m.n_in) ||
                      reinterpret_cast<uintptr_t>(opt.gemm_x) % 16 != 0)) {
    return invalid_argument("CudaLinear::forward: gemm_x_ready needs n_in a multiple of 64 (has " +
                            std::to_string(m.n_in) + ") and gemm_x 16-byte aligned with " +
                            std::to_string(gemm_x_bytes(m.n_in)) + " bytes (has " +
                            std::to_string(opt.gemm_x_bytes) + ")");
  }
  if (opt.rope_store != nullptr) MLXM_RETURN_IF_ERROR(check_rope_store(*opt.rope_store, n, opt));
  if (opt.split_k_out != nullptr) *opt.split_k_out = {y, {1, 0}};  // a split-K GEMM may reset it
  // The operands every fast-format launch takes, for rows [j0, j0 + rows) (rows fit an int:
  // uses_gemm / uses_cublas cap n, the GEMV takes 8 rows at a time).
  auto fill = [&](detail::QuantLinearArgs& a, int64_t j0, int64_t rows) {
    a.w = m.weight.as<const uint4>();
    a.sb = m.sb.as<const uint32_t>();
    a.bias = bias;
    a.x = x + j0 * m.n_in;
    a.y = y + j0 * m.n_out;
    a.n = static_cast<int>(rows);
    a.n_out = static_cast<int>(m.n_out);
    a.n_in = static_cast<int>(m.n_in);
    a.bits = m.bits;
    a.group_size = m.group_size;
    a.f16 = m.dtype == DType::kF16;
  };
  if (uses_cublas(n, opt)) {
    detail::CublasArgs a;
    fill(a, 0, n);
    a.scratch = opt.cublas_scratch;
    a.scratch_bytes = opt.cublas_scratch_bytes;
    const Status st = detail::launch_cublas_linear(a, stream);
    // kUnimplemented: cuBLASLt has no algorithm for this shape, nothing was enqueued.
    if (st.code() != StatusCode::kUnimplemented) return st;
  }
  if (gemm_rows(m.fast, n, opt)) {
    detail::GemmArgs a;
    fill(a, 0, n);
    a.workspace = opt.workspace;
    a.workspace_floats = opt.workspace != nullptr ? opt.workspace_floats : 0;
    a.decode = opt.gemm_decode;
    a.split_k_out = opt.split_k_out;
    a.x_ready = x_in_gemm_x ? opt.gemm_x : nullptr;
    return detail::launch_gemm_q(a, stream);
  }
  for (int64_t j0 = 0; j0 < n; j0 += kMaxRows) {
    const int nn = static_cast<int>(std::min<int64_t>(kMaxRows, n - j0));
    const float* xj = x + j0 * m.n_in;
    float* yj = y + j0 * m.n_out;
    if (i8) {
      detail::GemvI8Args a;
      fill(a, j0, nn);
      a.scratch = opt.gemv_scratch;
      a.x_ready = opt.gemv_x_ready;
      a.stream = opt.gemv_stream;
      a.bulk = uses_gemv_bulk(n, opt);
      a.evict_first = a.bulk && opt.weights_evict_first;
      if (a.bulk) a.ticket = static_cast<int*>(m.ticket.data());
      a.deep = a.bulk && uses_gemv_bulk_deep(n, opt);
      if (opt.rope_store != nullptr) a.rope = gemv_rope::of(*opt.rope_store);
      MLXM_RETURN_IF_ERROR(detail::launch_gemv_i8(a, stream));
    } else if (m.fast) {
      const auto* w = m.weight.as<const uint4>();
      const auto* sb = m.sb.as<const uint32_t>();
      if (m.bits == 4 && m.dtype == DType::kF16) {
        MLXM_RETURN_IF_ERROR((launch_fast_rows<4, F16Tag>(*this, w, sb, bias, xj, nn, yj, stream)));
      } else if (m.bits == 4) {
        MLXM_RETURN_IF_ERROR((launch_fast_rows<4, BF16Tag>(*this, w, sb, bias, xj, nn, yj, stream)));
      } else if (m.dtype == DType::kF16) {
        MLXM_RETURN_IF_ERROR((launch_fast_rows<8, F16Tag>(*this, w, sb, bias, xj, nn, yj, stream)));
      } else {
        MLXM_RETURN_IF_ERROR((launch_fast_rows<8, BF16Tag>(*this, w, sb, bias, xj, nn, yj, stream)));
      }
    } else {
      const unsigned blocks = static_cast<unsigned>((m.n_out + kWarps - 1) / kWarps);
      gemv_generic_kernel<<<blocks, kWarps * 32, 0, stream>>>(
          m.weight.data(), m.sb.data(), dtype_code(m.dtype), m.bits, m.group_size, bias, xj, yj,
          static_cast<int>(m.n_out), static_cast<int>(m.n_in), nn);
      MLXM_CUDA_CHECK_LAUNCH("gemv_generic_kernel");
    }
  }
  return ok_status();
}

Status CudaLinear::gather_rows(const int32_t* ids, int64_t n, float* out, Stream stream,
                               const int32_t* prev_ids) const {
  const Impl& m = *impl_;
  if (m.n_out == 0) return invalid_argument("CudaLinear::gather_rows: empty layer");
  if (n < 0) return invalid_argument("CudaLinear::gather_rows: negative row count");
  if (n == 0) return ok_status();
  if (ids == nullptr || out == nullptr) {
    return invalid_argument("CudaLinear::gather_rows: null pointer");
  }
  const int64_t total = n * m.n_in;
  const int64_t blocks = std::min<int64_t>((total + 255) / 256, 65535 * 16);
  gather_rows_kernel<<<static_cast<unsigned>(blocks), 256, 0, stream>>>(
      m.weight.data(), m.sb.data(), dtype_code(m.dtype), m.bits, m.group_size, ids, prev_ids, n,
      static_cast<int>(m.n_out), static_cast<int>(m.n_in), out);
  MLXM_CUDA_CHECK_LAUNCH("gather_rows_kernel (embedding)");
  return ok_status();
}

}  // namespace mlxm::engine::cuda
