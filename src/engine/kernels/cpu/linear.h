// Linear layers (y = x · Wᵀ + b) in every weight format the engine loads: dense F32/F16/BF16
// and MLX affine quantization (bits 2,3,4,5,6,8; group size 32,64,128). The same object serves
// embeddings (dequantize one row) and the lm_head (tied or not).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/status.h"
#include "engine/kernels/cpu/thread_pool.h"
#include "engine/tensor/dtype.h"

namespace mlxm::engine {

// A linear layer as stored in the model files (views into memory-mapped data, not owned).
// MLX affine: for row o and column i, w[o][i] = scale[o][i/g] * code[o][i] + bias[o][i/g],
// where codes are packed little-endian per row in uint32 words: code j of a row occupies bits
// [j*bits, (j+1)*bits) of the row's bit stream (word j*bits/32, may straddle two words for 3,5,6
// bits).
struct LinearSource {
  int64_t n_out = 0;  // rows of W
  int64_t n_in = 0;   // columns of W
  int bits = 0;       // 0: dense; 2,3,4,5,6,8: MLX affine
  int group_size = 0; // quantized only: 32, 64 or 128
  DType dtype = DType::kF32;       // dense: of weight; quantized: of scales/biases (and bias)
  const void* weight = nullptr;    // dense: (n_out, n_in) dtype; quantized: u32 (n_out, n_in*bits/32)
  const void* scales = nullptr;    // quantized: (n_out, n_in/group_size) dtype
  const void* biases = nullptr;    // quantized: (n_out, n_in/group_size) dtype
  const void* bias = nullptr;      // optional additive bias: (n_out) dtype (Qwen2 qkv)
};

// The weights repacked into the kernel's preferred layout (owned). Exact: packing never changes
// the math of w = scale * code + bias. Immutable after pack(); forward() is thread-compatible
// (const) and parallelises internally over the pool.
class PackedLinear {
 public:
  // Validates the source (sizes, divisibility, bits, group size) and repacks it.
  static Result<PackedLinear> pack(const LinearSource& src);

  PackedLinear();
  ~PackedLinear();
  PackedLinear(PackedLinear&&) noexcept;
  PackedLinear& operator=(PackedLinear&&) noexcept;

  int64_t n_out() const;
  int64_t n_in() const;
  int bits() const;  // 0 for dense
  // Bytes of weight data read by one forward pass over all rows (weights + scales + biases).
  size_t bytes() const;

  // y (n, n_out) = x (n, n_in) · Wᵀ (+ bias). Fast path: for 4/8-bit weights activations are
  // quantized to int8 per block and dotted with integer instructions (AVX2 / AVX-512 VNNI
  // chosen at run time), carrying the scale+bias math through per-group activation sums.
  void forward(const float* x, int64_t n, float* y, ThreadPool& pool) const;

  // The plain reference path (fp32 math on dequantized weights, single thread): the oracle
  // the fast path is tested against.
  void forward_reference(const float* x, int64_t n, float* y) const;

  // out (n_in) = row `row` of W, dequantized to f32 (embedding lookup).
  void dequantize_row(int64_t row, float* out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlxm::engine
