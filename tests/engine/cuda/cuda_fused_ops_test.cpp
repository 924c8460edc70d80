// The flash-style prefill attention and the fused step kernels (cuda_ops.h) against the CPU
// kernels (engine/kernels/cpu/ops.h, one thread) on random inputs of awkward sizes.
// Tolerances:
//   prefill attention: f32 online softmax on both sides, other orders: 1e-6·(n_ctx + 100)·5
//     (|v| <~ 5 for N(0,1) samples), the decode-attention test's bound; on tensor cores Q and
//     P are rounded to the cache's type (relative 2^-9 BF16, 2^-12 F16), which moves each
//     weight by about that much: 0.03 (BF16) / 0.008 (F16) more in the worst element and an
//     RMS error under 4e-3 / 1e-3 (a wrong fragment or mask gives errors of order |v|);
//   qkv_rope_store: q as rope's test (2e-6·(|x1| + |x2|)) plus the RMSNorm's f32 sum-order term
//     2·(hd·u + 4u) relative when q/k norms are on; K in the cache: within one rounding of the
//     cache dtype of the CPU's value (the f32 inputs differ by the above), V bit-exact (a
//     conversion only); skipped slots untouched;
//   add_rms_norm: x bit-exact (one f32 add), xn as rms_norm's test;
//   argmax_rows: exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "engine/cuda/cuda_test_util.h"
#include "engine/kernels/cpu/ops.h"
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

// One sequence of a prefill step: `len` tokens at positions [start, start + len).
struct SeqChunk {
  int start;
  int len;
};

