// The tensor-core GEMM path of CudaLinear (gemm.cu: MLX affine 4/8 bits, F16/BF16 scales)
// against PackedLinear::forward_reference (double accumulation over the exact dequantized
// weights), on awkward sizes: activation rows not a multiple of the 64/128-row tiles (1, 9,
// 16, 63, 64, 65, 130, 257), output rows not a multiple of 64/128 (37, 133, 9), K not a
// multiple of the 64-wide K-tile (n_in 96, 160 with group 32), K-splits (with a workspace)
// and without, group 32/64/128; up to 64 rows the 64x64 configuration, above 128x128. With
// a workspace, 4-bit calls of up to 64 rows take the batched-decode GEMM (gemm_decode.cu: x
// rounded into the workspace, codes dequantized into mma fragments), so every such case runs
// both kernels: without a workspace the 64x64 configuration, with one the decode GEMM.
//
// Tolerance per output, derived: the operands are rounded once to the scales' dtype (unit
// roundoff u_op = 2^-11 for f16, 2^-8 for bf16): w̃ = w(1+δ1), x̃ = x(1+δ2), |δ| ≤ u_op (+ u for
// the f32 fma before the rounding), products exact in f32, summed in f32 over at most
// D = n_in/16 + 32 sequential additions (k16 steps, K-split merge ≤ 16). With S = Σ|w_i·x_i|:
// |y − ref| ≤ (2.1·u_op + 4·u·D)·S + 2u·|ref| + n_in·2^-25·max|w| (f16 subnormal x), u = 2^-24.
// The relative L2 error of a whole output must stay under 4·u_op (bf16 ≈ 1.6e-2 ... in practice
// ~2e-3, f16 ~3e-4; METHOD.md: bf16 operands land between 1e-3 and 1e-2).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "engine/cuda/cuda_test_util.h"
#include "engine/kernels/cpu/linear.h"
#include "engine/kernels/cuda/cuda_linear.h"
#include "engine/kernels/kernel_test_util.h"

namespace mlxm::engine {
namespace {

using cuda::CudaLinear;
using testing::make_linear;
using testing::random_vector;
using testing::RandomLinear;

using testing::kU;

struct Case {
  int64_t n_out, n_in;
  int bits, group;
  DType dtype;
  std::vector<int64_t> ns;
};

std::string describe(const Case& c, int64_t n, bool split) {
  return "bits " + std::to_string(c.bits) + " group " + std::to_string(c.group) + " " +
         dtype_name(c.dtype) + " (" + std::to_string(c.n_out) + " x " + std::to_string(c.n_in) +
         ") n " + std::to_string(n) + (split ? " split-K" : "");
}

// The GEMM for every n; with split-K a workspace of `big` floats.
// With a workspace, 4-bit calls of <= 64 rows take the decode GEMM whatever the layer's size.
cuda::ForwardOptions gemm_options(bool split, testing::DeviceBuffer& ws, size_t big) {
  cuda::ForwardOptions opt;
  opt.gemm_min_rows = 1;
  if (split) {
    opt.workspace = ws.as<float>();
    opt.workspace_floats = big;
    opt.gemm_decode = cuda::GemmDecode::kAlways;
  }
  return opt;
}

// Returns the worst error/tolerance ratio and the worst relative L2 error.
std::pair<double, double> check_case(const Case& c, uint32_t seed, bool with_bias = false) {
  RandomLinear r = make_linear(c.n_out, c.n_in, c.bits, c.group, c.dtype, seed, with_bias);
  auto packed = PackedLinear::pack(r.src);
  EXPECT_TRUE(packed.ok()) << packed.status().to_string();
  auto dev = CudaLinear::upload(r.src);
  EXPECT_TRUE(dev.ok()) << dev.status().to_string();
  if (!packed.ok() || !dev.ok()) return {INFINITY, INFINITY};
  const double u_op = c.dtype == DType::kF16 ? 1.0 / 2048 : 1.0 / 256;
  const double depth = double(c.n_in) / 16.0 + 32.0;
  double max_w = 0;
  for (float v : r.w) max_w = std::max(max_w, double(std::fabs(v)));
  const double sub = c.dtype == DType::kF16 ? double(c.n_in) * std::ldexp(1.0, -25) * max_w : 0.0;
  double worst = 0, worst_rel = 0;
  const int64_t max_n = *std::max_element(c.ns.begin(), c.ns.end());
  // Workspace for up to 16 K-splits of the largest n (at least 64 rows) and the decode GEMM's
  // rounded x (64 rows, K padded to 64).
  const size_t big = static_cast<size_t>(16 * std::max<int64_t>(max_n, 64) * c.n_out +
                                         64 * (c.n_in + 64) / 2 + 64);
  testing::DeviceBuffer ws = testing::poisoned<float>(big);
  for (int64_t n : c.ns) {
    auto x = random_vector(static_cast<size_t>(n * c.n_in), seed + static_cast<uint32_t>(n), 1.0f);
    std::vector<float> ref(static_cast<size_t>(n * c.n_out));
    packed->forward_reference(x.data(), n, ref.data());
    testing::DeviceBuffer dx = testing::to_device(x);
    std::vector<double> sum_abs(ref.size());  // S = Σ|w_i·x_i| per output
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t o = 0; o < c.n_out; ++o) {
        double s = 0;
        for (int64_t i = 0; i < c.n_in; ++i) {
          s += std::fabs(double(r.w[o * c.n_in + i]) * double(x[j * c.n_in + i]));
        }
        sum_abs[j * c.n_out + o] = s;
      }
    }
    for (bool split : {false, true}) {
      const cuda::ForwardOptions opt = gemm_options(split, ws, big);
      EXPECT_TRUE(dev->uses_gemm(n, opt));
      EXPECT_TRUE(ws.fill_bytes(0xFF).ok());
      testing::DeviceBuffer dy = testing::poisoned<float>(ref.size());
      const Status st = dev->forward(dx.as<float>(), n, dy.as<float>(), nullptr, opt);
      EXPECT_TRUE(st.ok()) << st.to_string();
      const std::vector<float> y = testing::to_host<float>(dy, ref.size());
      const std::string what = describe(c, n, split);
      int bad = 0;
      for (int64_t j = 0; j < n; ++j) {
        for (int64_t o = 0; o < c.n_out; ++o) {
          const double s = sum_abs[j * c.n_out + o];
          const double rv = ref[j * c.n_out + o];
          const double tol = (2.1 * u_op + 4.0 * kU * depth) * s + 2.0 * kU * std::fabs(rv) + sub;
          const double yv = y[j * c.n_out + o];
          const double err = std::fabs(yv - rv);
          if (!(err <= tol)) {
            if (++bad <= 3) {
              ADD_FAILURE() << what << ": y[" << j << "][" << o << "] = " << yv << ", reference "
                            << rv << ", |err| " << err << " > tol " << tol;
            }
          } else {
            worst = std::max(worst, err / tol);
          }
        }
      }
      EXPECT_EQ(bad, 0) << what;
      const double rel = testing::rel_l2(y, ref);
      EXPECT_TRUE(rel <= 4.0 * u_op) << what << ": relative L2 error " << rel;
      if (rel == rel) worst_rel = std::max(worst_rel, rel);
    }
  }
  return {worst, worst_rel};
}

