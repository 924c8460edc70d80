// The CUDA engine (cuda_decoder.h): the CPU decoder's step (models/decoder.cpp) on the GPU.
//
// One forward step, all on one non-blocking stream:
//   host: validate the batch, lay out one int32 array of step metadata (token ids, positions,
//         KV slots, per-token context lengths, logit rows, per-token block tables) and copy it
//         to the device in one transfer;
//   device: embedding gather -> per layer [RMSNorm, q/k/v linear (fused when the loader fused
//         them), q/k RMSNorm (Qwen3), RoPE, kv_store, paged attention, o_proj, residual add,
//         RMSNorm, gate/up linear, SiLU*up, down, residual add] -> gather the logit rows ->
//         final RMSNorm -> lm_head on those rows only -> copy the logits to the host.
// Attention: steps where some sequence has several tokens (prefill chunks, mixed batches) run
// the flash-style prefill kernel over tiles of up to 64/group tokens of one sequence, each token
// with its own context length (position + 1): causal, exactly as on the CPU (every token's
// K/V is stored before attention reads it); decode-only steps run the split-KV decode kernel,
// one entry per token. After the q/k/v projection one fused kernel does q/k RMSNorm (Qwen3),
// RoPE and the KV store; residual adds are fused with the next RMSNorm
// (MLXM_CUDA_FUSE=0: the separate kernels, MLXM_CUDA_FLASH_PREFILL=0: decode kernel per token).
// Steps of up to kMaxGraphTokens tokens are captured into a CUDA graph per (tokens, logit
// rows, table width) and replayed: a decode step is one graph launch (MLXM_CUDA_GRAPHS=0 turns
// this off).
#include "engine/cuda/cuda_decoder.h"

#include <cstring>

#include "engine/cuda/cuda_decoder_impl.h"
#include "engine/kernels/cuda/attention_plan.h"