// A random paged cache (filled through the CPU kv_store) and a step of several sequences, each
// a chunk of consecutive positions (existing context before it: chunked prefill); every token
// attends to [0, pos]. Tiles of at most `tile_tokens` tokens as the engine builds them (the
// table of the tile's last token). GPU vs the CPU paged_attention, one query per token.
void check_prefill_attention(DType dt, int n_heads, int n_kv, int hd,
                             const std::vector<SeqChunk>& chunks, int tile_tokens, uint32_t seed,
                             bool tensor_cores = false) {
  const int block_size = 16;
  int total_blocks = 0;
  for (const SeqChunk& c : chunks) total_blocks += (c.start + c.len + block_size - 1) / block_size;
  const int64_t n_blocks = total_blocks + 3;
  KvLayerView h;
  h.dtype = dt;
  h.block_size = block_size;
  h.n_kv_heads = n_kv;
  h.head_dim = hd;
  h.n_blocks = n_blocks;
  const int64_t row = int64_t(n_kv) * hd;
  const size_t bytes = size_t(n_blocks * block_size * row) * dtype_size(dt);
  std::vector<uint8_t> hk(bytes), hv(bytes);
  h.k = hk.data();
  h.v = hv.data();
  {
    ThreadPool pool(1);
    const int64_t n_slots = n_blocks * block_size;
    auto kk = random_vector(size_t(n_slots * row), seed, 1.0f);
    auto vv = random_vector(size_t(n_slots * row), seed + 1, 1.0f);
    std::vector<int32_t> slots(static_cast<size_t>(n_slots));
    std::iota(slots.begin(), slots.end(), 0);
    kv_store(h, kk.data(), vv.data(), slots.data(), n_slots, pool);
  }
  std::mt19937 rng(seed);
  std::vector<int32_t> free_blocks(static_cast<size_t>(n_blocks));
  std::iota(free_blocks.begin(), free_blocks.end(), 0);
  std::shuffle(free_blocks.begin(), free_blocks.end(), rng);
  int width = 1;
  int n_tokens = 0;
  for (const SeqChunk& c : chunks) {
    width = std::max(width, (c.start + c.len + block_size - 1) / block_size);
    n_tokens += c.len;
  }
  std::vector<std::vector<int32_t>> seq_tables;
  size_t next = 0;
  for (const SeqChunk& c : chunks) {
    std::vector<int32_t> t;
    for (int b = 0; b < (c.start + c.len + block_size - 1) / block_size; ++b) {
      t.push_back(free_blocks[next++]);
    }
    seq_tables.push_back(t);
  }
  // Per token: its table row (garbage past its blocks, as in the engine's zero padding), ctx.
  std::vector<int32_t> tables(size_t(n_tokens) * width, -5);
  std::vector<int32_t> ctx(static_cast<size_t>(n_tokens));
  std::vector<AttnQuery> queries(static_cast<size_t>(n_tokens));
  std::vector<int32_t> tiles;
  int tok = 0;
  for (size_t s = 0; s < chunks.size(); ++s) {
    const SeqChunk& c = chunks[s];
    const int first = tok;
    for (int i = 0; i < c.len; ++i, ++tok) {
      const int pos = c.start + i;
      const int nb = pos / block_size + 1;
      std::copy(seq_tables[s].begin(), seq_tables[s].begin() + nb,
                tables.begin() + size_t(tok) * width);
      ctx[size_t(tok)] = pos + 1;
      queries[size_t(tok)].block_table = seq_tables[s].data();
      queries[size_t(tok)].n_ctx = pos + 1;
    }
    for (int t0 = first; t0 < tok; t0 += tile_tokens) {
      const int cnt = std::min(tile_tokens, tok - t0);
      tiles.insert(tiles.end(), {t0, cnt, t0 + cnt - 1});
    }
  }
  auto q = random_vector(size_t(n_tokens) * n_heads * hd, seed + 9, 1.0f);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd)) * 2.0f;  // sharper softmax
  std::vector<float> ref(q.size());
  {
    ThreadPool pool(1);
    paged_attention(q.data(), queries.data(), n_tokens, n_heads, h, scale, ref.data(), pool);
  }
  DeviceBuffer dk = to_device(hk), dv = to_device(hv), dq = to_device(q);
  DeviceBuffer dtab = to_device(tables), dctx = to_device(ctx), dtiles = to_device(tiles);
  DeviceBuffer dout = poisoned<float>(ref.size());
  KvLayerView dview = h;
  dview.k = dk.data();
  dview.v = dv.data();
  ASSERT_TRUE(cuda::paged_attention_prefill_supported(n_heads, dview));
  if (tensor_cores) {
    ASSERT_TRUE(cuda::paged_attention_prefill_tc_supported(n_heads, dview));
  }
  const Status st = cuda::paged_attention_prefill(
      dq.as<float>(), dtab.as<int32_t>(), width, dctx.as<int32_t>(), dtiles.as<int32_t>(),
      static_cast<int64_t>(tiles.size() / 3), n_tokens, n_heads, dview, scale, dout.as<float>(),
      nullptr, tensor_cores);
  ASSERT_TRUE(st.ok()) << st.to_string();
  const auto y = to_host<float>(dout, ref.size());
  int max_ctx = 0;
  for (int c : ctx) max_ctx = std::max(max_ctx, c);
  const bool bf16 = dt == DType::kBF16;
  const double tol =
      1e-6 * (max_ctx + 100) * 5.0 + (tensor_cores ? (bf16 ? 0.03 : 0.008) : 0.0);
  double sq = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double e = std::fabs(double(y[i]) - ref[i]);
    sq += e * e;
    ASSERT_TRUE(e <= tol) << dtype_name(dt) << " heads " << n_heads << "/" << n_kv << " hd "
                          << hd << " tile " << tile_tokens << " tc " << tensor_cores
                          << " token " << i / (size_t(n_heads) * hd) << " i " << i << ": "
                          << y[i] << " vs " << ref[i];
  }
  if (tensor_cores) {
    EXPECT_LE(std::sqrt(sq / double(ref.size())), bf16 ? 4e-3 : 1e-3)
        << dtype_name(dt) << " heads " << n_heads << "/" << n_kv << " hd " << hd;
  }
}

