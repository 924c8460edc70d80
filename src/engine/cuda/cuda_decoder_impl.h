// Internal to engine/cuda: the CUDA engine's class (cuda_decoder.h), shared by
// cuda_decoder.cpp (set-up, buffers, the step's host side, forward*) and cuda_decoder_step.cpp
// (the device work of a step: layers, attention, the head). See cuda_decoder.cpp for the step.
#pragma once

#include <algorithm>
#include <cmath>
#include <deque>
#include <initializer_list>
#include <map>
#include <tuple>

#include "core/clock.h"
#include "core/env.h"
#include "core/log.h"
#include "engine/cuda/row_spec.h"
#include "engine/kernels/cuda/attention_plan.h"
#include "engine/device.h"
#include "engine/kernels/cuda/cuda_linear.h"
#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/kernels/cuda/cuda_runtime_api.h"
#include "engine/loader/safetensors.h"
#include "engine/loader/weights_load.h"
#include "engine/models/decoder.h"
#include "engine/models/rope_freqs.h"

namespace mlxm::engine::cuda_decoder_detail {


using cuda::CudaLinear;
using cuda::DeviceBuffer;
using CudaWeights = BasicModelWeights<CudaLinear>;
using CudaLayer = BasicLayerWeights<CudaLinear>;

inline constexpr int64_t kMaxGraphTokens = 64;  // larger steps (prefill) run eagerly
inline constexpr size_t kMaxGraphs = 96;
inline constexpr size_t kSplitWorkspaceFloats = size_t{4} << 20;  // 16 MB of split-K partial sums

// The widest input of the model's linears (the int8 GEMV and cuBLASLt scratches hold x for it).
inline int64_t widest_input(const CudaWeights& w) {
  int64_t out = w.head().n_in();
  for (const CudaLayer& L : w.layers) {
    for (const CudaLinear* l : {&L.qkv, &L.q, &L.k, &L.v, &L.o, &L.gate_up, &L.gate, &L.up,
                                &L.down}) {
      out = std::max(out, l->n_in());
    }
  }
  return out;
}

// Grows `b` to at least `bytes` (rounded up); true when it was reallocated.
inline Result<bool> grow(DeviceBuffer& b, size_t bytes) {
  if (b.size() >= bytes) return false;
  MLXM_ASSIGN_OR_RETURN(b, DeviceBuffer::alloc(bytes));
  return true;
}

inline Result<DeviceBuffer> upload_vec(const std::vector<float>& v) {
  if (v.empty()) return DeviceBuffer();
  return DeviceBuffer::from_host(v.data(), v.size() * sizeof(float));
}

struct LayerNorms {
  DeviceBuffer attn, mlp, q, k;
};

class CudaDecoder final : public Engine {
 public:
  CudaDecoder(ModelConfig c, const EngineOptions& o) : config_(std::move(c)), options_(o) {}

