// CUDA elementwise ops, kv_store and decode attention against the CPU kernels
// (engine/kernels/cpu/ops.h, one thread) on random inputs of awkward sizes. Tolerances:
// rms_norm: both sides sum squares in f32 in different orders: 2·(dim·u + 4u)·|y|;
// rope: identical f32 angles, cos/sin within ~2 ulp: 2e-6·(|x1| + |x2|);
// silu_mul: expf/division within ~2 ulp on both sides: 6e-6·|y|;
// kv_store: bit-exact (same round-to-nearest-even conversion);
// attention: f32 online softmax on both sides: 1e-6·(n_ctx + 100)·max|v|.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "engine/cuda/cuda_test_util.h"
#include "engine/kernels/cpu/ops.h"
#include "engine/kernels/cuda/attention_plan.h"
#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/kernels/kernel_test_util.h"

namespace mlxm::engine {
namespace {

using testing::DeviceBuffer;
using testing::poisoned;
using testing::random_vector;
using testing::to_device;
using testing::to_host;

TEST(CudaOpsTest, RmsNormMatchesCpu) {
  MLXM_SKIP_WITHOUT_CUDA();
  ThreadPool pool(1);
  for (int64_t dim : {1, 7, 64, 128, 2050, 3072, 8192, 16384}) {
    const int64_t n = 5;
    auto x = random_vector(n * dim, 11 + dim, 3.0f);
    auto w = random_vector(dim, 12 + dim);
    std::vector<float> ref(n * dim);
    rms_norm(x.data(), w.data(), 1e-5f, n, dim, ref.data(), pool);
    DeviceBuffer dx = to_device(x), dw = to_device(w);
    DeviceBuffer dy = poisoned<float>(ref.size());
    Status st = cuda::rms_norm(dx.as<float>(), dw.as<float>(), 1e-5f, n, dim, dy.as<float>());
    ASSERT_TRUE(st.ok()) << st.to_string();
    st = cuda::rms_norm(dx.as<float>(), dw.as<float>(), 1e-5f, n, dim, dx.as<float>());  // in place
    ASSERT_TRUE(st.ok()) << st.to_string();
    const auto y = to_host<float>(dy, ref.size());
    const auto y_alias = to_host<float>(dx, ref.size());
    for (size_t i = 0; i < ref.size(); ++i) {
      const double tol = 2.0 * (dim * 6e-8 + 2.4e-7) * std::fabs(ref[i]) + 1e-7;
      ASSERT_TRUE(std::fabs(double(y[i]) - ref[i]) <= tol)
          << "dim " << dim << " i " << i << ": " << y[i] << " vs " << ref[i];
      ASSERT_EQ(y[i], y_alias[i]) << "in-place result differs at " << i;
    }
  }
  EXPECT_EQ(cuda::rms_norm(nullptr, nullptr, 1e-5f, 1, 0, nullptr).code(),
            StatusCode::kInvalidArgument);
}

TEST(CudaOpsTest, RopeMatchesCpu) {
  MLXM_SKIP_WITHOUT_CUDA();
  ThreadPool pool(1);
  for (int head_dim : {64, 128}) {
    const int n_tokens = 5, n_heads = 3;
    auto x = random_vector(size_t(n_tokens) * n_heads * head_dim, 21 + head_dim);
    std::vector<float> inv_freq(head_dim / 2);
    for (int i = 0; i < head_dim / 2; ++i) {
      inv_freq[i] = static_cast<float>(std::pow(500000.0, -2.0 * i / head_dim));
    }
    const std::vector<int32_t> pos = {0, 1, 17, 4095, 131071};
    auto ref = x;
    rope(ref.data(), pos.data(), n_tokens, n_heads, head_dim, inv_freq.data(), pool);
    DeviceBuffer dx = to_device(x), dp = to_device(pos), df = to_device(inv_freq);
    const Status st = cuda::rope(dx.as<float>(), dp.as<int32_t>(), n_tokens, n_heads, head_dim,
                                 df.as<float>());
    ASSERT_TRUE(st.ok()) << st.to_string();
    const auto y = to_host<float>(dx, x.size());
    const int half = head_dim / 2;
    for (size_t e = 0; e < x.size(); ++e) {
      const size_t base = e - e % head_dim;
      const int i = static_cast<int>(e % head_dim) % half;
      const double mag = std::fabs(x[base + i]) + std::fabs(x[base + i + half]);
      ASSERT_TRUE(std::fabs(double(y[e]) - ref[e]) <= 2e-6 * mag + 1e-7)
          << "head_dim " << head_dim << " e " << e << ": " << y[e] << " vs " << ref[e];
    }
  }
  EXPECT_EQ(cuda::rope(nullptr, nullptr, 1, 1, 63, nullptr).code(), StatusCode::kInvalidArgument);
}

TEST(CudaOpsTest, SiluMulMatchesCpu) {
  MLXM_SKIP_WITHOUT_CUDA();
  ThreadPool pool(1);
  for (int64_t ff : {1, 33, 3000}) {
    const int64_t n = 3;
    auto gu = random_vector(n * 2 * ff, 31 + ff, 4.0f);
    gu[0] = -100.0f;
    gu[1 % (2 * ff)] = 90.0f;
    std::vector<float> ref(n * ff);
    silu_mul(gu.data(), n, ff, ref.data(), pool);
    DeviceBuffer dg = to_device(gu);
    DeviceBuffer dout = poisoned<float>(ref.size());
    const Status st = cuda::silu_mul(dg.as<float>(), n, ff, dout.as<float>());
    ASSERT_TRUE(st.ok()) << st.to_string();
    const auto y = to_host<float>(dout, ref.size());
    for (size_t i = 0; i < ref.size(); ++i) {
      ASSERT_TRUE(std::fabs(double(y[i]) - ref[i]) <= 6e-6 * std::fabs(ref[i]) + 1e-30)
          << "ff " << ff << " i " << i << ": " << y[i] << " vs " << ref[i];
    }
  }
}

// A random paged cache filled through the CPU kv_store; the same bytes go to the device.
struct HostKv {
  KvLayerView view;  // host pointers
  std::vector<uint8_t> k, v;
};

HostKv make_kv(DType dt, int block_size, int n_kv_heads, int head_dim, int64_t n_blocks,
               uint32_t seed) {
  HostKv h;
  h.view.dtype = dt;
  h.view.block_size = block_size;
  h.view.n_kv_heads = n_kv_heads;
  h.view.head_dim = head_dim;
  h.view.n_blocks = n_blocks;
  const int64_t row = int64_t(n_kv_heads) * head_dim;
  const size_t bytes = size_t(n_blocks * block_size * row) * dtype_size(dt);
  h.k.assign(bytes, 0);
  h.v.assign(bytes, 0);
  h.view.k = h.k.data();
  h.view.v = h.v.data();
  ThreadPool pool(1);
  const int64_t n_slots = n_blocks * block_size;
  auto kk = random_vector(size_t(n_slots * row), seed, 1.0f);
  auto vv = random_vector(size_t(n_slots * row), seed + 1, 1.0f);
  std::vector<int32_t> slots(static_cast<size_t>(n_slots));
  std::iota(slots.begin(), slots.end(), 0);
  kv_store(h.view, kk.data(), vv.data(), slots.data(), n_slots, pool);
  return h;
}

TEST(CudaOpsTest, KvStoreIsBitExact) {
  MLXM_SKIP_WITHOUT_CUDA();
  ThreadPool pool(1);
  for (DType dt : {DType::kF16, DType::kBF16, DType::kF32}) {
    const int block_size = 16, n_kv = 3, hd = 40;
    const int64_t n_blocks = 5, row = n_kv * hd;
    const size_t bytes = size_t(n_blocks * block_size * row) * dtype_size(dt);
    std::vector<uint8_t> init(bytes);
    std::mt19937 rng(5);
    for (auto& b : init) b = static_cast<uint8_t>(rng());
    const int64_t n_tokens = 9;
    auto k = random_vector(size_t(n_tokens * row), 41, 30.0f);
    auto v = random_vector(size_t(n_tokens * row), 42, 30.0f);
    k[3] = 1e6f;  // overflows F16 to inf on both sides
    const std::vector<int32_t> slots = {0, 79, 17, -1, 33, 34, 5, 60, 16};
    std::vector<uint8_t> hk = init, hv = init;
    KvLayerView hview{hk.data(), hv.data(), dt, block_size, n_kv, hd, n_blocks};
    kv_store(hview, k.data(), v.data(), slots.data(), n_tokens, pool);

    DeviceBuffer dk = to_device(init), dv = to_device(init);
    DeviceBuffer dkk = to_device(k), dvv = to_device(v), ds = to_device(slots);
    KvLayerView dview{dk.data(), dv.data(), dt, block_size, n_kv, hd, n_blocks};
    Status st = cuda::kv_store(dview, dkk.as<float>(), dvv.as<float>(), ds.as<int32_t>(), n_tokens);
    ASSERT_TRUE(st.ok()) << st.to_string();
    EXPECT_TRUE(to_host<uint8_t>(dk, bytes) == hk) << dtype_name(dt);
    EXPECT_TRUE(to_host<uint8_t>(dv, bytes) == hv) << dtype_name(dt);
    // A slot past the cache is skipped, never written out of bounds.
    const std::vector<int32_t> bad = {80, 1000};
    DeviceBuffer dbad = to_device(bad);
    st = cuda::kv_store(dview, dkk.as<float>(), dvv.as<float>(), dbad.as<int32_t>(), 2);
    ASSERT_TRUE(st.ok()) << st.to_string();
    EXPECT_TRUE(to_host<uint8_t>(dk, bytes) == hk) << dtype_name(dt);
  }
}

// The int8 GEMV's input rows (quant_rows.cuh) that a producer wrote into `raw` for the rows of
// `y`: per 32-block d = max|x|/127 and q = round(x/d) in the GEMV's byte order (4-bit weights:
// x0 x2 x4 x6 x1 x3 x5 x7 per 8 values).
void expect_quantized_rows(const std::vector<float>& y, const std::vector<int8_t>& raw,
                           int64_t n_rows, int64_t width, int bits) {
  for (int64_t j = 0; j < n_rows; ++j) {
    for (int64_t b = 0; b < width / 32; ++b) {
      const float* xb = y.data() + j * width + b * 32;
      float amax = 0.0f;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(xb[i]));
      const float d = amax / 127.0f;
      float got_d;
      std::memcpy(&got_d, raw.data() + 8 * width + (j * (width / 32) + b) * 8, 4);
      ASSERT_EQ(got_d, d) << "block " << b << " of row " << j;
      for (int i = 0; i < 32; ++i) {
        const int q = d > 0.0f ? std::clamp(int(std::nearbyint(xb[i] / d)), -127, 127) : 0;
        const int e = i % 8;
        const int pos = bits == 4 ? (i - e) + (e % 2 == 0 ? e / 2 : 4 + e / 2) : i;
        ASSERT_EQ(int(raw[size_t(j * width + b * 32 + pos)]), q)
            << "value " << i << " of block " << b << " of row " << j << " (bits " << bits << ")";
      }
    }
  }
}

void check_decode_attention(DType dt, int n_heads, int n_kv, int hd,
                            const std::vector<int>& ctx_lens, uint32_t seed, int splits = 1) {
  const int block_size = 16;
  const int64_t n_blocks = 64;
  HostKv h = make_kv(dt, block_size, n_kv, hd, n_blocks, seed);
  std::mt19937 rng(seed);
  std::vector<int32_t> free_blocks(n_blocks);
  std::iota(free_blocks.begin(), free_blocks.end(), 0);
  std::shuffle(free_blocks.begin(), free_blocks.end(), rng);
  const int n_seqs = static_cast<int>(ctx_lens.size());
  int max_blocks = 1;
  for (int c : ctx_lens) max_blocks = std::max(max_blocks, (c + block_size - 1) / block_size);
  std::vector<int32_t> tables(size_t(n_seqs) * max_blocks, -7);  // unused entries: garbage
  std::vector<AttnQuery> queries(n_seqs);
  size_t next = 0;
  for (int s = 0; s < n_seqs; ++s) {
    const int nb = (ctx_lens[s] + block_size - 1) / block_size;
    // Past the cache's blocks the tables reuse them (a context longer than the cache).
    for (int b = 0; b < nb; ++b) {
      tables[size_t(s) * max_blocks + b] = free_blocks[next++ % free_blocks.size()];
    }
    queries[s].block_table = tables.data() + size_t(s) * max_blocks;
    queries[s].n_ctx = ctx_lens[s];
  }
  auto q = random_vector(size_t(n_seqs) * n_heads * hd, seed + 9, 1.0f);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd)) * 2.0f;  // sharper softmax
  std::vector<float> ref(q.size());
  ThreadPool pool(1);
  paged_attention(q.data(), queries.data(), n_seqs, n_heads, h.view, scale, ref.data(), pool);

  DeviceBuffer dk = to_device(h.k), dv = to_device(h.v), dq = to_device(q);
  DeviceBuffer dt_ = to_device(tables), dl = to_device(std::vector<int32_t>(ctx_lens.begin(), ctx_lens.end()));
  DeviceBuffer dout = poisoned<float>(ref.size());
  KvLayerView dview = h.view;
  dview.k = dk.data();
  dview.v = dv.data();
  cuda::AttnSplit split;
  split.prefetch_kv = seed % 2 == 1;  // a hint: the same results with and without it
  split.warps = seed % 4 < 2 ? 8 : 4;  // split launches of 8 warps (head_dim <= 128)
  DeviceBuffer ws;
  if (splits > 1) {
    split.splits = splits;
    split.workspace_floats = cuda::paged_attention_workspace_floats(n_seqs, n_heads, hd, splits);
    ws = poisoned<float>(split.workspace_floats);
    split.workspace = ws.as<float>();
  }
  const Status st = cuda::paged_attention_decode(dq.as<float>(), dt_.as<int32_t>(), max_blocks,
                                                 dl.as<int32_t>(), n_seqs, n_heads, dview, scale,
                                                 dout.as<float>(), nullptr, split);
  ASSERT_TRUE(st.ok()) << st.to_string();
  const auto y = to_host<float>(dout, ref.size());
  {
    // The K/V rows by bulk copies (AttnSplit::kv_bulk; on sm_90+, else the same loads): the
    // same values, so the same floats.
    cuda::AttnSplit bsplit = split;
    bsplit.kv_bulk = true;
    DeviceBuffer dout_b = poisoned<float>(ref.size());
    const Status stb = cuda::paged_attention_decode(
        dq.as<float>(), dt_.as<int32_t>(), max_blocks, dl.as<int32_t>(), n_seqs, n_heads, dview,
        scale, dout_b.as<float>(), nullptr, bsplit);
    ASSERT_TRUE(stb.ok()) << stb.to_string();
    const auto yb = to_host<float>(dout_b, ref.size());
    ASSERT_TRUE(yb.size() == y.size() &&
                std::memcmp(yb.data(), y.data(), y.size() * sizeof(float)) == 0)
        << "bulk-copied K/V differs, " << dtype_name(dt) << " hd " << hd << " splits " << splits;
  }
  if (splits > 1 && hd % 4 == 0) {
    // The merge inside the decode kernel (AttnSplit::merge_counters): the same sums in the same
    // order as the merge kernel, so the same floats; twice, since the merging blocks set the
    // counters back to 0; a short counter array is an error.
    cuda::AttnSplit fsplit = split;
    DeviceBuffer counters = to_device(std::vector<int32_t>(size_t(n_seqs) * n_kv, 0));
    fsplit.merge_counters = counters.as<int32_t>();
    fsplit.merge_counters_len = int64_t(n_seqs) * n_kv;
    for (int rep = 0; rep < 2; ++rep) {
      fsplit.kv_bulk = rep == 1;  // its staging shares bytes with the merge's shared memory
      DeviceBuffer dout3 = poisoned<float>(ref.size());
      const Status st3 = cuda::paged_attention_decode(
          dq.as<float>(), dt_.as<int32_t>(), max_blocks, dl.as<int32_t>(), n_seqs, n_heads, dview,
          scale, dout3.as<float>(), nullptr, fsplit);
      ASSERT_TRUE(st3.ok()) << st3.to_string();
      ASSERT_TRUE(to_host<float>(dout3, ref.size()) == y)
          << "fused merge differs, " << dtype_name(dt) << " hd " << hd << " splits " << splits
          << " rep " << rep;
      ASSERT_TRUE(to_host<int32_t>(counters, size_t(n_seqs) * n_kv) ==
                  std::vector<int32_t>(size_t(n_seqs) * n_kv, 0))
          << "counters not reset";
    }
    cuda::AttnSplit short_split = fsplit;
    short_split.merge_counters_len = int64_t(n_seqs) * n_kv - 1;
    EXPECT_EQ(cuda::paged_attention_decode(dq.as<float>(), dt_.as<int32_t>(), max_blocks,
                                           dl.as<int32_t>(), n_seqs, n_heads, dview, scale,
                                           dout.as<float>(), nullptr, short_split)
                  .code(),
              StatusCode::kInvalidArgument);
  }
  if (splits > 1 && hd % 32 == 0 && n_seqs <= 8) {
    // The merge can also write its rows quantized for o_proj's int8 GEMV (AttnSplit::out_q):
    // same floats, and per 32-block d = max|x|/127, q = round(x/d) of them, in the int8
    // GEMV's byte order (4-bit: x0 x2 x4 x6 x1 x3 x5 x7 per 8 values).
    const int bits = seed % 2 == 0 ? 4 : 8;
    const int64_t width = int64_t(n_heads) * hd;
    DeviceBuffer scratch = poisoned<int8_t>(size_t(10 * width));
    cuda::AttnSplit qsplit = split;
    qsplit.out_q = {scratch.data(), bits};
    DeviceBuffer dout2 = poisoned<float>(ref.size());
    const Status st2 = cuda::paged_attention_decode(dq.as<float>(), dt_.as<int32_t>(), max_blocks,
                                                    dl.as<int32_t>(), n_seqs, n_heads, dview,
                                                    scale, dout2.as<float>(), nullptr, qsplit);
    ASSERT_TRUE(st2.ok()) << st2.to_string();
    ASSERT_TRUE(to_host<float>(dout2, ref.size()) == y) << "outputs with out_q differ";
    const auto raw = to_host<int8_t>(scratch, size_t(10 * width));
    {
      // The fused merge writes the same quantized rows.
      DeviceBuffer scratch2 = poisoned<int8_t>(size_t(10 * width));
      DeviceBuffer counters = to_device(std::vector<int32_t>(size_t(n_seqs) * n_kv, 0));
      cuda::AttnSplit fq = qsplit;
      fq.out_q = {scratch2.data(), bits};
      fq.merge_counters = counters.as<int32_t>();
      fq.merge_counters_len = int64_t(n_seqs) * n_kv;
      DeviceBuffer dout4 = poisoned<float>(ref.size());
      const Status st4 = cuda::paged_attention_decode(
          dq.as<float>(), dt_.as<int32_t>(), max_blocks, dl.as<int32_t>(), n_seqs, n_heads, dview,
          scale, dout4.as<float>(), nullptr, fq);
      ASSERT_TRUE(st4.ok()) << st4.to_string();
      ASSERT_TRUE(to_host<float>(dout4, ref.size()) == y) << "fused merge with out_q differs";
      const auto raw2 = to_host<int8_t>(scratch2, size_t(10 * width));
      ASSERT_TRUE(std::equal(raw2.begin(), raw2.begin() + n_seqs * width, raw.begin()))
          << "fused merge: quantized values differ";
      for (int64_t j = 0; j < n_seqs * (width / 32); ++j) {
        const int64_t at = 8 * width + j * 8;
        ASSERT_EQ(std::memcmp(raw2.data() + at, raw.data() + at, 8), 0)
            << "fused merge: block scale/sum " << j << " differs";
      }
    }
    expect_quantized_rows(y, raw, n_seqs, width, bits);
  }
  int max_ctx = 0;
  for (int c : ctx_lens) max_ctx = std::max(max_ctx, c);
  const double tol = 1e-6 * (max_ctx + 100) * 5.0;  // |v| <~ 5 for N(0,1) samples
  // The whole-context kernel: one block per query head where those fit, one per kv head for its
  // group where those do (AttnSplit::whole_grouped).
  const bool per_head =
      cuda::paged_attention_decode_whole_supported(n_seqs, n_heads, n_kv, hd, max_blocks);
  const bool per_kv_head =
      cuda::paged_attention_decode_whole_supported(n_seqs, n_heads, n_kv, hd, max_blocks, true);
  if (splits == 1 && (per_head || per_kv_head)) {
    // Without a split merge (AttnSplit::whole): the same math with the sums in another order,
    // so the CPU reference's tolerance; with out_q its rows quantized.
    cuda::AttnSplit wsplit;
    wsplit.whole = true;
    const int bits = seed % 2 == 0 ? 4 : 8;
    const int64_t width = int64_t(n_heads) * hd;
    const std::string shape = std::string(dtype_name(dt)) + " heads " + std::to_string(n_heads) +
                              "/" + std::to_string(n_kv) + " hd " + std::to_string(hd);
    // Runs `sp` into a fresh output (and scratch, where out_q applies), checks the rows against
    // the CPU reference and their quantized copy, returns them (none after a failed launch).
    auto run_whole = [&](cuda::AttnSplit sp, const std::string& what) -> std::vector<float> {
      DeviceBuffer scratch = poisoned<int8_t>(size_t(10 * width));
      if (hd % 32 == 0 && n_seqs <= 8) sp.out_q = {scratch.data(), bits};
      DeviceBuffer o = poisoned<float>(ref.size());
      const Status s = cuda::paged_attention_decode(dq.as<float>(), dt_.as<int32_t>(), max_blocks,
                                                    dl.as<int32_t>(), n_seqs, n_heads, dview,
                                                    scale, o.as<float>(), nullptr, sp);
      EXPECT_TRUE(s.ok()) << what << ", " << shape << ": " << s.to_string();
      if (!s.ok()) return {};
      const auto yo = to_host<float>(o, ref.size());
      for (size_t i = 0; i < ref.size(); ++i) {
        const bool near = std::fabs(double(yo[i]) - ref[i]) <= tol;
        EXPECT_TRUE(near) << what << ", " << shape << " i " << i << ": " << yo[i] << " vs "
                          << ref[i];
        if (!near) break;
      }
      if (sp.out_q.scratch != nullptr) {
        expect_quantized_rows(yo, to_host<int8_t>(scratch, size_t(10 * width)), n_seqs, width,
                              bits);
      }
      return yo;
    };
    const auto yw = per_head ? run_whole(wsplit, "whole") : std::vector<float>{};
    // Its rounds by tensor copies (AttnSplit::kv_maps) where the cache allows: the same values
    // in the same order, so the same floats.
    cuda::KvTensorMaps maps;
    if (cuda::make_kv_tensor_maps(dview, &maps).ok()) {
      wsplit.kv_maps = &maps;  // (the grouped runs below take them too)
      if (per_head) {
        const auto ym = run_whole(wsplit, "whole with tensor copies");
        EXPECT_TRUE(ym.size() == yw.size() &&
                    std::memcmp(ym.data(), yw.data(), yw.size() * sizeof(float)) == 0)
            << "whole with tensor copies differs, " << shape;
      }
    } else {
      EXPECT_TRUE(hd != 64 && hd != 128) << "no tensor maps for head_dim " << hd;
    }
    // As clusters (AttnSplit::whole_parts = 2, 3 or 4; fewer blocks per head where parts ·
    // n_seqs · n_heads pass the SM count): block r over rounds r, r + parts, ..., merged in
    // distributed shared memory. The sums in yet another order: the CPU reference's
    // tolerance, its rows quantized.
    for (int parts : {2, 3, 4}) {
      if (!per_head) break;
      cuda::AttnSplit psplit = wsplit;
      psplit.whole_parts = parts;
      run_whole(psplit, "whole, " + std::to_string(parts) + " blocks per head");
    }
    // One block (or cluster) per (sequence, kv head) for its group (AttnSplit::whole_grouped):
    // per head the same sums in the same order, so the same floats as one per query head with
    // as many blocks per head (where neither launch had to take fewer: parts · n_seqs · n_heads
    // within the SMs).
    const auto info = cuda::device_info();
    const int64_t sms = info.ok() ? info->sm_count : 0;
    if (per_kv_head) {
      for (int parts = 1; parts <= 4; ++parts) {
        cuda::AttnSplit psplit = wsplit;
        psplit.whole_parts = parts;
        cuda::AttnSplit gsplit = psplit;
        gsplit.whole_grouped = true;
        const std::string what = "whole grouped, " + std::to_string(parts) + " blocks per head";
        const auto yg = run_whole(gsplit, what);
        if (per_head && (parts == 1 || parts * n_seqs * n_heads <= sms)) {
          const auto yp = parts == 1 ? yw : run_whole(psplit, "whole, parts again");
          EXPECT_TRUE(yg.size() == yp.size() &&
                      std::memcmp(yg.data(), yp.data(), yp.size() * sizeof(float)) == 0)
              << what << " differs from one block per query head, " << shape;
        }
      }
    }
  }
  for (size_t i = 0; i < ref.size(); ++i) {
    ASSERT_TRUE(std::fabs(double(y[i]) - ref[i]) <= tol)
        << dtype_name(dt) << " heads " << n_heads << "/" << n_kv << " hd " << hd << " splits "
        << splits << " i " << i
        << ": " << y[i] << " vs " << ref[i];
  }
}

