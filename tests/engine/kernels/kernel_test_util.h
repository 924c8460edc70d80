// Helpers of the CPU kernel tests: random MLX-quantized linear sources and ISA/thread forcing.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cpu/isa.h"
#include "engine/kernels/cpu/linear.h"
#include "engine/tensor/dtype.h"

namespace mlxm::engine::testing {

// Owns the buffers a LinearSource points into, plus the exact dequantized weights computed
// independently of the packing code: w[o][i] = scale * code + bias (in f32).
struct RandomLinear {
  LinearSource src;
  std::vector<uint32_t> words;
  std::vector<uint16_t> scales16, biases16, weight16, bias16;
  std::vector<float> scales32, biases32, weight32, bias32;
  std::vector<float> w;  // (n_out, n_in) exact dequantized weights
};

inline float round_to(DType t, float f) {
  if (t == DType::kBF16) return bf16_to_f32(f32_to_bf16(f));
  if (t == DType::kF16) return f16_to_f32(f32_to_f16(f));
  return f;
}

inline void store(DType t, const std::vector<float>& v, std::vector<uint16_t>& b16,
                  std::vector<float>& b32, const void** out) {
  if (t == DType::kF32) {
    b32 = v;
    *out = b32.data();
    return;
  }
  b16.resize(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    b16[i] = t == DType::kBF16 ? f32_to_bf16(v[i]) : f32_to_f16(v[i]);
  }
  *out = b16.data();
}

// bits = 0: dense weights in `dtype`. Scales ~ 0.02 like a real model's, biases centre the
// codes (bias ≈ -scale * 2^(bits-1)) with noise.
inline RandomLinear make_linear(int64_t n_out, int64_t n_in, int bits, int group, DType dtype,
                                uint32_t seed, bool with_bias = false) {
  RandomLinear r;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  r.src.n_out = n_out;
  r.src.n_in = n_in;
  r.src.bits = bits;
  r.src.group_size = bits ? group : 0;
  r.src.dtype = dtype;
  r.w.resize(static_cast<size_t>(n_out * n_in));
  if (bits == 0) {
    std::vector<float> v(r.w.size());
    for (auto& x : v) x = round_to(dtype, 0.05f * uni(rng));
    r.w = v;
    store(dtype, v, r.weight16, r.weight32, &r.src.weight);
  } else {
    const int64_t n_groups = n_in / group;
    std::vector<float> sc(static_cast<size_t>(n_out * n_groups)), bi(sc.size());
    const float levels = static_cast<float>((1 << bits) - 1);
    for (size_t i = 0; i < sc.size(); ++i) {
      sc[i] = round_to(dtype, (0.02f + 0.01f * uni(rng)) * 15.0f / levels);
      bi[i] = round_to(dtype, -sc[i] * levels / 2 + 0.01f * uni(rng));
    }
    store(dtype, sc, r.scales16, r.scales32, &r.src.scales);
    store(dtype, bi, r.biases16, r.biases32, &r.src.biases);
    const int64_t wpr = n_in * bits / 32;
    r.words.assign(static_cast<size_t>(n_out * wpr), 0);
    std::uniform_int_distribution<uint32_t> code(0, (1u << bits) - 1);
    for (int64_t o = 0; o < n_out; ++o) {
      for (int64_t i = 0; i < n_in; ++i) {
        const uint32_t c = code(rng);
        const uint64_t bit = static_cast<uint64_t>(i) * bits;
        uint32_t* row = r.words.data() + o * wpr;
        row[bit / 32] |= c << (bit % 32);
        if (bit % 32 + bits > 32) row[bit / 32 + 1] |= c >> (32 - bit % 32);
        const size_t g = static_cast<size_t>(o * n_groups + i / group);
        r.w[static_cast<size_t>(o * n_in + i)] = sc[g] * static_cast<float>(c) + bi[g];
      }
    }
    r.src.weight = r.words.data();
  }
  if (with_bias) {
    std::vector<float> b(static_cast<size_t>(n_out));
    for (auto& x : b) x = round_to(dtype, 0.5f * uni(rng));
    store(dtype, b, r.bias16, r.bias32, &r.src.bias);
    r.bias32 = b;
  }
  return r;
}

inline std::vector<float> random_vector(size_t n, uint32_t seed, float amp = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, amp);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

// Every ISA path this machine can run.
inline std::vector<cpu::Isa> supported_isas() {
  std::vector<cpu::Isa> out;
  for (cpu::Isa i : {cpu::Isa::kPortable, cpu::Isa::kAvx2, cpu::Isa::kAvx512}) {
    if (cpu::isa_supported(i)) out.push_back(i);
  }
  return out;
}

// Forces an ISA path for the lifetime of the object.
class ScopedIsa {
 public:
  explicit ScopedIsa(cpu::Isa isa) { cpu::set_isa_override(isa); }
  ~ScopedIsa() { cpu::clear_isa_override(); }
  ScopedIsa(const ScopedIsa&) = delete;
  ScopedIsa& operator=(const ScopedIsa&) = delete;
};

}  // namespace mlxm::engine::testing
