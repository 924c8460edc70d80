#include "engine/models/decoder.h"

#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/clock.h"
#include "engine/kernels/cpu/ops.h"
#include "engine/models/reference_ops.h"
#include "engine/models/rope_freqs.h"

namespace mlxm::engine {
namespace {

enum Op {
  kEmbed,
  kNorm,
  kQkv,
  kRope,
  kKvStore,
  kAttention,
  kOProj,
  kGateUp,
  kSiluMul,
  kDown,
  kLmHead,
  kOther,
  kNumOps
};
constexpr std::array<const char*, kNumOps> kOpNames = {
    "embed",  "norm",    "qkv",      "rope", "kv_store", "attention",
    "o_proj", "gate_up", "silu_mul", "down", "lm_head",  "other"};

// The op implementations, chosen once at load (DESIGN §2.5: no dispatch in the hot loop).
struct Ops {
  decltype(&engine::rms_norm) rms_norm;
  decltype(&engine::rope) rope;
  decltype(&engine::silu_mul) silu_mul;
  decltype(&engine::kv_store) kv_store;
  decltype(&engine::paged_attention) paged_attention;
  bool reference;
};

Ops fast_ops() {
  return {engine::rms_norm,        engine::rope, engine::silu_mul, engine::kv_store,
          engine::paged_attention, false};
}
Ops reference_ops() {
  return {reference::rms_norm,        reference::rope,
          reference::silu_mul,        reference::kv_store,
          reference::paged_attention, true};
}

constexpr int64_t kInlineTokens = 4;
constexpr int64_t kInlineAttnPairs = 16384;  // (query, key) head pairs

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// Grows a buffer to at least n elements (never shrinks; no per-step allocation once warm).
template <typename T>
T* grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

class CpuDecoder final : public Engine {
 public:
  CpuDecoder(ModelConfig c, ModelWeights w, const EngineOptions& o)
      : config_(std::move(c)),
        weights_(std::move(w)),
        options_(o),
        pool_(o.reference ? 1 : o.n_threads),
        inline_pool_(1),
        ops_(o.reference ? reference_ops() : fast_ops()),
        inv_freq_(rope_inv_freq(config_)) {}

  Status init_kv() {
    const DType dt = options_.reference ? DType::kF32 : options_.kv_dtype;
    if (dt != DType::kF16 && dt != DType::kBF16 && dt != DType::kF32) {
      return invalid_argument(std::string("KV dtype ") + dtype_name(dt) +
                              " is not supported (F16, BF16, F32)");
    }
    if (options_.block_size <= 0 || options_.block_size > 4096) {
      return invalid_argument("block_size " + std::to_string(options_.block_size) +
                              " out of range");
    }
    const size_t per_block_layer = static_cast<size_t>(options_.block_size) * config_.n_kv_heads *
                                   config_.head_dim * dtype_size(dt);
    const size_t per_block = per_block_layer * 2 * static_cast<size_t>(config_.n_layers);
    int64_t n_blocks = options_.n_kv_blocks;
    if (n_blocks <= 0) n_blocks = static_cast<int64_t>(options_.kv_budget_bytes / per_block);
    if (n_blocks <= 0) {
      return resource_exhausted("KV budget of " + std::to_string(options_.kv_budget_bytes) +
                                " bytes holds no block of " + std::to_string(per_block) + " bytes");
    }
    if (static_cast<uint64_t>(n_blocks) > (1ull << 31) ||
        per_block_layer > SIZE_MAX / static_cast<size_t>(n_blocks)) {
      return resource_exhausted("too many KV blocks: " + std::to_string(n_blocks));
    }
    const size_t layer_bytes = (per_block_layer * static_cast<size_t>(n_blocks) + 63) / 64 * 64;
    kv_.resize(static_cast<size_t>(config_.n_layers));
    kv_mem_.clear();
    for (int l = 0; l < config_.n_layers; ++l) {
      // Untouched pages cost no memory until a block is first written.
      void* k = std::aligned_alloc(64, layer_bytes);
      void* v = k != nullptr ? std::aligned_alloc(64, layer_bytes) : nullptr;
      if (k == nullptr || v == nullptr) {
        std::free(k);
        return resource_exhausted("cannot allocate " +
                                  std::to_string(2 * layer_bytes * config_.n_layers) +
                                  " bytes of KV cache");
      }
      kv_mem_.emplace_back(k);
      kv_mem_.emplace_back(v);
      KvLayerView& view = kv_[static_cast<size_t>(l)];
      view.k = k;
      view.v = v;
      view.dtype = dt;
      view.block_size = options_.block_size;
      view.n_kv_heads = config_.n_kv_heads;
      view.head_dim = config_.head_dim;
      view.n_blocks = n_blocks;
    }
    n_blocks_ = n_blocks;
    kv_bytes_ = 2 * layer_bytes * static_cast<size_t>(config_.n_layers);
    return ok_status();
  }