TEST(CudaOpsTest, PagedDecodeAttentionMatchesCpu) {
  MLXM_SKIP_WITHOUT_CUDA();
  for (DType dt : {DType::kF16, DType::kBF16}) {
    check_decode_attention(dt, 8, 2, 64, {1, 17, 300}, 51);     // group 4
    check_decode_attention(dt, 24, 8, 128, {33, 5, 160}, 52);   // group 3 (llama 3B)
    check_decode_attention(dt, 32, 4, 128, {250, 16}, 53);      // group 8
    check_decode_attention(dt, 4, 4, 256, {64, 3}, 54);         // group 1, head_dim 256
    check_decode_attention(dt, 4, 2, 16, {1, 23, 70}, 55);      // head_dim 16: lanes 16..31 idle
    check_decode_attention(dt, 4, 1, 32, {40, 2}, 56);          // head_dim 32, group 4
    check_decode_attention(dt, 6, 2, 80, {77, 19}, 57);         // head_dim 80 (4 per lane, 20 lanes)
    check_decode_attention(dt, 24, 8, 128, {600}, 58);          // rings refilled (whole)
    check_decode_attention(dt, 24, 8, 128, {1000}, 59);         // 16 rounds per warp (whole)
    // 7 sequences x 32 heads: the whole-context kernel's blocks in two waves on 132 SMs.
    check_decode_attention(dt, 32, 8, 128, {200, 17, 90, 5, 150, 64, 1}, 60);
    // 12 sequences x 32 heads: one block per kv head only (96 blocks, AttnSplit::whole_grouped).
    check_decode_attention(dt, 32, 8, 128, {260, 3, 90, 5, 130, 64, 1, 33, 150, 17, 100, 9},
                           62);
    // 40 sequences x 8 kv heads: the grouped blocks in three waves on 132 SMs (61 of the
    // cache's 64 blocks: every 8th sequence 60-92 positions, the others 1-16).
    std::vector<int> many;
    for (int i = 0; i < 40; ++i) many.push_back(i % 8 == 0 ? 60 + i : 1 + (i * 7) % 16);
    check_decode_attention(dt, 32, 8, 128, many, 63);
    // Tables of 1,250 and 700 blocks (the cache's 64 reused): the whole-context kernel's table
    // past the 1,024 entries it held before, in dynamic shared memory. On sm_90+ the kernel
    // must take them, or the case would only check the splits.
    const auto info = cuda::device_info();
    if (info.ok() && info->cc_major >= 9) {
      EXPECT_TRUE(cuda::paged_attention_decode_whole_supported(2, 24, 8, 128, 1250));
      EXPECT_TRUE(cuda::paged_attention_decode_whole_supported(2, 24, 8, 128, 1250, true));
    }
    check_decode_attention(dt, 24, 8, 128, {20000, 11200}, 64);
  }
}

