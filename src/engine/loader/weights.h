// HF/MLX tensor names -> the packed weights of a decoder-only transformer (Llama, Mistral,
// Qwen2, Qwen3). Every tensor is checked against the config (presence, dtype, shape,
// quantization) and unexpected tensors are an error naming them.
// Thread-safety: ModelWeights is immutable after load_weights(); read from any thread.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "engine/kernels/cpu/linear.h"
#include "engine/loader/safetensors.h"
#include "engine/model_config.h"

namespace mlxm::engine {

// The weights of a decoder, generic over the linear type: PackedLinear for the CPU engine,
// cuda::CudaLinear for the CUDA engine (both have n_out() and bytes()).
template <typename Linear>
struct BasicLayerWeights {
  std::vector<float> attn_norm;  // (hidden)
  std::vector<float> mlp_norm;   // (hidden)
  std::vector<float> q_norm;     // (head_dim) Qwen3 only
  std::vector<float> k_norm;     // (head_dim) Qwen3 only
  // Fused [q; k; v] ((n_heads + 2 * n_kv_heads) * head_dim, hidden) when the three share a
  // format; otherwise q, k, v separately (qkv empty).
  bool fused_qkv = false;
  Linear qkv, q, k, v;
  Linear o;  // (hidden, n_heads * head_dim)
  // Fused [gate; up] (2 * ff, hidden) when formats match; otherwise gate and up.
  bool fused_gate_up = false;
  Linear gate_up, gate, up;
  Linear down;  // (hidden, ff)
};

template <typename Linear>
struct BasicModelWeights {
  Linear embed;  // (vocab, hidden); rows dequantized for lookup
  std::vector<BasicLayerWeights<Linear>> layers;
  std::vector<float> final_norm;  // (hidden)
  bool tied = false;              // lm_head is `embed`
  Linear lm_head;                 // (vocab, hidden) when not tied

  const Linear& head() const { return tied ? embed : lm_head; }
  // Resident bytes of all weights.
  size_t bytes() const {
    size_t n = embed.bytes() + (tied ? 0 : lm_head.bytes()) + final_norm.size() * 4;
    for (const auto& l : layers) {
      n += (l.attn_norm.size() + l.mlp_norm.size() + l.q_norm.size() + l.k_norm.size()) * 4;
      n += l.fused_qkv ? l.qkv.bytes() : l.q.bytes() + l.k.bytes() + l.v.bytes();
      n += l.fused_gate_up ? l.gate_up.bytes() : l.gate.bytes() + l.up.bytes();
      n += l.o.bytes() + l.down.bytes();
    }
    return n;
  }
  // Bytes read by one decode step: everything but the embedding table, of which one row is
  // read (all of it when tied: it is the lm_head).
  size_t bytes_per_token() const {
    size_t n = bytes() - embed.bytes() + (tied ? embed.bytes() : 0);
    const int64_t rows = embed.n_out() > 0 ? embed.n_out() : 1;
    n += embed.bytes() / static_cast<size_t>(rows);
    return n;
  }
};

using LayerWeights = BasicLayerWeights<PackedLinear>;
using ModelWeights = BasicModelWeights<PackedLinear>;

// Reads and packs every weight. Errors name the tensor and file.
Result<ModelWeights> load_weights(const ModelConfig& config, const TensorStore& store);

}  // namespace mlxm::engine
