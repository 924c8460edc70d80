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

struct LayerWeights {
  std::vector<float> attn_norm;  // (hidden)
  std::vector<float> mlp_norm;   // (hidden)
  std::vector<float> q_norm;     // (head_dim) Qwen3 only
  std::vector<float> k_norm;     // (head_dim) Qwen3 only
  // Fused [q; k; v] ((n_heads + 2 * n_kv_heads) * head_dim, hidden) when the three share a
  // format; otherwise q, k, v separately (qkv empty).
  bool fused_qkv = false;
  PackedLinear qkv, q, k, v;
  PackedLinear o;  // (hidden, n_heads * head_dim)
  // Fused [gate; up] (2 * ff, hidden) when formats match; otherwise gate and up.
  bool fused_gate_up = false;
  PackedLinear gate_up, gate, up;
  PackedLinear down;  // (hidden, ff)
};

struct ModelWeights {
  PackedLinear embed;  // (vocab, hidden); rows dequantized for lookup
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;  // (hidden)
  bool tied = false;              // lm_head is `embed`
  PackedLinear lm_head;           // (vocab, hidden) when not tied

  const PackedLinear& head() const { return tied ? embed : lm_head; }
  size_t bytes() const;            // resident bytes of all weights
  size_t bytes_per_token() const;  // bytes read by one decode step
};

// Reads and packs every weight. Errors name the tensor and file.
Result<ModelWeights> load_weights(const ModelConfig& config, const TensorStore& store);

}  // namespace mlxm::engine
