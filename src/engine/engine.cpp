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
                              std::vector<int32_t>* ids, std::vector<float>* logits,
                              std::vector<SampleResult>* logprobs) {
  const size_t n_out = batch.logit_rows.size();
  const int32_t vocab = config().vocab_size;
  MLXM_RETURN_IF_ERROR(check_row_specs(rows, n_out, vocab));
  MLXM_RETURN_IF_ERROR(check_logprobs_out(rows, logprobs));
  MLXM_RETURN_IF_ERROR(check_pending_rows(rows, 0));  // pending tokens come with submit() only
  std::vector<float> all;
  MLXM_RETURN_IF_ERROR(forward(batch, &all));
  const size_t v = static_cast<size_t>(vocab);
  ids->assign(n_out, kRowFull);
  logits->clear();
  if (logprobs != nullptr) logprobs->assign(n_out, SampleResult{});
  for (size_t r = 0; r < n_out; ++r) {
    const std::span<const float> row(all.data() + r * v, v);
    if (rows[r].full) {
      logits->insert(logits->end(), row.begin(), row.end());
      continue;
    }
    MLXM_ASSIGN_OR_RETURN((*ids)[r], sample_row(row, rows[r]));
    if (rows[r].logprobs >= 0 && (*ids)[r] >= 0) {
      MLXM_RETURN_IF_ERROR(row_logprobs(row, rows[r], (*ids)[r], &(*logprobs)[r]));
    }
  }
  return ok_status();
}

Status check_pending_rows(const std::vector<RowSampling>& rows, size_t n_prev_rows) {
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].pending_row >= 0 && static_cast<size_t>(rows[r].pending_row) >= n_prev_rows) {
      return invalid_argument("rows[" + std::to_string(r) + "].pending_row " +
                              std::to_string(rows[r].pending_row) + " names no row of the " +
                              std::to_string(n_prev_rows) + " of the step submitted before");
    }
  }
  return ok_status();
}

Status check_logprobs_out(const std::vector<RowSampling>& rows,
                          const std::vector<SampleResult>* logprobs) {
  if (logprobs != nullptr) return ok_status();
  for (size_t r = 0; r < rows.size(); ++r) {
    if (!rows[r].full && rows[r].logprobs >= 0) {
      return invalid_argument("forward_sample: rows[" + std::to_string(r) +
                              "] asks for logprobs and there is nowhere to put them");
    }
  }
  return ok_status();
}

bool plain_greedy_rows(const std::vector<RowSampling>& rows) {
  return std::all_of(rows.begin(), rows.end(),
                     [](const RowSampling& r) {
    return r.greedy() && r.adjust.empty() && r.logprobs < 0 && r.mask.empty() &&
           r.pending_row < 0;
  });
}

Status check_submit_rows(const std::vector<RowSampling>& rows, size_t n_out, int32_t vocab,
                         size_t n_submitted) {
  if (n_submitted >= Engine::kMaxSubmitted) {
    return invalid_argument("submit: " + std::to_string(n_submitted) +
                            " steps are submitted and not collected (collect() one first)");
  }
  MLXM_RETURN_IF_ERROR(check_row_specs(rows, n_out, vocab));
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].full) {
      return invalid_argument("submit: rows[" + std::to_string(r) +
                              "] is full (logits come back from forward_sample() only)");
    }
  }
  return ok_status();
}

Status Engine::submit(const Batch& batch, const std::vector<RowSampling>& rows) {
  MLXM_RETURN_IF_ERROR(check_submit_rows(rows, batch.logit_rows.size(), config().vocab_size,
                                         submitted_.size()));
  MLXM_RETURN_IF_ERROR(validate_batch(batch, config(), block_size(), n_kv_blocks(),
                                      static_cast<int64_t>(last_ids_.size())));
  // The tokens of the step before are known here: that step ran at its submit().
  Batch b;
  const Batch* run = &batch;
  for (size_t i = 0; i < batch.tokens.size(); ++i) {
    const int32_t t = batch.tokens[i];
    if (t >= 0) continue;
    if (run == &batch) {
      b = batch;
      run = &b;
    }
    // An error code there: any token will do (the caller drops this step); 0 is in range.
    b.tokens[i] = std::max(last_ids_[static_cast<size_t>(-1 - int64_t{t})], 0);
  }
  // Pending tokens are known here too: the specs take them as the device would.
  MLXM_RETURN_IF_ERROR(check_pending_rows(rows, last_ids_.size()));
  std::vector<RowSampling> resolved;
  const std::vector<RowSampling>* specs = &rows;
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].pending_row < 0) continue;
    if (specs == &rows) {
      resolved = rows;
      specs = &resolved;
    }
    const int32_t t = last_ids_[static_cast<size_t>(rows[r].pending_row)];
    resolved[r] = with_token(rows[r], std::max(t, 0));  // an error code: the step is dropped
  }
  Done done;
  std::vector<float> logits;
  if (plain_greedy_rows(*specs)) {
    MLXM_RETURN_IF_ERROR(forward_argmax(*run, {}, &done.ids, &logits));
    for (int32_t& id : done.ids) id = id < 0 ? kRowBadLogits : id;
    done.logprobs.assign(done.ids.size(), SampleResult{});
  } else {
    MLXM_RETURN_IF_ERROR(forward_sample(*run, *specs, &done.ids, &logits, &done.logprobs));
  }
  last_ids_ = done.ids;
  submitted_.push_back(std::move(done));
  return ok_status();
}

Status Engine::collect(std::vector<int32_t>* ids, std::vector<SampleResult>* logprobs) {
  if (submitted_.empty()) return invalid_argument("collect: no step is submitted");
  *ids = std::move(submitted_.front().ids);
  if (logprobs != nullptr) *logprobs = std::move(submitted_.front().logprobs);
  submitted_.pop_front();
  return ok_status();
}

}  // namespace mlxm::engine