  Status init(CudaWeights w, cuda::OwnedStream stream) {
    w_ = std::move(w);
    stream_ = std::move(stream);
    const ModelConfig& c = config_;
    for (const CudaLayer& L : w_.layers) {
      LayerNorms n;
      MLXM_ASSIGN_OR_RETURN(n.attn, upload_vec(L.attn_norm));
      MLXM_ASSIGN_OR_RETURN(n.mlp, upload_vec(L.mlp_norm));
      MLXM_ASSIGN_OR_RETURN(n.q, upload_vec(L.q_norm));
      MLXM_ASSIGN_OR_RETURN(n.k, upload_vec(L.k_norm));
      norms_.push_back(std::move(n));
    }
    MLXM_ASSIGN_OR_RETURN(final_norm_, upload_vec(w_.final_norm));
    MLXM_ASSIGN_OR_RETURN(inv_freq_, upload_vec(rope_inv_freq(c)));
    MLXM_RETURN_IF_ERROR(init_kv());
    MLXM_ASSIGN_OR_RETURN(use_graphs_, env_bool("MLXM_CUDA_GRAPHS", true));
    MLXM_ASSIGN_OR_RETURN(fuse_, env_bool("MLXM_CUDA_FUSE", true));
    MLXM_ASSIGN_OR_RETURN(device_logprobs_, env_bool("MLXM_CUDA_LOGPROBS", true));
    MLXM_ASSIGN_OR_RETURN(device_masks_, env_bool("MLXM_CUDA_MASKS", true));
    MLXM_ASSIGN_OR_RETURN(fuse_quant_, env_bool("MLXM_CUDA_FUSE_QUANT", true));
    MLXM_ASSIGN_OR_RETURN(attn_fused_merge_, env_bool("MLXM_CUDA_ATTN_FUSED_MERGE", true));
    // Decode attention without a split merge where it fits and pays (AttnSplit::whole): batch 1
    // 3B +1.2 %, 8B +1.8 % at 576 positions, 3B +14.5 % at 190, batch 4 +13-19 %
    // (bench/NOTES.md runs 127 and 129). MLXM_CUDA_ATTN_WHOLE=0: split-KV always.
    MLXM_ASSIGN_OR_RETURN(attn_whole_, env_bool("MLXM_CUDA_ATTN_WHOLE", true));
    // Its blocks as clusters of up to MLXM_CUDA_ATTN_PARTS (1..4) above
    // MLXM_CUDA_ATTN_PARTS_MIN_CTX positions (AttnSplit::whole_parts).
    MLXM_ASSIGN_OR_RETURN(const int64_t parts, env_int("MLXM_CUDA_ATTN_PARTS", 4, 1, 4));
    attn_parts_ = static_cast<int>(parts);
    MLXM_ASSIGN_OR_RETURN(attn_parts_min_ctx_,
                          env_int("MLXM_CUDA_ATTN_PARTS_MIN_CTX",
                                  cuda::detail::kDecodeAttnWholePairMinCtx, 0, int64_t{1} << 30));
    // The longest context one of its blocks takes (decode_attn_whole_pays; longer ones keep the
    // splits): MLXM_CUDA_ATTN_WHOLE_MAX_CTX positions per block of a cluster, for measuring.
    MLXM_ASSIGN_OR_RETURN(attn_whole_max_ctx_,
                          env_int("MLXM_CUDA_ATTN_WHOLE_MAX_CTX",
                                  cuda::detail::kDecodeAttnWholeMaxCtx, 1, int64_t{1} << 30));
    // Its blocks per kv head for the group's query heads (AttnSplit::whole_grouped):
    // MLXM_CUDA_ATTN_GROUPED=-1 where detail::decode_attn_whole_grouped picks it, 0 never,
    // 1 wherever the group allows.
    MLXM_ASSIGN_OR_RETURN(const int64_t grouped, env_int("MLXM_CUDA_ATTN_GROUPED", -1, -1, 1));
    attn_grouped_ = static_cast<int>(grouped);
    // Its K/V rounds by tensor copies (AttnSplit::kv_maps; 3B b1 889.0 -> 951.6 tok/s, run
    // 126). MLXM_CUDA_ATTN_TMA=0: row copies.
    MLXM_ASSIGN_OR_RETURN(const bool attn_tma, env_bool("MLXM_CUDA_ATTN_TMA", true));
    if (attn_tma && attn_whole_) {
      for (const KvLayerView& kv : kv_) {
        cuda::KvTensorMaps maps;
        if (!cuda::make_kv_tensor_maps(kv, &maps).ok()) {  // no maps: the row copies
          kv_maps_.clear();
          break;
        }
        kv_maps_.push_back(maps);
      }
    }
    // The attention's own K/V prefetch before its wait, on layers whose qkv GEMV did not
    // prefetch it (below). MLXM_CUDA_ATTN_PREFETCH=0: never.
    MLXM_ASSIGN_OR_RETURN(attn_split_.prefetch_kv, env_bool("MLXM_CUDA_ATTN_PREFETCH", true));
    // The attention's K/V rows by bulk copies (AttnSplit::kv_bulk, sm_90+): 3B b1 839.8 ->
    // 864.8 tok/s, 8B 535.0 -> 544.7 (bench/NOTES.md run 92; 830.9 -> 843.9 and 528.0 -> 536.9
    // in run 93). MLXM_CUDA_ATTN_KV_BULK=0: every lane loads its dims.
    MLXM_ASSIGN_OR_RETURN(attn_split_.kv_bulk, env_bool("MLXM_CUDA_ATTN_KV_BULK", true));
    // The qkv stream GEMV (RoPE epilogue) brings the layer's K/V into L2 before its wait
    // (RopeStore::block_tables): 3B b1 904.1 -> 933.0 tok/s, 8B 558.4 -> 568.0 against the
    // attention's own prefetch (bench/NOTES.md run 79). MLXM_CUDA_QKV_KV_PREFETCH=0: not.
    MLXM_ASSIGN_OR_RETURN(qkv_kv_prefetch_, env_bool("MLXM_CUDA_QKV_KV_PREFETCH", true));
    // Split blocks of 8 warps (rounds of 64 positions, half the splits, a merge of <= 16
    // splits in one round): 3B b1 885.6 -> 910.3 tok/s, 8B 553.8 -> 556.7 (bench/NOTES.md run
    // 75). MLXM_CUDA_ATTN_WARPS8=0: 4 warps.
    MLXM_ASSIGN_OR_RETURN(const bool wide, env_bool("MLXM_CUDA_ATTN_WARPS8", true));
    attn_split_.warps = wide ? 8 : 4;
    MLXM_ASSIGN_OR_RETURN(splitk_consumers_, env_bool("MLXM_CUDA_SPLITK_CONSUMERS", true));
    MLXM_ASSIGN_OR_RETURN(gemv_rope_, env_bool("MLXM_CUDA_GEMV_ROPE", true));
    MLXM_ASSIGN_OR_RETURN(flash_prefill_, env_bool("MLXM_CUDA_FLASH_PREFILL", true));
    flash_prefill_ = flash_prefill_ && cuda::paged_attention_prefill_supported(c.n_heads, kv_[0]);
    if (flash_prefill_) MLXM_RETURN_IF_ERROR(cuda::paged_attention_prefill_prepare());
    // The prefill attention on tensor cores where head_dim is 64 or 128 (bench/NOTES.md run
    // 149). MLXM_CUDA_PREFILL_MMA=0: the f32 kernel.
    MLXM_ASSIGN_OR_RETURN(prefill_mma_, env_bool("MLXM_CUDA_PREFILL_MMA", true));
    // Linears: steps of >= MLXM_CUDA_GEMM_MIN_ROWS tokens take the tensor-core GEMM (fast
    // formats), K split over blocks when the tiles are few (MLXM_CUDA_SPLITK=0: never).
    MLXM_ASSIGN_OR_RETURN(const bool split_k, env_bool("MLXM_CUDA_SPLITK", true));
    MLXM_ASSIGN_OR_RETURN(const cuda::DeviceInfo di, cuda::device_info(0));
    sm_count_ = std::max(1, di.sm_count);
    if (split_k) {
      MLXM_ASSIGN_OR_RETURN(split_ws_, DeviceBuffer::alloc(kSplitWorkspaceFloats * sizeof(float)));
      lin_.workspace = split_ws_.as<float>();
      lin_.workspace_floats = kSplitWorkspaceFloats;
    }
    // GEMV rows (decode) of 4/8-bit linears: int8 activations with dp4a (default) or the f32
    // GEMV (MLXM_CUDA_GEMV=i8|f32); int8 quantizes x into a scratch sized for the widest input.
    const std::string gemv = env_string("MLXM_CUDA_GEMV", "i8");
    if (gemv != "i8" && gemv != "f32") {
      return invalid_argument("MLXM_CUDA_GEMV: want i8 or f32, got '" + gemv + "'");
    }
    lin_.gemv_i8 = gemv == "i8";
    // The int8 GEMV as a weight stream (gemv_stream.cu; MLXM_CUDA_GEMV_STREAM=0: the one-shot
    // gemv_i8_kernel, 12-17 % slower at batch 1, bench/NOTES.md runs 48-50).
    MLXM_ASSIGN_OR_RETURN(lin_.gemv_stream, env_bool("MLXM_CUDA_GEMV_STREAM", true));
    // Its weights brought by the bulk copy engine (gemv_bulk.cu; bit-identical rows; 3B b1
    // +6.3 %, 8B +7.2 %, bench/NOTES.md run 65). MLXM_CUDA_GEMV_BULK=0: per-lane cp.async.
    MLXM_ASSIGN_OR_RETURN(lin_.gemv_bulk, env_bool("MLXM_CUDA_GEMV_BULK", true));
    // Its weights copied with an L2 evict_first policy (ForwardOptions::weights_evict_first;
    // bench/NOTES.md run 86). MLXM_CUDA_WEIGHTS_EVICT_FIRST=0: the default policy.
    MLXM_ASSIGN_OR_RETURN(lin_.weights_evict_first,
                          env_bool("MLXM_CUDA_WEIGHTS_EVICT_FIRST", true));
    // 4-slot rings for the down projections (ForwardOptions::gemv_bulk_deep; 8B b1 +2.9 %, 3B
    // +0.9 %, bench/NOTES.md run 112). MLXM_CUDA_GEMV_DEEP=0: 3 slots everywhere.
    MLXM_ASSIGN_OR_RETURN(lin_.gemv_bulk_deep, env_bool("MLXM_CUDA_GEMV_DEEP", true));
    max_in_ = widest_input(w_);
    if (lin_.gemv_i8) {
      MLXM_ASSIGN_OR_RETURN(gemv_ws_, DeviceBuffer::alloc(cuda::gemv_i8_scratch_bytes(max_in_)));
      lin_.gemv_scratch = gemv_ws_.data();
      lin_.gemv_scratch_bytes = gemv_ws_.size();
    }
    // The batched-decode GEMM's x written by the norms and SiLU·mul (XTarget's GEMM form), not
    // by a launch of its own per linear (bench/NOTES.md runs 200-201). MLXM_CUDA_GEMM_X_FUSE=0: the
    // GEMM rounds x itself.
    MLXM_ASSIGN_OR_RETURN(const bool gemm_x_fuse, env_bool("MLXM_CUDA_GEMM_X_FUSE", true));
    if (gemm_x_fuse && split_k) {
      MLXM_ASSIGN_OR_RETURN(gemm_x_, DeviceBuffer::alloc(cuda::gemm_x_bytes(max_in_)));
      lin_.gemm_x = gemm_x_.data();
      lin_.gemm_x_bytes = gemm_x_.size();
    }
    // The GEMM from this many rows (5 with either GEMV; cuda_linear.h has the measurements).
    MLXM_ASSIGN_OR_RETURN(
        const int64_t min_rows,
        env_int("MLXM_CUDA_GEMM_MIN_ROWS",
                lin_.gemv_i8 ? cuda::kDefaultGemmMinRowsI8 : cuda::kDefaultGemmMinRows, 1,
                int64_t{1} << 30));
    lin_.gemm_min_rows = static_cast<int>(min_rows);
    // GEMM rows of 4-bit layers up to 64 (batched decode): the decode GEMM where it has enough
    // blocks (auto), never (off: the 64x64 GEMM) or always (MLXM_CUDA_GEMM_DECODE).
    const std::string gemm_decode = env_string("MLXM_CUDA_GEMM_DECODE", "auto");
    if (gemm_decode == "auto") {
      lin_.gemm_decode = cuda::GemmDecode::kAuto;
    } else if (gemm_decode == "off") {
      lin_.gemm_decode = cuda::GemmDecode::kOff;
    } else if (gemm_decode == "always") {
      lin_.gemm_decode = cuda::GemmDecode::kAlways;
    } else {
      return invalid_argument("MLXM_CUDA_GEMM_DECODE: want auto, off or always, got '" +
                              gemm_decode + "'");
    }
    // Prefill linears: steps of >= MLXM_CUDA_CUBLAS_MIN_ROWS tokens (fast formats) take
    // cuBLASLt on weights dequantized into a scratch, allocated at the first such step
    // (reserve_cublas); cuBLASLt is loaded here; a huge value turns it off.
    MLXM_ASSIGN_OR_RETURN(const int64_t cublas_rows,
                          env_int("MLXM_CUDA_CUBLAS_MIN_ROWS", cuda::kDefaultCublasMinRows, 1,
                                  int64_t{1} << 30));
    lin_.cublas_min_rows = static_cast<int>(cublas_rows);
    cublas_on_ = cublas_rows < (int64_t{1} << 30);
    if (cublas_on_) {
      // Load the library now (~0.1 s for its 500 MB), not inside the first long prompt.
      const Status lt = cuda::cublaslt_status();
      if (!lt.ok()) {
        MLXM_LOG_WARN("CUDA engine: prefill linears on the tensor-core GEMM (no cuBLASLt): {}",
                      lt.to_string());
        cublas_on_ = false;
      }
    }
    // Uploads are synchronous copies on the legacy stream; our stream does not wait for it.
    return cuda::synchronize();
  }

