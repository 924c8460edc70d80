// The int8-activation GEMV (ForwardOptions::gemv_i8, gemv_i8.cu) for every fast format (4/8
// bits × group 32/64/128 × F16/BF16 scales), n = 1..8 and 11 (two launches), awkward shapes:
// n_out not a multiple of the 4-row warp tile, n_in not a multiple of 256 (lanes idle, uneven
// K-slices), each K-slice count 1..8 the launcher picks.
//
// Two checks per output, both derived (u = 2^-24):
// 1. Against an emulation of the kernel's arithmetic in double: x quantized on the host
//    exactly as on the device (d = max|x|/127 and q = round-half-even(x/d) in IEEE f32, the
//    same operations, so the same q), y_emul = Σ_blocks s·d·Σ c·q + b·Σx (+ bias). The kernel
//    differs from it only by f32 rounding: ≤ 3u·D·M + 2u·|y_emul| with D = 48 + n_in/32
//    sequential roundings (as in cuda_linear_test.cpp) and M = Σ_i |s·c_i|·(|x_i| + d/2) +
//    |b|·|x_i| bounding every term. This is sharp: a wrong code/activation pairing, scale or
//    row is off by O(|s·c·x|) and fails.
// 2. Against PackedLinear::forward_reference (double over the dequantized weights): the int8
//    quantization error |Σ_i s·c_i·(x_i − d·q_i)| ≤ Σ_i |s·c_i|·d/2 per 32-block (|x − d·q| ≤
//    d/2, times 1 + 1e-4 for the f32 division), plus the same f32 slack and u·(|s·c_i| + |b|)
//    per element for the reference's f32-rounded weights.
// Besides: a row alone equals the same row in a batch (bit-identical), the int8 path is taken
// exactly when asked, and bad scratch arguments return kInvalidArgument. The weight-stream
// kernel (ForwardOptions::gemv_stream, gemv_stream.cu) takes the same checks: its sums differ
// from gemv_i8_kernel's only in order, within the same bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "engine/kernels/cpu/linear.h"
#include "engine/kernels/cuda/cuda_linear.h"
#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/cuda/cuda_test_util.h"
#include "engine/kernels/kernel_test_util.h"

