// CudaLinear against PackedLinear::forward_reference (double accumulation over the exact
// dequantized weights) for every format: dense F32/F16/BF16; MLX affine 2,3,4,5,6,8 bits ×
// group 32/64/128 × F16/BF16 scales (4/8 bits take the fused fast kernel, the others the
// generic one), 4-bit with F32 scales; awkward shapes (rows not a multiple of the 4-row warp
// tile, K-slices that leave lanes idle or uneven) and n = 1, 2, 3, 5, 8, 11 rows (11 = two
// launches).
//
// Tolerance per output, derived: both kernels sum in f32 with at most D = 48 + n_in/32
// sequential roundings on any path (per-chunk chain ≤ 32, per-lane chunks ≤ n_in/32, warp
// tree 5, K-slice merge ≤ 8), over terms bounded by M = Σ_i |x_i|·(2^bits·|s| + |b| + |w_i|)
// (the fast kernel sums L·s·m_i·x_i with m_i < 2 and (b − L·s)·x_i; the generic one w_i·x_i),
// so |y − ref| ≤ 3·u·D·M + 2u·|ref| with u = 2^-24. Besides, the relative L2 error of the whole
// output must stay under 1e-5 (f32 arithmetic lands far below 1e-3 per METHOD.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
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

std::vector<Format> all_formats() {
  std::vector<Format> f;
  for (DType dt : {DType::kBF16, DType::kF16, DType::kF32}) f.push_back({0, 0, dt});
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (int group : {32, 64, 128}) {
      for (DType dt : {DType::kBF16, DType::kF16}) f.push_back({bits, group, dt});
    }
  }
  f.push_back({4, 64, DType::kF32});
  f.push_back({8, 32, DType::kF32});
  return f;
}

// Checks one layer at several row counts; returns the worst error/tolerance ratio seen.
double check_layer(const RandomLinear& r, const Format& f, const std::vector<int64_t>& ns,
                   uint32_t seed) {
  const int64_t n_out = r.src.n_out, n_in = r.src.n_in;
  auto packed = PackedLinear::pack(r.src);
  EXPECT_TRUE(packed.ok()) << packed.status().to_string();
  if (!packed.ok()) return INFINITY;
  auto dev = CudaLinear::upload(r.src);
  EXPECT_TRUE(dev.ok()) << dev.status().to_string();
  if (!dev.ok()) return INFINITY;
  EXPECT_EQ(dev->fast_path(), (f.bits == 4 || f.bits == 8) && f.dtype != DType::kF32);
  EXPECT_EQ(dev->n_out(), n_out);
  EXPECT_EQ(dev->n_in(), n_in);
  // Per-element magnitude bound terms (see the file comment).
  std::vector<float> sc, bi;
  if (f.bits != 0) {
    const size_t n_sb = static_cast<size_t>(n_out * (n_in / f.group));
    sc.resize(n_sb);
    bi.resize(n_sb);
    to_f32(f.dtype, r.src.scales, sc.data(), n_sb);
    to_f32(f.dtype, r.src.biases, bi.data(), n_sb);
  }
  const double levels = f.bits != 0 ? double(1 << f.bits) : 0.0;
  const double depth = 48.0 + double(n_in) / 32.0;
  double worst = 0;
  for (int64_t n : ns) {
    auto x = random_vector(static_cast<size_t>(n * n_in), seed + static_cast<uint32_t>(n), 1.0f);
    std::vector<float> ref(static_cast<size_t>(n * n_out));
    packed->forward_reference(x.data(), n, ref.data());
    testing::DeviceBuffer dx = testing::to_device(x);
    testing::DeviceBuffer dy = testing::poisoned<float>(ref.size());
    cuda::ForwardOptions gemv_only;  // the f32 GEMV at every n (the GEMM: cuda_gemm_test.cpp)
    gemv_only.gemm_min_rows = 1 << 30;
    EXPECT_FALSE(dev->uses_gemm(n, gemv_only));
    const Status st = dev->forward(dx.as<float>(), n, dy.as<float>(), nullptr, gemv_only);
    EXPECT_TRUE(st.ok()) << st.to_string();
    const std::vector<float> y = testing::to_host<float>(dy, ref.size());
    const std::string what = describe(f, n_out, n_in, n);
    int bad = 0;
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t o = 0; o < n_out; ++o) {
        double m = 0;
        for (int64_t i = 0; i < n_in; ++i) {
          double t = std::fabs(double(r.w[o * n_in + i]));
          if (f.bits != 0) {
            const size_t g = static_cast<size_t>(o * (n_in / f.group) + i / f.group);
            t += levels * std::fabs(double(sc[g])) + std::fabs(double(bi[g]));
          }
          m += std::fabs(double(x[j * n_in + i])) * t;
        }
        const double rv = ref[j * n_out + o];
        const double tol = 3.0 * kU * depth * m + 2.0 * kU * std::fabs(rv) + 1e-30;
        const double yv = y[j * n_out + o];
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
    EXPECT_TRUE(rel <= 1e-5) << what << ": relative L2 error " << rel;
  }
  return worst;
}

