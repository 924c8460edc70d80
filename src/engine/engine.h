// The engine facade: a loaded model plus its paged KV storage, driven one step at a time by
// the scheduler (src/serving). It knows nothing of requests or HTTP (DESIGN §2): a step is a
// flat Batch of tokens from many sequences — prefill chunks and single decode tokens mixed —
// each sequence with its own positions and block table.
//
// Thread-safety: one thread (the model's engine thread) calls forward(); the const accessors
// may be called from any thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "engine/model_config.h"
#include "engine/row_sampling.h"
#include "engine/tensor/dtype.h"

namespace mlxm::engine {

enum class Device { kCpu, kCuda };

struct EngineOptions {
  Device device = Device::kCpu;
  int n_threads = 0;           // CPU: 0 = MLXM_THREADS or physical cores
  int block_size = 16;         // KV tokens per block
  int64_t n_kv_blocks = 0;     // 0: sized from kv_budget_bytes
  size_t kv_budget_bytes = 256ull << 20;  // used when n_kv_blocks == 0
  DType kv_dtype = DType::kF16;  // F16 or BF16; F32 for the reference path
  bool reference = false;      // plain single-threaded fp32 kernels (the numerics oracle)
  bool profile = false;        // accumulate wall time per op family (see op_times_ms)
};

// One sequence of a step.
struct BatchSeq {
  std::vector<int32_t> block_table;  // block ids covering positions [0, n_ctx)
  int32_t n_ctx = 0;  // tokens in this sequence's KV after this step (last position + 1)
};

// One forward step. n_tokens = tokens.size().
struct Batch {
  std::vector<int32_t> tokens;     // (n_tokens) token ids, grouped by sequence, in order
  std::vector<int32_t> positions;  // (n_tokens) position of each token within its sequence
  std::vector<int32_t> seq_ids;    // (n_tokens) index into seqs
  std::vector<BatchSeq> seqs;      // (n_seqs)
  std::vector<int32_t> logit_rows; // (n_out) indices into tokens whose logits are wanted
};

// A token of a submitted batch (Engine::submit) that is the token the step submitted just
// before sampled for its logit row r: the engine feeds it where it was sampled, so the host
// need not have seen it. r >= 0.
inline constexpr int32_t previous_row_token(int32_t r) { return -1 - r; }

// submit()'s checks shared by the engines: at most Engine::kMaxSubmitted steps uncollected,
// valid specs, none `full`.
Status check_submit_rows(const std::vector<RowSampling>& rows, size_t n_out, int32_t vocab,
                         size_t n_submitted);
// True when every row is greedy without adjustments, logprobs, a mask or a pending token: the
// step takes forward_argmax()'s pass.
bool plain_greedy_rows(const std::vector<RowSampling>& rows);
// submit()'s check of RowSampling::pending_row: each names a row of the step submitted just
// before (n_prev_rows of them; forward_sample() takes none: 0).
Status check_pending_rows(const std::vector<RowSampling>& rows, size_t n_prev_rows);
// forward_sample()'s check of its logprobs output: InvalidArgument when it is null and a
// sampled row asks for logprobs.
Status check_logprobs_out(const std::vector<RowSampling>& rows,
                          const std::vector<SampleResult>* logprobs);

class Engine {
 public:
  // Loads config.json + safetensors from model_dir, repacks weights, allocates KV storage.
  static Result<std::unique_ptr<Engine>> load(const std::string& model_dir,
                                              const EngineOptions& options);
  virtual ~Engine() = default;

  // Runs the model over `batch`: writes K/V of every token into its slot
  // (block_table[pos / block_size] * block_size + pos % block_size), attends causally over
  // its sequence's KV, and writes logits (batch.logit_rows.size(), vocab_size) to *logits.
  // REQUIRES: every block id < n_kv_blocks(); positions < n_ctx of their sequence;
  // n_ctx <= max_position_embeddings. Violations return InvalidArgument (never a crash).
  virtual Status forward(const Batch& batch, std::vector<float>* logits) = 0;

  // Optional greedy fast path (added for GPU engines; this default is what every engine has).
  // Runs the step exactly like forward() and writes *ids (batch.logit_rows.size()): for each
  // logit row the index of its largest logit — the lowest such index; NaN entries never win;
  // a row of NaN only gives -1. Rows listed in `full_rows` (indices into batch.logit_rows,
  // strictly ascending) also get their logits, in that order, in *logits (full_rows.size(),
  // vocab_size): the rows whose sampling needs more than an argmax (temperature, penalties,
  // logprobs, a grammar). Engines with device_argmax() take the argmax where the logits are
  // (only ids and the listed rows leave the device); the ids are the same either way.
  virtual Status forward_argmax(const Batch& batch, const std::vector<int32_t>& full_rows,
                                std::vector<int32_t>* ids, std::vector<float>* logits) {
    const size_t n_out = batch.logit_rows.size();
    for (size_t i = 0; i < full_rows.size(); ++i) {
      if (full_rows[i] < 0 || static_cast<size_t>(full_rows[i]) >= n_out ||
          (i > 0 && full_rows[i] <= full_rows[i - 1])) {
        return invalid_argument("forward_argmax: full_rows must be ascending indices into "
                                "logit_rows (" + std::to_string(n_out) + " rows)");
      }
    }
    std::vector<float> all;
    MLXM_RETURN_IF_ERROR(forward(batch, &all));
    const size_t vocab = static_cast<size_t>(config().vocab_size);
    ids->assign(n_out, -1);
    for (size_t r = 0; r < n_out; ++r) {
      const float* row = all.data() + r * vocab;
      float best = 0.0f;
      for (size_t i = 0; i < vocab; ++i) {
        if (row[i] == row[i] && ((*ids)[r] < 0 || row[i] > best)) {  // NaN never wins
          best = row[i];
          (*ids)[r] = static_cast<int32_t>(i);
        }
      }
    }
    logits->resize(full_rows.size() * vocab);
    for (size_t i = 0; i < full_rows.size(); ++i) {
      const float* src = all.data() + static_cast<size_t>(full_rows[i]) * vocab;
      std::copy(src, src + vocab, logits->data() + i * vocab);
    }
    return ok_status();
  }
  // True when forward_argmax and forward_sample run on the device (the logits stay there).
  virtual bool device_argmax() const { return false; }

