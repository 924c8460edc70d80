// The stream GEMV's RoPE epilogue (ForwardOptions::rope_store, gemv_stream.cu): a fused
// q/k/v projection that also ropes q into q_out and k, v into the paged cache, in place of
// the GEMV followed by cuda::qkv_rope_store. Checked against that two-launch sequence, which
// cuda_fused_ops_test.cpp checks against the CPU: y is bit-identical (the same sums; only the
// rows a warp takes differ), and so are q_out and both caches (kv_rope.cuh's operations on
// the same values) for F16, BF16 and F32 caches, head_dim 64 and 128, grouped heads, a bias,
// 1..8 tokens, slots negative or past the cache (not stored). Besides: every condition of
// rope_store is checked with kInvalidArgument naming it. The K/V prefetch (RopeStore::
// block_tables, a hint) changes nothing, with the stream and the bulk kernel, whatever the
// tables and context lengths hold (block ids out of range, lengths negative or past the table).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/cuda/cuda_test_util.h"
#include "engine/kernels/cuda/cuda_linear.h"
#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/kernels/kernel_test_util.h"

namespace mlxm::engine {
namespace {

using cuda::CudaLinear;
using testing::make_linear;
using testing::random_vector;
using testing::RandomLinear;

struct Shape {
  int n_heads, n_kv, hd;
};

struct Result {
  std::vector<float> y, q;
  std::vector<uint8_t> k, v;
};

std::vector<float> inv_freq_for(int hd) {
  std::vector<float> f(static_cast<size_t>(hd / 2));
  for (int i = 0; i < hd / 2; ++i) f[static_cast<size_t>(i)] = float(std::pow(500000.0, -2.0 * i / hd));
  return f;
}

struct Mode {
  bool fused = false;     // rope_store, else the GEMV then cuda::qkv_rope_store
  bool prefetch = false;  // rope_store with the K/V prefetch
  bool bulk = false;      // ForwardOptions::gemv_bulk
};

// One run of n tokens through the layer.
Result run(const CudaLinear& dev, const Shape& sh, DType dt, int n, Mode mode, uint32_t seed) {
  const int bs = 16;
  const int64_t n_blocks = 3;
  const int64_t q_w = int64_t{sh.n_heads} * sh.hd, kv_w = int64_t{sh.n_kv} * sh.hd;
  const int64_t row = q_w + 2 * kv_w, n_in = dev.n_in();
  const auto x = random_vector(static_cast<size_t>(n * n_in), seed, 1.0f);
  const std::vector<int32_t> pos_all = {0, 1, 17, 4095, 131071, 33, 2, 600};
  const std::vector<int32_t> slots_all = {0, 47, -1, 5, 48, 16, 31, 2};  // -1, 48: not stored
  // Per row 4 table entries (-1 and 3 lie outside the 3-block cache) and a context length
  // (negative, 0, and past the table's 64 positions among them).
  const std::vector<int32_t> tables_all = {0, 1, 2, -1, 2, 3, 0, 1, 1, 0, 2, 2, 2, 2, 2, 2,
                                           0, 0, 0, 0, 1, 2, 0, -1, 2, 1, 0, 3, 0, 1, 2, 0};
  const std::vector<int32_t> ctx_all = {33, 64, 1000, -3, 0, 17, 48, 1};
  const std::vector<int32_t> pos(pos_all.begin(), pos_all.begin() + n);
  const std::vector<int32_t> slots(slots_all.begin(), slots_all.begin() + n);
  const size_t bytes = static_cast<size_t>(n_blocks * bs * kv_w) * dtype_size(dt);
  std::vector<uint8_t> init(bytes);
  std::mt19937 rng(seed);
  for (auto& b : init) b = static_cast<uint8_t>(rng() & 0x3F);  // finite garbage

  const size_t scratch_bytes = cuda::gemv_i8_scratch_bytes(n_in);
  auto scratch = cuda::DeviceBuffer::alloc(scratch_bytes);
  EXPECT_TRUE(scratch.ok());
  if (!scratch.ok()) return {};
  testing::DeviceBuffer dx = testing::to_device(x);
  testing::DeviceBuffer dy = testing::poisoned<float>(static_cast<size_t>(n * row));
  testing::DeviceBuffer dq = testing::poisoned<float>(static_cast<size_t>(n * q_w));
  testing::DeviceBuffer df = testing::to_device(inv_freq_for(sh.hd));
  testing::DeviceBuffer dp = testing::to_device(pos);
  testing::DeviceBuffer ds = testing::to_device(slots);
  testing::DeviceBuffer ck = testing::to_device(init), cv = testing::to_device(init);
  const KvLayerView kv{ck.data(), cv.data(), dt, bs, sh.n_kv, sh.hd, n_blocks};
  cuda::ForwardOptions opt;
  opt.gemm_min_rows = 1 << 30;
  opt.gemv_scratch = scratch->data();
  opt.gemv_scratch_bytes = scratch_bytes;
  opt.gemv_bulk = mode.bulk;
  EXPECT_TRUE(dev.uses_gemv_stream(n, opt));
  EXPECT_EQ(mode.bulk && testing::device_is_sm90(), dev.uses_gemv_bulk(n, opt));
  testing::DeviceBuffer dt_tables = testing::to_device(tables_all);
  testing::DeviceBuffer dt_ctx = testing::to_device(ctx_all);
  cuda::RopeStore rs{dp.as<int32_t>(), df.as<float>(), ds.as<int32_t>(), kv, dq.as<float>(),
                     sh.n_heads};
  if (mode.prefetch) {
    rs.block_tables = dt_tables.as<int32_t>();
    rs.context_lens = dt_ctx.as<int32_t>();
    rs.max_blocks = 4;
  }
  if (mode.fused) opt.rope_store = &rs;
  Status st = dev.forward(dx.as<float>(), n, dy.as<float>(), nullptr, opt);
  EXPECT_TRUE(st.ok()) << st.to_string();
  if (!mode.fused) {
    const float* y = dy.as<float>();
    st = cuda::qkv_rope_store(y, row, y + q_w, y + q_w + kv_w, row, nullptr, nullptr, 1e-6f,
                              dp.as<int32_t>(), df.as<float>(), ds.as<int32_t>(), n, sh.n_heads,
                              kv, dq.as<float>());
    EXPECT_TRUE(st.ok()) << st.to_string();
  }
  Result r;
  r.y = testing::to_host<float>(dy, static_cast<size_t>(n * row));
  r.q = testing::to_host<float>(dq, static_cast<size_t>(n * q_w));
  r.k = testing::to_host<uint8_t>(ck, bytes);
  r.v = testing::to_host<uint8_t>(cv, bytes);
  return r;
}

TEST(CudaGemvRopeTest, MatchesGemvThenQkvRopeStore) {
  MLXM_SKIP_WITHOUT_CUDA();
  uint32_t seed = 4000;
  for (const Shape& sh : {Shape{4, 2, 64}, Shape{6, 2, 128}, Shape{3, 3, 128}}) {
    for (int bits : {4, 8}) {
      const int64_t n_out = int64_t{sh.n_heads + 2 * sh.n_kv} * sh.hd;
      RandomLinear lin = make_linear(n_out, 512, bits, 64, bits == 4 ? DType::kBF16 : DType::kF16,
                                     ++seed, /*with_bias=*/sh.n_heads == 6);
      auto dev = CudaLinear::upload(lin.src);
      ASSERT_TRUE(dev.ok()) << dev.status().to_string();
      for (DType dt : {DType::kF16, DType::kBF16, DType::kF32}) {
        for (int n : {1, 3, 8}) {
          const std::string what = "heads " + std::to_string(sh.n_heads) + "/" +
                                   std::to_string(sh.n_kv) + " hd " + std::to_string(sh.hd) +
                                   " bits " + std::to_string(bits) + " " + dtype_name(dt) +
                                   " n " + std::to_string(n);
          const Result a = run(*dev, sh, dt, n, Mode{}, seed * 3 + n);
          for (const Mode mode : {Mode{true, false, false}, Mode{true, true, false},
                                  Mode{true, true, true}}) {
            const std::string how = what + (mode.prefetch ? " prefetch" : "") +
                                    (mode.bulk ? " bulk" : "");
            const Result b = run(*dev, sh, dt, n, mode, seed * 3 + n);
            ASSERT_EQ(a.y.size(), b.y.size()) << how;
            EXPECT_EQ(0, std::memcmp(a.y.data(), b.y.data(), a.y.size() * 4)) << how << ": y";
            EXPECT_EQ(0, std::memcmp(a.q.data(), b.q.data(), a.q.size() * 4)) << how << ": q";
            EXPECT_TRUE(a.k == b.k) << how << ": K cache";
            EXPECT_TRUE(a.v == b.v) << how << ": V cache";
            for (float v : b.q) ASSERT_TRUE(std::isfinite(v)) << how;
          }
        }
      }
    }
  }
}

TEST(CudaGemvRopeTest, RejectsWhatTheEpilogueCannotTake) {
  MLXM_SKIP_WITHOUT_CUDA();
  const Shape sh{4, 2, 64};
  RandomLinear lin = make_linear(int64_t{8} * 64, 256, 4, 64, DType::kBF16, 41);
  auto dev = CudaLinear::upload(lin.src);
  ASSERT_TRUE(dev.ok()) << dev.status().to_string();
  auto scratch = cuda::DeviceBuffer::alloc(cuda::gemv_i8_scratch_bytes(256));
  ASSERT_TRUE(scratch.ok());
  testing::DeviceBuffer x = testing::to_device(random_vector(16 * 256, 42));
  testing::DeviceBuffer y = testing::poisoned<float>(16 * 512);
  testing::DeviceBuffer q = testing::poisoned<float>(16 * 256);
  testing::DeviceBuffer f = testing::to_device(inv_freq_for(64));
  testing::DeviceBuffer p = testing::to_device(std::vector<int32_t>(16, 3));
  testing::DeviceBuffer sl = testing::to_device(std::vector<int32_t>(16, 1));
  testing::DeviceBuffer ck = testing::poisoned<uint16_t>(3 * 16 * 128);
  testing::DeviceBuffer cv = testing::poisoned<uint16_t>(3 * 16 * 128);
  cuda::ForwardOptions opt;
  opt.gemm_min_rows = 1 << 30;
  opt.gemv_scratch = scratch->data();
  opt.gemv_scratch_bytes = scratch->size();
  cuda::RopeStore rs{p.as<int32_t>(), f.as<float>(), sl.as<int32_t>(),
                     KvLayerView{ck.data(), cv.data(), DType::kF16, 16, sh.n_kv, sh.hd, 3},
                     q.as<float>(), sh.n_heads};
  opt.rope_store = &rs;
  auto expect_bad = [&](int64_t n, const std::string& what) {
    const Status st = dev->forward(x.as<float>(), n, y.as<float>(), nullptr, opt);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << what << ": " << st.to_string();
    EXPECT_NE(st.message().find("rope_store"), std::string::npos) << what << ": " << st.message();
  };
  ASSERT_TRUE(dev->forward(x.as<float>(), 2, y.as<float>(), nullptr, opt).ok());
  expect_bad(9, "9 rows");
  opt.gemv_stream = false;
  expect_bad(1, "gemv_i8_kernel");
  opt.gemv_stream = true;
  rs.n_heads = 3;
  expect_bad(1, "n_out is not (n_heads + 2 n_kv_heads) head_dim");
  rs.n_heads = sh.n_heads;
  rs.kv.dtype = DType::kI8;
  expect_bad(1, "int8 cache");
  rs.kv.dtype = DType::kF16;
  rs.kv.head_dim = 62;
  rs.kv.n_kv_heads = 2;
  rs.n_heads = 4;
  expect_bad(1, "head_dim 62");
  rs.kv.head_dim = sh.hd;
  rs.slots = nullptr;
  expect_bad(1, "no slots");
  rs.slots = sl.as<int32_t>();
  rs.block_tables = p.as<int32_t>();
  expect_bad(1, "block tables without context lengths");
  rs.context_lens = p.as<int32_t>();
  expect_bad(1, "block tables with max_blocks 0");
  rs.max_blocks = 1;
  EXPECT_TRUE(dev->forward(x.as<float>(), 1, y.as<float>(), nullptr, opt).ok());
}

}  // namespace
}  // namespace mlxm::engine