TEST(CudaLinearTest, RejectsBadSources) {
  // Validation happens before any CUDA call: runs without a GPU too.
  RandomLinear r = make_linear(8, 128, 4, 64, DType::kBF16, 1);
  auto expect_error = [](LinearSource s, const std::string& what) {
    auto res = CudaLinear::upload(s);
    EXPECT_FALSE(res.ok()) << what;
    if (res.ok()) return;
    EXPECT_EQ(res.status().code(), StatusCode::kInvalidArgument) << what;
    EXPECT_NE(res.status().message().find(what), std::string::npos) << res.status().message();
  };
  LinearSource s = r.src;
  s.bits = 7;
  expect_error(s, "bits 7");
  s = r.src;
  s.group_size = 48;
  expect_error(s, "group_size 48");
  s = r.src;
  s.n_in = 96;
  expect_error(s, "not divisible by group_size");
  s = r.src;
  s.scales = nullptr;
  expect_error(s, "scales");
  s = r.src;
  s.dtype = DType::kI32;
  expect_error(s, "dtype I32");
  s = r.src;
  s.n_out = 0;
  expect_error(s, "non-positive");
  s = r.src;
  s.weight = nullptr;
  expect_error(s, "missing weight");
}

TEST(CudaLinearTest, EveryFormatMatchesCpuReference) {
  MLXM_SKIP_WITHOUT_CUDA();
  // (n_out, n_in): 37 rows (not a multiple of 4); K = 640 (q4: 20 chunks, lanes idle),
  // 4480 (q4: 140 chunks, uneven 4 K-slices; q8: 280 chunks, 8 slices), 8320 with 9 rows.
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{37, 640}, {133, 4480}, {9, 8320}};
  const std::vector<int64_t> ns = {1, 2, 3, 5, 8, 11};
  uint32_t seed = 1000;
  double worst = 0;
  for (const Format& f : all_formats()) {
    for (const auto& [n_out, n_in] : shapes) {
      RandomLinear r = make_linear(n_out, n_in, f.bits, f.group ? f.group : 32, f.dtype, ++seed);
      worst = std::max(worst, check_layer(r, f, ns, seed * 7));
    }
  }
  std::printf("[ INFO     ] worst |err|/tol over all formats: %.3g\n", worst);
}

