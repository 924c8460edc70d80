// PackedLinear: validation, exact packing (dequantize_row / forward_reference against weights
// built independently of the packing code), and every fast path (each ISA this CPU runs,
// threads 1 and 2) against the reference with a derived error bound.
#include "engine/kernels/cpu/linear.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>

#include "engine/kernels/kernel_test_util.h"

namespace mlxm::engine {
namespace {

using testing::make_linear;
using testing::random_vector;
using testing::RandomLinear;
using testing::ScopedIsa;

constexpr double kEps32 = 1.0 / (1 << 24);  // f32 unit roundoff

TEST(PackedLinearTest, RejectsBadSources) {
  RandomLinear r = make_linear(8, 128, 4, 64, DType::kBF16, 1);
  auto expect_error = [](LinearSource s, const std::string& what) {
    auto res = PackedLinear::pack(s);
    ASSERT_FALSE(res.ok()) << what;
    EXPECT_EQ(res.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(res.status().message().find(what), std::string::npos) << res.status().message();
  };
  LinearSource s = r.src;
  s.bits = 7;
  expect_error(s, "bits 7");
  s = r.src;
  s.group_size = 48;
  expect_error(s, "group_size 48");
  s = r.src;
  s.n_in = 96;  // not a multiple of 64
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
  EXPECT_TRUE(PackedLinear::pack(r.src).ok());
}

// Packing is exact: every row dequantizes to scale*code+bias bit for bit.
TEST(PackedLinearTest, DequantizeRowIsExactForEveryFormat) {
  for (int bits : {0, 2, 3, 4, 5, 6, 8}) {
    for (int group : {32, 64, 128}) {
      if (bits == 0 && group != 32) continue;
      for (DType dt : {DType::kBF16, DType::kF16, DType::kF32}) {
        const int64_t n_out = 19, n_in = 3 * 128;
        RandomLinear r = make_linear(n_out, n_in, bits, group, dt, 100 + bits * 7 + group);
        auto packed = PackedLinear::pack(r.src);
        ASSERT_TRUE(packed.ok()) << packed.status().message();
        PackedLinear& p = packed.value();
        EXPECT_EQ(p.n_out(), n_out);
        EXPECT_EQ(p.n_in(), n_in);
        EXPECT_EQ(p.bits(), bits);
        EXPECT_GE(p.bytes(), static_cast<size_t>(n_out * n_in * (bits ? bits : 2) / 8));
        std::vector<float> row(n_in);
        for (int64_t o = 0; o < n_out; ++o) {
          p.dequantize_row(o, row.data());
          for (int64_t i = 0; i < n_in; ++i) {
            ASSERT_EQ(row[i], r.w[o * n_in + i])
                << "bits " << bits << " group " << group << " row " << o << " col " << i;
          }
        }
      }
    }
  }
}

TEST(PackedLinearTest, ReferenceMatchesDoubleMath) {
  RandomLinear r = make_linear(23, 256, 4, 64, DType::kBF16, 7, /*with_bias=*/true);
  PackedLinear p = PackedLinear::pack(r.src).value();
  const int64_t n = 3;
  auto x = random_vector(n * 256, 8);
  std::vector<float> y(n * 23);
  p.forward_reference(x.data(), n, y.data());
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t o = 0; o < 23; ++o) {
      double acc = r.bias32[o];
      for (int64_t i = 0; i < 256; ++i) acc += double(r.w[o * 256 + i]) * x[j * 256 + i];
      EXPECT_NEAR(y[j * 23 + o], acc, 1e-6 * (1 + std::fabs(acc)));
    }
  }
}

// Bound on |fast - reference| for one output. Int path (4/8 bits): x is replaced by
// x̂ = d_b·q with |x - x̂| ≤ d_b/2 per element (d_b = max|x| over the 32-block / 127), and the
// kernel computes W·x̂ exactly in integers per block, so |W·x̂ - W·x| ≤ Σ_b d_b/2 Σ_{i∈b}|w_i|.
// Both paths also round in f32: at most ~n_in·u·Σ|w_i x_i| for the sums (u = 2^-24), doubled
// for the scale/bias products and the reference's own rounding.
double error_bound(const float* w, const float* x, int64_t n_in, bool int_path) {
  double quant = 0, mag = 0;
  for (int64_t b = 0; b < n_in; b += 32) {
    double amax = 0, wsum = 0;
    for (int64_t i = b; i < b + 32; ++i) {
      amax = std::max(amax, std::fabs(double(x[i])));
      wsum += std::fabs(double(w[i]));
      mag += std::fabs(double(w[i]) * x[i]);
    }
    quant += amax / 127.0 / 2.0 * wsum;
  }
  const double fp = 2.0 * double(n_in) * kEps32 * (mag + quant) + 1e-6;
  return (int_path ? quant * (1 + 1e-5) : 0.0) + fp;
}

struct FastCase {
  int bits;
  int group;
  DType dtype;
};

class LinearFastTest
    : public ::testing::TestWithParam<std::tuple<cpu::Isa, int, FastCase>> {};

TEST_P(LinearFastTest, MatchesReferenceWithinBound) {
  const auto [isa, threads, fc] = GetParam();
  ScopedIsa scoped(isa);
  ThreadPool pool(threads);
  const bool int_path = fc.bits == 4 || fc.bits == 8;
  // n_in: not a multiple of 256 and, for group 32/64, an odd number of groups.
  const int64_t n_in = fc.bits == 0 ? 352 : fc.group * 5;
  for (int64_t n_out : {1, 37}) {
    RandomLinear r = make_linear(n_out, n_in, fc.bits, fc.group, fc.dtype,
                                 static_cast<uint32_t>(fc.bits * 1000 + fc.group + n_out),
                                 /*with_bias=*/n_out == 37);
    PackedLinear p = PackedLinear::pack(r.src).value();
    for (int64_t n : {1, 3, 17, 64}) {
      auto x = random_vector(static_cast<size_t>(n * n_in), static_cast<uint32_t>(n));
      // A few large outliers, like real activations, make the per-block scales uneven.
      for (int64_t i = 0; i < n * n_in; i += 97) x[i] *= 20.0f;
      std::vector<float> ref(n * n_out), fast(n * n_out, std::nanf(""));
      p.forward_reference(x.data(), n, ref.data());
      p.forward(x.data(), n, fast.data(), pool);
      double max_rel_to_bound = 0, err2 = 0, ref2 = 0;
      for (int64_t j = 0; j < n; ++j) {
        for (int64_t o = 0; o < n_out; ++o) {
          const double bound = error_bound(&r.w[o * n_in], &x[j * n_in], n_in, int_path);
          const double diff = std::fabs(double(fast[j * n_out + o]) - ref[j * n_out + o]);
          ASSERT_LE(diff, bound) << "isa " << cpu::isa_name(isa) << " threads " << threads
                                 << " bits " << fc.bits << " group " << fc.group << " n " << n
                                 << " n_out " << n_out << " row " << j << " col " << o
                                 << " fast " << fast[j * n_out + o] << " ref "
                                 << ref[j * n_out + o];
          max_rel_to_bound = std::max(max_rel_to_bound, diff / bound);
          err2 += diff * diff;
          ref2 += double(ref[j * n_out + o]) * ref[j * n_out + o];
        }
      }
      // Aggregate check (enough outputs to be statistical): the int8 error relative to the
      // output norm is ~rms(x - x̂)/rms(x) ≈ (d/√12)/rms(x), a few 1e-2 with the outliers
      // above sharing blocks with normal values; far larger would mean a systematic error that
      // happens to fit inside the per-element bound.
      if (n * n_out >= 100) {
        EXPECT_LT(std::sqrt(err2 / std::max(ref2, 1e-30)), int_path ? 0.1 : 1e-5)
            << "bits " << fc.bits << " n " << n;
      }
    }
  }
}

std::vector<FastCase> all_cases() {
  std::vector<FastCase> out;
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (int group : {32, 64, 128}) out.push_back({bits, group, DType::kBF16});
  }
  out.push_back({4, 64, DType::kF16});
  out.push_back({8, 32, DType::kF32});
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16}) out.push_back({0, 0, dt});
  return out;
}

