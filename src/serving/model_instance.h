// A loaded local model: engine loop (engine + scheduler), tokenizer, chat template and the
// facts handlers need (name, context length, stop ids). Built once, shared by handlers.
//
// Thread-safety: immutable after load() apart from the engine loop, which is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/engine.h"
#include "grammar/token_trie.h"
#include "serving/engine_loop.h"
#include "tokenizer/chat_template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace mlxm::serving {

struct ModelLoadOptions {
  engine::EngineOptions engine;
  SchedulerConfig scheduler;   // max_model_len 0 = the model's max_position_embeddings
  int max_model_len_cap = 8192;  // when taking the model's length, cap it here (KV sizing)
  int debug_step_delay_ms = 0;   // MLXM_DEBUG_STEP_DELAY_MS: slows every step (timeout tests)
  EngineLoopOptions loop;        // MLX_SERVER_ASYNC_DELIVERY (auto): where sink calls are made;
                                 // MLX_SERVER_PIPELINE (auto): pipelined steps
  // > 0: the KV cache is sized for this many sequences at the model's served context
  // (engine.kv_budget_bytes and engine.n_kv_blocks are then ignored); 0: engine options as set.
  int kv_sequences = 0;
};

// The context length a model with `config` is served with: MLX_SERVER_MAX_MODEL_LEN when set,
// else its max_position_embeddings capped at max_model_len_cap; never above the model's own.
int served_context(const engine::ModelConfig& config, const ModelLoadOptions& options);

// The engine options for loading a model with `config`: with kv_sequences > 0, n_kv_blocks holds
// kv_sequences full-context sequences.
engine::EngineOptions engine_options_for(const engine::ModelConfig& config,
                                         const ModelLoadOptions& options);

// The KV cache bytes loading the model in `model_dir` will reserve (reads its config.json): the
// model pool's estimate before it loads. KV bytes per token = 2 (K, V) x layers x KV heads x
// head_dim x the KV element size.
Result<uint64_t> planned_kv_bytes(const std::string& model_dir, const ModelLoadOptions& options);

// Scheduler settings from the environment: MLX_SERVER_ENABLE_BATCHING,
// MLX_SERVER_BATCH_MAX_BATCH_SIZE (8), MLX_SERVER_MAX_QUEUED_REQUESTS (256),
// MLX_SERVER_MAX_BATCHED_TOKENS (512), MLX_SERVER_MAX_MODEL_LEN (0 = the model's, capped),
// MLX_SERVER_KV_CACHE_MB (a fixed KV size; unset: MLX_SERVER_KV_SEQUENCES sequences, default the
// batch size, at the served context), MLX_SERVER_KV_BLOCK_SIZE (16), MLXM_DEBUG_STEP_DELAY_MS (0).
Result<ModelLoadOptions> model_load_options_from_env();

class ModelInstance {
 public:
  static Result<std::shared_ptr<ModelInstance>> load(const std::string& name,
                                                      const std::string& model_dir,
                                                      const ModelLoadOptions& options);

  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }
  int64_t created() const { return created_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  // Absent when the model ships no chat template (chat completions then fail with 400).
  const ChatTemplate* chat_template() const { return chat_template_ ? &*chat_template_ : nullptr; }
  EngineLoop& loop() { return *loop_; }
  const EngineLoop& loop() const { return *loop_; }
  int max_model_len() const { return loop_->max_model_len(); }
  // EOS ids of config.json and tokenizer_config.json together.
  const std::vector<int32_t>& eos_ids() const { return eos_ids_; }
  // The vocabulary as a byte trie for constrained decoding; built on first use (~100 ms for a
  // 128k vocabulary), then shared. Thread-safe.
  std::shared_ptr<const grammar::TokenTrie> token_trie() const;
  // bos/eos token strings for chat templates (from tokenizer_config.json via ChatTemplate).
 private:
  std::string name_;
  std::string path_;
  int64_t created_ = 0;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::optional<ChatTemplate> chat_template_;
  std::unique_ptr<EngineLoop> loop_;
  std::vector<int32_t> eos_ids_;
  mutable std::once_flag trie_once_;
  mutable std::shared_ptr<const grammar::TokenTrie> trie_;
};

}  // namespace mlxm::serving