TEST(CudaFusedOpsTest, PrefillAttentionMatchesCpu) {
  MLXM_SKIP_WITHOUT_CUDA();
  // Fresh prompts, chunks after existing context (crossing block boundaries), single decode
  // tokens in the same step, a 1-token chunk at position 0.
  const std::vector<SeqChunk> mixed = {{0, 37}, {100, 70}, {5, 1}, {0, 1}, {31, 33}};
  for (DType dt : {DType::kF16, DType::kBF16}) {
    for (int hd : {64, 128}) {
      const int per4 = cuda::paged_attention_prefill_tile_tokens(32, 8);  // group 4: 16
      ASSERT_EQ(per4, 16);
      check_prefill_attention(dt, 32, 8, hd, mixed, per4, 81);        // group 4 (Llama 8B)
      check_prefill_attention(dt, 32, 8, hd, mixed, 5, 82);           // partial tiles
      check_prefill_attention(dt, 24, 8, hd, mixed,                  // group 3 (Llama 3B)
                              cuda::paged_attention_prefill_tile_tokens(24, 8), 83);
      check_prefill_attention(dt, 32, 4, hd, {{0, 19}, {250, 9}},     // group 8
                              cuda::paged_attention_prefill_tile_tokens(32, 4), 84);
      check_prefill_attention(dt, 4, 4, hd, {{0, 130}, {7, 64}},      // group 1: 64 tokens a tile
                              cuda::paged_attention_prefill_tile_tokens(4, 4), 85);
    }
    check_prefill_attention(dt, 4, 2, 16, mixed, 32, 86);  // head_dim 16 (golden fixtures)
    check_prefill_attention(dt, 4, 1, 32, mixed, 16, 87);  // head_dim 32, group 4
    check_prefill_attention(dt, 6, 2, 80, mixed, 21, 88);  // head_dim 80 (20 of 32 lanes)
  }
}

TEST(CudaFusedOpsTest, PrefillAttentionOnTensorCoresMatchesCpu) {
  MLXM_SKIP_WITHOUT_CUDA();
  // The f32 test's cases, then contexts of several 64-position slices: a 300-token prompt and a
  // chunk after 600 positions of context.
  const std::vector<SeqChunk> mixed = {{0, 37}, {100, 70}, {5, 1}, {0, 1}, {31, 33}};
  const std::vector<SeqChunk> longer = {{0, 300}, {600, 40}};
  for (DType dt : {DType::kF16, DType::kBF16}) {
    for (int hd : {64, 128}) {
      const int per4 = cuda::paged_attention_prefill_tile_tokens(32, 8);
      check_prefill_attention(dt, 32, 8, hd, mixed, per4, 91, true);  // group 4 (Llama 8B)
      check_prefill_attention(dt, 32, 8, hd, mixed, 5, 92, true);     // partial tiles
      check_prefill_attention(dt, 24, 8, hd, mixed,                  // group 3 (Llama 3B)
                              cuda::paged_attention_prefill_tile_tokens(24, 8), 93, true);
      check_prefill_attention(dt, 32, 4, hd, {{0, 19}, {250, 9}},     // group 8
                              cuda::paged_attention_prefill_tile_tokens(32, 4), 94, true);
      check_prefill_attention(dt, 4, 4, hd, {{0, 130}, {7, 64}},      // group 1
                              cuda::paged_attention_prefill_tile_tokens(4, 4), 95, true);
      check_prefill_attention(dt, 32, 8, hd, longer, per4, 96, true);
    }
  }
  // Other head sizes are not taken (the f32 kernel runs instead).
  KvLayerView v{nullptr, nullptr, DType::kF16, 16, 2, 80, 4};
  EXPECT_FALSE(cuda::paged_attention_prefill_tc_supported(6, v));
  v.head_dim = 128;
  EXPECT_TRUE(cuda::paged_attention_prefill_tc_supported(6, v));
  v.dtype = DType::kF32;
  EXPECT_FALSE(cuda::paged_attention_prefill_tc_supported(6, v));
}