  Status forward(const Batch& batch, std::vector<float>* logits) override;
  Status forward_argmax(const Batch& batch, const std::vector<int32_t>& full_rows,
                        std::vector<int32_t>* ids, std::vector<float>* logits) override;
  bool device_argmax() const override { return true; }
  Status forward_sample(const Batch& batch, const std::vector<RowSampling>& rows,
                        std::vector<int32_t>* ids, std::vector<float>* logits,
                        std::vector<SampleResult>* logprobs = nullptr) override;
  // Logprobs by cuda::logprob_rows after the draw (MLXM_CUDA_LOGPROBS=0 leaves them to the
  // host: the serving loop then asks for those rows' logits).
  bool device_logprobs() const override { return device_logprobs_; }
  // Masks by cuda::mask_rows before the draw (MLXM_CUDA_MASKS=0: the serving loop asks for
  // those rows' logits and applies the logits processor on the host).
  bool device_masks() const override { return device_masks_; }
  // Pipelined steps (engine.h): submit() enqueues the step, its ids' pass and their copy into
  // its slot's pinned buffer, and returns; collect() waits for the slot's event. Tokens given
  // as previous_row_token(r) are read by the embedding gather from ids_, where the step before
  // left its ids (logit row order: submitted steps have no full rows).
  bool pipelined() const override { return true; }
  Status submit(const Batch& batch, const std::vector<RowSampling>& rows) override;
  Status collect(std::vector<int32_t>* ids,
                 std::vector<SampleResult>* logprobs = nullptr) override;

