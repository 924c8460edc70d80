// A model's architecture and hyper-parameters, read from config.json (HF/MLX layout).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace mlxm::engine {

enum class Arch { kLlama, kMistral, kQwen2, kQwen3 };

struct QuantConfig {
  int bits = 0;        // 0: not quantized
  int group_size = 0;
};

struct RopeScaling {
  std::string type;  // "" (none), "llama3", "linear"
  double factor = 1.0;
  double low_freq_factor = 1.0;    // llama3
  double high_freq_factor = 4.0;   // llama3
  int original_max_position_embeddings = 8192;  // llama3
};

struct ModelConfig {
  Arch arch = Arch::kLlama;
  std::string architecture;  // as in the file, e.g. "LlamaForCausalLM"
  int hidden_size = 0;
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int intermediate_size = 0;
  int vocab_size = 0;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int max_position_embeddings = 2048;
  // Sliding-window attention (Mistral v0.1; Qwen with use_sliding_window): 0 = none. We attend
  // over the full context, which equals the windowed result while n_ctx <= sliding_window, so
  // parse() caps max_position_embeddings at the window (exact within it).
  int sliding_window = 0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // Qwen2: q/k/v projections have biases
  bool qk_norm = false;         // Qwen3: per-head RMSNorm on q and k
  std::optional<int> bos_token_id;
  std::vector<int> eos_token_ids;  // eos may be a list
  std::string torch_dtype;         // "bfloat16", "float16", "float32"
  QuantConfig quant;               // default for all quantized modules
  // Per-module overrides keyed by module path ("model.layers.0.mlp.down_proj"); bits 0 means
  // that module is not quantized.
  std::map<std::string, QuantConfig> quant_overrides;

  // The quantization of one module path (override or default).
  QuantConfig quant_for(const std::string& module_path) const;

  // Parses and validates config.json text. Unknown architecture => error naming it.
  static Result<ModelConfig> parse(const std::string& json_text);
  static Result<ModelConfig> load(const std::string& model_dir);
};

}  // namespace mlxm::engine
