// The cuBLASLt path of CudaLinear (cublas_gemm.cu: weight rows dequantized in chunks to the
// scales' dtype into a scratch, x rounded once, one cuBLASLt matmul per chunk) against
// PackedLinear::forward_reference, on awkward sizes: n = 256, 257, 300, 513 activation rows;
// n_out not a multiple of the chunk (4104 and 300 with a scratch forcing several chunks and a
// tail, 520 and 70 in one chunk); 4/8 bits, group 32/64/128, BF16 and F16 scales, with and
// without bias. Every case checks that the path ran (its x copy in the scratch) and that the
// last chunk in the scratch is W dequantized exactly as the tensor-core GEMM does it:
// fmaf(scale, code, bias) in f32, rounded once to the scales' dtype.
//
// Tolerance as in cuda_gemm_test.cpp (same operands, f32 accumulation):
// |y − ref| ≤ (2.1·u_op + 4·u·D)·S + 2u·|ref| + n_in·2^-25·max|w| (f16), D = n_in/16 + 32,
// S = Σ|w_i·x_i|; relative L2 error of the whole output ≤ 4·u_op.
//
// On a machine with a GPU cuBLASLt is expected: when it cannot be loaded the tests fail with
// the loader's message (they skip only without a device).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "engine/cuda/cuda_test_util.h"
#include "engine/kernels/cpu/linear.h"
#include "engine/kernels/cuda/cuda_linear.h"
#include "engine/kernels/kernel_test_util.h"

#define MLXM_REQUIRE_CUBLASLT()                                                            \
  do {                                                                                     \
    const ::mlxm::Status _lt = ::mlxm::engine::cuda::cublaslt_status();                    \
    ASSERT_TRUE(_lt.ok()) << "cuBLASLt is expected on a GPU machine: " << _lt.to_string(); \
  } while (0)

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
  int64_t chunk_rows = 0;  // room for this many weight rows in the scratch; 0: all of them
  bool with_bias = false;
};

std::string describe(const Case& c, int64_t n) {
  return "bits " + std::to_string(c.bits) + " group " + std::to_string(c.group) + " " +
         dtype_name(c.dtype) + " (" + std::to_string(c.n_out) + " x " + std::to_string(c.n_in) +
         ") n " + std::to_string(n) + " chunk " + std::to_string(c.chunk_rows) +
         (c.with_bias ? " bias" : "");
}

uint16_t to_operand(float v, DType dt) { return dt == DType::kF16 ? f32_to_f16(v) : f32_to_bf16(v); }

// Row o of W as the GEMM dequantizes it: fmaf(scale, code, bias) in f32, rounded to dt.
std::vector<uint16_t> dequant_row(const RandomLinear& r, int64_t o) {
  const LinearSource& s = r.src;
  const int64_t wpr = s.n_in * s.bits / 32, n_groups = s.n_in / s.group_size;
  std::vector<uint16_t> out(static_cast<size_t>(s.n_in));
  for (int64_t i = 0; i < s.n_in; ++i) {
    const uint64_t bit = static_cast<uint64_t>(i) * s.bits;
    const uint32_t c = (r.words[static_cast<size_t>(o * wpr + bit / 32)] >> (bit % 32)) &
                       ((1u << s.bits) - 1u);
    const size_t g = static_cast<size_t>(o * n_groups + i / s.group_size);
    const uint16_t sh = r.scales16[g], bh = r.biases16[g];
    const float sc = s.dtype == DType::kF16 ? f16_to_f32(sh) : bf16_to_f32(sh);
    const float bi = s.dtype == DType::kF16 ? f16_to_f32(bh) : bf16_to_f32(bh);
    out[static_cast<size_t>(i)] = to_operand(std::fmaf(sc, static_cast<float>(c), bi), s.dtype);
  }
  return out;
}