// Embedding lookup: gather_rows against PackedLinear::dequantize_row, every format; a bad id
// gives a NaN row. Dense rows are converted exactly; quantized ones are s*c + b in f32, one fma
// here vs a multiply and an add there: |diff| <= u|s*c| + 2u|w| <= 3u(|w| + 2|b|), u = 2^-24
// (|s*c| <= |w| + |b|); the bound checked is 4u(|w| + 2|b|).
TEST(CudaLinearTest, GatherRowsEqualsDequantizeRow) {
  MLXM_SKIP_WITHOUT_CUDA();
  uint32_t seed = 300;
  for (const Format& f : all_formats()) {
    const int64_t n_out = 37, n_in = 384;
    RandomLinear r = make_linear(n_out, n_in, f.bits, f.group ? f.group : 32, f.dtype, ++seed);
    auto packed = PackedLinear::pack(r.src);
    ASSERT_TRUE(packed.ok()) << packed.status().to_string();
    auto dev = CudaLinear::upload(r.src);
    ASSERT_TRUE(dev.ok()) << dev.status().to_string();
    const std::vector<int32_t> ids = {5, 0, 36, 5, -1, 37, 11};
    testing::DeviceBuffer di = testing::to_device(ids);
    testing::DeviceBuffer dout = testing::poisoned<float>(ids.size() * n_in);
    const Status st = dev->gather_rows(di.as<int32_t>(), static_cast<int64_t>(ids.size()),
                                       dout.as<float>());
    ASSERT_TRUE(st.ok()) << st.to_string();
    const auto y = testing::to_host<float>(dout, ids.size() * n_in);
    std::vector<float> bi;
    if (f.bits != 0) {
      bi.resize(static_cast<size_t>(n_out * (n_in / f.group)));
      to_f32(f.dtype, r.src.biases, bi.data(), bi.size());
    }
    std::vector<float> row(static_cast<size_t>(n_in));
    for (size_t j = 0; j < ids.size(); ++j) {
      const bool valid = ids[j] >= 0 && ids[j] < n_out;
      if (valid) packed->dequantize_row(ids[j], row.data());
      for (int64_t i = 0; i < n_in; ++i) {
        const float v = y[j * n_in + i];
        if (valid) {
          const double b =
              f.bits != 0 ? std::fabs(double(bi[size_t(ids[j] * (n_in / f.group) + i / f.group)]))
                          : 0.0;
          const double tol = 4.0 * kU * (std::fabs(double(row[i])) + 2.0 * b);
          ASSERT_TRUE(std::fabs(double(v) - row[i]) <= tol)
              << describe(f, n_out, n_in, 1) << " id " << ids[j] << " col " << i << ": " << v
              << " vs " << row[i];
        } else {
          ASSERT_TRUE(std::isnan(v)) << "id " << ids[j] << " col " << i;
        }
      }
    }
  }
}

