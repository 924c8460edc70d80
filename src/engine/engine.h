// The engine facade: a loaded model plus its paged KV storage, driven one step at a time by
// the scheduler (src/serving). It knows nothing of requests or HTTP (DESIGN §2): a step is a
// flat Batch of tokens from many sequences — prefill chunks and single decode tokens mixed —
// each sequence with its own positions and block table.
//
// Thread-safety: one thread (the model's engine thread) calls forward(); the const accessors
// may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "engine/model_config.h"
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
};

}  // namespace mlxm::engine
