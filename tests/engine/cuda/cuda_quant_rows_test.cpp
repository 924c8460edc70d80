// Producer kernels that write their rows quantized for the int8 GEMV (cuda_ops.h XTarget:
// add_rms_norm, silu_mul) against the GEMV's own quantize launch, and the GEMV reading them
// (ForwardOptions::gemv_x_ready).
// Contract: the int8 values and the block scales d are bit-identical to the quantize launch's
// (d = max|x|/127 does not depend on an order); the block sums Σx differ only by summation order:
// |ΔΣx| ≤ 2·31·u·Σ|x| per block. The GEMV's outputs then differ by Σ_blocks |b|·|ΔΣx|,
// checked here against 64·u·max|b|·Σ|x| per row (plus f32 slack).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "engine/cuda/cuda_test_util.h"
#include "engine/kernels/cuda/cuda_linear.h"
#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/kernels/kernel_test_util.h"
#include "engine/tensor/dtype.h"

namespace mlxm::engine {
namespace {

using cuda::CudaLinear;
using testing::DeviceBuffer;
using testing::make_linear;
using testing::random_vector;
using testing::to_device;
using testing::to_host;

using testing::kU;

struct Scratch {
  std::vector<int8_t> q;     // (n, dim)
  std::vector<float> ds;     // (n, dim/32, 2)
};

Scratch read_scratch(const DeviceBuffer& s, int64_t n, int64_t dim) {
  const auto all = to_host<int8_t>(s, size_t(cuda::gemv_i8_scratch_bytes(dim)));
  Scratch out;
  out.q.assign(all.begin(), all.begin() + n * dim);
  out.ds.resize(size_t(n * dim / 32 * 2));
  std::memcpy(out.ds.data(), all.data() + 8 * dim, out.ds.size() * sizeof(float));
  return out;
}

DeviceBuffer zeroed_scratch(int64_t dim) {
  DeviceBuffer b = testing::poisoned<int8_t>(cuda::gemv_i8_scratch_bytes(dim));
  EXPECT_TRUE(b.fill_bytes(0).ok());
  return b;
}

// `rows` (n, dim) on the device were quantized by a producer into `mine`. Quantizes them again
// through the GEMV's own launch into another scratch, compares the two, then runs the GEMV
// from both scratches and compares the outputs (fatal failures return early; the callers wrap
// it in ASSERT_NO_FATAL_FAILURE).
void check_against_gemv(const char* what, const DeviceBuffer& rows_buf, int64_t n, int64_t dim,
                        int bits, const DeviceBuffer& mine) {
  const float* rows = rows_buf.as<const float>();
  const std::string ctx = std::string(what) + " bits " + std::to_string(bits) + " n " +
                          std::to_string(n) + " dim " + std::to_string(dim) + ": ";
  const int64_t n_out = 40;
  testing::RandomLinear r = make_linear(n_out, dim, bits, 64, DType::kBF16, 900 + uint32_t(dim));
  auto lin = CudaLinear::upload(r.src);
  ASSERT_TRUE(lin.ok()) << ctx << lin.status().to_string();
  DeviceBuffer theirs = zeroed_scratch(dim);
  cuda::ForwardOptions opt;
  opt.gemm_min_rows = 1 << 30;
  opt.gemv_scratch = theirs.data();
  opt.gemv_scratch_bytes = theirs.size();
  DeviceBuffer y_ref = testing::poisoned<float>(size_t(n * n_out));
  Status st = lin->forward(rows, n, y_ref.as<float>(), nullptr, opt);  // quantizes into theirs
  ASSERT_TRUE(st.ok()) << st.to_string();
  DeviceBuffer y_ready = testing::poisoned<float>(size_t(n * n_out));
  cuda::ForwardOptions ready = opt;
  ready.gemv_scratch = mine.data();
  ready.gemv_scratch_bytes = mine.size();
  ready.gemv_x_ready = true;
  st = lin->forward(rows, n, y_ready.as<float>(), nullptr, ready);
  ASSERT_TRUE(st.ok()) << st.to_string();

  const Scratch a = read_scratch(mine, n, dim), b = read_scratch(theirs, n, dim);
  const auto x = to_host<float>(rows_buf, size_t(n * dim));
  for (size_t i = 0; i < a.q.size(); ++i) {
    ASSERT_EQ(int(a.q[i]), int(b.q[i])) << ctx << "int8 value " << i;
  }
  std::vector<double> row_abs(size_t(n), 0.0);
  for (int64_t blk = 0; blk < n * dim / 32; ++blk) {
    ASSERT_EQ(a.ds[2 * blk], b.ds[2 * blk]) << ctx << "block scale " << blk;
    double abs_sum = 0;
    for (int i = 0; i < 32; ++i) abs_sum += std::fabs(x[size_t(blk * 32 + i)]);
    row_abs[size_t(blk * 32 / dim)] += abs_sum;
    EXPECT_LE(std::fabs(double(a.ds[2 * blk + 1]) - b.ds[2 * blk + 1]), 62 * kU * abs_sum + 1e-30)
        << ctx << "block sum " << blk;
  }
  std::vector<float> biases(size_t(n_out * dim / 64));
  to_f32(DType::kBF16, r.src.biases, biases.data(), biases.size());
  double max_b = 0;
  for (float v : biases) max_b = std::max(max_b, double(std::fabs(v)));
  const auto ya = to_host<float>(y_ready, size_t(n * n_out));
  const auto yb = to_host<float>(y_ref, size_t(n * n_out));
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t o = 0; o < n_out; ++o) {
      const size_t i = size_t(j * n_out + o);
      const double tol = 64 * kU * max_b * row_abs[size_t(j)] + 4 * kU * std::fabs(yb[i]) + 1e-30;
      ASSERT_LE(std::fabs(double(ya[i]) - yb[i]), tol) << ctx << "y[" << j << "][" << o << "]";
    }
  }
}

