#include "engine/loader/weights.h"

#include "engine/loader/weights_load.h"

namespace mlxm::engine {

Result<ModelWeights> load_weights(const ModelConfig& c, const TensorStore& store) {
  return load_weights_as<PackedLinear>(
      c, store, [](const LinearSource& s) { return PackedLinear::pack(s); });
}

}  // namespace mlxm::engine