TEST(CudaGemmTest, QuantizedFormatsMatchCpuReference) {
  MLXM_SKIP_WITHOUT_CUDA();
  std::vector<Case> cases;
  for (int bits : {4, 8}) {
    for (DType dt : {DType::kBF16, DType::kF16}) {
      cases.push_back({37, 640, bits, 64, dt, {1, 9, 16, 63, 64, 65, 130}});
      cases.push_back({133, 4480, bits, 128, dt, {17, 100}});
      cases.push_back({9, 8320, bits, 32, dt, {33, 257}});
      cases.push_back({70, 96, bits, 32, dt, {20, 129}});    // K-tile half empty
      cases.push_back({200, 160, bits, 32, dt, {64, 200}});  // 2.5 K-tiles, 2 N-tiles
    }
  }
  uint32_t seed = 5000;
  double worst = 0, worst_bf16 = 0, worst_f16 = 0;
  for (const Case& c : cases) {
    const auto [w, rel] = check_case(c, ++seed);
    worst = std::max(worst, w);
    double& wr = c.dtype == DType::kF16 ? worst_f16 : worst_bf16;
    wr = std::max(wr, rel);
  }
  std::printf("[ INFO     ] gemm: worst |err|/tol %.3g; worst relative L2 bf16 %.2e, f16 %.2e\n",
              worst, worst_bf16, worst_f16);
}

TEST(CudaGemmTest, AdditiveBiasAndLargeShape) {
  MLXM_SKIP_WITHOUT_CUDA();
  check_case({70, 1024, 4, 64, DType::kBF16, {9, 70}}, 77, /*with_bias=*/true);
  check_case({515, 4096, 8, 64, DType::kF16, {24, 160}}, 78, /*with_bias=*/true);
  check_case({515, 4096, 4, 64, DType::kBF16, {8, 64}}, 79);
}

