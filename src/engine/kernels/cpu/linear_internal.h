// Internal: the packed weight layouts of PackedLinear and the per-ISA kernels over them.
//
// Int path (bits 4 and 8): rows are grouped in tiles of kTileRows=16 rows (n_out padded with
// zero rows). Within a tile, codes are interleaved so one 64-byte vector holds 4 consecutive
// codes (k..k+3) of each of the 16 rows — lane r (4 bytes) belongs to row r, the layout of a
// vpdpbusd/maddubs operand:
//   8-bit: per k4 = k/4: 64 bytes; byte 4r+j = code(row r, 4*k4 + j).
//   4-bit: per k8 = k/8: 64 bytes; byte 4r+j = code(row r, 8*k8+j) | code(row r, 8*k8+4+j) << 4.
// Scales and biases keep their source dtype (F32, F16 or BF16: 16-bit ones cost half the
// bandwidth), interleaved per (tile, group): 16 scales then 16 biases. Codes stay unsigned
// (0..2^bits-1), so w = scale * code + bias holds exactly as in MLX.
//
// Activations are quantized per block of kQBlock=32 values: x ≈ d_b * q (q int8 in
// [-127, 127], d_b = max|x| / 127). Per group g the kernel needs Σ code·q per block (integer
// dot) and gsum_g = Σ_{b∈g} d_b Σ q (so the bias term uses the same quantized x):
//   y = Σ_g scale_g · Σ_{b∈g} d_b·(Σ_i code_i q_i) + bias_g · gsum_g,
// which is exactly W · x̂ with x̂ = d_b·q, up to f32 rounding.
//
// Generic path (dense F32/F16/BF16, and bits 2,3,5,6): the source layout is kept; tiles of
// rows are converted to f32 on the fly and multiplied in f32 (exact up to f32 rounding).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "engine/tensor/dtype.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace mlxm::engine::cpu {

constexpr int kTileRows = 16;
constexpr int kQBlock = 32;

// A 64-byte aligned, owned buffer of trivially constructible T.
template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) { resize(n); }
  void resize(size_t n) {
    if (n == size_) return;
    // Large buffers (weights) get 2 MiB alignment and transparent huge pages where the kernel
    // allows it: fewer TLB misses when a GEMV streams hundreds of MiB.
    constexpr size_t kHuge = size_t{2} << 20;
    const size_t align = n * sizeof(T) >= 2 * kHuge ? kHuge : 64;
    const size_t bytes = ((n * sizeof(T) + align - 1) / align) * align;
    data_.reset(n == 0 ? nullptr : static_cast<T*>(std::aligned_alloc(align, bytes)));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (data_ && align == kHuge) madvise(data_.get(), bytes, MADV_HUGEPAGE);
#endif
    size_ = n;
  }
  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  size_t size() const { return size_; }
  T& operator[](size_t i) { return data_.get()[i]; }
  const T& operator[](size_t i) const { return data_.get()[i]; }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> data_;
  size_t size_ = 0;
};

struct PackedWeights {
  int64_t n_out = 0;
  int64_t n_in = 0;
  int bits = 0;        // 0: dense
  int group_size = 0;  // quantized only
  DType dtype = DType::kF32;
  bool int_path = false;  // bits 4 or 8
  int64_t n_tiles = 0;    // int path: ceil(n_out / 16)
  int64_t n_groups = 0;   // quantized: n_in / group_size

  // Int path.
  AlignedBuffer<uint8_t> codes;  // n_tiles * 16 * n_in * bits / 8 bytes, layout above
  AlignedBuffer<uint8_t> sb;     // (n_tiles, n_groups, 2, 16) in dtype: scales, biases

  // Generic path.
  AlignedBuffer<uint8_t> raw;        // dense: (n_out, n_in) dtype; quantized: (n_out, n_in*bits/32) u32
  AlignedBuffer<float> row_scales;   // quantized: (n_out, n_groups)
  AlignedBuffer<float> row_biases;   // quantized: (n_out, n_groups)

  AlignedBuffer<float> bias;  // (n_out) or empty

  size_t tile_code_bytes() const { return static_cast<size_t>(kTileRows * n_in * bits / 8); }
  // Bytes of one (tile, group) entry of sb.
  size_t sb_group_bytes() const { return 2 * kTileRows * dtype_size(dtype); }
  const uint8_t* sb_tile(int64_t t) const {
    return sb.data() + static_cast<size_t>(t * n_groups) * sb_group_bytes();
  }
};

// Activations of n rows quantized for the int path.
struct QuantizedX {
  int64_t n = 0;
  int64_t n_in = 0;
  int64_t n_blocks = 0;  // n_in / 32
  int64_t n_groups = 0;
  int8_t* q = nullptr;       // (n, n_in)
  float* d = nullptr;        // (n, n_blocks)
  int32_t* sumq = nullptr;   // (n, n_blocks)
  float* gsum = nullptr;     // (n, n_groups)
};

// Code j of a row's little-endian bit stream of `bits`-bit codes in u32 words.
inline uint32_t read_code(const uint32_t* words, int64_t j, int bits) {
  const uint64_t bitpos = static_cast<uint64_t>(j) * static_cast<uint64_t>(bits);
  const uint64_t word = bitpos >> 5;
  const unsigned off = static_cast<unsigned>(bitpos & 31);
  uint64_t v = words[word] >> off;
  if (off + static_cast<unsigned>(bits) > 32) v |= static_cast<uint64_t>(words[word + 1]) << (32 - off);
  return static_cast<uint32_t>(v & ((1u << bits) - 1));
}

// Element i of a scale/bias vector stored in dtype t (F32/F16/BF16).
inline float load_scalar(DType t, const uint8_t* p, int64_t i) {
  if (t == DType::kF32) {
    float f;
    std::memcpy(&f, p + i * 4, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p + i * 2, 2);
  return t == DType::kBF16 ? bf16_to_f32(h) : f16_to_f32(h);
}

// Portable scalar helpers shared by all paths.
void quantize_rows_portable(const float* x, int64_t row_begin, int64_t row_end, int group_size,
                            const QuantizedX& qx);
void dequantize_row_generic(const PackedWeights& w, int64_t row, float* out);

// Per-ISA kernels. int_gemm: y (n, ldy) columns [16*tile_begin, min(16*tile_end, n_out)) for
// all n rows of qx. dense_rows_to_f32: rows [r0, r0+nr) of a generic-path weight to f32
// (nr, n_in). f32_gemm: y[j][r] = Σ_k w[r][k] x[j][k] for r < nr, j < n (y row stride ldy).
#define MLXM_DECLARE_LINEAR_KERNELS(ns)                                                       \
  namespace ns {                                                                               \
  void quantize_rows(const float* x, int64_t row_begin, int64_t row_end, int group_size,      \
                     const QuantizedX& qx);                                                    \
  void int_gemm(const PackedWeights& w, const QuantizedX& qx, int64_t tile_begin,              \
                int64_t tile_end, float* y, int64_t ldy);                                      \
  void rows_to_f32(const PackedWeights& w, int64_t r0, int64_t nr, float* out);                \
  void f32_gemm(const float* w, int64_t nr, int64_t n_in, const float* x, int64_t n, float* y, \
                int64_t ldy);                                                                  \
  }
MLXM_DECLARE_LINEAR_KERNELS(portable)
MLXM_DECLARE_LINEAR_KERNELS(avx2)
MLXM_DECLARE_LINEAR_KERNELS(avx512)
#undef MLXM_DECLARE_LINEAR_KERNELS

}  // namespace mlxm::engine::cpu
