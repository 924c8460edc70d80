// Producer kernels writing the batched-decode GEMM's x (cuda_ops.h XTarget in the GEMM's form,
// gemm_x.cuh): add_rms_norm and silu_mul at 9-64 rows, bf16 and f16.
// Contract: each stored value is the producer's f32 output rounded to nearest even, at the tile
// position gemm_x.cuh gives its K; the GEMM reading them (ForwardOptions::gemm_x_ready) gives
// outputs bit-identical to the GEMM that rounds x itself, and never reads x (here: NaN rows).
#include <gtest/gtest.h>

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

// Natural K (within a 64-value tile) of tile position p: gemm_decode.cu's pi.
int natural_k(int p) {
  const int s = p >> 4, h = (p >> 3) & 1, t = (p >> 1) & 3, e = p & 1;
  return 16 * t + 8 * (s >> 1) + (s & 1) + 4 * h + 2 * e;
}

// Options under which 4-bit calls of <= 64 rows take the decode GEMM.
struct GemmSetup {
  DeviceBuffer ws = testing::poisoned<float>(size_t{4} << 20);
  cuda::ForwardOptions opt;
  GemmSetup() {
    opt.gemm_min_rows = 1;
    opt.workspace = ws.as<float>();
    opt.workspace_floats = size_t{4} << 20;
    opt.gemm_decode = cuda::GemmDecode::kAlways;
  }
};

// `rows` (n, dim) on the device were written by a producer, `gx` its XTarget buffer. Checks
// every stored value, then runs a GEMM on `rows` and one on gx (x NaN) and compares them.
void check_gemm_x(const std::string& what, const DeviceBuffer& rows, const DeviceBuffer& gx,
                  int64_t n, int64_t dim, bool f16) {
  const std::string ctx = what + (f16 ? " f16" : " bf16") + " n " + std::to_string(n) +
                          " dim " + std::to_string(dim) + ": ";
  const auto x = to_host<float>(rows, size_t(n * dim));
  const auto got = to_host<uint16_t>(gx, size_t(n * dim));
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t p = 0; p < dim; ++p) {
      const int64_t k = p / 64 * 64 + natural_k(int(p % 64));
      const float v = x[size_t(j * dim + k)];
      const uint16_t want = f16 ? f32_to_f16(v) : f32_to_bf16(v);
      ASSERT_EQ(got[size_t(j * dim + p)], want) << ctx << "row " << j << " position " << p;
    }
  }
  const int64_t n_out = 200;  // two 128-row tiles, the second partial
  testing::RandomLinear r =
      make_linear(n_out, dim, 4, 64, f16 ? DType::kF16 : DType::kBF16, 700 + uint32_t(dim));
  auto lin = CudaLinear::upload(r.src);
  ASSERT_TRUE(lin.ok()) << ctx << lin.status().to_string();
  GemmSetup g;
  ASSERT_TRUE(lin->uses_gemm_decode(n, g.opt)) << ctx;
  DeviceBuffer y_ref = testing::poisoned<float>(size_t(n * n_out));
  Status st = lin->forward(rows.as<float>(), n, y_ref.as<float>(), nullptr, g.opt);
  ASSERT_TRUE(st.ok()) << ctx << st.to_string();
  cuda::ForwardOptions ready = g.opt;
  ready.gemm_x = gx.data();
  ready.gemm_x_bytes = gx.size();
  ready.gemm_x_ready = true;
  DeviceBuffer nan_x = testing::poisoned<float>(size_t(n * dim));
  DeviceBuffer y_ready = testing::poisoned<float>(size_t(n * n_out));
  st = lin->forward(nan_x.as<float>(), n, y_ready.as<float>(), nullptr, ready);
  ASSERT_TRUE(st.ok()) << ctx << st.to_string();
  const auto a = to_host<float>(y_ready, size_t(n * n_out));
  const auto b = to_host<float>(y_ref, size_t(n * n_out));
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t ua, ub;
    std::memcpy(&ua, &a[i], 4);
    std::memcpy(&ub, &b[i], 4);
    ASSERT_EQ(ua, ub) << ctx << "y[" << i / n_out << "][" << i % n_out << "] " << a[i] << " vs "
                      << b[i];
  }
}

DeviceBuffer gemm_x_buffer(int64_t dim) {
  return testing::poisoned<uint16_t>(cuda::gemm_x_bytes(dim) / 2);
}