  // The sampling fast path (generalises forward_argmax; see engine/row_sampling.h for the
  // algorithm). Runs the step exactly like forward(); rows (batch.logit_rows.size()) holds one
  // spec per logit row. *ids (rows.size()) gets each row's token, or kRowFull for a `full` row,
  // or kRowBadLogits / kRowAllNegInf (row_sample_error() says what) when its logits cannot be
  // sampled — the other rows are unaffected. The `full` rows' logits come back in *logits
  // (n_full, vocab_size), in row order: rows whose sampling needs the host (a grammar, or
  // logprobs where !device_logprobs()). *logprobs (rows.size(); may be null when no spec asks
  // for logprobs) gets, for each row whose spec asks (RowSampling::logprobs >= 0) and that gave
  // a token, that token with its logprobs (row_logprobs(); has_logprobs set); every other entry
  // is a default SampleResult. Errors (InvalidArgument): rows.size() != logit rows, an invalid
  // spec (validate_row_sampling), logprobs asked for with a null *logprobs. This default runs
  // forward(), sample_row() and row_logprobs() on the host; engines with device_argmax()
  // sample where the logits are, with the same integers (row_sampling.h).
  virtual Status forward_sample(const Batch& batch, const std::vector<RowSampling>& rows,
                                std::vector<int32_t>* ids, std::vector<float>* logits,
                                std::vector<SampleResult>* logprobs = nullptr);
  // True when forward_sample() and submit() compute the logprobs a spec asks for where the
  // logits are (only the token, its logprob and the top ones cross PCIe). Where false the
  // default still computes them, after the logits came to the host.
  virtual bool device_logprobs() const { return false; }
  // True when forward_sample() and submit() apply RowSampling::mask where the logits are (a
  // logits processor's allowed ids cross PCIe instead of the row's logits).
  virtual bool device_masks() const { return false; }

  // Pipelined steps. submit() takes a step as forward_sample() does, except that no row may be
  // `full`, and returns without waiting for it where pipelined() is true; collect() waits for
  // the oldest submitted step not yet collected and writes its ids (one per logit row) as
  // forward_sample() would. With two steps submitted the host builds and submits step N + 1
  // while the device runs step N, so the device does not wait for the host between steps
  // (the scheduling of vLLM's async mode). A step whose rows are all plain greedy (greedy, no
  // adjustments) takes forward_argmax()'s pass: a row whose logits are all NaN gives
  // kRowBadLogits. Tokens of a submitted batch may be previous_row_token(r) for a logit row r
  // of the step submitted just before, and a spec's pending_row may name such a row (its
  // penalties then take that token, with_token()); if that row gave an error code instead of a
  // token, the rows that read it compute garbage (never out of bounds): the caller learns of the
  // error from the earlier collect() and drops the later step. (The CUDA engine refuses a
  // pending row that asks for raw logprobs.)
  // Errors: InvalidArgument for a bad batch or spec, a `full` row, a previous_row_token that
  // names no row of the step before, a third step submitted before one is collected, collect()
  // with nothing submitted; where pipelined(), also forward*() while steps are submitted and a
  // previous_row_token right after a forward*() call. A device failure comes back from
  // collect() and drops every submitted step.
  static constexpr size_t kMaxSubmitted = 2;
  virtual bool pipelined() const { return false; }
  virtual Status submit(const Batch& batch, const std::vector<RowSampling>& rows);
  // *logprobs (may be null when no spec of the step asked): as forward_sample() gives them.
  virtual Status collect(std::vector<int32_t>* ids, std::vector<SampleResult>* logprobs = nullptr);

  virtual const ModelConfig& config() const = 0;
  virtual int block_size() const = 0;
  virtual int64_t n_kv_blocks() const = 0;
  virtual size_t weight_bytes() const = 0;  // bytes of weights as loaded (resident)
  virtual size_t kv_bytes() const = 0;      // bytes of KV storage allocated
  // Bytes of weights read per decode token (for bandwidth figures).
  virtual size_t weight_bytes_per_token() const = 0;
  virtual int n_threads() const { return 1; }

  // With EngineOptions::profile: milliseconds spent per op family since the last reset
  // ("embed", "norm", "qkv", "rope", "kv_store", "attention", "o_proj", "gate_up", "silu_mul",
  // "down", "lm_head", "other"). Empty otherwise.
  virtual std::vector<std::pair<std::string, double>> op_times_ms() const { return {}; }
  virtual void reset_op_times() {}

 private:
  // The default submit() / collect(): the step runs at submit() (forward_sample()); its ids
  // wait in submitted_ until collected. last_ids_: the ids of the step submitted last.
  struct Done {
    std::vector<int32_t> ids;
    std::vector<SampleResult> logprobs;
  };
  std::deque<Done> submitted_;
  std::vector<int32_t> last_ids_;
};

}  // namespace mlxm::engine