// Batched decode sizes (n <= 64: the 64x64 configuration) on awkward sizes: every n in 1..64
// on one shape, n_out not a multiple of 64, n_in with a half-empty last K-tile, 4/8 bits,
// f16/bf16, groups 32/64/128, with and without bias; check_case runs each without and with
// split-K.
TEST(CudaGemmTest, SmallBatchesMatchCpuReference) {
  MLXM_SKIP_WITHOUT_CUDA();
  std::vector<int64_t> all_n;
  for (int64_t n = 1; n <= 64; ++n) all_n.push_back(n);
  check_case({300, 1024, 4, 64, DType::kBF16, all_n}, 9001);
  uint32_t seed = 9100;
  for (int bits : {4, 8}) {
    for (DType dt : {DType::kBF16, DType::kF16}) {
      check_case({300, 1024, bits, 64, dt, {1, 2, 17, 33, 63, 64}}, ++seed);
      check_case({37, 2048, bits, 128, dt, {5, 16, 48}}, ++seed);
      check_case({520, 640, bits, 32, dt, {8, 31, 64}}, ++seed);
      check_case({70, 96, bits, 32, dt, {3, 20}}, ++seed);  // one K-tile, half empty
      // 3 K-tiles, no split: an odd tile count where the decode GEMM takes two per barrier.
      check_case({200, 160, bits, 32, dt, {5, 16}}, ++seed);
      check_case({257, 4096, bits, 64, dt, {1, 33}}, ++seed, /*with_bias=*/true);
      check_case({600, 1120, bits, 32, dt, {64}}, ++seed, /*with_bias=*/true);  // 17.5 K-tiles
    }
  }
}

// A layer of 469 128-row tiles, more than three blocks per SM on 132 SMs even without a K-split:
// at 17-32 rows the decode GEMM runs it in 4-warp blocks, where smaller layers (every other
// case here) take 8 (gemm_decode_plan.h); 16 rows take 8.
TEST(CudaGemmTest, WideLayerTakesFourWarpBlocksAtThirtyTwoRows) {
  MLXM_SKIP_WITHOUT_CUDA();
  check_case({60001, 96, 4, 32, DType::kBF16, {16, 17, 32}}, 9301);
  check_case({60001, 128, 4, 64, DType::kF16, {20, 32}}, 9302);  // n_in: whole groups of 64
}

// Each row's result depends only on that row: rows computed in a batch equal the same rows
// computed alone or in a smaller batch, bit for bit (the engine's batched == alone property).
// Without a workspace the 64x64 / 128x128 GEMM; with one the decode GEMM, whose split-K and
// instantiation follow the row class (1-16, 17-32, 33-64 rows): batches of one class.
TEST(CudaGemmTest, RowsIndependentOfTheBatch) {
  MLXM_SKIP_WITHOUT_CUDA();
  RandomLinear r = make_linear(300, 2048, 4, 64, DType::kBF16, 11);
  auto dev = CudaLinear::upload(r.src);
  ASSERT_TRUE(dev.ok()) << dev.status().to_string();
  const int64_t n_in = 2048, n_out = 300;
  auto x = random_vector(static_cast<size_t>(150 * n_in), 12, 1.0f);
  testing::DeviceBuffer dx = testing::to_device(x);
  testing::DeviceBuffer ws = testing::poisoned<float>(size_t{4} << 20);
  struct Run {
    int64_t n, m;  // n rows at once, then rows [0, m) at once (m == 1: rows 0, 17, n-1 alone)
    bool workspace;
  };
  for (const Run run : {Run{150, 1, false}, Run{64, 1, false}, Run{64, 40, true},
                        Run{32, 20, true}, Run{16, 1, true}}) {
    cuda::ForwardOptions opt;
    opt.gemm_min_rows = 1;
    if (run.workspace) {
      opt.workspace = ws.as<float>();
      opt.workspace_floats = size_t{4} << 20;
      opt.gemm_decode = cuda::GemmDecode::kAlways;
    }
    const int64_t n = run.n;
    testing::DeviceBuffer all = testing::poisoned<float>(static_cast<size_t>(n * n_out));
    ASSERT_TRUE(dev->forward(dx.as<float>(), n, all.as<float>(), nullptr, opt).ok());
    const auto ya = testing::to_host<float>(all, static_cast<size_t>(n * n_out));
    std::vector<std::pair<int64_t, int64_t>> parts;  // (first row, rows)
    if (run.m == 1) {
      parts = {{0, 1}, {std::min<int64_t>(17, n - 1), 1}, {n - 1, 1}};
    } else {
      parts = {{0, run.m}};
    }
    for (const auto& [j0, m] : parts) {
      testing::DeviceBuffer some = testing::poisoned<float>(static_cast<size_t>(m * n_out));
      ASSERT_TRUE(dev->forward(dx.as<float>() + j0 * n_in, m, some.as<float>(), nullptr, opt).ok());
      const auto ym = testing::to_host<float>(some, static_cast<size_t>(m * n_out));
      for (int64_t j = 0; j < m; ++j) {
        for (int64_t o = 0; o < n_out; ++o) {
          ASSERT_EQ(ym[j * n_out + o], ya[(j0 + j) * n_out + o])
              << "n " << n << (run.workspace ? " (workspace)" : "") << " row " << j0 + j
              << " output " << o << " in a batch of " << m;
        }
      }
    }
  }
}

}  // namespace
}  // namespace mlxm::engine
