// Element types of weights, activations and KV, and scalar conversions. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/status.h"

namespace mlxm::engine {

enum class DType : uint8_t { kF32, kF16, kBF16, kU32, kI32, kI8, kU8, kI64, kF64, kBool };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // safetensors spelling: "F32", "F16", "BF16", "U32", ...
Result<DType> parse_dtype(std::string_view safetensors_name);

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);  // round to nearest even, saturates to inf

// Converts n elements of `src` (dtype t: F32/F16/BF16) to f32.
void to_f32(DType t, const void* src, float* dst, size_t n);

}  // namespace mlxm::engine