// Split-KV: slices of the context in separate blocks, merged; slices past a short context are
// empty (zeros contribute nothing), a context shorter than one slice lands in split 0 only.
TEST(CudaOpsTest, SplitKvDecodeAttentionMatchesCpu) {
  MLXM_SKIP_WITHOUT_CUDA();
  for (DType dt : {DType::kF16, DType::kBF16}) {
    for (int splits : {2, 3, 8, 17, 32, 64}) {  // 17, 32, 64: merges of 2 and 4 rounds
      check_decode_attention(dt, 8, 2, 64, {1, 17, 300}, 71, splits);
      check_decode_attention(dt, 32, 8, 128, {700, 5, 129}, 72, splits);  // group 4 (8B)
      check_decode_attention(dt, 6, 2, 80, {77, 19}, 73, splits);
      check_decode_attention(dt, 4, 2, 16, {1, 2, 3, 70}, 74, splits);  // head_dim 16
      check_decode_attention(dt, 4, 4, 256, {2, 64}, 75, splits);        // head_dim 256
    }
  }
}

TEST(CudaOpsTest, PagedDecodeAttentionEdgeCases) {
  MLXM_SKIP_WITHOUT_CUDA();
  HostKv h = make_kv(DType::kF16, 16, 2, 64, 4, 61);
  DeviceBuffer dk = to_device(h.k), dv = to_device(h.v);
  KvLayerView dview = h.view;
  dview.k = dk.data();
  dview.v = dv.data();
  auto q = random_vector(2 * 4 * 64, 62);
  DeviceBuffer dq = to_device(q);
  // Sequence 0: empty context (zeros); sequence 1: a block id past the cache (NaN, no read).
  const std::vector<int32_t> tables = {0, 1, 2, 99};
  const std::vector<int32_t> lens = {0, 40};
  DeviceBuffer dt_ = to_device(tables), dl = to_device(lens);
  // Every path: sequence 0's rows zeros, sequence 1's NaN.
  auto expect_edges = [&](const cuda::AttnSplit& split, const std::string& what) {
    DeviceBuffer o = poisoned<float>(q.size());
    const Status s = cuda::paged_attention_decode(dq.as<float>(), dt_.as<int32_t>(), 2,
                                                  dl.as<int32_t>(), 2, 4, dview, 0.125f,
                                                  o.as<float>(), nullptr, split);
    ASSERT_TRUE(s.ok()) << what << ": " << s.to_string();
    const auto y = to_host<float>(o, q.size());
    for (int i = 0; i < 4 * 64; ++i) ASSERT_EQ(y[i], 0.0f) << what << ", entry " << i;
    for (int i = 4 * 64; i < 8 * 64; ++i) ASSERT_TRUE(std::isnan(y[i])) << what << ", entry " << i;
  };
  expect_edges({}, "one block per kv head");
  {  // the same split over 3 slices: the bad block sits in the last one
    cuda::AttnSplit split;
    split.splits = 3;
    split.workspace_floats = cuda::paged_attention_workspace_floats(2, 4, 64, 3);
    DeviceBuffer ws = poisoned<float>(split.workspace_floats);
    split.workspace = ws.as<float>();
    expect_edges(split, "3 splits");
  }
  if (cuda::paged_attention_decode_whole_supported(2, 4, 2, 64, 2)) {
    // Without a split merge (AttnSplit::whole): with row copies and with tensor copies, one
    // block per head and clusters of 2, 3 and 4.
    cuda::KvTensorMaps maps;
    ASSERT_TRUE(cuda::make_kv_tensor_maps(dview, &maps).ok());
    const cuda::KvTensorMaps* const each[] = {nullptr, &maps};
    for (const cuda::KvTensorMaps* m : each) {
      for (int parts = 1; parts <= 4; ++parts) {
        cuda::AttnSplit split;
        split.whole = true;
        split.kv_maps = m;
        split.whole_parts = parts;
        expect_edges(split, std::string("whole, ") + (m != nullptr ? "tensor" : "row") +
                                " copies, " + std::to_string(parts) + " blocks per head");
        split.whole_grouped = true;  // group 2: one block per kv head
        expect_edges(split, std::string("whole grouped, ") + (m != nullptr ? "tensor" : "row") +
                                " copies, " + std::to_string(parts) + " blocks per head");
      }
    }
  }
  DeviceBuffer dout = poisoned<float>(q.size());
  Status st;
  // Unsupported shapes are errors, not crashes.
  KvLayerView odd = dview;
  odd.head_dim = 300;  // above 256
  st = cuda::paged_attention_decode(dq.as<float>(), dt_.as<int32_t>(), 2, dl.as<int32_t>(), 2, 4,
                                    odd, 0.125f, dout.as<float>());
  EXPECT_EQ(st.code(), StatusCode::kUnimplemented);
  st = cuda::paged_attention_decode(dq.as<float>(), dt_.as<int32_t>(), 2, dl.as<int32_t>(), 2, 3,
                                    dview, 0.125f, dout.as<float>());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  // The attention writes o_proj's input only in the int8 GEMV's form (AttnSplit::out_q), not in
  // the batched-decode GEMM's (XTarget::gemm), on either path.
  DeviceBuffer gx = poisoned<uint16_t>(size_t(2 * 4 * 64));
  for (bool whole : {false, true}) {
    cuda::AttnSplit split;
    split.splits = 3;
    split.workspace_floats = cuda::paged_attention_workspace_floats(2, 4, 64, 3);
    DeviceBuffer ws = poisoned<float>(split.workspace_floats);
    split.workspace = ws.as<float>();
    split.whole = whole;
    split.out_q = {gx.data(), 4, true};
    st = cuda::paged_attention_decode(dq.as<float>(), dt_.as<int32_t>(), 2, dl.as<int32_t>(), 2,
                                      4, dview, 0.125f, dout.as<float>(), nullptr, split);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << (whole ? "whole" : "splits");
    EXPECT_NE(st.message().find("int8"), std::string::npos) << st.message();
  }
}

}  // namespace
}  // namespace mlxm::engine