// Returns the worst relative L2 error over the case's n.
double check_case(const Case& c, uint32_t seed) {
  RandomLinear r = make_linear(c.n_out, c.n_in, c.bits, c.group, c.dtype, seed, c.with_bias);
  auto packed = PackedLinear::pack(r.src);
  EXPECT_TRUE(packed.ok()) << packed.status().to_string();
  auto dev = CudaLinear::upload(r.src);
  EXPECT_TRUE(dev.ok()) << dev.status().to_string();
  if (!packed.ok() || !dev.ok()) return INFINITY;
  const double u_op = c.dtype == DType::kF16 ? 1.0 / 2048 : 1.0 / 256;
  const double depth = double(c.n_in) / 16.0 + 32.0;
  double max_w = 0;
  for (float v : r.w) max_w = std::max(max_w, double(std::fabs(v)));
  const double sub = c.dtype == DType::kF16 ? double(c.n_in) * std::ldexp(1.0, -25) * max_w : 0.0;
  const int64_t room = c.chunk_rows > 0 ? c.chunk_rows : c.n_out;
  const size_t row_bytes = static_cast<size_t>(c.n_in) * 2;
  double worst_rel = 0;
  for (int64_t n : c.ns) {
    const size_t x_front = cuda::cublas_scratch_size(n, c.n_in, 0);  // workspace + x copy
    const size_t bytes = cuda::cublas_scratch_size(n, c.n_in, static_cast<size_t>(room) * row_bytes);
    testing::DeviceBuffer scratch = testing::poisoned<uint8_t>(bytes);
    cuda::ForwardOptions opt;
    opt.cublas_min_rows = 1;
    opt.cublas_scratch = scratch.data();
    opt.cublas_scratch_bytes = bytes;
    const std::string what = describe(c, n);
    EXPECT_TRUE(dev->uses_cublas(n, opt)) << what;
    EXPECT_FALSE(dev->uses_gemm(n, opt)) << what;

    auto x = random_vector(static_cast<size_t>(n * c.n_in), seed + static_cast<uint32_t>(n), 1.0f);
    std::vector<float> ref(static_cast<size_t>(n * c.n_out));
    packed->forward_reference(x.data(), n, ref.data());
    testing::DeviceBuffer dx = testing::to_device(x);
    testing::DeviceBuffer dy = testing::poisoned<float>(ref.size());
    const Status st = dev->forward(dx.as<float>(), n, dy.as<float>(), nullptr, opt);
    EXPECT_TRUE(st.ok()) << what << ": " << st.to_string();
    const std::vector<float> y = testing::to_host<float>(dy, ref.size());

    // The path ran: x in the operand type right after the workspace, and the last chunk's
    // rows (the tail, or the last full chunk) dequantized at the front of the weight room.
    const auto sh = testing::to_host<uint8_t>(scratch, bytes);
    const size_t ws = cuda::kCublasWorkspaceBytes;
    int x_bad = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      uint16_t v;
      std::memcpy(&v, sh.data() + ws + 2 * i, 2);
      if (v != to_operand(x[i], c.dtype)) ++x_bad;
    }
    EXPECT_EQ(x_bad, 0) << what << ": x copy in the scratch differs (did the cuBLASLt path run?)";
    const int64_t chunk = std::min(c.n_out, room >= c.n_out ? c.n_out : room / 64 * 64);
    const int64_t last_rows = c.n_out % chunk == 0 ? chunk : c.n_out % chunk;
    int w_bad = 0;
    for (int64_t k = 0; k < last_rows; k += std::max<int64_t>(1, last_rows / 7)) {
      const int64_t o = c.n_out - last_rows + k;
      const std::vector<uint16_t> want = dequant_row(r, o);
      for (int64_t i = 0; i < c.n_in; ++i) {
        uint16_t v;
        std::memcpy(&v, sh.data() + x_front + (static_cast<size_t>(k) * c.n_in + i) * 2, 2);
        if (v != want[static_cast<size_t>(i)] && ++w_bad <= 3) {
          ADD_FAILURE() << what << ": dequantized W[" << o << "][" << i << "] = " << v
                        << ", want " << want[static_cast<size_t>(i)];
        }
      }
    }
    EXPECT_EQ(w_bad, 0) << what;

    int bad = 0;
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t o = 0; o < c.n_out; ++o) {
        double s = 0;
        for (int64_t i = 0; i < c.n_in; ++i) {
          s += std::fabs(double(r.w[o * c.n_in + i]) * double(x[j * c.n_in + i]));
        }
        const double rv = ref[j * c.n_out + o];
        const double tol = (2.1 * u_op + 4.0 * kU * depth) * s + 2.0 * kU * std::fabs(rv) + sub;
        const double yv = y[j * c.n_out + o];
        if (!(std::fabs(yv - rv) <= tol) && ++bad <= 3) {
          ADD_FAILURE() << what << ": y[" << j << "][" << o << "] = " << yv << ", reference "
                        << rv << ", |err| " << std::fabs(yv - rv) << " > tol " << tol;
        }
      }
    }
    EXPECT_EQ(bad, 0) << what;
    const double rel = testing::rel_l2(y, ref);
    EXPECT_TRUE(rel <= 4.0 * u_op) << what << ": relative L2 error " << rel;
    if (rel == rel) worst_rel = std::max(worst_rel, rel);
  }
  return worst_rel;
}

