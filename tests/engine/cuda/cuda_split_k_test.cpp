// Split-K outputs read by their consumers (split_k.h): a linear that leaves its partial sums
// (ForwardOptions::split_k_out) and the kernels that sum them while reading (add_rms_norm,
// silu_mul, qkv_rope_store) give bit for bit what the split-K reduce followed by the consumer
// gives: the slices are summed in z order from 0 in both.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/cuda/cuda_test_util.h"
#include "engine/kernels/cuda/cuda_linear.h"
#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/kernels/kernel_test_util.h"
#include "engine/tensor/dtype.h"

namespace mlxm::engine {
namespace {

using testing::DeviceBuffer;
using testing::poisoned;
using testing::random_vector;
using testing::to_device;
using testing::to_host;

// kz slices of `span` floats, `stride` floats apart (the gap poisoned with NaN), and their sum
// in z order from 0 (what splitk_reduce_kernel writes).
struct HostSlices {
  std::vector<float> packed;
  std::vector<float> sum;
};
HostSlices make_slices(int64_t span, int kz, int64_t stride, uint32_t seed) {
  HostSlices h;
  h.packed.assign(size_t(kz * stride), std::nanf(""));
  h.sum.assign(size_t(span), 0.0f);
  for (int z = 0; z < kz; ++z) {
    const auto p = random_vector(size_t(span), seed + uint32_t(z), 2.0f);
    for (int64_t i = 0; i < span; ++i) {
      h.packed[size_t(z * stride + i)] = p[size_t(i)];
      h.sum[size_t(i)] += p[size_t(i)];
    }
  }
  return h;
}

TEST(CudaSplitKTest, AddRmsNormSumsSlices) {
  MLXM_SKIP_WITHOUT_CUDA();
  // 3072, 4096: the vector kernel (stride a multiple of 4); 2050 and the odd stride: scalar.
  struct Case {
    int64_t dim;
    int kz;
    int64_t pad;
  };
  for (const Case c : {Case{3072, 3, 8}, Case{4096, 9, 0}, Case{2050, 2, 4}, Case{4096, 2, 3}}) {
    const int64_t n = 5, span = n * c.dim, stride = span + c.pad;
    const HostSlices hs = make_slices(span, c.kz, stride, 7 + uint32_t(c.dim));
    const auto x = random_vector(size_t(span), 3 + uint32_t(c.dim), 3.0f);
    const auto w = random_vector(size_t(c.dim), 5 + uint32_t(c.dim));
    DeviceBuffer dw = to_device(w);
    // Reference: the summed y, read plainly.
    DeviceBuffer rx = to_device(x), ry = to_device(hs.sum), rn = poisoned<float>(size_t(span));
    ASSERT_TRUE(cuda::add_rms_norm(rx.as<float>(), ry.as<float>(), dw.as<float>(), 1e-5f, n,
                                   c.dim, rn.as<float>())
                    .ok());
    DeviceBuffer sx = to_device(x), sy = to_device(hs.packed), sn = poisoned<float>(size_t(span));
    const Status st = cuda::add_rms_norm(sx.as<float>(), sy.as<float>(), dw.as<float>(), 1e-5f, n,
                                         c.dim, sn.as<float>(), nullptr, {}, {c.kz, stride});
    ASSERT_TRUE(st.ok()) << st.to_string();
    EXPECT_TRUE(to_host<float>(sx, size_t(span)) == to_host<float>(rx, size_t(span)))
        << "x, dim " << c.dim << " kz " << c.kz;
    EXPECT_TRUE(to_host<float>(sn, size_t(span)) == to_host<float>(rn, size_t(span)))
        << "xn, dim " << c.dim << " kz " << c.kz;
  }
}

TEST(CudaSplitKTest, SiluMulSumsSlices) {
  MLXM_SKIP_WITHOUT_CUDA();
  for (const int64_t ff : {int64_t{8192}, int64_t{37}}) {  // vector and scalar kernels
    const int64_t n = 3, span = n * 2 * ff, stride = span + 4;
    const HostSlices hs = make_slices(span, 4, stride, 11 + uint32_t(ff));
    DeviceBuffer ry = to_device(hs.sum), ro = poisoned<float>(size_t(n * ff));
    ASSERT_TRUE(cuda::silu_mul(ry.as<float>(), n, ff, ro.as<float>()).ok());
    DeviceBuffer sy = to_device(hs.packed), so = poisoned<float>(size_t(n * ff));
    const Status st = cuda::silu_mul(sy.as<float>(), n, ff, so.as<float>(), nullptr, {}, {4, stride});
    ASSERT_TRUE(st.ok()) << st.to_string();
    EXPECT_TRUE(to_host<float>(so, size_t(n * ff)) == to_host<float>(ro, size_t(n * ff)))
        << "ff " << ff;
  }
}

TEST(CudaSplitKTest, QkvRopeStoreSumsSlices) {
  MLXM_SKIP_WITHOUT_CUDA();
  const int n = 4, n_heads = 8, n_kv = 2, hd = 64, bs = 16, kz = 3;
  const int64_t n_blocks = 2, q_w = int64_t(n_heads) * hd, kv_w = int64_t(n_kv) * hd;
  const int64_t row = q_w + 2 * kv_w, span = n * row, stride = span + 12;
  const HostSlices hs = make_slices(span, kz, stride, 21);
  std::vector<float> inv_freq(size_t(hd / 2));
  for (int i = 0; i < hd / 2; ++i) inv_freq[size_t(i)] = float(std::pow(500000.0, -2.0 * i / hd));
  const std::vector<int32_t> pos = {0, 5, 300, 7};
  const std::vector<int32_t> slots = {0, 9, -1, 31};
  DeviceBuffer df = to_device(inv_freq), dp = to_device(pos), ds = to_device(slots);
  const size_t cache = size_t(n_blocks * bs * kv_w);
  auto run = [&](const std::vector<float>& in, cuda::Slices sl, std::vector<float>* q,
                 std::vector<uint16_t>* k, std::vector<uint16_t>* v) {
    DeviceBuffer din = to_device(in), dq = poisoned<float>(size_t(n * q_w));
    DeviceBuffer ck = to_device(std::vector<uint16_t>(cache, 0));
    DeviceBuffer cv = to_device(std::vector<uint16_t>(cache, 0));
    const KvLayerView kv{ck.data(), cv.data(), DType::kBF16, bs, n_kv, hd, n_blocks};
    const float* b = din.as<float>();
    const Status st = cuda::qkv_rope_store(b, row, b + q_w, b + q_w + kv_w, row, nullptr, nullptr,
                                           1e-6f, dp.as<int32_t>(), df.as<float>(),
                                           ds.as<int32_t>(), n, n_heads, kv, dq.as<float>(),
                                           nullptr, sl);
    ASSERT_TRUE(st.ok()) << st.to_string();
    *q = to_host<float>(dq, size_t(n * q_w));
    *k = to_host<uint16_t>(ck, cache);
    *v = to_host<uint16_t>(cv, cache);
  };
  std::vector<float> rq, sq;
  std::vector<uint16_t> rk, rv, sk, sv;
  run(hs.sum, {}, &rq, &rk, &rv);
  run(hs.packed, {kz, stride}, &sq, &sk, &sv);
  EXPECT_TRUE(sq == rq) << "q";
  EXPECT_TRUE(sk == rk) << "K cache";
  EXPECT_TRUE(sv == rv) << "V cache";
}

TEST(CudaSplitKTest, BadSlicesAreRejected) {
  MLXM_SKIP_WITHOUT_CUDA();
  const int64_t n = 2, dim = 64;
  DeviceBuffer x = to_device(std::vector<float>(size_t(n * dim), 1.0f));
  DeviceBuffer y = to_device(std::vector<float>(size_t(4 * n * dim), 1.0f));
  DeviceBuffer w = to_device(std::vector<float>(size_t(dim), 1.0f));
  DeviceBuffer o = poisoned<float>(size_t(4 * n * dim));
  for (const cuda::Slices bad : {cuda::Slices{0, n * dim}, cuda::Slices{65, n * dim},
                                 cuda::Slices{2, n * dim - 1}}) {
    const Status a = cuda::add_rms_norm(x.as<float>(), y.as<float>(), w.as<float>(), 1e-5f, n,
                                        dim, o.as<float>(), nullptr, {}, bad);
    EXPECT_EQ(a.code(), StatusCode::kInvalidArgument) << a.to_string();
    EXPECT_NE(a.message().find("split-K slices"), std::string::npos) << a.to_string();
    const Status s = cuda::silu_mul(y.as<float>(), n, dim / 2, o.as<float>(), nullptr, {}, bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
  }
}

// A 4-bit layer of up to 64 rows on the decode GEMM with a workspace: with split_k_out the
// partial sums stay in the workspace; summed in z order they are the written y, bit for bit.
TEST(CudaSplitKTest, LinearLeavesPartialSums) {
  MLXM_SKIP_WITHOUT_CUDA();
  int split_seen = 0;
  for (const int64_t n_out : {int64_t{512}, int64_t{1024}, int64_t{4096}}) {
    const int64_t n_in = 4096;
    auto lin = cuda::CudaLinear::random(n_out, n_in, 4, 64, DType::kBF16, 5 + uint64_t(n_out));
    ASSERT_TRUE(lin.ok()) << lin.status().to_string();
    for (const int64_t n : {int64_t{1}, int64_t{16}, int64_t{64}}) {
      const auto x = random_vector(size_t(n * n_in), 9 + uint32_t(n), 1.0f);
      DeviceBuffer dx = to_device(x);
      const size_t ws_floats = size_t{16} << 20;
      DeviceBuffer ws = poisoned<float>(ws_floats);
      DeviceBuffer gemv_ws = poisoned<int8_t>(cuda::gemv_i8_scratch_bytes(n_in));
      cuda::ForwardOptions opt;
      opt.workspace = ws.as<float>();
      opt.workspace_floats = ws_floats;
      opt.gemv_scratch = gemv_ws.data();
      opt.gemv_scratch_bytes = gemv_ws.size();
      DeviceBuffer y = poisoned<float>(size_t(n * n_out));
      ASSERT_TRUE(lin->forward(dx.as<float>(), n, y.as<float>(), nullptr, opt).ok());
      const auto ref = to_host<float>(y, size_t(n * n_out));

      cuda::SplitKOutput out;
      opt.split_k_out = &out;
      DeviceBuffer y2 = poisoned<float>(size_t(n * n_out));
      ASSERT_TRUE(lin->forward(dx.as<float>(), n, y2.as<float>(), nullptr, opt).ok());
      const auto got_y = to_host<float>(y2, size_t(n * n_out));
      ASSERT_GE(out.slices.kz, 1);
      if (out.slices.kz == 1) {
        EXPECT_EQ(out.base, y2.as<float>()) << "n_out " << n_out << " n " << n;
        EXPECT_TRUE(got_y == ref) << "n_out " << n_out << " n " << n;
        continue;
      }
      ++split_seen;
      EXPECT_EQ(out.slices.stride, n * n_out);
      const auto* ws0 = ws.as<float>();
      ASSERT_TRUE(out.base >= ws0 && out.base + out.slices.kz * out.slices.stride <= ws0 + ws_floats)
          << "the partial sums lie in the workspace";
      const auto all = to_host<float>(ws, ws_floats);
      const size_t at = size_t(out.base - ws0);
      for (int64_t i = 0; i < n * n_out; ++i) {
        float v = 0.0f;
        for (int z = 0; z < out.slices.kz; ++z) v += all[at + size_t(z * out.slices.stride + i)];
        ASSERT_EQ(v, ref[size_t(i)]) << "n_out " << n_out << " n " << n << " i " << i;
      }
    }
  }
  EXPECT_GT(split_seen, 0) << "no call took a split-K GEMM";
}

}  // namespace
}  // namespace mlxm::engine