namespace mlxm::engine {

// ---- device queries (device.h) -------------------------------------------------------------

bool cuda_compiled() { return true; }
int cuda_device_count() { return cuda::device_count(); }
std::string cuda_unavailable_reason() { return cuda::no_device_reason(); }

Result<DeviceMemory> cuda_memory_info() {
  if (cuda::device_count() == 0) return unavailable("no CUDA device: " + cuda::no_device_reason());
  MLXM_ASSIGN_OR_RETURN(cuda::MemInfo m, cuda::mem_info());
  DeviceMemory out;
  out.free_bytes = m.free_bytes;
  out.total_bytes = m.total_bytes;
  auto info = cuda::device_info(0);
  if (info.ok()) out.name = info->name;
  return out;
}

namespace cuda_decoder_detail {

Status CudaDecoder::init_kv() {
  const ModelConfig& c = config_;
  const DType dt = options_.kv_dtype;
  if (dt != DType::kF16 && dt != DType::kBF16) {
    return invalid_argument(std::string("CUDA engine: KV dtype ") + dtype_name(dt) +
                            " is not supported (F16, BF16)");
  }
  if (options_.block_size <= 0 || options_.block_size > 4096) {
    return invalid_argument("block_size " + std::to_string(options_.block_size) + " out of range");
  }
  const size_t per_block_layer = static_cast<size_t>(options_.block_size) * c.n_kv_heads *
                                 c.head_dim * dtype_size(dt);
  const size_t per_block = per_block_layer * 2 * static_cast<size_t>(c.n_layers);
  int64_t n_blocks = options_.n_kv_blocks;
  if (n_blocks <= 0) n_blocks = static_cast<int64_t>(options_.kv_budget_bytes / per_block);
  if (n_blocks <= 0) {
    return resource_exhausted("KV budget of " + std::to_string(options_.kv_budget_bytes) +
                              " bytes holds no block of " + std::to_string(per_block) + " bytes");
  }
  if (static_cast<uint64_t>(n_blocks) > (1ull << 31) ||
      per_block_layer > SIZE_MAX / static_cast<size_t>(n_blocks)) {
    return resource_exhausted("too many KV blocks: " + std::to_string(n_blocks));
  }
  const size_t layer_bytes = per_block_layer * static_cast<size_t>(n_blocks);
  for (int l = 0; l < c.n_layers; ++l) {
    auto k = DeviceBuffer::alloc(layer_bytes);
    if (!k.ok()) return k.status().with_context("allocating the KV cache on the GPU");
    auto v = DeviceBuffer::alloc(layer_bytes);
    if (!v.ok()) return v.status().with_context("allocating the KV cache on the GPU");
    KvLayerView view;
    view.k = k->data();
    view.v = v->data();
    view.dtype = dt;
    view.block_size = options_.block_size;
    view.n_kv_heads = c.n_kv_heads;
    view.head_dim = c.head_dim;
    view.n_blocks = n_blocks;
    kv_.push_back(view);
    kv_mem_.push_back(std::move(k).value());
    kv_mem_.push_back(std::move(v).value());
  }
  n_blocks_ = n_blocks;
  kv_bytes_ = 2 * layer_bytes * static_cast<size_t>(c.n_layers);
  return ok_status();
}

Status CudaDecoder::reserve(int64_t n, int64_t n_out, int64_t width, int64_t max_ctx) {
  const ModelConfig& c = config_;
  const Meta m = meta_layout(n, n_out, width);
  bool moved = false;
  if (n > cap_n_) {
    const int64_t cap = (n + 63) / 64 * 64;
    const size_t un = static_cast<size_t>(cap) * sizeof(float);
    const size_t h = static_cast<size_t>(c.hidden_size), hd = static_cast<size_t>(c.head_dim),
                 ff = static_cast<size_t>(c.intermediate_size);
    const size_t q_w = static_cast<size_t>(c.n_heads) * hd, kv_w = c.n_kv_heads * hd;
    const std::initializer_list<std::pair<DeviceBuffer*, size_t>> bufs = {
        {&x_, h},    {&xn_, h},  {&qkv_, q_w + 2 * kv_w}, {&q_, q_w},     {&k_, kv_w}, {&v_, kv_w},
        {&attn_, q_w}, {&tmp_, h}, {&gu_, 2 * ff},        {&act_, ff},    {&up_, ff}};
    for (const auto& [buf, per] : bufs) {
      MLXM_ASSIGN_OR_RETURN(bool r, grow_buffer(*buf, un * per));
      moved |= r;
    }
    cap_n_ = cap;
  }
  if (n_out > cap_out_) {
    MLXM_RETURN_IF_ERROR(drain());
    const int64_t cap = (n_out + 15) / 16 * 16;
    const size_t uo = static_cast<size_t>(cap) * sizeof(float);
    MLXM_RETURN_IF_ERROR(grow_buffer(xo_, uo * static_cast<size_t>(c.hidden_size)).status());
    MLXM_RETURN_IF_ERROR(grow_buffer(logits_, uo * static_cast<size_t>(c.vocab_size)).status());
    MLXM_ASSIGN_OR_RETURN(host_logits_,
                          cuda::PinnedBuffer::alloc(uo * static_cast<size_t>(c.vocab_size)));
    // ids_ keeps its values: the next step may read them (previous_row_token).
    DeviceBuffer old_ids = std::move(ids_);
    MLXM_ASSIGN_OR_RETURN(ids_, DeviceBuffer::alloc(static_cast<size_t>(cap) * sizeof(int32_t)));
    if (old_ids.size() > 0) {
      MLXM_RETURN_IF_ERROR(cuda::copy_async(ids_.data(), old_ids.data(), old_ids.size(),
                                            stream_.get()));
      MLXM_RETURN_IF_ERROR(cuda::stream_synchronize(stream_.get()));  // before old_ids goes
    }
    moved = true;  // ids_ moved (xo_ and logits_ too, or not)
    cap_out_ = cap;
  }
  {
    // Split-KV attention: one memory round trip per split when the context allows (3B/8B at
    // 528 positions, batch 1: 9 splits of 64 with 8-warp blocks, AttnSplit::warps).
    // Or one block per (sequence, query head) over the whole context (AttnSplit::whole) where
    // it pays: the step's longest context is short enough, or it has enough blocks.
    // As clusters (AttnSplit::whole_parts) where they fit and the context is long enough.
    // Blocks per (sequence, kv head) for its query heads where the step has many sequences
    // (AttnSplit::whole_grouped).
    const bool grouped = cuda::detail::decode_attn_whole_grouped(n, c.n_heads, c.n_kv_heads,
                                                                 attn_grouped_);
    const int units = cuda::detail::decode_attn_whole_units(c.n_heads, c.n_kv_heads, grouped);
    const int parts = cuda::detail::decode_attn_whole_parts(
        n, units, max_ctx, sm_count_, attn_parts_, attn_parts_min_ctx_, attn_whole_max_ctx_);
    attn_split_.whole =
        attn_whole_ &&
        cuda::detail::decode_attn_whole_pays(max_ctx, parts, n * units * parts,
                                             attn_whole_max_ctx_) &&
        cuda::paged_attention_decode_whole_supported(n, c.n_heads, c.n_kv_heads, c.head_dim,
                                                     width, grouped);
    attn_split_.whole_parts = attn_split_.whole ? parts : 1;
    attn_split_.whole_grouped = attn_split_.whole && grouped;
    const int64_t splits =
        attn_split_.whole
            ? 1
            : cuda::paged_attention_decode_splits(n, c.n_kv_heads, c.head_dim,
                                                  width * options_.block_size, sm_count_,
                                                  attn_split_.warps);
    const size_t need = cuda::paged_attention_workspace_floats(n, c.n_heads, c.head_dim,
                                                               static_cast<int>(splits));
    if (splits > 1) {
      MLXM_ASSIGN_OR_RETURN(bool r, grow_buffer(attn_ws_, need * sizeof(float)));
      moved |= r;
    }
    attn_split_.splits = static_cast<int>(splits);
    attn_split_.workspace = attn_ws_.as<float>();
    attn_split_.workspace_floats = attn_ws_.size() / sizeof(float);
    attn_split_.merge_counters = nullptr;
    attn_split_.merge_counters_len = 0;
    if (splits > 1 && attn_fused_merge_) {
      // Counters start at 0 and every launch leaves them at 0 (the merging block resets its).
      const size_t counters = static_cast<size_t>(n) * static_cast<size_t>(c.n_kv_heads);
      MLXM_ASSIGN_OR_RETURN(bool r, grow_buffer(attn_counters_, counters * sizeof(int32_t)));
      if (r) MLXM_RETURN_IF_ERROR(attn_counters_.fill_bytes(0));
      moved |= r;
      attn_split_.merge_counters = attn_counters_.as<int32_t>();
      attn_split_.merge_counters_len =
          static_cast<int64_t>(attn_counters_.size() / sizeof(int32_t));
    }
  }
  if (m.total > cap_meta_) {
    const int64_t cap = std::max<int64_t>(m.total * 2, 4096);
    MLXM_ASSIGN_OR_RETURN(bool r, grow_buffer(meta_, static_cast<size_t>(cap) * sizeof(int32_t)));
    moved |= r;
    cap_meta_ = cap;
  }
  if (cublas_on_ && n >= lin_.cublas_min_rows) {
    MLXM_RETURN_IF_ERROR(drain());
    moved |= reserve_cublas();
  }
  if (moved) graphs_.clear();  // they point at the old buffers
  return ok_status();
}

// Called from reserve(), never inside a graph capture. Without cuBLASLt, or when the scratch
// cannot be allocated, says so once and leaves the prefill linears to the tensor-core GEMM.
bool CudaDecoder::reserve_cublas() {
  const size_t need = cuda::cublas_scratch_size(cap_n_, max_in_);
  if (cublas_ws_.size() >= need) return false;
  const Status lt = cuda::cublaslt_status();
  if (!lt.ok()) {
    MLXM_LOG_WARN("CUDA engine: prefill linears on the tensor-core GEMM (no cuBLASLt): {}",
                  lt.to_string());
    cublas_on_ = false;
    return false;
  }
  const bool had = cublas_ws_.size() != 0;
  lin_.cublas_scratch = nullptr;
  lin_.cublas_scratch_bytes = 0;
  cublas_ws_ = DeviceBuffer();  // the old one first: both may not fit
  auto b = DeviceBuffer::alloc(need);
  if (!b.ok()) {
    MLXM_LOG_WARN("CUDA engine: prefill linears on the tensor-core GEMM (no room for the "
                  "{}-byte cuBLASLt scratch): {}", need, b.status().to_string());
    cublas_on_ = false;
    return had;
  }
  cublas_ws_ = std::move(b).value();
  lin_.cublas_scratch = cublas_ws_.data();
  lin_.cublas_scratch_bytes = cublas_ws_.size();
  return true;
}

Result<CudaDecoder::StepSlot*> CudaDecoder::next_slot() {
  StepSlot& sl = slots_[n_steps_++ % 2];
  if (sl.done.empty()) {
    MLXM_ASSIGN_OR_RETURN(sl.done, cuda::Event::create());
  }
  MLXM_RETURN_IF_ERROR(sl.done.synchronize());  // its last step's copies have been read
  return &sl;
}

Status CudaDecoder::drain() {
  if (submitted_.empty()) return ok_status();
  return cuda::stream_synchronize(stream_.get());
}

Status CudaDecoder::begin_sync_step(const char* what) {
  if (!submitted_.empty()) {
    return invalid_argument(std::string(what) + ": " + std::to_string(submitted_.size()) +
                            " submitted steps are not collected (collect() them first)");
  }
  prev_rows_ = 0;  // this step's ids (if any) are not a submitted step's
  return ok_status();
}

// Page-locked room for `bytes` in `b` (grown by doubling; the old contents are dropped).
static Status ensure_pinned(cuda::PinnedBuffer& b, size_t bytes) {
  if (b.size() >= bytes) return ok_status();
  MLXM_ASSIGN_OR_RETURN(b, cuda::PinnedBuffer::alloc(std::max(bytes, 2 * b.size())));
  return ok_status();
}

Status CudaDecoder::run_step(const Batch& batch, int64_t n_prev_rows, StepSlot& slot,
                             int64_t* n_out_ret) {
  MLXM_RETURN_IF_ERROR(
      validate_batch(batch, config_, options_.block_size, n_blocks_, n_prev_rows));
  const int64_t n = static_cast<int64_t>(batch.tokens.size());
  const int64_t n_out = static_cast<int64_t>(batch.logit_rows.size());
  *n_out_ret = n_out;
  const int bs = options_.block_size;
  int64_t width = 1;
  for (const BatchSeq& s : batch.seqs) width = std::max<int64_t>(width, (s.n_ctx + bs - 1) / bs);
  // Round the table width up (fewer distinct graphs as contexts grow).
  width = width <= 8 ? 8 : int64_t{1} << static_cast<int>(std::ceil(std::log2(double(width))));
  int64_t max_ctx = 1;  // the longest context a token of the step attends to
  for (int64_t i = 0; i < n; ++i) {
    max_ctx = std::max<int64_t>(max_ctx, int64_t{batch.positions[static_cast<size_t>(i)]} + 1);
  }
  MLXM_RETURN_IF_ERROR(reserve(n, n_out, width, max_ctx));

  const Meta m = meta_layout(n, n_out, width);
  const size_t meta_bytes = static_cast<size_t>(m.total) * sizeof(int32_t);
  MLXM_RETURN_IF_ERROR(ensure_pinned(slot.meta, meta_bytes));
  int32_t* hm = static_cast<int32_t*>(slot.meta.data());
  std::fill(hm, hm + m.total, 0);
  for (int64_t i = 0; i < n; ++i) {
    const size_t ui = static_cast<size_t>(i);
    const BatchSeq& s = batch.seqs[static_cast<size_t>(batch.seq_ids[ui])];
    const int32_t pos = batch.positions[ui];
    hm[m.tokens + i] = batch.tokens[ui];
    hm[m.positions + i] = pos;
    hm[m.slots + i] = s.block_table[static_cast<size_t>(pos / bs)] * bs + pos % bs;
    hm[m.ctx + i] = pos + 1;  // causal: the token attends to positions [0, pos]
    const int64_t nb = (pos + bs) / bs;  // blocks covering [0, pos]
    std::copy(s.block_table.begin(), s.block_table.begin() + nb, hm + m.tables + i * width);
  }
  for (int64_t r = 0; r < n_out; ++r) hm[m.rows + r] = batch.logit_rows[static_cast<size_t>(r)];
  // Prefill tiles: runs of consecutive tokens of one sequence, at most `per` tokens each; a tile
  // reads the table of its token with the largest position. Only when some tile holds several
  // tokens: a decode-only step keeps the split-KV decode kernel (n_tiles = 0).
  int64_t n_tiles = 0;
  if (flash_prefill_) {
    const int64_t per = cuda::paged_attention_prefill_tile_tokens(config_.n_heads,
                                                                  config_.n_kv_heads);
    bool multi = false;
    for (int64_t i = 0; i < n;) {
      int64_t j = i + 1, top = i;
      while (j < n && j - i < per && batch.seq_ids[static_cast<size_t>(j)] ==
                                         batch.seq_ids[static_cast<size_t>(i)]) {
        if (batch.positions[static_cast<size_t>(j)] > batch.positions[static_cast<size_t>(top)]) {
          top = j;
        }
        ++j;
      }
      int32_t* t = hm + m.tiles + 3 * n_tiles;
      t[0] = static_cast<int32_t>(i);
      t[1] = static_cast<int32_t>(j - i);
      t[2] = static_cast<int32_t>(top);
      multi |= j - i > 1;
      ++n_tiles;
      i = j;
    }
    if (!multi) n_tiles = 0;
  }
  const cuda::Stream st = stream_.get();
  MLXM_RETURN_IF_ERROR(cuda::copy_async(meta_.data(), hm, meta_bytes, st));

  if (use_graphs_ && n <= kMaxGraphTokens) {
    // The whole-context attention's blocks per head, negative when grouped per kv head.
    const int attn_key = !attn_split_.whole ? 0
                         : attn_split_.whole_grouped ? -attn_split_.whole_parts
                                                     : attn_split_.whole_parts;
    const auto key = std::make_tuple(n, n_out, width, n_tiles, attn_key);
    auto it = graphs_.find(key);
    if (it == graphs_.end() && graphs_.size() < kMaxGraphs) {
      const TimePoint tc = now();
      auto g = cuda::Graph::capture(
          [&](cuda::Stream s) { return enqueue_step(n, n_out, width, n_tiles, s); }, st);
      capture_ms_ += ms_since(tc);
      if (g.ok()) {
        it = graphs_.emplace(key, std::move(g).value()).first;
      } else {
        // Stay correct: run eagerly from now on (the error says why capture failed).
        MLXM_LOG_WARN("CUDA engine: graph capture failed, running without graphs: {}",
                      g.status().to_string());
        use_graphs_ = false;
      }
    }
    if (it != graphs_.end()) return it->second.launch(st);
  }
  return enqueue_step(n, n_out, width, n_tiles, st);
}

Status CudaDecoder::forward(const Batch& batch, std::vector<float>* logits) {
  MLXM_RETURN_IF_ERROR(begin_sync_step("CUDA engine forward"));
  const TimePoint t0 = now();
  MLXM_ASSIGN_OR_RETURN(StepSlot * slot, next_slot());
  int64_t n_out = 0;
  MLXM_RETURN_IF_ERROR(run_step(batch, 0, *slot, &n_out));
  const TimePoint t1 = now();
  host_ms_ += ms_between(t0, t1);
  const cuda::Stream st = stream_.get();
  const size_t n_logits = static_cast<size_t>(n_out) * static_cast<size_t>(config_.vocab_size);
  if (n_out > 0) {
    // Into page-locked memory (PCIe speed), then one host copy.
    MLXM_RETURN_IF_ERROR(
        cuda::copy_async(host_logits_.data(), logits_.data(), n_logits * sizeof(float), st));
  }
  const Status sync = cuda::stream_synchronize(st);
  wait_ms_ += ms_since(t1);
  if (!sync.ok()) return sync.with_context("CUDA engine forward");
  const float* hl = static_cast<const float*>(host_logits_.data());
  logits->assign(hl, hl + n_logits);
  return ok_status();
}

// The step, then argmax_rows on the device: only n_out ids (and the listed rows' logits) cross
// PCIe.
Status CudaDecoder::forward_argmax(const Batch& batch, const std::vector<int32_t>& full_rows,
                                   std::vector<int32_t>* ids, std::vector<float>* logits) {
  const size_t n_rows = batch.logit_rows.size();
  for (size_t i = 0; i < full_rows.size(); ++i) {
    if (full_rows[i] < 0 || static_cast<size_t>(full_rows[i]) >= n_rows ||
        (i > 0 && full_rows[i] <= full_rows[i - 1])) {
      return invalid_argument("forward_argmax: full_rows must be ascending indices into "
                              "logit_rows (" + std::to_string(n_rows) + " rows)");
    }
  }
  MLXM_RETURN_IF_ERROR(begin_sync_step("CUDA engine forward_argmax"));
  const TimePoint t0 = now();
  MLXM_ASSIGN_OR_RETURN(StepSlot * slot, next_slot());
  int64_t n_out = 0;
  MLXM_RETURN_IF_ERROR(run_step(batch, 0, *slot, &n_out));
  MLXM_RETURN_IF_ERROR(enqueue_ids(n_out, 0, *slot));
  MLXM_RETURN_IF_ERROR(
      finish_rows(full_rows, t0, stream_.get(), "CUDA engine forward_argmax", logits));
  const int32_t* hi = static_cast<const int32_t*>(slot->ids.data());
  ids->assign(hi, hi + n_out);
  return ok_status();
}

Status CudaDecoder::enqueue_ids(int64_t n_out, size_t n_spec, StepSlot& slot) {
  if (n_out == 0) return ok_status();
  const cuda::Stream st = stream_.get();
  const size_t n_ids = n_spec > 0 ? n_spec : static_cast<size_t>(n_out);
  const int64_t n_lp = n_spec > 0 ? static_cast<int64_t>(slot.lp_rows.size()) : 0;
  const auto* lp_specs = logprob_specs_.as<cuda::LogprobRowSpec>();
  if (n_spec > 0 && masks_staged_) {
    MLXM_RETURN_IF_ERROR(cuda::mask_rows(logits_.as<float>(), n_out, config_.vocab_size,
                                         sample_specs_.as<cuda::SampleRowSpec>(),
                                         static_cast<int64_t>(n_spec),
                                         sample_masks_.as<uint64_t>(), st));
  }
  if (n_lp > 0 && lp_saves_) {
    MLXM_RETURN_IF_ERROR(cuda::save_raw_logits(logits_.as<float>(), n_out, config_.vocab_size,
                                               lp_specs, n_lp,
                                               sample_adjust_.as<cuda::SampleAdjust>(),
                                               logprob_saved_.as<float>(), st));
  }
  const int32_t* prev_ids = nullptr;
  if (n_spec > 0 && pending_staged_) {
    // The step before's ids, before this step's draw overwrites ids_ (grown in submit()).
    MLXM_RETURN_IF_ERROR(cuda::copy_async(prev_ids_.data(), ids_.data(),
                                          static_cast<size_t>(prev_rows_) * sizeof(int32_t), st));
    prev_ids = prev_ids_.as<int32_t>();
  }
  if (n_spec > 0) {
    MLXM_RETURN_IF_ERROR(cuda::sample_rows(logits_.as<float>(), n_out, config_.vocab_size,
                                           sample_specs_.as<cuda::SampleRowSpec>(),
                                           static_cast<int64_t>(n_spec),
                                           sample_adjust_.as<cuda::SampleAdjust>(),
                                           ids_.as<int32_t>(), st, prev_ids));
  } else {
    MLXM_RETURN_IF_ERROR(
        cuda::argmax_rows(logits_.as<float>(), n_out, config_.vocab_size, ids_.as<int32_t>(), st));
  }
  if (n_lp > 0) {
    const size_t out_bytes = static_cast<size_t>(n_lp) * sizeof(cuda::LogprobRowOut);
    MLXM_RETURN_IF_ERROR(cuda::logprob_rows(
        logits_.as<float>(), n_out, config_.vocab_size, lp_specs, n_lp,
        sample_adjust_.as<cuda::SampleAdjust>(), logprob_saved_.as<float>(), ids_.as<int32_t>(),
        logprob_out_.as<cuda::LogprobRowOut>(), st));
    MLXM_RETURN_IF_ERROR(ensure_pinned(slot.lp_out, out_bytes));
    MLXM_RETURN_IF_ERROR(cuda::copy_async(slot.lp_out.data(), logprob_out_.data(), out_bytes, st));
  }
  MLXM_RETURN_IF_ERROR(ensure_pinned(slot.ids, n_ids * sizeof(int32_t)));
  return cuda::copy_async(slot.ids.data(), ids_.data(), n_ids * sizeof(int32_t), st);
}

Status CudaDecoder::stage_logprobs(const std::vector<RowSampling>& rows, StepSlot& slot) {
  host_lp_specs_.clear();
  slot.lp_rows.clear();
  lp_saves_ = false;
  for (size_t j = 0; j < host_specs_.size(); ++j) {
    const RowSampling& s = rows[static_cast<size_t>(spec_rows_[j])];
    if (s.logprobs < 0) continue;
    host_lp_specs_.push_back(device_logprob_spec(s, host_specs_[j], static_cast<int32_t>(j),
                                                 config_.vocab_size));
    slot.lp_rows.push_back(spec_rows_[j]);
    lp_saves_ = lp_saves_ || (s.logprobs_raw && !s.adjust.empty());
  }
  if (host_lp_specs_.empty()) return ok_status();
  const size_t n_lp = host_lp_specs_.size();
  const size_t spec_bytes = n_lp * sizeof(cuda::LogprobRowSpec);
  MLXM_RETURN_IF_ERROR(grow_buffer(logprob_specs_, spec_bytes).status());
  MLXM_RETURN_IF_ERROR(grow_buffer(logprob_out_, n_lp * sizeof(cuda::LogprobRowOut)).status());
  MLXM_RETURN_IF_ERROR(
      grow_buffer(logprob_saved_, std::max<size_t>(1, host_adjust_.size()) * sizeof(float))
          .status());
  MLXM_RETURN_IF_ERROR(ensure_pinned(slot.lp_specs, spec_bytes));
  std::memcpy(slot.lp_specs.data(), host_lp_specs_.data(), spec_bytes);
  return cuda::copy_async(logprob_specs_.data(), slot.lp_specs.data(), spec_bytes,
                          stream_.get());
}

void CudaDecoder::read_logprobs(const StepSlot& slot, const int32_t* ids, size_t n_rows,
                                std::vector<SampleResult>* out) const {
  if (out == nullptr) return;
  out->assign(n_rows, SampleResult{});
  const auto* lp = static_cast<const cuda::LogprobRowOut*>(slot.lp_out.data());
  for (size_t i = 0; i < slot.lp_rows.size(); ++i) {
    const size_t r = static_cast<size_t>(slot.lp_rows[i]);
    if (lp[i].n_top < 0 || ids[r] < 0) continue;  // no token: the row's error says why
    (*out)[r] = logprobs_result(lp[i], ids[r]);
  }
}

Status CudaDecoder::finish_rows(const std::vector<int32_t>& full_rows, TimePoint t0,
                                cuda::Stream st, const char* what, std::vector<float>* logits) {
  const size_t vocab = static_cast<size_t>(config_.vocab_size);
  float* hl = static_cast<float*>(host_logits_.data());
  for (size_t i = 0; i < full_rows.size(); ++i) {
    MLXM_RETURN_IF_ERROR(cuda::copy_async(
        hl + i * vocab, logits_.as<float>() + static_cast<size_t>(full_rows[i]) * vocab,
        vocab * sizeof(float), st));
  }
  const TimePoint t1 = now();
  host_ms_ += ms_between(t0, t1);
  const Status sync = cuda::stream_synchronize(st);
  wait_ms_ += ms_since(t1);
  if (!sync.ok()) return sync.with_context(what);
  logits->assign(hl, hl + full_rows.size() * vocab);
  return ok_status();
}

// The step, then sample_rows on the device for every row that is not `full` (row_sampling.h):
// only the ids and the full rows' logits cross PCIe. The sampled rows' logits are consumed
// (adjusted in place).
Status CudaDecoder::forward_sample(const Batch& batch, const std::vector<RowSampling>& rows,
                                   std::vector<int32_t>* ids, std::vector<float>* logits,
                                   std::vector<SampleResult>* logprobs) {
  const size_t n_rows = batch.logit_rows.size();
  MLXM_RETURN_IF_ERROR(check_row_specs(rows, n_rows, config_.vocab_size));
  MLXM_RETURN_IF_ERROR(check_logprobs_out(rows, logprobs));
  MLXM_RETURN_IF_ERROR(check_pending_rows(rows, 0));  // pending tokens come with submit() only
  MLXM_RETURN_IF_ERROR(begin_sync_step("CUDA engine forward_sample"));
  std::vector<int32_t> full_rows;
  for (size_t r = 0; r < n_rows; ++r) {
    if (rows[r].full) full_rows.push_back(static_cast<int32_t>(r));
  }
  const TimePoint t0 = now();
  MLXM_ASSIGN_OR_RETURN(StepSlot * slot, next_slot());
  MLXM_ASSIGN_OR_RETURN(const size_t n_spec, stage_specs(rows, *slot));
  MLXM_RETURN_IF_ERROR(stage_logprobs(rows, *slot));
  int64_t n_out = 0;
  MLXM_RETURN_IF_ERROR(run_step(batch, 0, *slot, &n_out));
  if (n_spec > 0) MLXM_RETURN_IF_ERROR(enqueue_ids(n_out, n_spec, *slot));
  MLXM_RETURN_IF_ERROR(
      finish_rows(full_rows, t0, stream_.get(), "CUDA engine forward_sample", logits));
  ids->assign(n_rows, kRowFull);
  const int32_t* hi = static_cast<const int32_t*>(slot->ids.data());
  for (size_t j = 0; j < n_spec; ++j) {
    if (hi[j] == cuda::kSampleBadRow) return internal_error("forward_sample: bad spec row");
    (*ids)[static_cast<size_t>(spec_rows_[j])] = hi[j];
  }
  read_logprobs(*slot, ids->data(), n_rows, logprobs);
  return ok_status();
}

Result<size_t> CudaDecoder::stage_specs(const std::vector<RowSampling>& rows, StepSlot& slot) {
  const int32_t vocab = config_.vocab_size;
  host_specs_.clear();
  host_adjust_.clear();
  host_masks_.clear();
  spec_rows_.clear();
  const size_t words = (static_cast<size_t>(vocab) + 63) / 64;
  for (size_t r = 0; r < rows.size(); ++r) {
    const RowSampling& s = rows[r];
    if (s.full) continue;
    if (host_adjust_.size() + s.adjust.size() > static_cast<size_t>(INT32_MAX)) {
      return invalid_argument("forward_sample: too many logit adjustments");
    }
    host_specs_.push_back(device_row_spec(s, static_cast<int32_t>(r), vocab, &host_adjust_));
    if (!s.mask.empty()) {
      host_specs_.back().mask = static_cast<int32_t>(host_masks_.size() / words);
      host_masks_.insert(host_masks_.end(), s.mask.begin(), s.mask.end());
    }
    spec_rows_.push_back(static_cast<int32_t>(r));
  }
  masks_staged_ = !host_masks_.empty();
  pending_staged_ = std::any_of(host_specs_.begin(), host_specs_.end(),
                                [](const cuda::SampleRowSpec& d) { return d.pending_row >= 0; });
  const size_t n_spec = host_specs_.size();
  if (n_spec == 0) return n_spec;
  const size_t spec_bytes = n_spec * sizeof(cuda::SampleRowSpec);
  const size_t adjust_bytes = host_adjust_.size() * sizeof(cuda::SampleAdjust);
  MLXM_RETURN_IF_ERROR(grow_buffer(sample_specs_, spec_bytes).status());
  MLXM_RETURN_IF_ERROR(grow_buffer(sample_adjust_, std::max<size_t>(1, host_adjust_.size()) *
                                                       sizeof(cuda::SampleAdjust)).status());
  // Through the slot's page-locked buffers: the copies are queued behind the steps in flight.
  MLXM_RETURN_IF_ERROR(ensure_pinned(slot.specs, spec_bytes));
  std::memcpy(slot.specs.data(), host_specs_.data(), spec_bytes);
  const cuda::Stream st = stream_.get();
  MLXM_RETURN_IF_ERROR(cuda::copy_async(sample_specs_.data(), slot.specs.data(), spec_bytes, st));
  if (adjust_bytes > 0) {
    MLXM_RETURN_IF_ERROR(ensure_pinned(slot.adjust, adjust_bytes));
    std::memcpy(slot.adjust.data(), host_adjust_.data(), adjust_bytes);
    MLXM_RETURN_IF_ERROR(
        cuda::copy_async(sample_adjust_.data(), slot.adjust.data(), adjust_bytes, st));
  }
  if (masks_staged_) {
    const size_t mask_bytes = host_masks_.size() * sizeof(uint64_t);
    MLXM_RETURN_IF_ERROR(grow_buffer(sample_masks_, mask_bytes).status());
    MLXM_RETURN_IF_ERROR(ensure_pinned(slot.masks, mask_bytes));
    std::memcpy(slot.masks.data(), host_masks_.data(), mask_bytes);
    MLXM_RETURN_IF_ERROR(cuda::copy_async(sample_masks_.data(), slot.masks.data(), mask_bytes, st));
  }
  return n_spec;
}

Status CudaDecoder::submit(const Batch& batch, const std::vector<RowSampling>& rows) {
  const size_t n_rows = batch.logit_rows.size();
  MLXM_RETURN_IF_ERROR(
      check_submit_rows(rows, n_rows, config_.vocab_size, submitted_.size()));
  MLXM_RETURN_IF_ERROR(check_pending_rows(rows, static_cast<size_t>(prev_rows_)));
  for (size_t r = 0; r < n_rows; ++r) {
    if (rows[r].pending_row >= 0 && rows[r].logprobs >= 0 && rows[r].logprobs_raw) {
      return invalid_argument("submit: rows[" + std::to_string(r) +
                              "] asks for raw logprobs with a pending token (not supported "
                              "here: collect the step before first)");
    }
  }
  if (prev_rows_ > 0) {
    MLXM_RETURN_IF_ERROR(
        grow_buffer(prev_ids_, static_cast<size_t>(prev_rows_) * sizeof(int32_t)).status());
  }
  const TimePoint t0 = now();
  MLXM_ASSIGN_OR_RETURN(StepSlot * slot, next_slot());
  // No full rows: spec j is logit row j, so sample_rows leaves ids_ in row order, as the next
  // step's previous_row_token reads it.
  const bool argmax = plain_greedy_rows(rows);
  size_t n_spec = 0;
  slot->lp_rows.clear();
  if (!argmax) {
    MLXM_ASSIGN_OR_RETURN(n_spec, stage_specs(rows, *slot));
    MLXM_RETURN_IF_ERROR(stage_logprobs(rows, *slot));
  }
  int64_t n_out = 0;
  MLXM_RETURN_IF_ERROR(run_step(batch, prev_rows_, *slot, &n_out));
  MLXM_RETURN_IF_ERROR(enqueue_ids(n_out, n_spec, *slot));
  MLXM_RETURN_IF_ERROR(slot->done.record(stream_.get()));
  submitted_.push_back({slot, n_rows});
  prev_rows_ = static_cast<int64_t>(n_rows);
  host_ms_ += ms_since(t0);
  return ok_status();
}

Status CudaDecoder::collect(std::vector<int32_t>* ids, std::vector<SampleResult>* logprobs) {
  if (submitted_.empty()) return invalid_argument("collect: no step is submitted");
  const Submitted s = submitted_.front();
  const TimePoint t0 = now();
  const Status done = s.slot->done.synchronize();
  wait_ms_ += ms_since(t0);
  if (!done.ok()) {
    submitted_.clear();  // the stream failed: no submitted step has a result
    prev_rows_ = 0;
    return done.with_context("CUDA engine collect");
  }
  submitted_.pop_front();
  const int32_t* hi = static_cast<const int32_t*>(s.slot->ids.data());
  ids->assign(hi, hi + s.n_rows);
  for (int32_t& id : *ids) {
    if (id == cuda::kSampleBadRow) return internal_error("collect: bad spec row");
    if (id < 0 && id != kRowAllNegInf) id = kRowBadLogits;  // argmax: -1 for a row of NaN only
  }
  read_logprobs(*s.slot, ids->data(), s.n_rows, logprobs);
  return ok_status();
}

}  // namespace cuda_decoder_detail

namespace {

using cuda_decoder_detail::CudaDecoder;
using cuda_decoder_detail::CudaLinear;
using cuda_decoder_detail::CudaWeights;

Status check_supported(const ModelConfig& c) {
  if (c.n_kv_heads <= 0 || c.n_heads % c.n_kv_heads != 0 || c.n_heads / c.n_kv_heads > 8) {
    return unimplemented("CUDA engine: " + std::to_string(c.n_heads) + " query heads over " +
                         std::to_string(c.n_kv_heads) +
                         " kv heads (the attention kernel takes at most 8 per kv head)");
  }
  const int hd = c.head_dim;
  const int hpl = hd <= 32 ? 1 : hd <= 64 ? 2 : hd <= 128 ? 4 : 8;
  if (hd <= 0 || hd > 256 || hd % hpl != 0 || hd % 2 != 0) {
    return unimplemented("CUDA engine: head_dim " + std::to_string(hd) + " is not supported");
  }
  return ok_status();
}

}  // namespace

Result<std::unique_ptr<Engine>> load_cuda_decoder(const std::string& model_dir,
                                                  const EngineOptions& options) {
  if (options.reference) {
    return invalid_argument("the reference path is CPU-only (use --device cpu with --reference)");
  }
  if (cuda::device_count() == 0) {
    return unavailable("--device cuda: no usable CUDA device (" + cuda::no_device_reason() + ")");
  }
  MLXM_ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::load(model_dir));
  MLXM_RETURN_IF_ERROR(check_supported(config));
  MLXM_ASSIGN_OR_RETURN(cuda::OwnedStream stream, cuda::OwnedStream::create());
  CudaWeights weights;
  {
    MLXM_ASSIGN_OR_RETURN(auto store, TensorStore::open(model_dir));
    auto w = load_weights_as<CudaLinear>(
        config, *store, [](const LinearSource& s) { return CudaLinear::upload(s); });
    if (!w.ok()) return w.status().with_context("loading " + model_dir + " onto the GPU");
    weights = std::move(w).value();
  }
  auto e = std::make_unique<CudaDecoder>(std::move(config), options);
  MLXM_RETURN_IF_ERROR(e->init(std::move(weights), std::move(stream)));
  return std::unique_ptr<Engine>(std::move(e));
}

}  // namespace mlxm::engine
