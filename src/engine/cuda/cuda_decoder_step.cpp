// The device work of a CUDA engine step (cuda_decoder_impl.h): the layers (fused kernels,
// linears, attention) and the head, enqueued on one stream (captured into graphs by run_step).
#include <cmath>

#include "engine/cuda/cuda_decoder_impl.h"

namespace mlxm::engine::cuda_decoder_detail {

Status CudaDecoder::enqueue_attention(int l, int64_t n, const Meta& m, int64_t width,
                                      int64_t n_tiles, cuda::Stream s,
                                      const cuda::XTarget& out_q, bool kv_in_l2) {
  const ModelConfig& c = config_;
  const KvLayerView& kv = kv_[static_cast<size_t>(l)];
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  if (n_tiles > 0) {
    return cuda::paged_attention_prefill(q_.as<float>(), meta_at(m.tables), static_cast<int>(width),
                                         meta_at(m.ctx), meta_at(m.tiles), n_tiles, n, c.n_heads,
                                         kv, scale, attn_.as<float>(), s, prefill_mma_);
  }
  cuda::AttnSplit split = attn_split_;
  split.out_q = out_q;
  split.prefetch_kv = split.prefetch_kv && !kv_in_l2;  // the qkv GEMV prefetched it already
  split.kv_maps = kv_maps_.empty() ? nullptr : &kv_maps_[static_cast<size_t>(l)];
  return cuda::paged_attention_decode(q_.as<float>(), meta_at(m.tables), static_cast<int>(width),
                                      meta_at(m.ctx), n, c.n_heads, kv, scale, attn_.as<float>(),
                                      s, split);
}

// Per layer, fused (default): [xn = attn-normed x, from the previous layer's last add or the
// embedding] qkv linear -> qkv_rope_store (q/k norm, RoPE, K/V into the cache; for GEMV rows
// without q/k norms the qkv stream GEMV's epilogue does it: ForwardOptions::rope_store) ->
// attention -> o_proj -> add_rms_norm (x += o; xn = mlp-normed x) -> gate/up -> SiLU·up -> down ->
// add_rms_norm with the next layer's attention norm (the last layer: a plain add).
Status CudaDecoder::enqueue_layer(int l, int64_t n, const Meta& m, int64_t width,
                                  int64_t n_tiles, cuda::Stream s) {
  const ModelConfig& c = config_;
  const CudaLayer& L = w_.layers[static_cast<size_t>(l)];
  const LayerNorms& N = norms_[static_cast<size_t>(l)];
  const KvLayerView& kv = kv_[static_cast<size_t>(l)];
  const int64_t h = c.hidden_size, hd = c.head_dim, ff = c.intermediate_size;
  const int64_t q_w = int64_t{c.n_heads} * hd, kv_w = int64_t{c.n_kv_heads} * hd;
  const float eps = static_cast<float>(c.rms_norm_eps);
  float* x = x_.as<float>();
  float* xn = xn_.as<float>();
  float* q = q_.as<float>();
  float* k = k_.as<float>();
  float* v = v_.as<float>();
  const int32_t* positions = meta_at(m.positions);

  // The previous layer's last add_rms_norm may have written xn in this qkv linear's form.
  const cuda::XTarget qkv_ready = l > 0 ? qkv_x_ : cuda::XTarget{};
  qkv_x_ = {};
  bool kv_in_l2 = false;  // the qkv GEMV prefetched the attention's K/V (RopeStore::block_tables)
  if (!fuse_ || l == 0) MLXM_RETURN_IF_ERROR(cuda::rms_norm(x, N.attn.as<float>(), eps, n, h, xn, s));
  if (fuse_) {
    const float* qn = c.qk_norm ? N.q.as<float>() : nullptr;
    const float* kn = c.qk_norm ? N.k.as<float>() : nullptr;
    // The stream GEMV ropes q into q_ and k, v into the cache itself where it can.
    cuda::RopeStore rs{positions, inv_freq_.as<float>(), meta_at(m.slots), kv, q,
                       static_cast<int>(c.n_heads)};
    if (n_tiles == 0 && qkv_kv_prefetch_) {  // decode: row j is sequence j of the attention
      rs.block_tables = meta_at(m.tables);
      rs.context_lens = meta_at(m.ctx);
      rs.max_blocks = static_cast<int>(width);
    }
    if (L.fused_qkv && gemv_rope_ && !c.qk_norm && L.qkv.check_rope_store(rs, n, lin_).ok()) {
      MLXM_RETURN_IF_ERROR(linear(L.qkv, xn, n, qkv_.as<float>(), s, qkv_ready, nullptr, &rs));
      kv_in_l2 = rs.block_tables != nullptr;
    } else if (L.fused_qkv) {
      cuda::SplitKOutput qo;
      MLXM_RETURN_IF_ERROR(linear(L.qkv, xn, n, qkv_.as<float>(), s, qkv_ready, &qo));
      const int64_t row = q_w + 2 * kv_w;
      const float* qkv = qo.base;
      MLXM_RETURN_IF_ERROR(cuda::qkv_rope_store(qkv, row, qkv + q_w, qkv + q_w + kv_w, row, qn, kn,
                                                eps, positions, inv_freq_.as<float>(),
                                                meta_at(m.slots), n, c.n_heads, kv, q, s,
                                                qo.slices));
    } else {
      float* qr = qkv_.as<float>();  // raw q; q_ receives the roped one
      MLXM_RETURN_IF_ERROR(L.q.forward(xn, n, qr, s, lin_));
      MLXM_RETURN_IF_ERROR(L.k.forward(xn, n, k, s, lin_));
      MLXM_RETURN_IF_ERROR(L.v.forward(xn, n, v, s, lin_));
      MLXM_RETURN_IF_ERROR(cuda::qkv_rope_store(qr, q_w, k, v, kv_w, qn, kn, eps, positions,
                                                inv_freq_.as<float>(), meta_at(m.slots), n,
                                                c.n_heads, kv, q, s));
    }
  } else {
    if (L.fused_qkv) {
      float* qkv = qkv_.as<float>();
      MLXM_RETURN_IF_ERROR(L.qkv.forward(xn, n, qkv, s, lin_));
      const size_t w = static_cast<size_t>(q_w + 2 * kv_w) * 4, un = static_cast<size_t>(n);
      MLXM_RETURN_IF_ERROR(cuda::copy_2d_async(q, q_w * 4, qkv, w, q_w * 4, un, s));
      MLXM_RETURN_IF_ERROR(cuda::copy_2d_async(k, kv_w * 4, qkv + q_w, w, kv_w * 4, un, s));
      MLXM_RETURN_IF_ERROR(
          cuda::copy_2d_async(v, kv_w * 4, qkv + q_w + kv_w, w, kv_w * 4, un, s));
    } else {
      MLXM_RETURN_IF_ERROR(L.q.forward(xn, n, q, s, lin_));
      MLXM_RETURN_IF_ERROR(L.k.forward(xn, n, k, s, lin_));
      MLXM_RETURN_IF_ERROR(L.v.forward(xn, n, v, s, lin_));
    }
    if (c.qk_norm) {
      MLXM_RETURN_IF_ERROR(cuda::rms_norm(q, N.q.as<float>(), eps, n * c.n_heads, hd, q, s));
      MLXM_RETURN_IF_ERROR(cuda::rms_norm(k, N.k.as<float>(), eps, n * c.n_kv_heads, hd, k, s));
    }
    MLXM_RETURN_IF_ERROR(cuda::rope(q, positions, n, c.n_heads, static_cast<int>(hd),
                                    inv_freq_.as<float>(), s));
    MLXM_RETURN_IF_ERROR(cuda::rope(k, positions, n, c.n_kv_heads, static_cast<int>(hd),
                                    inv_freq_.as<float>(), s));
    MLXM_RETURN_IF_ERROR(cuda::kv_store(kv, k, v, meta_at(m.slots), n, s));
  }
  // Decode steps with a split merge or the whole-context kernel: the attention writes o_proj's
  // int8 GEMV input. Not the GEMM's form: writing it cost the grouped kernel registers (more
  // spills) and lost more than o_proj's round_x launch (bench/NOTES.md run 201).
  const cuda::XTarget o_q =
      n_tiles == 0 && (attn_split_.splits > 1 || attn_split_.whole) && c.head_dim % 32 == 0
          ? x_target(L.o, n, false)
          : cuda::XTarget{};
  MLXM_RETURN_IF_ERROR(enqueue_attention(l, n, m, width, n_tiles, s, o_q, kv_in_l2));
  float* tmp = tmp_.as<float>();
  cuda::SplitKOutput oo;
  MLXM_RETURN_IF_ERROR(linear(L.o, attn_.as<float>(), n, tmp, s, o_q, &oo));
  const cuda::XTarget gu_q = L.fused_gate_up ? x_target(L.gate_up, n) : cuda::XTarget{};
  if (fuse_) {
    MLXM_RETURN_IF_ERROR(
        cuda::add_rms_norm(x, oo.base, N.mlp.as<float>(), eps, n, h, xn, s, gu_q, oo.slices));
  } else {
    MLXM_RETURN_IF_ERROR(cuda::add_inplace(x, tmp, n * h, s));
    MLXM_RETURN_IF_ERROR(cuda::rms_norm(x, N.mlp.as<float>(), eps, n, h, xn, s));
  }
  float* gu = gu_.as<float>();
  float* act = act_.as<float>();
  cuda::SplitKOutput go{gu, {1, 0}};
  if (L.fused_gate_up) {
    MLXM_RETURN_IF_ERROR(linear(L.gate_up, xn, n, gu, s, gu_q, &go));
  } else {
    // silu_mul wants [gate | up] per row.
    float* up = up_.as<float>();
    MLXM_RETURN_IF_ERROR(L.gate.forward(xn, n, act, s, lin_));
    MLXM_RETURN_IF_ERROR(L.up.forward(xn, n, up, s, lin_));
    const size_t row = static_cast<size_t>(ff) * 4, un = static_cast<size_t>(n);
    MLXM_RETURN_IF_ERROR(cuda::copy_2d_async(gu, 2 * row, act, row, row, un, s));
    MLXM_RETURN_IF_ERROR(cuda::copy_2d_async(gu + ff, 2 * row, up, row, row, un, s));
  }
  const cuda::XTarget down_q = x_target(L.down, n);
  MLXM_RETURN_IF_ERROR(cuda::silu_mul(go.base, n, ff, act, s, down_q, go.slices));
  const bool last = l + 1 == c.n_layers;
  cuda::SplitKOutput dn;  // the last layer's plain add reads a written y
  MLXM_RETURN_IF_ERROR(
      linear(L.down, act, n, tmp, s, down_q, last ? nullptr : &dn));
  if (fuse_ && !last) {
    const LayerNorms& next = norms_[static_cast<size_t>(l) + 1];
    const CudaLayer& nl = w_.layers[static_cast<size_t>(l) + 1];
    const cuda::XTarget qkv_q = nl.fused_qkv ? x_target(nl.qkv, n) : cuda::XTarget{};
    qkv_x_ = qkv_q;
    return cuda::add_rms_norm(x, dn.base, next.attn.as<float>(), eps, n, h, xn, s, qkv_q,
                              dn.slices);
  }
  return cuda::add_inplace(x, tmp, n * h, s);
}

Status CudaDecoder::enqueue_step(int64_t n, int64_t n_out, int64_t width, int64_t n_tiles,
                                 cuda::Stream s) {
  const ModelConfig& c = config_;
  const Meta m = meta_layout(n, n_out, width);
  const int64_t h = c.hidden_size;
  // Tokens given as previous_row_token(r) are the ids the step before left in ids_.
  MLXM_RETURN_IF_ERROR(w_.embed.gather_rows(meta_at(m.tokens), n, x_.as<float>(), s,
                                            ids_.as<const int32_t>()));
  qkv_x_ = {};
  for (int l = 0; l < c.n_layers; ++l) {
    MLXM_RETURN_IF_ERROR(enqueue_layer(l, n, m, width, n_tiles, s));
  }
  if (n_out == 0) return ok_status();
  float* xo = xo_.as<float>();
  MLXM_RETURN_IF_ERROR(cuda::gather_rows(x_.as<float>(), n, h, meta_at(m.rows), n_out, xo, s));
  MLXM_RETURN_IF_ERROR(cuda::rms_norm(xo, final_norm_.as<float>(),
                                      static_cast<float>(c.rms_norm_eps), n_out, h, xo, s));
  return w_.head().forward(xo, n_out, logits_.as<float>(), s, lin_);
}

}  // namespace mlxm::engine::cuda_decoder_detail
