// Elementwise ops and paged attention against plain double-precision references, on every ISA
// path this CPU runs and on 1 and 2 threads.
#include "engine/kernels/cpu/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <tuple>
#include <vector>

#include "engine/kernels/kernel_test_util.h"

namespace mlxm::engine {
namespace {

using testing::random_vector;
using testing::ScopedIsa;

class OpsTest : public ::testing::TestWithParam<std::tuple<cpu::Isa, int>> {
 protected:
  OpsTest() : isa_(std::get<0>(GetParam())), pool_(std::get<1>(GetParam())) {}
  ScopedIsa isa_;
  ThreadPool pool_;
};

TEST_P(OpsTest, RmsNormMatchesReference) {
  for (int64_t dim : {1, 7, 64, 2050}) {
    const int64_t n = 5;
    auto x = random_vector(n * dim, 1, 3.0f);
    auto w = random_vector(dim, 2);
    std::vector<float> y(n * dim), y_alias = x;
    rms_norm(x.data(), w.data(), 1e-5f, n, dim, y.data(), pool_);
    rms_norm(y_alias.data(), w.data(), 1e-5f, n, dim, y_alias.data(), pool_);  // in place
    for (int64_t j = 0; j < n; ++j) {
      double ss = 0;
      for (int64_t i = 0; i < dim; ++i) ss += double(x[j * dim + i]) * x[j * dim + i];
      const double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
      for (int64_t i = 0; i < dim; ++i) {
        const double ref = x[j * dim + i] * inv * w[i];
        // f32: sum of squares (dim·u relative) and 3 roundings.
        const double tol = (dim * 6e-8 + 4e-7) * std::fabs(x[j * dim + i] * inv * w[i]) + 1e-7;
        ASSERT_NEAR(y[j * dim + i], ref, tol) << dim << " " << i;
        ASSERT_EQ(y[j * dim + i], y_alias[j * dim + i]);
      }
    }
  }
}

TEST_P(OpsTest, RopeMatchesReference) {
  const int n_tokens = 3, n_heads = 4, head_dim = 64;
  auto x = random_vector(n_tokens * n_heads * head_dim, 3);
  std::vector<float> inv_freq(head_dim / 2);
  for (int i = 0; i < head_dim / 2; ++i) {
    inv_freq[i] = static_cast<float>(std::pow(500000.0, -2.0 * i / head_dim));
  }
  const std::vector<int32_t> pos = {0, 17, 4095};
  auto y = x;
  rope(y.data(), pos.data(), n_tokens, n_heads, head_dim, inv_freq.data(), pool_);
  const int half = head_dim / 2;
  for (int t = 0; t < n_tokens; ++t) {
    for (int h = 0; h < n_heads; ++h) {
      const float* xv = &x[(t * n_heads + h) * head_dim];
      const float* yv = &y[(t * n_heads + h) * head_dim];
      for (int i = 0; i < head_dim; ++i) {
        // HF: x*cos + rotate_half(x)*sin, rotate_half = [-x2, x1]; angle in f32.
        const float angle = static_cast<float>(pos[t]) * inv_freq[i % half];
        const double c = std::cos(double(angle)), s = std::sin(double(angle));
        const double rot = i < half ? -xv[i + half] : xv[i - half];
        const double ref = xv[i] * c + rot * s;
        ASSERT_NEAR(yv[i], ref, 1e-5 * (std::fabs(xv[i]) + std::fabs(rot))) << t << " " << i;
      }
    }
  }
}

TEST_P(OpsTest, SiluMulMatchesReference) {
  for (int64_t ff : {1, 33, 3000}) {
    const int64_t n = 3;
    auto gu = random_vector(n * 2 * ff, 4, 4.0f);
    gu[0] = -100.0f;  // exp overflow region
    gu[1 % (2 * ff)] = 90.0f;
    std::vector<float> out(n * ff);
    silu_mul(gu.data(), n, ff, out.data(), pool_);
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t i = 0; i < ff; ++i) {
        const double g = gu[j * 2 * ff + i], u = gu[j * 2 * ff + ff + i];
        const double ref = g / (1.0 + std::exp(-g)) * u;
        ASSERT_NEAR(out[j * ff + i], ref, 2e-6 * std::fabs(ref) + 1e-30) << ff << " " << i;
      }
    }
  }
}