TEST(CudaQuantRowsTest, AddRmsNormQuantizesLikeTheGemv) {
  MLXM_SKIP_WITHOUT_CUDA();
  // 64: one warp; 3072: one chunk a thread; 4160, 12288, 16384: 2, 3, 4 chunks a thread.
  for (int64_t dim : {64, 3072, 4160, 12288, 16384}) {
    for (int bits : {4, 8}) {
      for (int64_t n : {1, 3, 8}) {
        auto x = random_vector(size_t(n * dim), 31 + uint32_t(dim + n), 3.0f);
        auto y = random_vector(size_t(n * dim), 32 + uint32_t(dim + n), 3.0f);
        auto w = random_vector(size_t(dim), 33 + uint32_t(dim));
        DeviceBuffer dx = to_device(x), dy = to_device(y), dw = to_device(w);
        DeviceBuffer dn = testing::poisoned<float>(x.size());
        DeviceBuffer scratch = zeroed_scratch(dim);
        const Status st = cuda::add_rms_norm(dx.as<float>(), dy.as<float>(), dw.as<float>(), 1e-5f,
                                             n, dim, dn.as<float>(), nullptr,
                                             {scratch.data(), bits});
        ASSERT_TRUE(st.ok()) << st.to_string();
        ASSERT_NO_FATAL_FAILURE(check_against_gemv("add_rms_norm", dn, n, dim, bits, scratch));
      }
    }
  }
}

TEST(CudaQuantRowsTest, SiluMulQuantizesLikeTheGemv) {
  MLXM_SKIP_WITHOUT_CUDA();
  for (int64_t ff : {64, 8192, 14336}) {
    for (int bits : {4, 8}) {
      for (int64_t n : {1, 5, 8}) {
        auto gu = random_vector(size_t(n * 2 * ff), 41 + uint32_t(ff + n), 4.0f);
        DeviceBuffer dgu = to_device(gu);
        DeviceBuffer out = testing::poisoned<float>(size_t(n * ff));
        DeviceBuffer scratch = zeroed_scratch(ff);
        const Status st =
            cuda::silu_mul(dgu.as<float>(), n, ff, out.as<float>(), nullptr, {scratch.data(), bits});
        ASSERT_TRUE(st.ok()) << st.to_string();
        // The float output is the plain kernel's.
        const auto got = to_host<float>(out, size_t(n * ff));
        for (int64_t j = 0; j < n; ++j) {
          for (int64_t i = 0; i < ff; ++i) {
            const float g = gu[size_t(j * 2 * ff + i)], u = gu[size_t(j * 2 * ff + ff + i)];
            const double ref = double(g) / (1.0 + std::exp(-double(g))) * u;
            ASSERT_LE(std::fabs(got[size_t(j * ff + i)] - ref), 4e-6 * (std::fabs(ref) + 1e-3))
                << "silu_mul [" << j << "][" << i << "]";
          }
        }
        ASSERT_NO_FATAL_FAILURE(check_against_gemv("silu_mul", out, n, ff, bits, scratch));
      }
    }
  }
}

TEST(CudaQuantRowsTest, BadRequestsAreRejected) {
  MLXM_SKIP_WITHOUT_CUDA();
  const int64_t dim = 64;
  const testing::AddNormOperands ops(16, dim);
  DeviceBuffer scratch = zeroed_scratch(dim);
  const StatusCode bad = StatusCode::kInvalidArgument;
  EXPECT_EQ(ops.run(9, dim, {scratch.data(), 4}).code(), bad);  // > 8 rows
  EXPECT_EQ(ops.run(1, 48, {scratch.data(), 4}).code(), bad);   // not %32
  EXPECT_EQ(ops.run(1, dim, {scratch.data(), 3}).code(), bad);  // bits
  EXPECT_EQ(ops.run(1, dim, {static_cast<char*>(scratch.data()) + 4, 4}).code(),
            StatusCode::kInvalidArgument);  // misaligned
  const Status silu = cuda::silu_mul(ops.y.as<float>(), 9, 32, ops.xn.as<float>(), nullptr,
                                     {scratch.data(), 4});  // > 8 rows
  EXPECT_EQ(silu.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ops.run(8, dim, {scratch.data(), 8}).ok());
  // gemv_x_ready only where the int8 GEMV runs on <= 8 rows.
  testing::RandomLinear r = make_linear(16, dim, 4, 64, DType::kBF16, 4);
  auto lin = CudaLinear::upload(r.src);
  ASSERT_TRUE(lin.ok());
  cuda::ForwardOptions opt;
  opt.gemv_scratch = scratch.data();
  opt.gemv_scratch_bytes = scratch.size();
  opt.gemv_x_ready = true;
  opt.gemm_min_rows = 1 << 30;
  DeviceBuffer out = testing::poisoned<float>(size_t(16 * 16));
  Status st = lin->forward(ops.xn.as<float>(), 9, out.as<float>(), nullptr, opt);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("gemv_x_ready"), std::string::npos) << st.message();
  opt.gemm_min_rows = 1;  // the GEMM
  EXPECT_EQ(lin->forward(ops.xn.as<float>(), 2, out.as<float>(), nullptr, opt).code(),
            StatusCode::kInvalidArgument);
  opt.gemm_min_rows = 1 << 30;
  EXPECT_TRUE(lin->forward(ops.xn.as<float>(), 8, out.as<float>(), nullptr, opt).ok());
  st = cuda::synchronize();
  EXPECT_TRUE(st.ok()) << st.to_string();
}

}  // namespace
}  // namespace mlxm::engine
