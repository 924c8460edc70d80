// The decoder-only transformer shared by Llama, Mistral, Qwen2 and Qwen3 (their differences —
// q/k/v biases, per-head q/k RMSNorm, rope scaling, tied head — are config flags), run on the
// CPU over a flat batch with a paged KV cache.
// Thread-safety: as Engine (one thread calls forward()).
#pragma once

#include <memory>

#include "engine/engine.h"
#include "engine/loader/weights.h"

namespace mlxm::engine {

// Checks a batch against the REQUIRES of Engine::forward. InvalidArgument names the field.
// n_prev_rows > 0 (Engine::submit): tokens may also be previous_row_token(r), r < n_prev_rows.
Status validate_batch(const Batch& batch, const ModelConfig& config, int block_size,
                      int64_t n_kv_blocks, int64_t n_prev_rows = 0);

// Builds the CPU engine from loaded weights (takes ownership).
Result<std::unique_ptr<Engine>> make_cpu_decoder(ModelConfig config, ModelWeights weights,
                                                 const EngineOptions& options);

}  // namespace mlxm::engine