TEST(CudaFusedOpsTest, PrefillAttentionEdgeCases) {
  MLXM_SKIP_WITHOUT_CUDA();
  const int hd = 64, n_heads = 4, n_kv = 2, bs = 16;
  const int64_t n_blocks = 4;
  const size_t bytes = size_t(n_blocks * bs * n_kv * hd) * 2;
  std::vector<uint8_t> init(bytes, 0x3C);  // f16 1.0-ish bytes: finite
  DeviceBuffer dk = to_device(init), dv = to_device(init);
  KvLayerView view{dk.data(), dv.data(), DType::kF16, bs, n_kv, hd, n_blocks};
  // Tokens 0-1: one sequence with contexts 0 (zeros) and 3; tokens 2-4: a sequence whose
  // second block is past the cache: context 15 fine, 17 and 20 reach it: NaN (never read).
  const std::vector<int32_t> tables = {0, 1, 0, 1, 2, 99, 2, 99, 2, 99};
  const std::vector<int32_t> ctx = {0, 3, 15, 17, 20};
  const std::vector<int32_t> tiles = {0, 2, 1, 2, 3, 4};
  auto q = random_vector(size_t(5) * n_heads * hd, 91);
  DeviceBuffer dq = to_device(q), dt = to_device(tables), dc = to_device(ctx), dti = to_device(tiles);
  DeviceBuffer dout = poisoned<float>(q.size());
  Status st = cuda::paged_attention_prefill(dq.as<float>(), dt.as<int32_t>(), 2, dc.as<int32_t>(),
                                            dti.as<int32_t>(), 2, 5, n_heads, view, 0.125f,
                                            dout.as<float>());
  ASSERT_TRUE(st.ok()) << st.to_string();
  const auto y = to_host<float>(dout, q.size());
  const size_t per_tok = size_t(n_heads) * hd;
  for (size_t i = 0; i < per_tok; ++i) ASSERT_EQ(y[i], 0.0f) << i;
  for (size_t i = per_tok; i < 3 * per_tok; ++i) ASSERT_TRUE(std::isfinite(y[i])) << i;
  for (size_t i = 3 * per_tok; i < 5 * per_tok; ++i) ASSERT_TRUE(std::isnan(y[i])) << i;
  // The same on tensor cores (head_dim 64).
  DeviceBuffer dout_tc = poisoned<float>(q.size());
  st = cuda::paged_attention_prefill(dq.as<float>(), dt.as<int32_t>(), 2, dc.as<int32_t>(),
                                     dti.as<int32_t>(), 2, 5, n_heads, view, 0.125f,
                                     dout_tc.as<float>(), nullptr, true);
  ASSERT_TRUE(st.ok()) << st.to_string();
  const auto yt = to_host<float>(dout_tc, q.size());
  for (size_t i = 0; i < per_tok; ++i) ASSERT_EQ(yt[i], 0.0f) << i;
  for (size_t i = per_tok; i < 3 * per_tok; ++i) ASSERT_TRUE(std::isfinite(yt[i])) << i;
  for (size_t i = 3 * per_tok; i < 5 * per_tok; ++i) ASSERT_TRUE(std::isnan(yt[i])) << i;
  // Unsupported shapes are errors, not crashes.
  KvLayerView big = view;
  big.head_dim = 256;
  EXPECT_FALSE(cuda::paged_attention_prefill_supported(n_heads, big));
  st = cuda::paged_attention_prefill(dq.as<float>(), dt.as<int32_t>(), 2, dc.as<int32_t>(),
                                     dti.as<int32_t>(), 2, 5, n_heads, big, 0.125f,
                                     dout.as<float>());
  EXPECT_EQ(st.code(), StatusCode::kUnimplemented);
  st = cuda::paged_attention_prefill(dq.as<float>(), dt.as<int32_t>(), 2, dc.as<int32_t>(),
                                     dti.as<int32_t>(), 2, 5, 3, view, 0.125f, dout.as<float>());
  EXPECT_EQ(st.code(), StatusCode::kUnimplemented);
  st = cuda::paged_attention_prefill(nullptr, dt.as<int32_t>(), 2, dc.as<int32_t>(),
                                     dti.as<int32_t>(), 2, 5, n_heads, view, 0.125f,
                                     dout.as<float>());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
}