TEST(CudaGemmXTest, AddRmsNormWritesTheGemmsForm) {
  MLXM_SKIP_WITHOUT_CUDA();
  // 128: one warp a row; 3072: one chunk a thread; 12288: three.
  for (int64_t dim : {128, 3072, 12288}) {
    for (bool f16 : {false, true}) {
      for (int64_t n : {9, 16, 33, 64}) {
        auto x = random_vector(size_t(n * dim), 51 + uint32_t(dim + n), 3.0f);
        auto y = random_vector(size_t(n * dim), 52 + uint32_t(dim + n), 3.0f);
        auto w = random_vector(size_t(dim), 53 + uint32_t(dim));
        DeviceBuffer dx = to_device(x), dy = to_device(y), dw = to_device(w);
        DeviceBuffer dn = testing::poisoned<float>(x.size());
        DeviceBuffer gx = gemm_x_buffer(dim);
        const Status st = cuda::add_rms_norm(dx.as<float>(), dy.as<float>(), dw.as<float>(), 1e-5f,
                                             n, dim, dn.as<float>(), nullptr,
                                             {gx.data(), 4, true, f16});
        ASSERT_TRUE(st.ok()) << st.to_string();
        ASSERT_NO_FATAL_FAILURE(check_gemm_x("add_rms_norm", dn, gx, n, dim, f16));
      }
    }
  }
}

TEST(CudaGemmXTest, SiluMulWritesTheGemmsForm) {
  MLXM_SKIP_WITHOUT_CUDA();
  for (int64_t ff : {128, 8192, 14336}) {
    for (bool f16 : {false, true}) {
      for (int64_t n : {9, 20, 64}) {
        auto gu = random_vector(size_t(n * 2 * ff), 61 + uint32_t(ff + n), 4.0f);
        DeviceBuffer dgu = to_device(gu);
        DeviceBuffer out = testing::poisoned<float>(size_t(n * ff));
        DeviceBuffer gx = gemm_x_buffer(ff);
        const Status st = cuda::silu_mul(dgu.as<float>(), n, ff, out.as<float>(), nullptr,
                                         {gx.data(), 4, true, f16});
        ASSERT_TRUE(st.ok()) << st.to_string();
        ASSERT_NO_FATAL_FAILURE(check_gemm_x("silu_mul", out, gx, n, ff, f16));
      }
    }
  }
}

TEST(CudaGemmXTest, BadRequestsAreRejected) {
  MLXM_SKIP_WITHOUT_CUDA();
  const int64_t dim = 128;
  const testing::AddNormOperands ops(80, dim);
  DeviceBuffer gx = gemm_x_buffer(dim);
  EXPECT_EQ(ops.run(65, dim, {gx.data(), 4, true}).code(), StatusCode::kInvalidArgument);  // rows
  const Status odd = ops.run(9, 96, {gx.data(), 4, true});  // a multiple of 32, not of 64
  EXPECT_EQ(odd.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(odd.message().find("multiple of 64"), std::string::npos) << odd.message();
  EXPECT_EQ(ops.run(9, dim, {static_cast<char*>(gx.data()) + 4, 4, true}).code(),
            StatusCode::kInvalidArgument);  // misaligned
  const Status silu = cuda::silu_mul(ops.y.as<float>(), 65, 64, ops.xn.as<float>(), nullptr,
                                     {gx.data(), 4, true});  // rows
  EXPECT_EQ(silu.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ops.run(64, dim, {gx.data(), 4, true, true}).ok());

  testing::RandomLinear r = make_linear(16, dim, 4, 64, DType::kBF16, 4);
  auto lin = CudaLinear::upload(r.src);
  ASSERT_TRUE(lin.ok());
  GemmSetup g;
  EXPECT_TRUE(lin->uses_gemm_decode(9, g.opt));
  EXPECT_FALSE(lin->uses_gemm_decode(65, g.opt));
  cuda::ForwardOptions off = g.opt;
  off.gemm_decode = cuda::GemmDecode::kOff;
  EXPECT_FALSE(lin->uses_gemm_decode(9, off));
  cuda::ForwardOptions no_ws = g.opt;
  no_ws.workspace = nullptr;
  EXPECT_FALSE(lin->uses_gemm_decode(9, no_ws));

  DeviceBuffer out = testing::poisoned<float>(size_t(80 * 16));
  cuda::ForwardOptions ready = g.opt;
  ready.gemm_x = gx.data();
  ready.gemm_x_bytes = cuda::gemm_x_bytes(dim) - 2;  // too small
  ready.gemm_x_ready = true;
  Status st = lin->forward(ops.xn.as<float>(), 9, out.as<float>(), nullptr, ready);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("gemm_x_ready"), std::string::npos) << st.message();
  ready.gemm_x_bytes = gx.size();
  ready.gemm_x = static_cast<char*>(gx.data()) + 8;  // misaligned
  EXPECT_EQ(lin->forward(ops.xn.as<float>(), 9, out.as<float>(), nullptr, ready).code(),
            StatusCode::kInvalidArgument);
  // Calls the decode GEMM does not take read x as always.
  ready.gemm_x = gx.data();
  ready.gemm_decode = cuda::GemmDecode::kOff;
  EXPECT_TRUE(lin->forward(ops.xn.as<float>(), 9, out.as<float>(), nullptr, ready).ok());
  EXPECT_TRUE(cuda::synchronize().ok());
}

}  // namespace
}  // namespace mlxm::engine
