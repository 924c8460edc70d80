// Random-weight model directories in the HF/MLX layout (config.json, safetensors, tokenizer
// files), like vLLM's dummy weights: anyone can benchmark or test without a download.
// Thread-safety: pure functions (make_model uses its own worker threads).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/model_config.h"
#include "engine/tensor/dtype.h"

namespace mlxm::engine {

struct ModelSpec {
  std::string architecture = "LlamaForCausalLM";
  int hidden_size = 64;
  int n_layers = 2;
  int n_heads = 4;
  int n_kv_heads = 2;
  int head_dim = 0;  // 0: hidden_size / n_heads
  int intermediate_size = 128;
  int vocab_size = 0;  // 0: taken from the tokenizer
  double rms_norm_eps = 1e-5;
  double rope_theta = 500000.0;
  RopeScaling rope_scaling;
  int max_position_embeddings = 8192;
  bool tie_word_embeddings = false;
  DType dtype = DType::kBF16;  // dense weights, scales/biases, norms
  int bits = 0;                // 0: dense; else MLX affine for every linear and the embedding
  int group_size = 64;
  // Per-module overrides of `bits` (0: keep that module dense), written to config.json.
  std::map<std::string, int> bits_overrides;
  float init_std = 0.02f;
  bool random_norms = false;             // norms 1 + N(0, 0.1) instead of 1 (tests)
  float bias_std = 0.02f;                // Qwen2 q/k/v biases
  uint64_t shard_bytes = 4000000000ull;  // split into shards above this size
  std::optional<int> bos_token_id;       // default: from the tokenizer config
  std::vector<int> eos_token_ids;
};

// The presets of `make-model --shape`: tiny | llama-3.2-1b | llama-3.2-3b | llama-3.1-8b |
// qwen3-0.6b | qwen3-8b. Unknown name => InvalidArgument listing the choices.
Result<ModelSpec> model_spec_for_shape(const std::string& shape);

// Vocabulary size of a tokenizer.json (max id over model.vocab and added_tokens, + 1).
Result<int> tokenizer_vocab_size(const std::string& tokenizer_json_path);

// Writes config.json, model.safetensors (or shards + model.safetensors.index.json) and the
// tokenizer files found in tokenizer_dir (may be empty when spec.vocab_size is set) to out_dir
// (created). Weights ~ N(0, init_std) (Irwin-Hall approximation), seeded per tensor and row, so
// the same seed gives the same files.
Status make_model(const ModelSpec& spec, const std::string& tokenizer_dir,
                  const std::string& out_dir, uint64_t seed);

}  // namespace mlxm::engine
