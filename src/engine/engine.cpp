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

Status Engine::forward_sample(const Batch& batch, const std::vector<RowSampling>& rows,
                              std::vector<int32_t>* ids, std::vector<float>* logits) {
  const size_t n_out = batch.logit_rows.size();
  const int32_t vocab = config().vocab_size;
  MLXM_RETURN_IF_ERROR(check_row_specs(rows, n_out, vocab));
  std::vector<float> all;
  MLXM_RETURN_IF_ERROR(forward(batch, &all));
  const size_t v = static_cast<size_t>(vocab);
  ids->assign(n_out, kRowFull);
  logits->clear();
  for (size_t r = 0; r < n_out; ++r) {
    const std::span<const float> row(all.data() + r * v, v);
    if (rows[r].full) {
      logits->insert(logits->end(), row.begin(), row.end());
      continue;
    }
    MLXM_ASSIGN_OR_RETURN((*ids)[r], sample_row(row, rows[r]));
  }
  return ok_status();
}

}  // namespace mlxm::engine