std::string case_name(const ::testing::TestParamInfo<LinearFastTest::ParamType>& info) {
  const auto& [isa, threads, fc] = info.param;
  return std::string(cpu::isa_name(isa)) + "_t" + std::to_string(threads) + "_b" +
         std::to_string(fc.bits) + "_g" + std::to_string(fc.group) + "_" + dtype_name(fc.dtype);
}

INSTANTIATE_TEST_SUITE_P(AllPaths, LinearFastTest,
                         ::testing::Combine(::testing::ValuesIn(testing::supported_isas()),
                                            ::testing::Values(1, 2),
                                            ::testing::ValuesIn(all_cases())),
                         case_name);

// Large n and n_in exercise the row blocking (256 rows per int_gemm call), the K chunking of
// the prefill kernel (2048 codes per chunk at 4 bits, 1024 at 8) and the thread split.
TEST(PackedLinearTest, ManyRowsLongRowsIntPath) {
  ThreadPool pool(2);
  struct Case {
    int bits, group;
    int64_t n_in;
  };
  for (const Case& c : {Case{4, 128, 2560}, Case{8, 32, 1312}, Case{4, 64, 4160}}) {
    for (cpu::Isa isa : testing::supported_isas()) {
      ScopedIsa scoped(isa);
      const int64_t n_out = 45, n = 300;
      RandomLinear r = make_linear(n_out, c.n_in, c.bits, c.group, DType::kBF16, 5);
      PackedLinear p = PackedLinear::pack(r.src).value();
      auto x = random_vector(n * c.n_in, 6);
      std::vector<float> ref(n * n_out), fast(n * n_out);
      p.forward_reference(x.data(), n, ref.data());
      p.forward(x.data(), n, fast.data(), pool);
      for (int64_t j = 0; j < n; ++j) {
        for (int64_t o = 0; o < n_out; ++o) {
          ASSERT_LE(std::fabs(fast[j * n_out + o] - ref[j * n_out + o]),
                    error_bound(&r.w[o * c.n_in], &x[j * c.n_in], c.n_in, true))
              << cpu::isa_name(isa) << " bits " << c.bits << " row " << j << " col " << o;
        }
      }
    }
  }
}

}  // namespace
}  // namespace mlxm::engine