float cache_elem(const std::vector<uint8_t>& c, DType dt, size_t i) {
  if (dt == DType::kF32) {
    float f;
    std::memcpy(&f, c.data() + 4 * i, 4);
    return f;
  }
  uint16_t raw;
  std::memcpy(&raw, c.data() + 2 * i, 2);
  return dt == DType::kF16 ? f16_to_f32(raw) : bf16_to_f32(raw);
}

// qkv_rope_store vs the CPU's rms_norm (per head) + rope + kv_store, with the fused layout
// (one qkv row per token) and separate q/k/v buffers, with and without q/k norms.
void check_qkv_rope_store(DType dt, int n_heads, int n_kv, int hd, bool fused, bool norm,
                          uint32_t seed) {
  const int n = 7, bs = 16;
  const int64_t n_blocks = 3;
  const int64_t q_w = int64_t(n_heads) * hd, kv_w = int64_t(n_kv) * hd;
  const float eps = 1e-6f;
  auto q = random_vector(size_t(n * q_w), seed, 2.0f);
  auto k = random_vector(size_t(n * kv_w), seed + 1, 2.0f);
  auto v = random_vector(size_t(n * kv_w), seed + 2, 2.0f);
  auto qn = random_vector(size_t(hd), seed + 3);
  auto kn = random_vector(size_t(hd), seed + 4);
  std::vector<float> inv_freq(size_t(hd / 2));
  for (int i = 0; i < hd / 2; ++i) inv_freq[size_t(i)] = float(std::pow(500000.0, -2.0 * i / hd));
  const std::vector<int32_t> pos = {0, 1, 17, 4095, 131071, 33, 2};
  const std::vector<int32_t> slots = {0, 47, -1, 5, 48, 16, 31};  // -1 and 48 (past) skipped
  const size_t bytes = size_t(n_blocks * bs * kv_w) * dtype_size(dt);
  std::vector<uint8_t> init(bytes);
  std::mt19937 rng(seed);
  for (auto& b : init) b = static_cast<uint8_t>(rng() & 0x3F);  // finite garbage

  // CPU: norm, rope, store.
  ThreadPool pool(1);
  std::vector<float> rq = q, rk = k;
  if (norm) {
    rms_norm(rq.data(), qn.data(), eps, int64_t(n) * n_heads, hd, rq.data(), pool);
    rms_norm(rk.data(), kn.data(), eps, int64_t(n) * n_kv, hd, rk.data(), pool);
  }
  rope(rq.data(), pos.data(), n, n_heads, hd, inv_freq.data(), pool);
  rope(rk.data(), pos.data(), n, n_kv, hd, inv_freq.data(), pool);
  std::vector<uint8_t> hk = init, hv = init;
  KvLayerView hview{hk.data(), hv.data(), dt, bs, n_kv, hd, n_blocks};
  std::vector<int32_t> cpu_slots = slots;  // the CPU op rejects slots past the cache
  for (int32_t& sl : cpu_slots) {
    if (sl >= n_blocks * bs) sl = -1;
  }
  kv_store(hview, rk.data(), v.data(), cpu_slots.data(), n, pool);

  // GPU input layout.
  std::vector<float> in;
  int64_t q_stride = q_w, kv_stride = kv_w;
  if (fused) {
    q_stride = kv_stride = q_w + 2 * kv_w;
    for (int t = 0; t < n; ++t) {
      in.insert(in.end(), q.begin() + t * q_w, q.begin() + (t + 1) * q_w);
      in.insert(in.end(), k.begin() + t * kv_w, k.begin() + (t + 1) * kv_w);
      in.insert(in.end(), v.begin() + t * kv_w, v.begin() + (t + 1) * kv_w);
    }
  }
  DeviceBuffer dq = to_device(fused ? in : q), dk = to_device(k), dv = to_device(v);
  const float* qi = dq.as<float>();
  const float* ki = fused ? qi + q_w : dk.as<float>();
  const float* vi = fused ? qi + q_w + kv_w : dv.as<float>();
  DeviceBuffer dqn = to_device(qn), dkn = to_device(kn), df = to_device(inv_freq);
  DeviceBuffer dp = to_device(pos), ds = to_device(slots);
  DeviceBuffer ck = to_device(init), cv = to_device(init);
  DeviceBuffer dout = poisoned<float>(size_t(n * q_w));
  KvLayerView dview{ck.data(), cv.data(), dt, bs, n_kv, hd, n_blocks};
  const Status st = cuda::qkv_rope_store(qi, q_stride, ki, vi, kv_stride,
                                         norm ? dqn.as<float>() : nullptr,
                                         norm ? dkn.as<float>() : nullptr, eps, dp.as<int32_t>(),
                                         df.as<float>(), ds.as<int32_t>(), n, n_heads, dview,
                                         dout.as<float>());
  ASSERT_TRUE(st.ok()) << st.to_string();
  const auto yq = to_host<float>(dout, size_t(n * q_w));
  const auto yk = to_host<uint8_t>(ck, bytes);
  const auto yv = to_host<uint8_t>(cv, bytes);
  const double norm_rel = norm ? 2.0 * (hd * 6e-8 + 2.4e-7) : 0.0;
  const int half = hd / 2;
  for (size_t e = 0; e < yq.size(); ++e) {
    const size_t base = e - e % size_t(hd);
    const int i = int(e % size_t(hd)) % half;
    const double mag = std::fabs(rq[base + size_t(i)]) + std::fabs(rq[base + size_t(i + half)]);
    const double tol = (2e-6 + 2 * norm_rel) * mag + 1e-7;
    ASSERT_TRUE(std::fabs(double(yq[e]) - rq[e]) <= tol)
        << "q " << dtype_name(dt) << " hd " << hd << " e " << e << ": " << yq[e] << " vs " << rq[e];
  }
  EXPECT_TRUE(yv == hv) << "V cache differs (" << dtype_name(dt) << " hd " << hd << ")";
  const double ulp = dt == DType::kF16 ? std::ldexp(1.0, -10) : dt == DType::kBF16 ? std::ldexp(1.0, -7) : 0.0;
  for (size_t e = 0; e < bytes / dtype_size(dt); ++e) {
    const float a = cache_elem(yk, dt, e), b = cache_elem(hk, dt, e);
    const double tol = (ulp + 2e-6 + 2 * norm_rel) * std::fabs(b) * 2.0 + 1e-6;
    ASSERT_TRUE(std::fabs(double(a) - b) <= tol)
        << "K cache " << dtype_name(dt) << " hd " << hd << " elem " << e << ": " << a << " vs " << b;
  }
}