// Fills a random KV cache through kv_store and checks paged_attention against a plain
// softmax over the same (rounded) K/V, for GQA, random block tables, and several query tokens
// of one sequence in one call (causal: token i sees positions [0, start + i]).
void check_attention(ThreadPool& pool, DType dtype, int block_size, int n_heads, int n_kv_heads,
                     int head_dim, const std::vector<int>& seq_lens, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t n_blocks = 64;
  KvLayerView kv;
  kv.dtype = dtype;
  kv.block_size = block_size;
  kv.n_kv_heads = n_kv_heads;
  kv.head_dim = head_dim;
  kv.n_blocks = n_blocks;
  const int64_t row = int64_t(n_kv_heads) * head_dim;
  const size_t bytes = size_t(n_blocks * block_size * row) * dtype_size(dtype);
  std::vector<uint8_t> kbuf(bytes), vbuf(bytes);
  kv.k = kbuf.data();
  kv.v = vbuf.data();
  // Random disjoint block tables.
  std::vector<int32_t> free_blocks(n_blocks);
  std::iota(free_blocks.begin(), free_blocks.end(), 0);
  std::shuffle(free_blocks.begin(), free_blocks.end(), rng);
  std::vector<std::vector<int32_t>> tables;
  std::vector<std::vector<float>> ks, vs;  // per sequence (len, row), rounded to dtype
  size_t next = 0;
  for (int len : seq_lens) {
    std::vector<int32_t> table((len + block_size - 1) / block_size);
    for (auto& b : table) b = free_blocks[next++];
    auto k = random_vector(size_t(len * row), rng());
    auto v = random_vector(size_t(len * row), rng());
    std::vector<int32_t> slots(len);
    for (int p = 0; p < len; ++p) slots[p] = table[p / block_size] * block_size + p % block_size;
    kv_store(kv, k.data(), v.data(), slots.data(), len, pool);
    for (auto& f : k) f = testing::round_to(dtype, f);
    for (auto& f : v) f = testing::round_to(dtype, f);
    tables.push_back(table);
    ks.push_back(k);
    vs.push_back(v);
  }
  // Queries: the last 3 positions of sequence 0 (prefill chunk), the last of each other one.
  std::vector<AttnQuery> queries;
  std::vector<int> qseq;
  for (int i = 3; i >= 1; --i) {
    queries.push_back({tables[0].data(), seq_lens[0] - i + 1});
    qseq.push_back(0);
  }
  for (size_t s = 1; s < seq_lens.size(); ++s) {
    queries.push_back({tables[s].data(), seq_lens[s]});
    qseq.push_back(int(s));
  }
  const int64_t n_tokens = int64_t(queries.size());
  auto q = random_vector(size_t(n_tokens * n_heads * head_dim), rng());
  std::vector<float> out(q.size());
  const float scale = 1.0f / std::sqrt(float(head_dim));
  paged_attention(q.data(), queries.data(), n_tokens, n_heads, kv, scale, out.data(), pool);
  const int group = n_heads / n_kv_heads;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const auto& k = ks[qseq[t]];
    const auto& v = vs[qseq[t]];
    const int n_ctx = queries[t].n_ctx;
    for (int h = 0; h < n_heads; ++h) {
      const int kvh = h / group;
      const float* qh = &q[(t * n_heads + h) * head_dim];
      std::vector<double> sc(n_ctx);
      double mx = -1e300;
      for (int p = 0; p < n_ctx; ++p) {
        double d = 0;
        for (int i = 0; i < head_dim; ++i) d += double(qh[i]) * k[p * row + kvh * head_dim + i];
        sc[p] = d * scale;
        mx = std::max(mx, sc[p]);
      }
      double l = 0;
      for (auto& s : sc) l += (s = std::exp(s - mx));
      for (int i = 0; i < head_dim; ++i) {
        double ref = 0, mag = 0;
        for (int p = 0; p < n_ctx; ++p) {
          ref += sc[p] / l * v[p * row + kvh * head_dim + i];
          mag += sc[p] / l * std::fabs(v[p * row + kvh * head_dim + i]);
        }
        // f32 scores (head_dim·u relative to |q||k|, ~1e-5 absolute here, times exp's
        // derivative ~1) and f32 accumulation over n_ctx terms.
        ASSERT_NEAR(out[(t * n_heads + h) * head_dim + i], ref, 2e-5 * (1 + mag) + 1e-5 * mag * n_ctx / 64)
            << "token " << t << " head " << h << " i " << i << " n_ctx " << n_ctx;
      }
    }
  }
}

TEST_P(OpsTest, PagedAttentionMatchesReference) {
  check_attention(pool_, DType::kF16, 16, 8, 2, 64, {37, 5, 16, 1}, 11);
  check_attention(pool_, DType::kBF16, 16, 4, 4, 64, {40, 17}, 12);
  check_attention(pool_, DType::kF32, 8, 6, 3, 32, {100, 9, 8}, 13);
  check_attention(pool_, DType::kF16, 32, 32, 8, 128, {300, 2}, 14);
}

TEST_P(OpsTest, KvStoreWritesSlotsAndSkipsPadding) {
  KvLayerView kv;
  kv.dtype = DType::kF16;
  kv.block_size = 4;
  kv.n_kv_heads = 2;
  kv.head_dim = 8;
  kv.n_blocks = 3;
  std::vector<uint16_t> k(3 * 4 * 16, 0xFFFF), v(k.size(), 0xFFFF);
  kv.k = k.data();
  kv.v = v.data();
  auto kin = random_vector(2 * 16, 5), vin = random_vector(2 * 16, 6);
  const int32_t slots[2] = {9, -1};  // block 2, offset 1; second token is padding
  kv_store(kv, kin.data(), vin.data(), slots, 2, pool_);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(k[9 * 16 + i], f32_to_f16(kin[i]));
    EXPECT_EQ(v[9 * 16 + i], f32_to_f16(vin[i]));
  }
  size_t untouched = 0;
  for (uint16_t h : k) untouched += h == 0xFFFF;
  EXPECT_EQ(untouched, k.size() - 16);
}

INSTANTIATE_TEST_SUITE_P(AllPaths, OpsTest,
                         ::testing::Combine(::testing::ValuesIn(testing::supported_isas()),
                                            ::testing::Values(1, 2)),
                         [](const auto& info) {
                           return std::string(cpu::isa_name(std::get<0>(info.param))) + "_t" +
                                  std::to_string(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace mlxm::engine
