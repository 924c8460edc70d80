#include "engine/engine.h"

#include "core/log.h"
#include "engine/cuda/cuda_decoder.h"
#include "engine/loader/safetensors.h"
#include "engine/loader/weights.h"
#include "engine/models/decoder.h"

namespace mlxm::engine {

Result<std::unique_ptr<Engine>> Engine::load(const std::string& model_dir,
                                             const EngineOptions& options) {
  if (options.device == Device::kCuda) {
    return load_cuda_decoder(model_dir, options);
  }
  MLXM_ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::load(model_dir));
  MLXM_ASSIGN_OR_RETURN(auto store, TensorStore::open(model_dir));
  auto weights = load_weights(config, *store);
  if (!weights.ok()) return weights.status().with_context("loading " + model_dir);
  store.reset();  // packed weights are owned copies: drop the mappings
  return make_cpu_decoder(std::move(config), std::move(weights).value(), options);
}

}  // namespace mlxm::engine