TEST(CudaFusedOpsTest, QkvRopeStoreMatchesSeparateOps) {
  MLXM_SKIP_WITHOUT_CUDA();
  for (DType dt : {DType::kF16, DType::kBF16, DType::kF32}) {
    for (bool fused : {true, false}) {
      for (bool norm : {false, true}) {
        check_qkv_rope_store(dt, 8, 2, 64, fused, norm, 101);
        check_qkv_rope_store(dt, 32, 8, 128, fused, norm, 102);
        check_qkv_rope_store(dt, 4, 4, 256, fused, norm, 103);
        check_qkv_rope_store(dt, 4, 2, 16, fused, norm, 104);
        check_qkv_rope_store(dt, 6, 2, 80, fused, norm, 105);
      }
    }
  }
  KvLayerView bad{nullptr, nullptr, DType::kF16, 16, 2, 300, 1};
  EXPECT_EQ(cuda::qkv_rope_store(nullptr, 0, nullptr, nullptr, 0, nullptr, nullptr, 1e-6f, nullptr,
                                 nullptr, nullptr, 1, 4, bad, nullptr)
                .code(),
            StatusCode::kInvalidArgument);
}

TEST(CudaFusedOpsTest, AddRmsNormMatchesCpu) {
  MLXM_SKIP_WITHOUT_CUDA();
  ThreadPool pool(1);
  // 1, 7, 2050: the scalar kernel; the others the vector kernel with 1..4 chunks a thread.
  for (int64_t dim : {1, 7, 64, 2050, 3072, 4096, 8192, 12288, 16384}) {
    const int64_t n = 5;
    auto x = random_vector(size_t(n * dim), 111 + uint32_t(dim), 3.0f);
    auto y = random_vector(size_t(n * dim), 112 + uint32_t(dim), 3.0f);
    auto w = random_vector(size_t(dim), 113 + uint32_t(dim));
    std::vector<float> sum(x.size()), ref(x.size());
    for (size_t i = 0; i < x.size(); ++i) sum[i] = x[i] + y[i];
    rms_norm(sum.data(), w.data(), 1e-5f, n, dim, ref.data(), pool);
    DeviceBuffer dx = to_device(x), dy = to_device(y), dw = to_device(w);
    DeviceBuffer dn = poisoned<float>(x.size());
    const Status st = cuda::add_rms_norm(dx.as<float>(), dy.as<float>(), dw.as<float>(), 1e-5f, n,
                                         dim, dn.as<float>());
    ASSERT_TRUE(st.ok()) << st.to_string();
    const auto gx = to_host<float>(dx, x.size());
    const auto gn = to_host<float>(dn, x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(gx[i], sum[i]) << "dim " << dim << " i " << i;
      const double tol = 2.0 * (dim * 6e-8 + 2.4e-7) * std::fabs(ref[i]) + 1e-7;
      ASSERT_TRUE(std::fabs(double(gn[i]) - ref[i]) <= tol)
          << "dim " << dim << " i " << i << ": " << gn[i] << " vs " << ref[i];
    }
    EXPECT_EQ(cuda::add_rms_norm(dx.as<float>(), dy.as<float>(), dw.as<float>(), 1e-5f, n, dim,
                                 dx.as<float>())
                  .code(),
              StatusCode::kInvalidArgument);  // xn aliasing x
  }
}