  const ModelConfig& config() const override { return config_; }
  int block_size() const override { return options_.block_size; }
  int64_t n_kv_blocks() const override { return n_blocks_; }
  size_t weight_bytes() const override { return w_.bytes(); }
  size_t kv_bytes() const override { return kv_bytes_; }
  size_t weight_bytes_per_token() const override { return w_.bytes_per_token(); }
  // With EngineOptions::profile: "host" (validating, metadata, enqueueing or graph launch),
  // "device_wait" (waiting for the step's logits) and "graph_capture" milliseconds.
  std::vector<std::pair<std::string, double>> op_times_ms() const override {
    if (!options_.profile) return {};
    return {{"host", host_ms_}, {"device_wait", wait_ms_}, {"graph_capture", capture_ms_}};
  }
  void reset_op_times() override { host_ms_ = wait_ms_ = capture_ms_ = 0.0; }

 private:
  Status init_kv();
  // The host side of one step: its metadata, sampling specs and ids staged in page-locked
  // memory, so that their copies do not wait for the stream (a pageable copy would), and the
  // event recorded after the step's last copy. Steps alternate between two slots: a slot is
  // reused two steps later, after its event (a pipelined step is collected by then).
  struct StepSlot {
    cuda::PinnedBuffer meta, specs, adjust, ids;
    cuda::PinnedBuffer lp_specs, lp_out;  // logprobs: cuda::LogprobRowSpec, LogprobRowOut
    cuda::PinnedBuffer masks;             // the staged rows' masks
    std::vector<int32_t> lp_rows;         // the logit row of each logprob spec
    cuda::Event done;
  };
  // The next step's slot, once its previous step's copies are done.
  Result<StepSlot*> next_slot();
  // Waits for the submitted steps (before a buffer they use is reallocated).
  Status drain();
  // grow() for a buffer submitted steps may use: they finish first when it must move.
  Result<bool> grow_buffer(DeviceBuffer& b, size_t bytes) {
    if (b.size() >= bytes) return false;
    MLXM_RETURN_IF_ERROR(drain());
    return grow(b, bytes);
  }
  // forward*(): no steps may be submitted; afterwards no previous_row_token refers to a step.
  Status begin_sync_step(const char* what);
  // Validates (tokens may be previous_row_token(r), r < n_prev_rows), lays out and uploads the
  // step's metadata through `slot`, then enqueues (or replays) the step.
  Status run_step(const Batch& batch, int64_t n_prev_rows, StepSlot& slot, int64_t* n_out);
  // Stages `rows` (none full) as device specs in `slot` and uploads them: spec_rows_ gets the
  // logit row of each. Returns the number of specs.
  Result<size_t> stage_specs(const std::vector<RowSampling>& rows, StepSlot& slot);
  // After stage_specs: the specs of the rows that ask for logprobs, uploaded through `slot`
  // (slot.lp_rows gets their logit rows).
  Status stage_logprobs(const std::vector<RowSampling>& rows, StepSlot& slot);
  // The logprobs of a finished step's slot into *out (n_rows entries; the rows that asked get
  // theirs where ids has a token).
  void read_logprobs(const StepSlot& slot, const int32_t* ids, size_t n_rows,
                     std::vector<SampleResult>* out) const;
  // After run_step: the ids of the step's n_out logit rows into ids_ by forward_argmax's pass
  // (n_spec == 0) or sample_rows over the n_spec staged specs, then copied into slot.ids.
  Status enqueue_ids(int64_t n_out, size_t n_spec, StepSlot& slot);
  // Capacity for n tokens, n_out logit rows and `width` block-table entries per token.
  Status reserve(int64_t n, int64_t n_out, int64_t width, int64_t max_ctx);
  // The end of forward_argmax / forward_sample: the logit rows `full_rows` copied to the pinned
  // buffer, the host time since t0 counted, the stream awaited (errors name `what`), the rows
  // handed to `logits`.
  Status finish_rows(const std::vector<int32_t>& full_rows, TimePoint t0, cuda::Stream st,
                     const char* what, std::vector<float>* logits);
  // The cuBLASLt scratch for steps of up to cap_n_ tokens; true when it moved.
  bool reserve_cublas();
  // Enqueues the whole step (metadata already on the device).
  Status enqueue_step(int64_t n, int64_t n_out, int64_t width, int64_t n_tiles, cuda::Stream s);
  struct Meta;
  Status enqueue_layer(int l, int64_t n, const Meta& m, int64_t width, int64_t n_tiles,
                       cuda::Stream s);
  // out_q: the decode kernel's split merge also writes the output quantized for o_proj.
  // kv_in_l2: the qkv GEMV prefetched the K/V (no AttnSplit::prefetch_kv then).
  Status enqueue_attention(int l, int64_t n, const Meta& m, int64_t width, int64_t n_tiles,
                           cuda::Stream s, const cuda::XTarget& out_q, bool kv_in_l2);
  // Where the kernel producing `l`'s input rows also writes them in the form l's kernel reads
  // for n rows (MLXM_CUDA_FUSE and MLXM_CUDA_FUSE_QUANT on): quantized for the int8 GEMV, or
  // (gemm_ok, a gemm_x buffer) rounded for the batched-decode GEMM; else none.
  cuda::XTarget x_target(const CudaLinear& l, int64_t n, bool gemm_ok = true) const {
    if (!fuse_ || !fuse_quant_) return {};
    if (n <= 8 && l.uses_gemv_i8(n, lin_) && cuda::gemv_i8_target_supported(l.n_in())) {
      return {lin_.gemv_scratch, l.bits()};
    }
    if (gemm_ok && lin_.gemm_x != nullptr && l.n_in() % 64 == 0 && l.uses_gemm_decode(n, lin_)) {
      return {lin_.gemm_x, l.bits(), true, l.dtype() == DType::kF16};
    }
    return {};
  }
  // l.forward with the engine's options; `ready`: where the producer wrote x in l's form
  // (x_target; none: l makes it from x). `out` (fused steps with MLXM_CUDA_SPLITK_CONSUMERS):
  // where y was left, for a consumer that reads split-K slices (split_k.h); null: y is written.
  Status linear(const CudaLinear& l, const float* x, int64_t n, float* y, cuda::Stream s,
                const cuda::XTarget& ready, cuda::SplitKOutput* out = nullptr,
                const cuda::RopeStore* rope = nullptr) const {
    cuda::ForwardOptions o = lin_;
    o.gemv_x_ready = ready.scratch != nullptr && !ready.gemm;
    o.gemm_x_ready = ready.scratch != nullptr && ready.gemm;
    o.rope_store = rope;
    o.split_k_out = fuse_ && splitk_consumers_ ? out : nullptr;
    if (o.split_k_out == nullptr && out != nullptr) *out = {y, {1, 0}};
    return l.forward(x, n, y, s, o);
  }

