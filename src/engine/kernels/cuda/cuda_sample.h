// Token sampling on the device (issue 9): the kernel behind Engine::forward_sample for the CUDA
// engine. The algorithm and its integer masses are those of engine/row_sampling.h (the host
// implementation sample_row() is the oracle); this header only fixes the device-side layout.
// CUDA-free header.
// Thread-safety: stateless; calls on different streams may run concurrently.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "engine/kernels/cuda/cuda_runtime_api.h"

namespace mlxm::engine::cuda {

// One sampled row. Host-computed constants keep the thresholds bit-identical to the host's:
// inv_t = 1.0f / temperature, log_min_p = std::log(min_p) (-inf when min_p is off).
struct SampleRowSpec {
  int32_t row = 0;         // logit row of x
  int32_t greedy = 0;      // 1: argmax of the adjusted logits (the fields below are unused)
  float temperature = 1.0f;
  float inv_t = 1.0f;
  float log_min_p = 0.0f;  // -inf: min_p off
  float top_p = 1.0f;      // 1: off
  int32_t top_k = 0;       // 0: off; else 0 < top_k < vocab
  int32_t adjust_begin = 0;  // adjustments [adjust_begin, adjust_begin + adjust_count)
  int32_t adjust_count = 0;
  int32_t mask = -1;       // >= 0: the row's allowed ids are masks[mask] (mask_rows)
  // >= 0: the token prev_ids[pending_row] is added to the adjustments as with_token() does
  // (engine/row_sampling.h), with these penalties.
  int32_t pending_row = -1;
  float pending_rep = 1.0f;
  float pending_freq = 0.0f;
  float pending_presence = 0.0f;
  double u = 0.0;          // in [0, 1)
};

// Same layout as engine::LogitAdjust: w = ((w + add) rep-penalised) - sub, tokens distinct
// within a row.
struct SampleAdjust {
  int32_t token = 0;
  float add = 0.0f;
  float rep = 1.0f;
  float sub = 0.0f;
  int32_t count = 0;  // the token's output count (for a pending token's frequency penalty)
};

// Result codes written to ids instead of a token (= engine::kRowBadLogits, kRowAllNegInf).
inline constexpr int32_t kSampleBadLogits = -2;
inline constexpr int32_t kSampleAllNegInf = -3;
inline constexpr int32_t kSampleBadRow = -4;  // spec.row outside x (never read)

// For each spec j (one block of 1024 threads): applies its adjustments IN PLACE to row
// specs[j].row of x (n_rows, vocab) — the row is consumed — then writes the sampled token (or a
// code above) to ids[j]. specs (n_specs), adjust, ids (n_specs): device pointers; rows of
// different specs must differ. Adjusted tokens outside [0, vocab) are skipped. prev_ids: the
// step before's ids, for specs with a pending_row (null when none has; a negative id there
// leaves the spec's adjustments as they are).
Status sample_rows(float* x, int64_t n_rows, int64_t vocab, const SampleRowSpec* specs,
                   int64_t n_specs, const SampleAdjust* adjust, int32_t* ids,
                   Stream stream = nullptr, const int32_t* prev_ids = nullptr);

// Before sample_rows (and save_raw_logits): for each spec with a mask, the ids whose bit is
// clear in its words masks[mask · ceil(vocab / 64) ...] become -inf in its row of x
// (row_sampling.h step 0).
Status mask_rows(float* x, int64_t n_rows, int64_t vocab, const SampleRowSpec* specs,
                 int64_t n_specs, const uint64_t* masks, Stream stream = nullptr);

// Logprobs on the device (Engine::device_logprobs): the host twin is engine::row_logprobs()
// (fill_logprobs' rules: log-softmax, the n_top largest values, ties to the lowest id).
inline constexpr int kLogprobTop = 20;  // = engine::kMaxTopLogprobs

// A sampled row whose logprobs are asked for.
struct LogprobRowSpec {
  int32_t row = 0;           // logit row of x, already sampled (sample_rows adjusted it)
  int32_t spec = 0;          // its token: ids[spec]
  int32_t n_top = 0;         // [0, min(kLogprobTop, vocab)]
  int32_t raw = 0;           // 1: over the logits before the adjustments (saved by save_raw)
  int32_t adjust_begin = 0;  // the row's adjustments (as its SampleRowSpec's)
  int32_t adjust_count = 0;
};

// What a row's logprobs come back as: the token's logprob, then the n_top most likely tokens
// by logprob (descending, ties to the lowest id). n_top = -1 when ids[spec] was an error code
// (nothing computed).
struct LogprobRowOut {
  float logprob = 0.0f;
  int32_t n_top = 0;
  int32_t ids[kLogprobTop] = {};
  float logprobs[kLogprobTop] = {};
};

// Before sample_rows: for each raw spec (raw == 1), saved[adjust_begin + k] = the logit of
// adjust[adjust_begin + k].token in its row of x (n_rows, vocab). saved: as long as adjust.
Status save_raw_logits(const float* x, int64_t n_rows, int64_t vocab,
                       const LogprobRowSpec* specs, int64_t n_specs, const SampleAdjust* adjust,
                       float* saved, Stream stream = nullptr);

// After sample_rows: each spec's row gets its raw logits back where `raw` (from saved), then
// out[j] (n_specs) its logprobs. The rows are consumed as sample_rows' are; rows of different
// specs must differ. All pointers are device pointers.
Status logprob_rows(float* x, int64_t n_rows, int64_t vocab, const LogprobRowSpec* specs,
                    int64_t n_specs, const SampleAdjust* adjust, const float* saved,
                    const int32_t* ids, LogprobRowOut* out, Stream stream = nullptr);

}  // namespace mlxm::engine::cuda