TEST(CudaCublasTest, QuantizedFormatsMatchCpuReference) {
  MLXM_SKIP_WITHOUT_CUDA();
  MLXM_REQUIRE_CUBLASLT();
  std::vector<Case> cases;
  for (int bits : {4, 8}) {
    for (DType dt : {DType::kBF16, DType::kF16}) {
      // Several chunks of 1024 / 512 rows and an 8-row tail.
      cases.push_back({4104, 256, bits, 64, dt, {256}, 1024, bits == 4});
      cases.push_back({4104, 256, bits, 128, dt, {300}, 512, bits == 8});
      // Chunks of the minimum 64 rows (a room of 100 rows) and a 44-row tail.
      cases.push_back({300, 256, bits, 32, dt, {257}, 100, true});
      // One chunk.
      cases.push_back({520, 512, bits, 32, dt, {256, 300, 513}, 0, false});
      cases.push_back({70, 640, bits, 128, dt, {300}, 0, true});
    }
  }
  uint32_t seed = 7000;
  double worst_bf16 = 0, worst_f16 = 0;
  for (const Case& c : cases) {
    const double rel = check_case(c, ++seed);
    double& w = c.dtype == DType::kF16 ? worst_f16 : worst_bf16;
    w = std::max(w, rel);
  }
  std::printf("[ INFO     ] cublas: worst relative L2 bf16 %.2e, f16 %.2e\n", worst_bf16,
              worst_f16);
}

// Below cublas_min_rows, or without a scratch, the tensor-core GEMM runs (and the scratch is
// left alone); a scratch too small or misaligned is a kInvalidArgument naming the size.
TEST(CudaCublasTest, ThresholdScratchAndBadScratch) {
  MLXM_SKIP_WITHOUT_CUDA();
  MLXM_REQUIRE_CUBLASLT();
  RandomLinear r = make_linear(256, 512, 4, 64, DType::kBF16, 31);
  auto dev = CudaLinear::upload(r.src);
  ASSERT_TRUE(dev.ok()) << dev.status().to_string();
  const int64_t n = 300;
  auto x = random_vector(static_cast<size_t>(n * 512), 32, 1.0f);
  testing::DeviceBuffer dx = testing::to_device(x);
  testing::DeviceBuffer dy = testing::poisoned<float>(static_cast<size_t>(n * 256));
  const size_t bytes = cuda::cublas_scratch_size(n, 512, 64 * 512 * 2);
  testing::DeviceBuffer scratch = testing::poisoned<uint8_t>(bytes + 256);

  cuda::ForwardOptions opt;
  opt.cublas_min_rows = 301;
  opt.cublas_scratch = scratch.data();
  opt.cublas_scratch_bytes = bytes;
  EXPECT_FALSE(dev->uses_cublas(n, opt));
  EXPECT_TRUE(dev->uses_gemm(n, opt));
  opt.cublas_min_rows = 300;
  EXPECT_TRUE(dev->uses_cublas(n, opt));
  EXPECT_FALSE(dev->uses_gemm(n, opt));
  EXPECT_FALSE(dev->uses_gemv_i8(n, opt));
  cuda::ForwardOptions none = opt;
  none.cublas_scratch = nullptr;
  EXPECT_FALSE(dev->uses_cublas(n, none));

  cuda::ForwardOptions small = opt;
  small.cublas_scratch_bytes = bytes - 1;  // one byte short of 64 weight rows
  Status st = dev->forward(dx.as<float>(), n, dy.as<float>(), nullptr, small);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.to_string();
  EXPECT_NE(st.message().find(std::to_string(bytes)), std::string::npos) << st.message();
  cuda::ForwardOptions shifted = opt;
  shifted.cublas_scratch = static_cast<char*>(scratch.data()) + 16;
  st = dev->forward(dx.as<float>(), n, dy.as<float>(), nullptr, shifted);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.to_string();
  EXPECT_TRUE(cuda::synchronize().ok());
  // Neither bad call wrote anything.
  const auto sh = testing::to_host<uint8_t>(scratch, bytes + 256);
  EXPECT_TRUE(std::all_of(sh.begin(), sh.end(), [](uint8_t b) { return b == 0xFF; }));
  const auto yh = testing::to_host<float>(dy, static_cast<size_t>(n * 256));
  EXPECT_TRUE(std::all_of(yh.begin(), yh.end(), [](float v) { return std::isnan(v); }));

  // The GEMM below the threshold and cuBLASLt at it agree to within the operand rounding (the
  // same operands, a different summation order).
  cuda::ForwardOptions gemm = opt;
  gemm.cublas_min_rows = 1 << 30;
  testing::DeviceBuffer dg = testing::poisoned<float>(static_cast<size_t>(n * 256));
  ASSERT_TRUE(dev->forward(dx.as<float>(), n, dg.as<float>(), nullptr, gemm).ok());
  ASSERT_TRUE(dev->forward(dx.as<float>(), n, dy.as<float>(), nullptr, opt).ok());
  const auto yg = testing::to_host<float>(dg, static_cast<size_t>(n * 256));
  const auto yc = testing::to_host<float>(dy, static_cast<size_t>(n * 256));
  EXPECT_LE(testing::rel_l2(yc, yg), 1e-4) << "cuBLASLt vs GEMM on the same operands";
}

}  // namespace
}  // namespace mlxm::engine