TEST(CudaOpsExtraTest, AddAndGatherRows) {
  MLXM_SKIP_WITHOUT_CUDA();
  const int64_t n = 1000003;
  auto a = random_vector(static_cast<size_t>(n), 1, 3.0f);
  auto b = random_vector(static_cast<size_t>(n), 2, 3.0f);
  testing::DeviceBuffer da = testing::to_device(a), db = testing::to_device(b);
  Status st = cuda::add_inplace(da.as<float>(), db.as<float>(), n);
  ASSERT_TRUE(st.ok()) << st.to_string();
  const auto s = testing::to_host<float>(da, a.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(s[i], a[i] + b[i]) << i;
  const int64_t rows = 9, dim = 333;
  auto src = random_vector(static_cast<size_t>(rows * dim), 3, 1.0f);
  const std::vector<int32_t> idx = {8, 0, 3, 3, 9, -2};
  testing::DeviceBuffer dsrc = testing::to_device(src), didx = testing::to_device(idx);
  testing::DeviceBuffer dout = testing::poisoned<float>(idx.size() * dim);
  st = cuda::gather_rows(dsrc.as<float>(), rows, dim, didx.as<int32_t>(),
                         static_cast<int64_t>(idx.size()), dout.as<float>());
  ASSERT_TRUE(st.ok()) << st.to_string();
  const auto g = testing::to_host<float>(dout, idx.size() * dim);
  for (size_t j = 0; j < idx.size(); ++j) {
    for (int64_t i = 0; i < dim; ++i) {
      const float v = g[j * dim + i];
      if (idx[j] >= 0 && idx[j] < rows) {
        ASSERT_EQ(v, src[idx[j] * dim + i]) << j << " " << i;
      } else {
        ASSERT_TRUE(std::isnan(v)) << j << " " << i;
      }
    }
  }
  EXPECT_EQ(cuda::add_inplace(nullptr, db.as<float>(), 4).code(), StatusCode::kInvalidArgument);
}

TEST(CudaLinearTest, AdditiveBiasOnBothKernels) {
  MLXM_SKIP_WITHOUT_CUDA();
  for (const Format& f : {Format{4, 64, DType::kBF16}, Format{8, 128, DType::kF16},
                          Format{3, 32, DType::kBF16}, Format{0, 0, DType::kF16}}) {
    RandomLinear r = make_linear(70, 1024, f.bits, f.group ? f.group : 32, f.dtype, 77,
                                 /*with_bias=*/true);
    check_layer(r, f, {1, 4, 9}, 78);
  }
}

TEST(CudaLinearTest, LargeShapeFastPath) {
  MLXM_SKIP_WITHOUT_CUDA();
  // A decode-sized layer (K = 4096: 4 K-slices at 4 bits, 8 at 8 bits) checked on a subset.
  for (int bits : {4, 8}) {
    const Format f{bits, 64, DType::kBF16};
    RandomLinear r = make_linear(515, 4096, bits, 64, DType::kBF16, 90 + bits);
    check_layer(r, f, {1, 8}, 91);
  }
}

TEST(CudaLinearTest, ForwardRejectsBadArguments) {
  MLXM_SKIP_WITHOUT_CUDA();
  RandomLinear r = make_linear(8, 128, 4, 64, DType::kBF16, 5);
  auto dev = CudaLinear::upload(r.src);
  ASSERT_TRUE(dev.ok()) << dev.status().to_string();
  auto x = testing::to_device(random_vector(2 * 128 + 4, 6));
  auto y = testing::poisoned<float>(16);
  EXPECT_EQ(dev->forward(x.as<float>(), -1, y.as<float>()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(dev->forward(nullptr, 1, y.as<float>()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(dev->forward(x.as<float>() + 1, 1, y.as<float>()).code(),
            StatusCode::kInvalidArgument);  // misaligned
  EXPECT_TRUE(dev->forward(x.as<float>(), 0, y.as<float>()).ok());
  const Status st = cuda::synchronize();
  EXPECT_TRUE(st.ok()) << st.to_string();
}

TEST(CudaLinearTest, RandomLayersRunOnTheFastPath) {
  MLXM_SKIP_WITHOUT_CUDA();
  // The benchmark's device-generated layers: finite outputs, and the bytes count is exact.
  auto lin = CudaLinear::random(300, 2048, 4, 64, DType::kBF16, 3);
  ASSERT_TRUE(lin.ok()) << lin.status().to_string();
  EXPECT_TRUE(lin->fast_path());
  EXPECT_EQ(lin->bytes(), size_t(300) * 2048 / 2 + size_t(300) * (2048 / 64) * 4);
  auto x = testing::to_device(random_vector(2048, 4));
  auto y = testing::poisoned<float>(300);
  const Status st = lin->forward(x.as<float>(), 1, y.as<float>());
  ASSERT_TRUE(st.ok()) << st.to_string();
  for (float v : testing::to_host<float>(y, 300)) ASSERT_TRUE(std::isfinite(v)) << v;
  EXPECT_FALSE(CudaLinear::random(300, 2048, 0, 64, DType::kBF16, 3).ok());
}

TEST(CudaRuntimeTest, MemInfoAndDeviceInfo) {
  MLXM_SKIP_WITHOUT_CUDA();
  auto mi = cuda::mem_info();
  ASSERT_TRUE(mi.ok()) << mi.status().to_string();
  EXPECT_GT(mi->total_bytes, size_t(0));
  EXPECT_LE(mi->free_bytes, mi->total_bytes);
  auto di = cuda::device_info(0);
  ASSERT_TRUE(di.ok()) << di.status().to_string();
  EXPECT_GT(di->sm_count, 0);
  EXPECT_FALSE(di->name.empty());
  std::printf("[ INFO     ] %s: cc %d.%d, %d SMs, L2 %zu MB, %zu/%zu MB free, driver %d, runtime %d\n",
              di->name.c_str(), di->cc_major, di->cc_minor, di->sm_count, di->l2_bytes >> 20,
              mi->free_bytes >> 20, mi->total_bytes >> 20, di->driver_version,
              di->runtime_version);
  // Errors come back as Status: an absurd allocation fails cleanly.
  auto huge = cuda::DeviceBuffer::alloc(size_t(1) << 50);
  EXPECT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kResourceExhausted) << huge.status().to_string();
  auto b = cuda::DeviceBuffer::alloc(64);
  ASSERT_TRUE(b.ok());
  std::vector<uint8_t> h(65);
  EXPECT_EQ(b->upload(h.data(), 65).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(b->download(h.data(), 8, 60).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mlxm::engine