  Status forward(const Batch& batch, std::vector<float>* logits) override;

  const ModelConfig& config() const override { return config_; }
  int block_size() const override { return options_.block_size; }
  int64_t n_kv_blocks() const override { return n_blocks_; }
  size_t weight_bytes() const override { return weights_.bytes(); }
  size_t kv_bytes() const override { return kv_bytes_; }
  size_t weight_bytes_per_token() const override { return weights_.bytes_per_token(); }
  int n_threads() const override { return pool_.n_threads(); }
  std::vector<std::pair<std::string, double>> op_times_ms() const override {
    std::vector<std::pair<std::string, double>> out;
    if (!options_.profile) return out;
    for (int i = 0; i < kNumOps; ++i)
      out.emplace_back(kOpNames[static_cast<size_t>(i)], times_[static_cast<size_t>(i)]);
    return out;
  }
  void reset_op_times() override { times_.fill(0.0); }

 private:
  void linear(const PackedLinear& l, const float* x, int64_t n, float* y) {
    if (ops_.reference) {
      l.forward_reference(x, n, y);
    } else {
      l.forward(x, n, y, pool_);
    }
  }

  template <typename F>
  void timed(Op op, F&& f) {
    if (!options_.profile) {
      f();
      return;
    }
    const TimePoint t0 = now();
    f();
    times_[static_cast<size_t>(op)] += ms_since(t0);
  }

  void run_layer(const LayerWeights& L, const KvLayerView& kv, int64_t n);

  ModelConfig config_;
  ModelWeights weights_;
  EngineOptions options_;
  mutable ThreadPool pool_;
  // Runs on the calling thread: small elementwise ops of decode-sized batches cost less than a
  // hand-off to the workers (and a hand-off stalls when another process holds the other core).
  mutable ThreadPool inline_pool_;
  ThreadPool* small_pool_ = nullptr;  // inline_pool_ for small batches, else pool_
  ThreadPool* attn_pool_ = nullptr;
  Ops ops_;
  std::vector<float> inv_freq_;  // (head_dim / 2)
  std::vector<std::unique_ptr<void, FreeDeleter>> kv_mem_;
  std::vector<KvLayerView> kv_;  // (n_layers)
  int64_t n_blocks_ = 0;
  size_t kv_bytes_ = 0;
  std::array<double, kNumOps> times_{};

