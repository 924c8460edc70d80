// Rotary inverse frequencies (head_dim / 2) from a config, computed as Hugging Face
// transformers does (float32 math) for default, "linear" and "llama3" rope scaling.
// Thread-safe (pure).
#pragma once

#include <vector>

#include "engine/model_config.h"

namespace mlxm::engine {

std::vector<float> rope_inv_freq(const ModelConfig& config);

}  // namespace mlxm::engine