  ModelConfig config_;
  EngineOptions options_;
  CudaWeights w_;
  std::vector<LayerNorms> norms_;
  DeviceBuffer final_norm_, inv_freq_;
  std::vector<DeviceBuffer> kv_mem_;  // (2 * n_layers): k, v per layer
  std::vector<KvLayerView> kv_;       // (n_layers), device pointers
  int64_t n_blocks_ = 0;
  size_t kv_bytes_ = 0;
  cuda::OwnedStream stream_;
  cuda::ForwardOptions lin_;  // GEMM threshold, split-K workspace, GEMV mode for every linear
  bool fuse_quant_ = true;    // MLXM_CUDA_FUSE_QUANT: producers write x in its linear's form
  // MLXM_CUDA_SPLITK_CONSUMERS: the kernel after a split-K GEMM (RoPE/KV store, add+norm,
  // SiLU·mul) sums its partial sums; no reduce kernel
  bool splitk_consumers_ = true;
  // MLXM_CUDA_ATTN_FUSED_MERGE: the decode attention's last block per kv head merges the splits
  bool attn_fused_merge_ = true;
  bool attn_whole_ = true;  // AttnSplit::whole for the decode steps where it fits and pays
  int attn_parts_ = 4;      // ... as clusters of at most this many (AttnSplit::whole_parts)
  int64_t attn_parts_min_ctx_ = cuda::detail::kDecodeAttnWholePairMinCtx;  // ... above this
  int64_t attn_whole_max_ctx_ = cuda::detail::kDecodeAttnWholeMaxCtx;  // ... per block
  int attn_grouped_ = -1;   // ... per kv head: -1 auto, 0 never, 1 always (whole_grouped)
  std::vector<cuda::KvTensorMaps> kv_maps_;  // per layer, AttnSplit::kv_maps (or none)
  bool qkv_kv_prefetch_ = true;  // RopeStore::block_tables for the qkv GEMV (decode steps)
  // MLXM_CUDA_GEMV_ROPE: the fused q/k/v projection's stream GEMV does RoPE and the KV store
  // (ForwardOptions::rope_store; models without q/k norms) instead of qkv_rope_store
  bool gemv_rope_ = true;
  cuda::XTarget qkv_x_;  // enqueue_layer: where the next layer's qkv input was written already
  DeviceBuffer split_ws_;
  DeviceBuffer gemv_ws_;  // int8 GEMV activations (MLXM_CUDA_GEMV=i8)
  DeviceBuffer gemm_x_;   // the batched-decode GEMM's x from its producers (ForwardOptions)
  DeviceBuffer cublas_ws_;  // cuBLASLt workspace, x and dequantized weight rows (prefill)
  bool cublas_on_ = false;  // MLXM_CUDA_CUBLAS_MIN_ROWS in reach, cuBLASLt not failed yet
  int64_t max_in_ = 0;      // widest linear input
  int sm_count_ = 132;
  cuda::AttnSplit attn_split_;  // split-KV decode attention for the current step shape
  DeviceBuffer attn_ws_;
  DeviceBuffer attn_counters_;  // int32, zeroed: AttnSplit::merge_counters