  // Scratch, grown on demand to the largest batch seen.
  std::vector<float> x_;            // (n, hidden) residual stream
  std::vector<float> xn_;           // (n, hidden) normed
  std::vector<float> qkv_;          // (n, (n_heads + 2 n_kv_heads) head_dim)
  std::vector<float> q_;            // (n, n_heads, head_dim)
  std::vector<float> k_;            // (n, n_kv_heads, head_dim)
  std::vector<float> v_;            // (n, n_kv_heads, head_dim)
  std::vector<float> attn_;         // (n, n_heads * head_dim)
  std::vector<float> tmp_;          // (n, hidden)
  std::vector<float> gu_;           // (n, 2 ff)
  std::vector<float> act_;          // (n, ff)
  std::vector<float> up_;           // (n, ff) only when gate/up are not fused
  std::vector<float> xo_;           // (n_out, hidden)
  std::vector<int32_t> slots_;      // (n)
  std::vector<AttnQuery> queries_;  // (n)
  const int32_t* positions_ = nullptr;
};

void CpuDecoder::run_layer(const LayerWeights& L, const KvLayerView& kv, int64_t n) {
  const ModelConfig& c = config_;
  const int64_t h = c.hidden_size, hd = c.head_dim, ff = c.intermediate_size;
  const int64_t q_w = int64_t{c.n_heads} * hd, kv_w = int64_t{c.n_kv_heads} * hd;
  const float eps = static_cast<float>(c.rms_norm_eps);
  float* x = x_.data();
  float* xn = xn_.data();
  float* q = q_.data();
  float* k = k_.data();
  float* v = v_.data();

  timed(kNorm, [&] { ops_.rms_norm(x, L.attn_norm.data(), eps, n, h, xn, *small_pool_); });
  timed(kQkv, [&] {
    if (L.fused_qkv) {
      float* qkv = qkv_.data();
      linear(L.qkv, xn, n, qkv);
      const int64_t w = q_w + 2 * kv_w;
      for (int64_t t = 0; t < n; ++t) {
        std::memcpy(q + t * q_w, qkv + t * w, static_cast<size_t>(q_w) * 4);
        std::memcpy(k + t * kv_w, qkv + t * w + q_w, static_cast<size_t>(kv_w) * 4);
        std::memcpy(v + t * kv_w, qkv + t * w + q_w + kv_w, static_cast<size_t>(kv_w) * 4);
      }
    } else {
      linear(L.q, xn, n, q);
      linear(L.k, xn, n, k);
      linear(L.v, xn, n, v);
    }
  });
  if (c.qk_norm) {
    timed(kNorm, [&] {
      ops_.rms_norm(q, L.q_norm.data(), eps, n * c.n_heads, hd, q, *small_pool_);
      ops_.rms_norm(k, L.k_norm.data(), eps, n * c.n_kv_heads, hd, k, *small_pool_);
    });
  }
  timed(kRope, [&] {
    ops_.rope(q, positions_, n, c.n_heads, static_cast<int>(hd), inv_freq_.data(), *small_pool_);
    ops_.rope(k, positions_, n, c.n_kv_heads, static_cast<int>(hd), inv_freq_.data(), *small_pool_);
  });
  timed(kKvStore, [&] { ops_.kv_store(kv, k, v, slots_.data(), n, *small_pool_); });
  timed(kAttention, [&] {
    ops_.paged_attention(q, queries_.data(), n, c.n_heads, kv,
                         1.0f / std::sqrt(static_cast<float>(hd)), attn_.data(), *attn_pool_);
  });
  timed(kOProj, [&] { linear(L.o, attn_.data(), n, tmp_.data()); });
  timed(kOther, [&] {
    const float* t = tmp_.data();
    for (int64_t i = 0; i < n * h; ++i) x[i] += t[i];
  });
  timed(kNorm, [&] { ops_.rms_norm(x, L.mlp_norm.data(), eps, n, h, xn, *small_pool_); });
  timed(kGateUp, [&] {
    if (L.fused_gate_up) {
      linear(L.gate_up, xn, n, gu_.data());
    } else {
      // silu_mul wants [gate | up] per row.
      float* up = grow(up_, static_cast<size_t>(n * ff));
      linear(L.gate, xn, n, act_.data());
      linear(L.up, xn, n, up);
      float* gu = gu_.data();
      for (int64_t t = 0; t < n; ++t) {
        std::memcpy(gu + t * 2 * ff, act_.data() + t * ff, static_cast<size_t>(ff) * 4);
        std::memcpy(gu + t * 2 * ff + ff, up + t * ff, static_cast<size_t>(ff) * 4);
      }
    }
  });
  timed(kSiluMul, [&] { ops_.silu_mul(gu_.data(), n, ff, act_.data(), *small_pool_); });
  timed(kDown, [&] { linear(L.down, act_.data(), n, tmp_.data()); });
  timed(kOther, [&] {
    const float* t = tmp_.data();
    for (int64_t i = 0; i < n * h; ++i) x[i] += t[i];
  });
}

}  // namespace

Status validate_batch(const Batch& b, const ModelConfig& c, int block_size, int64_t n_kv_blocks,
                      int64_t n_prev_rows) {
  const size_t n = b.tokens.size();
  if (n == 0) return invalid_argument("batch: no tokens");
  if (b.positions.size() != n || b.seq_ids.size() != n) {
    return invalid_argument("batch: tokens, positions and seq_ids differ in length (" +
                            std::to_string(n) + ", " + std::to_string(b.positions.size()) + ", " +
                            std::to_string(b.seq_ids.size()) + ")");
  }
  for (size_t s = 0; s < b.seqs.size(); ++s) {
    const BatchSeq& q = b.seqs[s];
    if (q.n_ctx <= 0 || q.n_ctx > c.max_position_embeddings) {
      return invalid_argument("batch: seqs[" + std::to_string(s) + "].n_ctx " +
                              std::to_string(q.n_ctx) + " outside [1, max_position_embeddings=" +
                              std::to_string(c.max_position_embeddings) + "]");
    }
    const int64_t n_needed = (int64_t{q.n_ctx} + block_size - 1) / block_size;
    if (static_cast<int64_t>(q.block_table.size()) < n_needed) {
      return invalid_argument("batch: seqs[" + std::to_string(s) + "] has " +
                              std::to_string(q.block_table.size()) + " blocks, n_ctx " +
                              std::to_string(q.n_ctx) + " needs " + std::to_string(n_needed));
    }
    for (int64_t i = 0; i < n_needed; ++i) {
      const int32_t id = q.block_table[static_cast<size_t>(i)];
      if (id < 0 || id >= n_kv_blocks) {
        return invalid_argument("batch: seqs[" + std::to_string(s) + "].block_table[" +
                                std::to_string(i) + "] = " + std::to_string(id) + " outside [0, " +
                                std::to_string(n_kv_blocks) + ")");
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const int32_t t = b.tokens[i];
    const int64_t prev_row = -1 - int64_t{t};  // t < 0: t is previous_row_token(prev_row)
    if (t < 0 && n_prev_rows > 0 && prev_row >= n_prev_rows) {
      return invalid_argument("batch: tokens[" + std::to_string(i) + "] = previous_row_token(" +
                              std::to_string(prev_row) + ") but the step submitted before has " +
                              std::to_string(n_prev_rows) + " logit rows");
    }
    if ((t < 0 && n_prev_rows == 0) || t >= c.vocab_size) {
      return invalid_argument("batch: tokens[" + std::to_string(i) + "] = " + std::to_string(t) +
                              " outside the vocabulary (" + std::to_string(c.vocab_size) + ")");
    }
    const int32_t s = b.seq_ids[i];
    if (s < 0 || static_cast<size_t>(s) >= b.seqs.size()) {
      return invalid_argument("batch: seq_ids[" + std::to_string(i) + "] = " + std::to_string(s) +
                              " but there are " + std::to_string(b.seqs.size()) + " sequences");
    }
    if (b.positions[i] < 0 || b.positions[i] >= b.seqs[static_cast<size_t>(s)].n_ctx) {
      return invalid_argument(
          "batch: positions[" + std::to_string(i) + "] = " + std::to_string(b.positions[i]) +
          " outside [0, n_ctx=" + std::to_string(b.seqs[static_cast<size_t>(s)].n_ctx) + ")");
    }
  }
  for (size_t i = 0; i < b.logit_rows.size(); ++i) {
    if (b.logit_rows[i] < 0 || static_cast<size_t>(b.logit_rows[i]) >= n) {
      return invalid_argument("batch: logit_rows[" + std::to_string(i) +
                              "] = " + std::to_string(b.logit_rows[i]) + " outside [0, " +
                              std::to_string(n) + ")");
    }
  }
  return ok_status();
}

namespace {

Status CpuDecoder::forward(const Batch& batch, std::vector<float>* logits) {
  MLXM_RETURN_IF_ERROR(validate_batch(batch, config_, options_.block_size, n_blocks_));
  const ModelConfig& c = config_;
  const int64_t n = static_cast<int64_t>(batch.tokens.size());
  const int64_t h = c.hidden_size, hd = c.head_dim, ff = c.intermediate_size;
  const int64_t q_w = int64_t{c.n_heads} * hd, kv_w = int64_t{c.n_kv_heads} * hd;
  const size_t un = static_cast<size_t>(n);
  grow(x_, un * h);
  grow(xn_, un * h);
  grow(qkv_, un * (q_w + 2 * kv_w));
  grow(q_, un * q_w);
  grow(k_, un * kv_w);
  grow(v_, un * kv_w);
  grow(attn_, un * q_w);
  grow(tmp_, un * h);
  grow(gu_, un * 2 * ff);
  grow(act_, un * ff);
  grow(slots_, un);
  grow(queries_, un);
  positions_ = batch.positions.data();
  // Work sizes below which the hand-off to other threads costs more than it saves.
  small_pool_ = n <= kInlineTokens ? &inline_pool_ : &pool_;
  int64_t attn_work = 0;  // query-key pairs
  for (size_t i = 0; i < un; ++i) attn_work += batch.positions[i] + 1;
  attn_pool_ = attn_work * c.n_heads <= kInlineAttnPairs ? &inline_pool_ : &pool_;

  timed(kEmbed, [&] {
    for (int64_t i = 0; i < n; ++i)
      weights_.embed.dequantize_row(batch.tokens[static_cast<size_t>(i)], x_.data() + i * h);
  });
  const int bs = options_.block_size;
  for (size_t i = 0; i < un; ++i) {
    const BatchSeq& s = batch.seqs[static_cast<size_t>(batch.seq_ids[i])];
    const int32_t pos = batch.positions[i];
    slots_[i] = s.block_table[static_cast<size_t>(pos / bs)] * bs + pos % bs;
    queries_[i] = AttnQuery{s.block_table.data(), pos + 1};
  }
  for (int l = 0; l < c.n_layers; ++l) {
    run_layer(weights_.layers[static_cast<size_t>(l)], kv_[static_cast<size_t>(l)], n);
  }
  const size_t n_out = batch.logit_rows.size();
  logits->resize(n_out * static_cast<size_t>(c.vocab_size));
  if (n_out == 0) return ok_status();
  float* xo = grow(xo_, n_out * h);
  for (size_t i = 0; i < n_out; ++i) {
    std::memcpy(xo + i * h, x_.data() + batch.logit_rows[i] * h, static_cast<size_t>(h) * 4);
  }
  timed(kNorm, [&] {
    ops_.rms_norm(xo, weights_.final_norm.data(), static_cast<float>(c.rms_norm_eps),
                  static_cast<int64_t>(n_out), h, xo, *small_pool_);
  });
  timed(kLmHead, [&] { linear(weights_.head(), xo, static_cast<int64_t>(n_out), logits->data()); });
  return ok_status();
}

}  // namespace

Result<std::unique_ptr<Engine>> make_cpu_decoder(ModelConfig config, ModelWeights weights,
                                                 const EngineOptions& options) {
  auto e = std::make_unique<CpuDecoder>(std::move(config), std::move(weights), options);
  MLXM_RETURN_IF_ERROR(e->init_kv());
  return std::unique_ptr<Engine>(std::move(e));
}

}  // namespace mlxm::engine
