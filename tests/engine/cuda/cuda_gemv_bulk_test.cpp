// The stream GEMV with bulk-copied weights (ForwardOptions::gemv_bulk, gemv_bulk.cu) against
// the stream GEMV itself (cuda_gemv_i8_test.cpp checks that one against an emulation and the
// CPU): the same work per warp in the same order, so y must be bit-identical, and with the RoPE
// epilogue q and both caches too. Shapes: n_in with a partial last piece of 64 units, one
// piece, many; n_out not a multiple of 4; 4- and 8-bit, F16 and BF16 scales, groups 32/64/128;
// 1..8 activation rows; a bias. Every n_in here but one is a multiple of 4·group_size (what
// the bulk path takes, checked with uses_gemv_bulk); the one it does not take runs the stream
// GEMV. The bulk path's 4-slot rings (ForwardOptions::gemv_bulk_deep) run where rows have more
// than 3 pieces (checked with uses_gemv_bulk_deep) and are compared the same way.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "engine/cuda/cuda_test_util.h"
#include "engine/kernels/cuda/cuda_linear.h"
#include "engine/kernels/kernel_test_util.h"

namespace mlxm::engine {
namespace {

using cuda::CudaLinear;
using testing::make_linear;
using testing::random_vector;

// How the stream GEMV gets its weights (kBulkDeep: evict_first and 4-slot rings where the
// layer takes them, as the engine runs it).
enum class Path { kStream, kBulk, kBulkEvictFirst, kBulkDeep };

// y of n rows through `dev` with the stream GEMV, bulk-copied (with the evict_first L2 policy
// or not) or not; rope: also q and the caches (appended to y's bytes).
std::vector<uint8_t> run(const CudaLinear& dev, int n, Path path, uint32_t seed,
                         const cuda::RopeStore* rope = nullptr,
                         const std::vector<testing::DeviceBuffer*>& extra = {},
                         const std::vector<size_t>& extra_bytes = {}) {
  const int64_t n_in = dev.n_in(), n_out = dev.n_out();
  const auto x = random_vector(static_cast<size_t>(n * n_in), seed, 1.0f);
  auto scratch = cuda::DeviceBuffer::alloc(cuda::gemv_i8_scratch_bytes(n_in));
  EXPECT_TRUE(scratch.ok());
  if (!scratch.ok()) return {};
  testing::DeviceBuffer dx = testing::to_device(x);
  testing::DeviceBuffer dy = testing::poisoned<float>(static_cast<size_t>(n * n_out));
  cuda::ForwardOptions opt;
  opt.gemm_min_rows = 1 << 30;
  opt.gemv_scratch = scratch->data();
  opt.gemv_scratch_bytes = scratch->size();
  const bool bulk = path != Path::kStream;
  opt.gemv_bulk = bulk;
  opt.weights_evict_first = path == Path::kBulkEvictFirst || path == Path::kBulkDeep;
  opt.gemv_bulk_deep = path == Path::kBulkDeep;
  opt.rope_store = rope;
  EXPECT_TRUE(dev.uses_gemv_stream(n, opt));
  // The bulk path is taken when asked for, except at widths it does not take and below sm_90
  // (bulk copies).
  const bool takes = n_in % (4 * int64_t{dev.group_size()}) == 0 && testing::device_is_sm90();
  EXPECT_EQ(dev.uses_gemv_bulk(n, opt), bulk && takes);
  // 4-slot rings for rows of more than 3 pieces (2,048 values at 4 bits, 1,024 at 8) and at
  // most one 4-row group per consumer warp at 3 blocks per SM (3 consumers each: 1,188 groups
  // on the H200's 132 SMs).
  const int64_t piece = dev.bits() == 4 ? 2048 : 1024;
  const auto info = cuda::device_info();
  const int64_t deep_warps = info.ok() ? int64_t{info->sm_count} * 3 * 3 : 0;
  EXPECT_EQ(dev.uses_gemv_bulk_deep(n, opt), path == Path::kBulkDeep && takes &&
                                                 n_in > 3 * piece && (n_out + 3) / 4 <= deep_warps)
      << "deep rings";
  const Status st = dev.forward(dx.as<float>(), n, dy.as<float>(), nullptr, opt);
  EXPECT_TRUE(st.ok()) << st.to_string();
  std::vector<uint8_t> out = testing::to_host<uint8_t>(dy, static_cast<size_t>(n * n_out) * 4);
  for (size_t i = 0; i < extra.size(); ++i) {
    const auto b = testing::to_host<uint8_t>(*extra[i], extra_bytes[i]);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

struct Case {
  int64_t n_out, n_in;
  int bits, group;
  DType dt;
  bool bias;
};

TEST(CudaGemvBulkTest, MatchesTheStreamGemv) {
  MLXM_SKIP_WITHOUT_CUDA();
  uint32_t seed = 900;
  for (const Case& c : {Case{1, 512, 4, 64, DType::kBF16, false},
                        Case{37, 1024, 4, 32, DType::kF16, true},
                        Case{2053, 3072, 4, 64, DType::kBF16, false},
                        Case{130, 2560, 8, 64, DType::kF16, false},
                        Case{515, 3584, 8, 128, DType::kBF16, true},
                        Case{203, 7424, 4, 64, DType::kF16, true},
                        Case{6001, 2048, 4, 128, DType::kF16, false},
                        Case{301, 1536, 8, 32, DType::kBF16, false}}) {
    auto dev = CudaLinear::upload(make_linear(c.n_out, c.n_in, c.bits, c.group, c.dt, ++seed,
                                              c.bias).src);
    ASSERT_TRUE(dev.ok()) << dev.status().to_string();
    for (int n : {1, 2, 3, 5, 8}) {
      const std::string what = std::to_string(c.n_out) + "x" + std::to_string(c.n_in) + " bits " +
                               std::to_string(c.bits) + " g" + std::to_string(c.group) + " " +
                               dtype_name(c.dt) + " n " + std::to_string(n);
      const auto a = run(*dev, n, Path::kStream, seed * 7 + n);
      const auto b = run(*dev, n, Path::kBulk, seed * 7 + n);
      const auto c = run(*dev, n, Path::kBulkEvictFirst, seed * 7 + n);
      const auto d = run(*dev, n, Path::kBulkDeep, seed * 7 + n);
      ASSERT_EQ(a.size(), b.size()) << what;
      EXPECT_TRUE(a == b) << what << ": bulk-copied rows differ from the stream GEMV's";
      EXPECT_TRUE(a == c) << what << ": rows copied evict_first differ from the stream GEMV's";
      EXPECT_TRUE(a == d) << what << ": rows of 4-slot rings differ from the stream GEMV's";
    }
  }
  // Large: a 4096 x 14336 4-bit layer (8B's down projection), generated on the device.
  auto big = CudaLinear::random(4096, 14336, 4, 64, DType::kBF16, 77);
  ASSERT_TRUE(big.ok()) << big.status().to_string();
  const auto big_y = run(*big, 1, Path::kStream, 5);
  EXPECT_TRUE(big_y == run(*big, 1, Path::kBulk, 5)) << "4096x14336";
  EXPECT_TRUE(big_y == run(*big, 1, Path::kBulkEvictFirst, 5)) << "4096x14336 evict_first";
  EXPECT_TRUE(big_y == run(*big, 1, Path::kBulkDeep, 5)) << "4096x14336 deep";
  for (int n : {2, 5}) {
    EXPECT_TRUE(run(*big, n, Path::kStream, 5 + n) == run(*big, n, Path::kBulkDeep, 5 + n))
        << "4096x14336 deep, n " << n;
  }
  // More 4-row groups than warps (8B's gate/up, 28672 rows): each warp's groups after its
  // first come from the layer's ticket counter, which each launch leaves zero for the next;
  // two launches per row count, so a counter left behind would drop groups (poisoned rows).
  auto wide = CudaLinear::random(28672, 4096, 4, 64, DType::kBF16, 79);
  ASSERT_TRUE(wide.ok()) << wide.status().to_string();
  for (int n : {1, 3}) {
    const auto want = run(*wide, n, Path::kStream, 8 + n);
    EXPECT_TRUE(want == run(*wide, n, Path::kBulk, 8 + n)) << "28672x4096 n " << n;
    EXPECT_TRUE(want == run(*wide, n, Path::kBulkEvictFirst, 8 + n))
        << "28672x4096 n " << n << ", the second launch";
    EXPECT_TRUE(want == run(*wide, n, Path::kBulkDeep, 8 + n))  // 2 pieces: 3 slots
        << "28672x4096 n " << n << ", deep asked for";
  }
  // A width the bulk path does not take (320 % 256 != 0) runs the stream GEMV.
  auto odd = CudaLinear::upload(make_linear(64, 320, 4, 64, DType::kBF16, 78).src);
  ASSERT_TRUE(odd.ok());
  EXPECT_TRUE(run(*odd, 2, Path::kStream, 6) == run(*odd, 2, Path::kBulkEvictFirst, 6))
      << "64x320";
}

TEST(CudaGemvBulkTest, RopeEpilogueMatchesTheStreamGemv) {
  MLXM_SKIP_WITHOUT_CUDA();
  const int n_heads = 6, n_kv = 2, hd = 128, bs = 16, n_blocks = 3;
  const int64_t n_out = int64_t{n_heads + 2 * n_kv} * hd;
  auto dev = CudaLinear::upload(make_linear(n_out, 1024, 4, 64, DType::kBF16, 31, true).src);
  ASSERT_TRUE(dev.ok());
  std::vector<float> f(hd / 2);
  for (int i = 0; i < hd / 2; ++i) f[static_cast<size_t>(i)] = float(std::pow(500000.0, -2.0 * i / hd));
  for (int n : {1, 3}) {
    std::vector<std::vector<uint8_t>> res;
    for (Path path : {Path::kStream, Path::kBulk, Path::kBulkEvictFirst}) {
      testing::DeviceBuffer df = testing::to_device(f);
      testing::DeviceBuffer dp = testing::to_device(std::vector<int32_t>{5, 700, 33});
      testing::DeviceBuffer ds = testing::to_device(std::vector<int32_t>{3, -1, 40});
      const size_t cache = size_t{n_blocks} * bs * n_kv * hd * 2;
      const std::vector<uint8_t> zeros(cache, 0);
      testing::DeviceBuffer ck = testing::to_device(zeros), cv = testing::to_device(zeros);
      testing::DeviceBuffer dq = testing::poisoned<float>(static_cast<size_t>(3 * n_heads * hd));
      const cuda::RopeStore rs{dp.as<int32_t>(), df.as<float>(), ds.as<int32_t>(),
                               KvLayerView{ck.data(), cv.data(), DType::kBF16, bs, n_kv, hd,
                                           n_blocks},
                               dq.as<float>(), n_heads};
      res.push_back(run(*dev, n, path, 41 + n, &rs, {&dq, &ck, &cv},
                        {static_cast<size_t>(n * n_heads * hd) * 4, cache, cache}));
    }
    EXPECT_TRUE(res[0] == res[1]) << "n " << n << ": y, q or a cache differ";
    EXPECT_TRUE(res[0] == res[2]) << "n " << n << ": y, q or a cache differ (evict_first)";
  }
}

}  // namespace
}  // namespace mlxm::engine
