#include "engine/kernels/cpu/linear.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/check.h"
#include "engine/kernels/cpu/isa.h"
#include "engine/kernels/cpu/linear_internal.h"

namespace mlxm::engine {

using cpu::AlignedBuffer;
using cpu::kQBlock;
using cpu::kTileRows;
using cpu::PackedWeights;
using cpu::QuantizedX;
using cpu::load_scalar;
using cpu::read_code;

struct PackedLinear::Impl {
  PackedWeights w;
};

namespace {

struct Kernels {
  decltype(&cpu::portable::quantize_rows) quantize_rows;
  decltype(&cpu::portable::int_gemm) int_gemm;
  decltype(&cpu::portable::rows_to_f32) rows_to_f32;
  decltype(&cpu::portable::f32_gemm) f32_gemm;
};

Kernels kernels_for(cpu::Isa isa) {
  switch (isa) {
#if defined(__x86_64__)
    case cpu::Isa::kAvx512:
      return {cpu::avx512::quantize_rows, cpu::avx512::int_gemm, cpu::avx512::rows_to_f32,
              cpu::avx512::f32_gemm};
    case cpu::Isa::kAvx2:
      return {cpu::avx2::quantize_rows, cpu::avx2::int_gemm, cpu::avx2::rows_to_f32,
              cpu::avx2::f32_gemm};
#endif
    default:
      return {cpu::portable::quantize_rows, cpu::portable::int_gemm, cpu::portable::rows_to_f32,
              cpu::portable::f32_gemm};
  }
}

void copy_to_f32(DType t, const void* src, float* dst, size_t n) { to_f32(t, src, dst, n); }

// Scratch of the calling thread for quantized activations / f32 tiles.
struct Scratch {
  AlignedBuffer<int8_t> q;
  AlignedBuffer<float> d;
  AlignedBuffer<int32_t> sumq;
  AlignedBuffer<float> gsum;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

AlignedBuffer<float>& tile_buffer() {
  thread_local AlignedBuffer<float> b;
  return b;
}

template <typename T>
void grow(AlignedBuffer<T>& b, size_t n) {
  if (b.size() < n) b.resize(n);
}

// Rows of x processed per int_gemm call: bounds the int8 activations kept hot in L2.
constexpr int64_t kRowBlock = 256;

}  // namespace

PackedLinear::PackedLinear() : impl_(std::make_unique<Impl>()) {}
PackedLinear::~PackedLinear() = default;
PackedLinear::PackedLinear(PackedLinear&&) noexcept = default;
PackedLinear& PackedLinear::operator=(PackedLinear&&) noexcept = default;

Result<PackedLinear> PackedLinear::pack(const LinearSource& src) {
  char dims_buf[64];
  std::snprintf(dims_buf, sizeof(dims_buf), "(%lld x %lld)", static_cast<long long>(src.n_out),
                static_cast<long long>(src.n_in));
  const std::string dims = dims_buf;
  if (src.n_out <= 0 || src.n_in <= 0) {
    return invalid_argument("linear: non-positive shape " + dims);
  }
  if (src.n_out > (int64_t{1} << 31) || src.n_in > (int64_t{1} << 31)) {
    return invalid_argument("linear: shape too large " + dims);
  }
  if (src.dtype != DType::kF32 && src.dtype != DType::kF16 && src.dtype != DType::kBF16) {
    return invalid_argument(std::string("linear: unsupported dtype ") + dtype_name(src.dtype) +
                            " (want F32, F16 or BF16)");
  }
  if (src.weight == nullptr) return invalid_argument("linear: missing weight data");
  const bool quantized = src.bits != 0;
  if (quantized) {
    const int b = src.bits;
    if (b != 2 && b != 3 && b != 4 && b != 5 && b != 6 && b != 8) {
      return invalid_argument("linear: unsupported bits " + std::to_string(b) +
                              " (want 2, 3, 4, 5, 6 or 8)");
    }
    const int g = src.group_size;
    if (g != 32 && g != 64 && g != 128) {
      return invalid_argument("linear: unsupported group_size " + std::to_string(g) +
                              " (want 32, 64 or 128)");
    }
    if (src.n_in % g != 0) {
      return invalid_argument("linear: n_in " + std::to_string(src.n_in) +
                              " not divisible by group_size " + std::to_string(g));
    }
    if ((src.n_in * b) % 32 != 0) {
      return invalid_argument("linear: n_in " + std::to_string(src.n_in) + " at " +
                              std::to_string(b) + " bits does not fill whole u32 words");
    }
    if (src.scales == nullptr || src.biases == nullptr) {
      return invalid_argument("linear: quantized weight " + dims + " without scales/biases");
    }
  }

  PackedLinear out;
  PackedWeights& w = out.impl_->w;
  w.n_out = src.n_out;
  w.n_in = src.n_in;
  w.bits = src.bits;
  w.group_size = quantized ? src.group_size : 0;
  w.dtype = src.dtype;
  w.int_path = src.bits == 4 || src.bits == 8;
  w.n_groups = quantized ? src.n_in / src.group_size : 0;
  const size_t es = dtype_size(src.dtype);

  if (src.bias != nullptr) {
    w.bias.resize(static_cast<size_t>(src.n_out));
    copy_to_f32(src.dtype, src.bias, w.bias.data(), static_cast<size_t>(src.n_out));
  }

  if (!quantized) {
    const size_t bytes = static_cast<size_t>(src.n_out * src.n_in) * es;
    w.raw.resize(bytes);
    std::memcpy(w.raw.data(), src.weight, bytes);
    return out;
  }

  const int64_t words_per_row = src.n_in * src.bits / 32;
  const auto* words = static_cast<const uint32_t*>(src.weight);
  const size_t n_sb = static_cast<size_t>(src.n_out * w.n_groups);
  std::vector<float> sc(n_sb), bi(n_sb);
  copy_to_f32(src.dtype, src.scales, sc.data(), n_sb);
  copy_to_f32(src.dtype, src.biases, bi.data(), n_sb);

  if (!w.int_path) {
    const size_t bytes = static_cast<size_t>(src.n_out * words_per_row) * 4;
    w.raw.resize(bytes);
    std::memcpy(w.raw.data(), src.weight, bytes);
    w.row_scales.resize(n_sb);
    w.row_biases.resize(n_sb);
    std::memcpy(w.row_scales.data(), sc.data(), n_sb * 4);
    std::memcpy(w.row_biases.data(), bi.data(), n_sb * 4);
    return out;
  }

  w.n_tiles = (src.n_out + kTileRows - 1) / kTileRows;
  const size_t tile_bytes = w.tile_code_bytes();
  w.codes.resize(tile_bytes * static_cast<size_t>(w.n_tiles));
  std::memset(w.codes.data(), 0, w.codes.size());
  w.sb.resize(w.sb_group_bytes() * static_cast<size_t>(w.n_tiles * w.n_groups));
  std::memset(w.sb.data(), 0, w.sb.size());
  for (int64_t o = 0; o < src.n_out; ++o) {
    const int64_t t = o / kTileRows;
    const int r = static_cast<int>(o % kTileRows);
    uint8_t* tile = w.codes.data() + static_cast<size_t>(t) * tile_bytes;
    const uint32_t* row = words + o * words_per_row;
    if (src.bits == 8) {
      for (int64_t k = 0; k < src.n_in; ++k) {
        tile[(k / 4) * 64 + r * 4 + (k % 4)] = static_cast<uint8_t>(read_code(row, k, 8));
      }
    } else {
      for (int64_t k = 0; k < src.n_in; ++k) {
        const uint8_t c = static_cast<uint8_t>(read_code(row, k, 4));
        uint8_t& dst = tile[(k / 8) * 64 + r * 4 + (k % 4)];
        dst |= (k % 8) < 4 ? c : static_cast<uint8_t>(c << 4);
      }
    }
    // Raw copies of the source's scale/bias elements (exact whatever the dtype).
    for (int64_t g = 0; g < w.n_groups; ++g) {
      uint8_t* dst = w.sb.data() + static_cast<size_t>(t * w.n_groups + g) * w.sb_group_bytes();
      const size_t src_idx = static_cast<size_t>(o * w.n_groups + g);
      std::memcpy(dst + r * es, static_cast<const uint8_t*>(src.scales) + src_idx * es, es);
      std::memcpy(dst + (kTileRows + r) * es, static_cast<const uint8_t*>(src.biases) + src_idx * es,
                  es);
    }
  }
  return out;
}

int64_t PackedLinear::n_out() const { return impl_->w.n_out; }
int64_t PackedLinear::n_in() const { return impl_->w.n_in; }
int PackedLinear::bits() const { return impl_->w.bits; }

size_t PackedLinear::bytes() const {
  const PackedWeights& w = impl_->w;
  if (w.int_path) return w.codes.size() + w.sb.size();
  return w.raw.size() + (w.row_scales.size() + w.row_biases.size()) * 4;
}

void PackedLinear::dequantize_row(int64_t row, float* out) const {
  const PackedWeights& w = impl_->w;
  MLXM_CHECK(row >= 0 && row < w.n_out);
  if (!w.int_path) {
    cpu::dequantize_row_generic(w, row, out);
    return;
  }
  const int64_t t = row / kTileRows;
  const int r = static_cast<int>(row % kTileRows);
  const uint8_t* tile = w.codes.data() + static_cast<size_t>(t) * w.tile_code_bytes();
  const uint8_t* sbt = w.sb_tile(t);
  const size_t gb = w.sb_group_bytes();
  for (int64_t k = 0; k < w.n_in; ++k) {
    uint32_t c;
    if (w.bits == 8) {
      c = tile[(k / 4) * 64 + r * 4 + (k % 4)];
    } else {
      const uint8_t b = tile[(k / 8) * 64 + r * 4 + (k % 4)];
      c = (k % 8) < 4 ? (b & 0xF) : (b >> 4);
    }
    const int64_t g = k / w.group_size;
    const uint8_t* e = sbt + static_cast<size_t>(g) * gb;
    out[k] = load_scalar(w.dtype, e, r) * static_cast<float>(c) +
             load_scalar(w.dtype, e, kTileRows + r);
  }
}

void PackedLinear::forward_reference(const float* x, int64_t n, float* y) const {
  const PackedWeights& w = impl_->w;
  std::vector<float> row(static_cast<size_t>(w.n_in));
  for (int64_t o = 0; o < w.n_out; ++o) {
    dequantize_row(o, row.data());
    for (int64_t j = 0; j < n; ++j) {
      const float* xr = x + j * w.n_in;
      double acc = 0;
      for (int64_t k = 0; k < w.n_in; ++k) acc += static_cast<double>(row[k]) * xr[k];
      if (w.bias.size() != 0) acc += w.bias[static_cast<size_t>(o)];
      y[j * w.n_out + o] = static_cast<float>(acc);
    }
  }
}

void PackedLinear::forward(const float* x, int64_t n, float* y, ThreadPool& pool) const {
  const PackedWeights& w = impl_->w;
  if (n <= 0) return;
  const Kernels k = kernels_for(cpu::active_isa());
  const int64_t n_out = w.n_out;
  const float* bias = w.bias.size() != 0 ? w.bias.data() : nullptr;

  if (w.int_path) {
    Scratch& s = scratch();
    const int64_t nb = w.n_in / kQBlock;
    grow(s.q, static_cast<size_t>(n * w.n_in));
    grow(s.d, static_cast<size_t>(n * nb));
    grow(s.sumq, static_cast<size_t>(n * nb));
    grow(s.gsum, static_cast<size_t>(n * w.n_groups));
    QuantizedX qx{n, w.n_in, nb, w.n_groups, s.q.data(), s.d.data(), s.sumq.data(),
                  s.gsum.data()};
    const int64_t grain = std::max<int64_t>(1, 8192 / w.n_in);
    pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
      k.quantize_rows(x, b, e, w.group_size, qx);
    });
    for (int64_t j0 = 0; j0 < n; j0 += kRowBlock) {
      const int64_t nj = std::min(kRowBlock, n - j0);
      const QuantizedX part{nj, w.n_in, nb, w.n_groups, qx.q + j0 * w.n_in, qx.d + j0 * nb,
                            qx.sumq + j0 * nb, qx.gsum + j0 * w.n_groups};
      float* yp = y + j0 * n_out;
      pool.parallel_for(w.n_tiles, 1, [&](int64_t tb, int64_t te) {
        k.int_gemm(w, part, tb, te, yp, n_out);
        if (bias != nullptr) {
          const int64_t c0 = tb * kTileRows;
          const int64_t c1 = std::min(te * kTileRows, n_out);
          for (int64_t j = 0; j < nj; ++j) {
            for (int64_t c = c0; c < c1; ++c) yp[j * n_out + c] += bias[c];
          }
        }
      });
    }
    return;
  }

  const int64_t n_tiles = (n_out + kTileRows - 1) / kTileRows;
  pool.parallel_for(n_tiles, 1, [&](int64_t tb, int64_t te) {
    AlignedBuffer<float>& buf = tile_buffer();
    grow(buf, static_cast<size_t>(kTileRows * w.n_in));
    for (int64_t t = tb; t < te; ++t) {
      const int64_t r0 = t * kTileRows;
      const int64_t nr = std::min<int64_t>(kTileRows, n_out - r0);
      k.rows_to_f32(w, r0, nr, buf.data());
      k.f32_gemm(buf.data(), nr, w.n_in, x, n, y + r0, n_out);
    }
    if (bias != nullptr) {
      const int64_t c0 = tb * kTileRows;
      const int64_t c1 = std::min(te * kTileRows, n_out);
      for (int64_t j = 0; j < n; ++j) {
        for (int64_t c = c0; c < c1; ++c) y[j * n_out + c] += bias[c];
      }
    }
  });
}

}  // namespace mlxm::engine
