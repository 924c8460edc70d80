// The CUDA engine: the decoder of models/decoder.cpp (Llama, Mistral, Qwen2, Qwen3) with its
// weights and paged KV cache in GPU memory, run through the kernels of kernels/cuda. CUDA-free
// header; built only when nvcc was found (otherwise load_cuda_decoder returns Unavailable).
// Thread-safety: as Engine (one thread calls forward()).
#pragma once

#include <memory>
#include <string>

#include "engine/engine.h"

namespace mlxm::engine {

// Loads config.json + safetensors (the CPU loader's mapping and checks), uploads every linear
// (cuda::CudaLinear: all weight formats), allocates the KV pool in device memory (n_kv_blocks,
// else kv_budget_bytes; F16 or BF16). options.reference is CPU-only (InvalidArgument).
Result<std::unique_ptr<Engine>> load_cuda_decoder(const std::string& model_dir,
                                                  const EngineOptions& options);

}  // namespace mlxm::engine