  // Scratch (device, f32 unless noted), grown to the largest step seen.
  int64_t cap_n_ = 0, cap_out_ = 0, cap_meta_ = 0;
  DeviceBuffer x_;       // (n, hidden) residual stream
  DeviceBuffer xn_;      // (n, hidden) normed
  DeviceBuffer qkv_;     // (n, (n_heads + 2 n_kv_heads) head_dim)
  DeviceBuffer q_;       // (n, n_heads, head_dim)
  DeviceBuffer k_, v_;   // (n, n_kv_heads, head_dim)
  DeviceBuffer attn_;    // (n, n_heads * head_dim)
  DeviceBuffer tmp_;     // (n, hidden)
  DeviceBuffer gu_;      // (n, 2 ff)
  DeviceBuffer act_;     // (n, ff)
  DeviceBuffer up_;      // (n, ff) only when gate/up are not fused
  DeviceBuffer xo_;      // (n_out, hidden)
  DeviceBuffer logits_;  // (n_out, vocab)
  DeviceBuffer meta_;    // int32: see Meta
  DeviceBuffer ids_;     // int32 (n_out): forward_argmax's ids
  cuda::PinnedBuffer host_logits_;  // (n_out, vocab) page-locked staging for the logits copy
  DeviceBuffer sample_specs_;   // forward_sample: cuda::SampleRowSpec (sampled rows)
  DeviceBuffer sample_adjust_;  // forward_sample: cuda::SampleAdjust (all sampled rows)
  std::vector<cuda::SampleRowSpec> host_specs_;
  std::vector<cuda::SampleAdjust> host_adjust_;
  std::vector<int32_t> spec_rows_;  // (sampled rows) logit row of each spec
  DeviceBuffer logprob_specs_;  // cuda::LogprobRowSpec (rows asking for logprobs)
  DeviceBuffer logprob_out_;    // cuda::LogprobRowOut
  DeviceBuffer logprob_saved_;  // float per sample_adjust_ entry: raw rows' adjusted logits
  std::vector<cuda::LogprobRowSpec> host_lp_specs_;
  bool lp_saves_ = false;       // some staged logprob spec is raw with adjustments
  bool device_logprobs_ = true;
  DeviceBuffer sample_masks_;   // uint64 words: the masks of the staged specs
  std::vector<uint64_t> host_masks_;
  bool masks_staged_ = false;   // some staged spec has a mask
  bool pending_staged_ = false; // some staged spec has a pending token (reads prev_ids_)
  DeviceBuffer prev_ids_;       // int32: the step before's ids, for pending tokens
  bool device_masks_ = true;
  StepSlot slots_[2];
  uint64_t n_steps_ = 0;  // steps run; step k stages in slots_[k % 2]
  struct Submitted {
    StepSlot* slot;
    size_t n_rows;  // logit rows (ids in slot->ids)
  };
  std::deque<Submitted> submitted_;  // submitted, not collected; oldest first
  int64_t prev_rows_ = 0;  // logit rows of the step submitted last; 0 after a forward*()