namespace mlxm::engine {
namespace {

using cuda::CudaLinear;
using testing::make_linear;
using testing::random_vector;
using testing::RandomLinear;

using testing::describe;
using testing::Format;
using testing::kU;

std::vector<Format> fast_formats() {
  std::vector<Format> f;
  for (int bits : {4, 8}) {
    for (int group : {32, 64, 128}) {
      for (DType dt : {DType::kBF16, DType::kF16}) f.push_back({bits, group, dt});
    }
  }
  return f;
}

// The unpacked codes of row o (MLX packing: code i at bits [i·bits, (i+1)·bits) of the row).
std::vector<uint32_t> row_codes(const RandomLinear& r, int64_t o) {
  const int bits = r.src.bits;
  const int64_t n_in = r.src.n_in, wpr = n_in * bits / 32;
  std::vector<uint32_t> c(static_cast<size_t>(n_in));
  const uint32_t* row = r.words.data() + o * wpr;
  for (int64_t i = 0; i < n_in; ++i) {
    const int64_t bit = i * bits;
    c[i] = (row[bit / 32] >> (bit % 32)) & ((1u << bits) - 1u);  // 4/8 bits never straddle
  }
  return c;
}

// Host quantization of one row of x, the device's operations in IEEE f32.
struct QuantRow {
  std::vector<float> d;   // (n_in/32)
  std::vector<int> q;     // (n_in)
};

QuantRow quantize_row(const float* x, int64_t n_in) {
  QuantRow out;
  out.d.resize(static_cast<size_t>(n_in / 32));
  out.q.resize(static_cast<size_t>(n_in));
  for (int64_t b = 0; b < n_in / 32; ++b) {
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
    const float d = amax / 127.0f;
    out.d[b] = d;
    for (int i = 0; i < 32; ++i) {
      int q = 0;
      if (d > 0.0f) q = static_cast<int>(std::nearbyint(x[b * 32 + i] / d));
      out.q[b * 32 + i] = std::clamp(q, -127, 127);
    }
  }
  return out;
}

// Runs the layer through the int8 GEMV at each n and checks every output; returns the worst
// error/tolerance ratios seen (emulation, reference).
// The kernel under test: gemv_i8_kernel, or the weight stream (the CudaGemvStreamTest cases).
bool g_stream = false;

std::pair<double, double> check_layer(const RandomLinear& r, const Format& f,
                                      const std::vector<int64_t>& ns, uint32_t seed) {
  const int64_t n_out = r.src.n_out, n_in = r.src.n_in;
  auto packed = PackedLinear::pack(r.src);
  EXPECT_TRUE(packed.ok()) << packed.status().to_string();
  auto dev = CudaLinear::upload(r.src);
  EXPECT_TRUE(dev.ok()) << dev.status().to_string();
  if (!packed.ok() || !dev.ok()) return {INFINITY, INFINITY};
  EXPECT_TRUE(dev->fast_path());
  const int64_t n_groups = n_in / f.group;
  std::vector<float> sc(static_cast<size_t>(n_out * n_groups)), bi(sc.size());
  to_f32(f.dtype, r.src.scales, sc.data(), sc.size());
  to_f32(f.dtype, r.src.biases, bi.data(), bi.size());
  std::vector<std::vector<uint32_t>> codes;
  for (int64_t o = 0; o < n_out; ++o) codes.push_back(row_codes(r, o));

  const size_t scratch_bytes = cuda::gemv_i8_scratch_bytes(n_in);
  auto scratch = cuda::DeviceBuffer::alloc(scratch_bytes);
  EXPECT_TRUE(scratch.ok());
  if (!scratch.ok()) return {INFINITY, INFINITY};
  cuda::ForwardOptions opt;
  opt.gemm_min_rows = 1 << 30;  // the GEMV at every n
  opt.gemv_i8 = true;
  opt.gemv_stream = g_stream;
  opt.gemv_scratch = scratch->data();
  opt.gemv_scratch_bytes = scratch_bytes;

  const double depth = 48.0 + double(n_in) / 32.0;
  double worst_emul = 0, worst_ref = 0;
  for (int64_t n : ns) {
    EXPECT_TRUE(dev->uses_gemv_i8(n, opt));
    auto x = random_vector(static_cast<size_t>(n * n_in), seed + static_cast<uint32_t>(n), 1.0f);
    std::vector<float> ref(static_cast<size_t>(n * n_out));
    packed->forward_reference(x.data(), n, ref.data());
    testing::DeviceBuffer dx = testing::to_device(x);
    testing::DeviceBuffer dy = testing::poisoned<float>(ref.size());
    const Status st = dev->forward(dx.as<float>(), n, dy.as<float>(), nullptr, opt);
    EXPECT_TRUE(st.ok()) << st.to_string();
    const std::vector<float> y = testing::to_host<float>(dy, ref.size());
    const std::string what = describe(f, n_out, n_in, n);
    int bad = 0;
    for (int64_t j = 0; j < n; ++j) {
      const float* xj = x.data() + j * n_in;
      const QuantRow qr = quantize_row(xj, n_in);
      for (int64_t o = 0; o < n_out; ++o) {
        const std::vector<uint32_t>& c = codes[o];
        double emul = 0, mag = 0, quant = 0, wround = 0;
        for (int64_t blk = 0; blk < n_in / 32; ++blk) {
          const size_t g = static_cast<size_t>(o * n_groups + blk * 32 / f.group);
          const double s = sc[g], b = bi[g], d = qr.d[blk];
          int64_t dot = 0;
          double xsum = 0, sc_abs = 0, x_abs = 0, scx = 0;
          for (int64_t i = blk * 32; i < blk * 32 + 32; ++i) {
            dot += static_cast<int64_t>(c[i]) * qr.q[i];
            xsum += xj[i];
            const double a = std::fabs(s * double(c[i]));
            sc_abs += a;
            x_abs += std::fabs(double(xj[i]));
            scx += a * std::fabs(double(xj[i]));
          }
          emul += s * d * double(dot) + b * xsum;
          mag += scx + sc_abs * d / 2 + std::fabs(b) * x_abs;
          quant += sc_abs * d / 2 * (1.0 + 1e-4);
          wround += kU * (scx + std::fabs(b) * x_abs);
        }
        if (r.src.bias != nullptr) {
          emul += r.bias32[o];
          mag += std::fabs(r.bias32[o]);
        }
        const double yv = y[j * n_out + o];
        const double rv = ref[j * n_out + o];
        const double slack = 3.0 * kU * depth * mag + 2.0 * kU * std::fabs(emul) + 1e-30;
        const double tol_ref = quant + slack + wround + 2.0 * kU * std::fabs(rv);
        const double e1 = std::fabs(yv - emul), e2 = std::fabs(yv - rv);
        if (!(e1 <= slack) || !(e2 <= tol_ref)) {
          if (++bad <= 3) {
            ADD_FAILURE() << what << ": y[" << j << "][" << o << "] = " << yv << ", emulated "
                          << emul << " (|err| " << e1 << ", tol " << slack << "), reference "
                          << rv << " (|err| " << e2 << ", tol " << tol_ref << ")";
          }
        } else {
          worst_emul = std::max(worst_emul, e1 / slack);
          worst_ref = std::max(worst_ref, e2 / tol_ref);
        }
      }
    }
    EXPECT_EQ(bad, 0) << what;
  }
  return {worst_emul, worst_ref};
}

void every_fast_format() {
  // (n_out, n_in) → 32-blocks per row and the K-slices the launcher picks on 132 SMs (small
  // layers split further): (37, 640) → 20 (1 slice), (2200, 2080) → 65 (2),
  // (1030, 2080) → 65 (4), (133, 4480) → 140 (8), (9, 8320) → 260 (8).
  const std::vector<std::pair<int64_t, int64_t>> shapes = {
      {37, 640}, {133, 4480}, {9, 8320}, {1030, 2080}, {2200, 2080}};
  const std::vector<int64_t> ns = {1, 2, 3, 4, 5, 6, 7, 8, 11};
  uint32_t seed = 2000;
  double we = 0, wr = 0;
  for (const Format& f : fast_formats()) {
    for (const auto& [n_out, n_in] : shapes) {
      if (n_in % f.group != 0) continue;
      RandomLinear r = make_linear(n_out, n_in, f.bits, f.group, f.dtype, ++seed);
      const auto [e, q] = check_layer(r, f, n_out > 1000 ? std::vector<int64_t>{1, 8} : ns,
                                      seed * 13);
      we = std::max(we, e);
      wr = std::max(wr, q);
    }
  }
  std::printf("[ INFO     ] worst |err|/tol: vs emulation %.3g, vs reference %.3g\n", we, wr);
}

void bias_and_large_shape() {
  for (const Format& f : {Format{4, 64, DType::kBF16}, Format{8, 128, DType::kF16}}) {
    RandomLinear r = make_linear(70, 1024, f.bits, f.group, f.dtype, 77, /*with_bias=*/true);
    check_layer(r, f, {1, 4, 9}, 78);
    RandomLinear big = make_linear(515, 4096, f.bits, f.group, f.dtype, 90 + f.bits);
    check_layer(big, f, {1, 8}, 91);
    // 3001 row groups: more than the weight stream's warps on 132 SMs (2640), so some warps
    // take two groups and the ring runs across a group boundary.
    RandomLinear tall = make_linear(12003, 512, f.bits, f.group, f.dtype, 95 + f.bits);
    check_layer(tall, f, {1, 3}, 96);
  }
}

// Row j of a batch of 8 (and of 11: two launches) is bit-identical to row j alone.
void rows_independent_of_batch() {
  for (const Format& f : {Format{4, 64, DType::kBF16}, Format{8, 32, DType::kF16},
                          Format{4, 128, DType::kF16}}) {
    for (const auto& [n_out, n_in] : std::vector<std::pair<int64_t, int64_t>>{{133, 4480},
                                                                              {37, 640}}) {
      RandomLinear r = make_linear(n_out, n_in, f.bits, f.group, f.dtype, 500);
      auto dev = CudaLinear::upload(r.src);
      ASSERT_TRUE(dev.ok()) << dev.status().to_string();
      auto scratch = cuda::DeviceBuffer::alloc(cuda::gemv_i8_scratch_bytes(n_in));
      ASSERT_TRUE(scratch.ok());
      cuda::ForwardOptions opt;
      opt.gemm_min_rows = 1 << 30;
      opt.gemv_stream = g_stream;
      opt.gemv_scratch = scratch->data();
      opt.gemv_scratch_bytes = scratch->size();
      const int64_t n = 11;
      auto x = random_vector(static_cast<size_t>(n * n_in), 501, 2.0f);
      testing::DeviceBuffer dx = testing::to_device(x);
      testing::DeviceBuffer dy = testing::poisoned<float>(static_cast<size_t>(n * n_out));
      ASSERT_TRUE(dev->forward(dx.as<float>(), n, dy.as<float>(), nullptr, opt).ok());
      const auto batch = testing::to_host<float>(dy, static_cast<size_t>(n * n_out));
      ASSERT_TRUE(dev->forward(dx.as<float>(), 8, dy.as<float>(), nullptr, opt).ok());
      const auto batch8 = testing::to_host<float>(dy, static_cast<size_t>(8 * n_out));
      for (int64_t j = 0; j < n; ++j) {
        testing::DeviceBuffer d1 = testing::poisoned<float>(static_cast<size_t>(n_out));
        ASSERT_TRUE(
            dev->forward(dx.as<float>() + j * n_in, 1, d1.as<float>(), nullptr, opt).ok());
        const auto alone = testing::to_host<float>(d1, static_cast<size_t>(n_out));
        EXPECT_EQ(0, std::memcmp(alone.data(), batch.data() + j * n_out, n_out * sizeof(float)))
            << describe(f, n_out, n_in, n) << ": row " << j << " of 11 differs from alone";
        if (j < 8) {
          EXPECT_EQ(0,
                    std::memcmp(alone.data(), batch8.data() + j * n_out, n_out * sizeof(float)))
              << describe(f, n_out, n_in, 8) << ": row " << j << " of 8 differs from alone";
        }
        for (float v : alone) ASSERT_TRUE(std::isfinite(v));
      }
    }
  }
}

TEST(CudaGemvI8Test, EveryFastFormatMatchesEmulationAndReference) {
  MLXM_SKIP_WITHOUT_CUDA();
  g_stream = false;
  every_fast_format();
}
TEST(CudaGemvI8Test, BiasAndLargeShape) {
  MLXM_SKIP_WITHOUT_CUDA();
  g_stream = false;
  bias_and_large_shape();
}
TEST(CudaGemvI8Test, RowsIndependentOfBatch) {
  MLXM_SKIP_WITHOUT_CUDA();
  g_stream = false;
  rows_independent_of_batch();
}
TEST(CudaGemvStreamTest, EveryFastFormatMatchesEmulationAndReference) {
  MLXM_SKIP_WITHOUT_CUDA();
  g_stream = true;
  every_fast_format();
  g_stream = false;
}
TEST(CudaGemvStreamTest, BiasAndLargeShape) {
  MLXM_SKIP_WITHOUT_CUDA();
  g_stream = true;
  bias_and_large_shape();
  g_stream = false;
}
TEST(CudaGemvStreamTest, RowsIndependentOfBatch) {
  MLXM_SKIP_WITHOUT_CUDA();
  g_stream = true;
  rows_independent_of_batch();
  g_stream = false;
}

TEST(CudaGemvI8Test, PathSelectionAndBadScratch) {
  MLXM_SKIP_WITHOUT_CUDA();
  RandomLinear r = make_linear(8, 128, 4, 64, DType::kBF16, 5);
  auto dev = CudaLinear::upload(r.src);
  ASSERT_TRUE(dev.ok()) << dev.status().to_string();
  const size_t need = cuda::gemv_i8_scratch_bytes(128);
  EXPECT_EQ(need, size_t(10 * 128));
  auto scratch = cuda::DeviceBuffer::alloc(need + 64);
  ASSERT_TRUE(scratch.ok());
  auto x = testing::to_device(random_vector(8 * 128, 6));
  auto y = testing::poisoned<float>(64);
  cuda::ForwardOptions opt;
  EXPECT_FALSE(dev->uses_gemv_i8(1, opt));  // no scratch: the f32 GEMV
  opt.gemv_scratch = scratch->data();
  opt.gemv_scratch_bytes = need;
  EXPECT_TRUE(dev->uses_gemv_i8(1, opt));
  EXPECT_TRUE(dev->uses_gemv_i8(4, opt));
  EXPECT_FALSE(dev->uses_gemv_i8(cuda::kDefaultGemmMinRows, opt));  // the GEMM
  EXPECT_FALSE(dev->uses_gemv_i8(0, opt));
  opt.gemv_i8 = false;
  EXPECT_FALSE(dev->uses_gemv_i8(1, opt));
  opt.gemv_i8 = true;
  // Too small, misaligned: errors naming the scratch, nothing launched.
  opt.gemv_scratch_bytes = need - 1;
  Status st = dev->forward(x.as<float>(), 1, y.as<float>(), nullptr, opt);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("gemv_scratch"), std::string::npos) << st.message();
  opt.gemv_scratch_bytes = need + 56;
  opt.gemv_scratch = static_cast<char*>(scratch->data()) + 8;
  st = dev->forward(x.as<float>(), 1, y.as<float>(), nullptr, opt);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  // The usual argument checks still come first.
  opt.gemv_scratch = scratch->data();
  opt.gemv_scratch_bytes = need;
  EXPECT_EQ(dev->forward(x.as<float>(), -1, y.as<float>(), nullptr, opt).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(dev->forward(nullptr, 1, y.as<float>(), nullptr, opt).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(dev->forward(x.as<float>() + 1, 1, y.as<float>(), nullptr, opt).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(dev->forward(x.as<float>(), 0, y.as<float>(), nullptr, opt).ok());
  // Formats off the fast path ignore the flag (generic kernel).
  RandomLinear r3 = make_linear(8, 128, 3, 64, DType::kBF16, 7);
  auto dev3 = CudaLinear::upload(r3.src);
  ASSERT_TRUE(dev3.ok());
  EXPECT_FALSE(dev3->uses_gemv_i8(1, opt));
  EXPECT_TRUE(dev3->forward(x.as<float>(), 2, y.as<float>(), nullptr, opt).ok());
  st = cuda::synchronize();
  EXPECT_TRUE(st.ok()) << st.to_string();
}

}  // namespace
}  // namespace mlxm::engine