// The rule of Engine::forward_argmax: the lowest index of the largest non-NaN value, -1 when
// the row is all NaN.
int32_t host_argmax(const float* row, size_t dim) {
  int32_t best = -1;
  for (size_t i = 0; i < dim; ++i) {
    if (row[i] == row[i] && (best < 0 || row[i] > row[static_cast<size_t>(best)])) {
      best = static_cast<int32_t>(i);
    }
  }
  return best;
}

TEST(CudaFusedOpsTest, ArgmaxRowsMatchesHost) {
  MLXM_SKIP_WITHOUT_CUDA();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (int64_t dim : {int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{128256}}) {
    const int64_t n = 9;
    auto x = random_vector(size_t(n * dim), 121 + uint32_t(dim), 4.0f);
    auto row = [&](int64_t r) { return x.data() + r * dim; };
    // Row 1: a tie at the maximum (the lower index wins); row 2: NaNs, the max elsewhere;
    // row 3: all NaN (-1); row 4: all -inf (index 0); row 5: +inf late; row 6: the max last.
    if (dim > 3) {
      row(1)[dim - 2] = 100.0f;
      row(1)[1] = 100.0f;
      row(2)[0] = nan;
      row(2)[dim - 1] = nan;
      row(2)[dim / 2] = 50.0f;
      row(5)[dim - 3] = inf;
      row(6)[dim - 1] = 77.0f;
    }
    std::fill(row(3), row(3) + dim, nan);
    std::fill(row(4), row(4) + dim, -inf);
    DeviceBuffer dx = to_device(x);
    DeviceBuffer di = poisoned<int32_t>(size_t(n));
    const Status st = cuda::argmax_rows(dx.as<float>(), n, dim, di.as<int32_t>());
    ASSERT_TRUE(st.ok()) << st.to_string();
    const auto ids = to_host<int32_t>(di, size_t(n));
    for (int64_t r = 0; r < n; ++r) {
      EXPECT_EQ(ids[size_t(r)], host_argmax(row(r), size_t(dim))) << "dim " << dim << " row " << r;
    }
    EXPECT_EQ(ids[3], -1);
    EXPECT_EQ(ids[4], 0);
    if (dim > 3) {
      EXPECT_EQ(ids[1], 1);
    }
  }
  EXPECT_EQ(cuda::argmax_rows(nullptr, 1, 0, nullptr).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mlxm::engine