  // Offsets (in int32 elements) of the step metadata inside meta_. tiles: (n_tiles, 3)
  // {first token, count, table token} for the prefill attention (room for n tiles).
  struct Meta {
    int64_t tokens, positions, slots, ctx, rows, tables, tiles, total;
  };
  static Meta meta_layout(int64_t n, int64_t n_out, int64_t width) {
    Meta m;
    m.tokens = 0;
    m.positions = n;
    m.slots = 2 * n;
    m.ctx = 3 * n;
    m.rows = 4 * n;
    m.tables = (4 * n + n_out + 3) / 4 * 4;
    m.tiles = m.tables + n * width;
    m.total = m.tiles + 3 * n;
    return m;
  }
  const int32_t* meta_at(int64_t off) const { return meta_.as<const int32_t>() + off; }

  bool use_graphs_ = true;
  bool fuse_ = true;           // MLXM_CUDA_FUSE
  bool flash_prefill_ = true;  // MLXM_CUDA_FLASH_PREFILL (and the shape is supported)
  bool prefill_mma_ = true;    // MLXM_CUDA_PREFILL_MMA: its tensor-core kernel where it fits
  // Step graphs by (tokens, logit rows, table width, prefill tiles or 0 for the decode kernel,
  // the whole-context attention's blocks per head or 0 for the splits).
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int>, cuda::Graph> graphs_;
  double host_ms_ = 0, wait_ms_ = 0, capture_ms_ = 0;
};

}  // namespace mlxm::engine::cuda_decoder_detail
