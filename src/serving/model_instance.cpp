#include "serving/model_instance.h"

#include <algorithm>
#include <filesystem>

#include "core/clock.h"
#include "core/env.h"
#include "core/log.h"
#include "engine/model_config.h"
#include "engine/tensor/dtype.h"

namespace mlxm::serving {
namespace {

enum class AutoOnOff { kAuto, kOn, kOff };

// An auto|1|0 setting (also true/on, false/off); unset is auto.
Result<AutoOnOff> env_auto_on_off(const char* name) {
  const std::string v = env_string(name, "auto");
  if (v == "auto") return AutoOnOff::kAuto;
  if (v == "1" || v == "true" || v == "on") return AutoOnOff::kOn;
  if (v == "0" || v == "false" || v == "off") return AutoOnOff::kOff;
  return invalid_argument(std::string(name) + ": want auto, 1 or 0, got '" + v + "'");
}

}  // namespace

Result<ModelLoadOptions> model_load_options_from_env() {
  ModelLoadOptions o;
  MLXM_ASSIGN_OR_RETURN(bool batching, env_bool("MLX_SERVER_ENABLE_BATCHING", true));
  MLXM_ASSIGN_OR_RETURN(int64_t max_batch, env_int("MLX_SERVER_BATCH_MAX_BATCH_SIZE", 8, 1, 1024));
  MLXM_ASSIGN_OR_RETURN(int64_t max_queued, env_int("MLX_SERVER_MAX_QUEUED_REQUESTS", 256, 1, 1 << 20));
  MLXM_ASSIGN_OR_RETURN(int64_t max_tokens, env_int("MLX_SERVER_MAX_BATCHED_TOKENS", 512, 16, 1 << 20));
  MLXM_ASSIGN_OR_RETURN(int64_t max_len, env_int("MLX_SERVER_MAX_MODEL_LEN", 0, 0, 1 << 24));
  MLXM_ASSIGN_OR_RETURN(int64_t kv_mb, env_int("MLX_SERVER_KV_CACHE_MB", 256, 1, 1 << 24));
  const bool fixed_kv = !env_string("MLX_SERVER_KV_CACHE_MB", "").empty();
  MLXM_ASSIGN_OR_RETURN(int64_t kv_seqs, env_int("MLX_SERVER_KV_SEQUENCES", batching ? max_batch : 1, 1, 4096));
  MLXM_ASSIGN_OR_RETURN(int64_t block, env_int("MLX_SERVER_KV_BLOCK_SIZE", 16, 1, 1024));
  MLXM_ASSIGN_OR_RETURN(int64_t delay, env_int("MLXM_DEBUG_STEP_DELAY_MS", 0, 0, 60000));
  o.debug_step_delay_ms = static_cast<int>(delay);
  using Delivery = EngineLoopOptions::Delivery;
  MLXM_ASSIGN_OR_RETURN(const AutoOnOff delivery, env_auto_on_off("MLX_SERVER_ASYNC_DELIVERY"));
  o.loop.delivery = delivery == AutoOnOff::kAuto ? Delivery::kAuto
                    : delivery == AutoOnOff::kOn ? Delivery::kThread
                                                 : Delivery::kInline;
  using Pipeline = EngineLoopOptions::Pipeline;
  MLXM_ASSIGN_OR_RETURN(const AutoOnOff pipeline, env_auto_on_off("MLX_SERVER_PIPELINE"));
  o.loop.pipeline = pipeline == AutoOnOff::kAuto ? Pipeline::kAuto
                    : pipeline == AutoOnOff::kOn ? Pipeline::kOn
                                                 : Pipeline::kOff;
  o.scheduler.max_num_seqs = batching ? static_cast<int>(max_batch) : 1;
  o.scheduler.max_waiting = static_cast<int>(max_queued);
  o.scheduler.max_num_batched_tokens = static_cast<int>(max_tokens);
  o.scheduler.max_model_len = static_cast<int>(max_len);
  o.engine.kv_budget_bytes = static_cast<size_t>(kv_mb) << 20;
  o.kv_sequences = fixed_kv ? 0 : static_cast<int>(kv_seqs);
  o.engine.block_size = static_cast<int>(block);
  return o;
}

int served_context(const engine::ModelConfig& config, const ModelLoadOptions& options) {
  int len = options.scheduler.max_model_len;
  if (len <= 0) len = std::min(config.max_position_embeddings, options.max_model_len_cap);
  return std::min(len, config.max_position_embeddings);
}

engine::EngineOptions engine_options_for(const engine::ModelConfig& config,
                                         const ModelLoadOptions& options) {
  engine::EngineOptions e = options.engine;
  if (options.kv_sequences > 0 && e.block_size > 0) {
    const int64_t tokens = static_cast<int64_t>(options.kv_sequences) * served_context(config, options);
    e.n_kv_blocks = (tokens + e.block_size - 1) / e.block_size;
  }
  return e;
}

Result<uint64_t> planned_kv_bytes(const std::string& model_dir, const ModelLoadOptions& options) {
  MLXM_ASSIGN_OR_RETURN(engine::ModelConfig config, engine::ModelConfig::load(model_dir));
  const engine::EngineOptions e = engine_options_for(config, options);
  const engine::DType dt = e.reference ? engine::DType::kF32 : e.kv_dtype;
  const uint64_t per_block = 2ull * static_cast<uint64_t>(config.n_layers) * config.n_kv_heads *
                             config.head_dim * engine::dtype_size(dt) *
                             static_cast<uint64_t>(std::max(1, e.block_size));
  if (e.n_kv_blocks > 0) return per_block * static_cast<uint64_t>(e.n_kv_blocks);
  return per_block == 0 ? 0 : e.kv_budget_bytes / per_block * per_block;
}

Result<std::shared_ptr<ModelInstance>> ModelInstance::load(const std::string& name,
                                                           const std::string& model_dir,
                                                           const ModelLoadOptions& options) {
  Timer timer;
  auto m = std::shared_ptr<ModelInstance>(new ModelInstance());
  m->name_ = name;
  m->path_ = model_dir;
  m->created_ = unix_seconds();
  {
    auto tok = Tokenizer::load(model_dir);
    if (!tok.ok()) return tok.status().with_context("loading the tokenizer of " + name);
    m->tokenizer_ = std::move(tok).value();
  }
  const bool has_template =
      std::filesystem::exists(std::filesystem::path(model_dir) / "chat_template.jinja") ||
      std::filesystem::exists(std::filesystem::path(model_dir) / "tokenizer_config.json");
  if (has_template) {
    auto tmpl = ChatTemplate::load(model_dir);
    if (tmpl.ok()) {
      m->chat_template_ = std::move(tmpl).value();
    } else if (tmpl.status().code() != StatusCode::kNotFound) {
      return tmpl.status().with_context("loading the chat template of " + name);
    }
  }
  auto model_config = engine::ModelConfig::load(model_dir);
  if (!model_config.ok()) return model_config.status().with_context("loading model " + name);
  auto engine = engine::Engine::load(model_dir, engine_options_for(*model_config, options));
  if (!engine.ok()) return engine.status().with_context("loading model " + name);
  const engine::ModelConfig& cfg = (*engine)->config();

  SchedulerConfig sched = options.scheduler;
  sched.max_model_len = served_context(cfg, options);
  for (int id : cfg.eos_token_ids) m->eos_ids_.push_back(id);
  if (auto eos = m->tokenizer_->eos_id()) {
    if (std::find(m->eos_ids_.begin(), m->eos_ids_.end(), *eos) == m->eos_ids_.end()) {
      m->eos_ids_.push_back(*eos);
    }
  }
  const size_t weight_mb = (*engine)->weight_bytes() >> 20;
  const size_t kv_mb = (*engine)->kv_bytes() >> 20;
  const int64_t n_blocks = (*engine)->n_kv_blocks();
  m->loop_ = std::make_unique<EngineLoop>(std::move(engine).value(), sched, options.loop);
  m->loop_->set_debug_step_delay_ms(options.debug_step_delay_ms);
  MLXM_LOG_INFO("loaded model '{}' from {} in {:.0f} ms: weights {} MiB, KV {} MiB ({} blocks), "
                "context {} tokens",
                name, model_dir, timer.ms(), weight_mb, kv_mb, n_blocks, sched.max_model_len);
  return m;
}

std::shared_ptr<const grammar::TokenTrie> ModelInstance::token_trie() const {
  std::call_once(trie_once_, [this] { trie_ = grammar::TokenTrie::build(*tokenizer_); });
  return trie_;
}

}  // namespace mlxm::serving
