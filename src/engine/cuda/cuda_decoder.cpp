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

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <map>
#include <tuple>

#include "core/clock.h"
#include "core/env.h"
#include "core/log.h"
#include "engine/cuda/row_spec.h"
#include "engine/device.h"
#include "engine/kernels/cuda/cuda_linear.h"
#include "engine/kernels/cuda/cuda_ops.h"
#include "engine/kernels/cuda/cuda_runtime_api.h"
#include "engine/loader/safetensors.h"
#include "engine/loader/weights_load.h"
#include "engine/models/decoder.h"
#include "engine/models/rope_freqs.h"

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

namespace {

using cuda::CudaLinear;
using cuda::DeviceBuffer;
using CudaWeights = BasicModelWeights<CudaLinear>;
using CudaLayer = BasicLayerWeights<CudaLinear>;

constexpr int64_t kMaxGraphTokens = 64;  // larger steps (prefill) run eagerly
constexpr size_t kMaxGraphs = 96;
constexpr size_t kSplitWorkspaceFloats = size_t{4} << 20;  // 16 MB of split-K partial sums

// The widest input of the model's linears (the int8 GEMV and cuBLASLt scratches hold x for it).
int64_t widest_input(const CudaWeights& w) {
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
Result<bool> grow(DeviceBuffer& b, size_t bytes) {
  if (b.size() >= bytes) return false;
  MLXM_ASSIGN_OR_RETURN(b, DeviceBuffer::alloc(bytes));
  return true;
}

Result<DeviceBuffer> upload_vec(const std::vector<float>& v) {
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
    MLXM_ASSIGN_OR_RETURN(fuse_quant_, env_bool("MLXM_CUDA_FUSE_QUANT", true));
    MLXM_ASSIGN_OR_RETURN(attn_fused_merge_, env_bool("MLXM_CUDA_ATTN_FUSED_MERGE", true));
    MLXM_ASSIGN_OR_RETURN(attn_split_.prefetch_kv, env_bool("MLXM_CUDA_ATTN_PREFETCH", true));
    MLXM_ASSIGN_OR_RETURN(splitk_consumers_, env_bool("MLXM_CUDA_SPLITK_CONSUMERS", true));
    MLXM_ASSIGN_OR_RETURN(gemv_rope_, env_bool("MLXM_CUDA_GEMV_ROPE", true));
    MLXM_ASSIGN_OR_RETURN(flash_prefill_, env_bool("MLXM_CUDA_FLASH_PREFILL", true));
    flash_prefill_ = flash_prefill_ && cuda::paged_attention_prefill_supported(c.n_heads, kv_[0]);
    if (flash_prefill_) MLXM_RETURN_IF_ERROR(cuda::paged_attention_prefill_prepare());
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
    max_in_ = widest_input(w_);
    if (lin_.gemv_i8) {
      MLXM_ASSIGN_OR_RETURN(gemv_ws_, DeviceBuffer::alloc(cuda::gemv_i8_scratch_bytes(max_in_)));
      lin_.gemv_scratch = gemv_ws_.data();
      lin_.gemv_scratch_bytes = gemv_ws_.size();
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
                        std::vector<int32_t>* ids, std::vector<float>* logits) override;

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
  // Validates, lays out and uploads the step's metadata, then enqueues (or replays) the step.
  Status run_step(const Batch& batch, int64_t* n_out);
  // Capacity for n tokens, n_out logit rows and `width` block-table entries per token.
  Status reserve(int64_t n, int64_t n_out, int64_t width);
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
  Status enqueue_attention(int l, int64_t n, const Meta& m, int64_t width, int64_t n_tiles,
                           cuda::Stream s, const cuda::GemvI8Target& out_q);
  // Where the kernel producing `l`'s input rows also writes them quantized for its int8 GEMV
  // (l takes it for n rows, MLXM_CUDA_FUSE and MLXM_CUDA_FUSE_QUANT on); else none.
  cuda::GemvI8Target i8_target(const CudaLinear& l, int64_t n) const {
    if (!fuse_ || !fuse_quant_ || n > 8 || !l.uses_gemv_i8(n, lin_) ||
        !cuda::gemv_i8_target_supported(l.n_in())) {
      return {};
    }
    return {lin_.gemv_scratch, l.bits()};
  }
  // l.forward with the engine's options; x_ready: the producer wrote x quantized. `out`
  // (fused steps with MLXM_CUDA_SPLITK_CONSUMERS): where y was left, for a consumer that reads
  // split-K slices (split_k.h); null: y is written.
  Status linear(const CudaLinear& l, const float* x, int64_t n, float* y, cuda::Stream s,
                bool x_ready, cuda::SplitKOutput* out = nullptr,
                const cuda::RopeStore* rope = nullptr) const {
    cuda::ForwardOptions o = lin_;
    o.gemv_x_ready = x_ready;
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
  bool fuse_quant_ = true;    // MLXM_CUDA_FUSE_QUANT: producers quantize for the int8 GEMV
  // MLXM_CUDA_SPLITK_CONSUMERS: the kernel after a split-K GEMM (RoPE/KV store, add+norm,
  // SiLU·mul) sums its partial sums; no reduce kernel
  bool splitk_consumers_ = true;
  // MLXM_CUDA_ATTN_FUSED_MERGE: the decode attention's last block per kv head merges the splits
  bool attn_fused_merge_ = true;
  // MLXM_CUDA_GEMV_ROPE: the fused q/k/v projection's stream GEMV does RoPE and the KV store
  // (ForwardOptions::rope_store; models without q/k norms) instead of qkv_rope_store
  bool gemv_rope_ = true;
  bool qkv_x_ready_ = false;  // enqueue_layer: the next layer's qkv input is quantized already
  DeviceBuffer split_ws_;
  DeviceBuffer gemv_ws_;  // int8 GEMV activations (MLXM_CUDA_GEMV=i8)
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
  cuda::PinnedBuffer host_ids_;     // (n_out) int32 staging for the ids
  DeviceBuffer sample_specs_;   // forward_sample: cuda::SampleRowSpec (sampled rows)
  DeviceBuffer sample_adjust_;  // forward_sample: cuda::SampleAdjust (all sampled rows)
  std::vector<cuda::SampleRowSpec> host_specs_;
  std::vector<cuda::SampleAdjust> host_adjust_;
  std::vector<int32_t> spec_rows_;  // (sampled rows) logit row of each spec
  std::vector<int32_t> host_meta_;

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
  // (tokens, logit rows, table width, prefill tiles or 0 for the decode kernel)
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, cuda::Graph> graphs_;
  double host_ms_ = 0, wait_ms_ = 0, capture_ms_ = 0;
};

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

Status CudaDecoder::reserve(int64_t n, int64_t n_out, int64_t width) {
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
      MLXM_ASSIGN_OR_RETURN(bool r, grow(*buf, un * per));
      moved |= r;
    }
    cap_n_ = cap;
  }
  if (n_out > cap_out_) {
    const int64_t cap = (n_out + 15) / 16 * 16;
    const size_t uo = static_cast<size_t>(cap) * sizeof(float);
    MLXM_ASSIGN_OR_RETURN(bool r1, grow(xo_, uo * static_cast<size_t>(c.hidden_size)));
    MLXM_ASSIGN_OR_RETURN(bool r2, grow(logits_, uo * static_cast<size_t>(c.vocab_size)));
    MLXM_ASSIGN_OR_RETURN(host_logits_,
                          cuda::PinnedBuffer::alloc(uo * static_cast<size_t>(c.vocab_size)));
    MLXM_ASSIGN_OR_RETURN(bool r3, grow(ids_, static_cast<size_t>(cap) * sizeof(int32_t)));
    MLXM_ASSIGN_OR_RETURN(host_ids_,
                          cuda::PinnedBuffer::alloc(static_cast<size_t>(cap) * sizeof(int32_t)));
    moved |= r3;
    moved |= r1 || r2;
    cap_out_ = cap;
  }
  {
    // Split-KV attention: one memory round trip per split when the context allows (3B/8B at
    // 528 positions, batch 1: 17 splits of 32).
    const int64_t splits = cuda::paged_attention_decode_splits(
        n, c.n_kv_heads, c.head_dim, width * options_.block_size, sm_count_);
    const size_t need = cuda::paged_attention_workspace_floats(n, c.n_heads, c.head_dim,
                                                               static_cast<int>(splits));
    if (splits > 1) {
      MLXM_ASSIGN_OR_RETURN(bool r, grow(attn_ws_, need * sizeof(float)));
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
      MLXM_ASSIGN_OR_RETURN(bool r, grow(attn_counters_, counters * sizeof(int32_t)));
      if (r) MLXM_RETURN_IF_ERROR(attn_counters_.fill_bytes(0));
      moved |= r;
      attn_split_.merge_counters = attn_counters_.as<int32_t>();
      attn_split_.merge_counters_len =
          static_cast<int64_t>(attn_counters_.size() / sizeof(int32_t));
    }
  }
  if (m.total > cap_meta_) {
    const int64_t cap = std::max<int64_t>(m.total * 2, 4096);
    MLXM_ASSIGN_OR_RETURN(bool r, grow(meta_, static_cast<size_t>(cap) * sizeof(int32_t)));
    moved |= r;
    cap_meta_ = cap;
  }
  if (cublas_on_ && n >= lin_.cublas_min_rows) moved |= reserve_cublas();
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

Status CudaDecoder::enqueue_attention(int l, int64_t n, const Meta& m, int64_t width,
                                      int64_t n_tiles, cuda::Stream s,
                                      const cuda::GemvI8Target& out_q) {
  const ModelConfig& c = config_;
  const KvLayerView& kv = kv_[static_cast<size_t>(l)];
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  if (n_tiles > 0) {
    return cuda::paged_attention_prefill(q_.as<float>(), meta_at(m.tables), static_cast<int>(width),
                                         meta_at(m.ctx), meta_at(m.tiles), n_tiles, n, c.n_heads,
                                         kv, scale, attn_.as<float>(), s);
  }
  cuda::AttnSplit split = attn_split_;
  split.out_q = out_q;
  return cuda::paged_attention_decode(q_.as<float>(), meta_at(m.tables), static_cast<int>(width),
                                      meta_at(m.ctx), n, c.n_heads, kv, scale, attn_.as<float>(),
                                      s, split);
}

// Per layer, fused (default): [xn = attn-normed x, from the previous layer's last add or the
// embedding] qkv linear -> qkv_rope_store (q/k norm, RoPE, K/V into the cache; for GEMV rows
// without q/k norms the qkv stream GEMV's epilogue does it: ForwardOptions::rope_store) ->
// attention -> o_proj -> add_rms_norm (x += o; xn = mlp-normed x) -> gate/up -> SiLU·up -> down ->
// add_rms_norm with the next layer's attention norm (the last layer: a plain add).
Status CudaDecoder::enqueue_layer(int l, int64_t n, const Meta& m, int64_t width,
                                  int64_t n_tiles, cuda::Stream s) {
  const ModelConfig& c = config_;
  const CudaLayer& L = w_.layers[static_cast<size_t>(l)];
  const LayerNorms& N = norms_[static_cast<size_t>(l)];
  const KvLayerView& kv = kv_[static_cast<size_t>(l)];
  const int64_t h = c.hidden_size, hd = c.head_dim, ff = c.intermediate_size;
  const int64_t q_w = int64_t{c.n_heads} * hd, kv_w = int64_t{c.n_kv_heads} * hd;
  const float eps = static_cast<float>(c.rms_norm_eps);
  float* x = x_.as<float>();
  float* xn = xn_.as<float>();
  float* q = q_.as<float>();
  float* k = k_.as<float>();
  float* v = v_.as<float>();
  const int32_t* positions = meta_at(m.positions);

  // The previous layer's last add_rms_norm may have written xn quantized for this qkv GEMV.
  const bool qkv_ready = qkv_x_ready_ && l > 0;
  qkv_x_ready_ = false;
  if (!fuse_ || l == 0) MLXM_RETURN_IF_ERROR(cuda::rms_norm(x, N.attn.as<float>(), eps, n, h, xn, s));
  if (fuse_) {
    const float* qn = c.qk_norm ? N.q.as<float>() : nullptr;
    const float* kn = c.qk_norm ? N.k.as<float>() : nullptr;
    // The stream GEMV ropes q into q_ and k, v into the cache itself where it can.
    const cuda::RopeStore rs{positions, inv_freq_.as<float>(), meta_at(m.slots), kv, q,
                             static_cast<int>(c.n_heads)};
    if (L.fused_qkv && gemv_rope_ && !c.qk_norm && L.qkv.check_rope_store(rs, n, lin_).ok()) {
      MLXM_RETURN_IF_ERROR(linear(L.qkv, xn, n, qkv_.as<float>(), s, qkv_ready, nullptr, &rs));
    } else if (L.fused_qkv) {
      cuda::SplitKOutput qo;
      MLXM_RETURN_IF_ERROR(linear(L.qkv, xn, n, qkv_.as<float>(), s, qkv_ready, &qo));
      const int64_t row = q_w + 2 * kv_w;
      const float* qkv = qo.base;
      MLXM_RETURN_IF_ERROR(cuda::qkv_rope_store(qkv, row, qkv + q_w, qkv + q_w + kv_w, row, qn, kn,
                                                eps, positions, inv_freq_.as<float>(),
                                                meta_at(m.slots), n, c.n_heads, kv, q, s,
                                                qo.slices));
    } else {
      float* qr = qkv_.as<float>();  // raw q; q_ receives the roped one
      MLXM_RETURN_IF_ERROR(L.q.forward(xn, n, qr, s, lin_));
      MLXM_RETURN_IF_ERROR(L.k.forward(xn, n, k, s, lin_));
      MLXM_RETURN_IF_ERROR(L.v.forward(xn, n, v, s, lin_));
      MLXM_RETURN_IF_ERROR(cuda::qkv_rope_store(qr, q_w, k, v, kv_w, qn, kn, eps, positions,
                                                inv_freq_.as<float>(), meta_at(m.slots), n,
                                                c.n_heads, kv, q, s));
    }
  } else {
    if (L.fused_qkv) {
      float* qkv = qkv_.as<float>();
      MLXM_RETURN_IF_ERROR(L.qkv.forward(xn, n, qkv, s, lin_));
      const size_t w = static_cast<size_t>(q_w + 2 * kv_w) * 4, un = static_cast<size_t>(n);
      MLXM_RETURN_IF_ERROR(cuda::copy_2d_async(q, q_w * 4, qkv, w, q_w * 4, un, s));
      MLXM_RETURN_IF_ERROR(cuda::copy_2d_async(k, kv_w * 4, qkv + q_w, w, kv_w * 4, un, s));
      MLXM_RETURN_IF_ERROR(
          cuda::copy_2d_async(v, kv_w * 4, qkv + q_w + kv_w, w, kv_w * 4, un, s));
    } else {
      MLXM_RETURN_IF_ERROR(L.q.forward(xn, n, q, s, lin_));
      MLXM_RETURN_IF_ERROR(L.k.forward(xn, n, k, s, lin_));
      MLXM_RETURN_IF_ERROR(L.v.forward(xn, n, v, s, lin_));
    }
    if (c.qk_norm) {
      MLXM_RETURN_IF_ERROR(cuda::rms_norm(q, N.q.as<float>(), eps, n * c.n_heads, hd, q, s));
      MLXM_RETURN_IF_ERROR(cuda::rms_norm(k, N.k.as<float>(), eps, n * c.n_kv_heads, hd, k, s));
    }
    MLXM_RETURN_IF_ERROR(cuda::rope(q, positions, n, c.n_heads, static_cast<int>(hd),
                                    inv_freq_.as<float>(), s));
    MLXM_RETURN_IF_ERROR(cuda::rope(k, positions, n, c.n_kv_heads, static_cast<int>(hd),
                                    inv_freq_.as<float>(), s));
    MLXM_RETURN_IF_ERROR(cuda::kv_store(kv, k, v, meta_at(m.slots), n, s));
  }
  // Decode steps with a split merge: the merge writes o_proj's int8 GEMV input.
  const cuda::GemvI8Target o_q = n_tiles == 0 && attn_split_.splits > 1 && c.head_dim % 32 == 0
                                     ? i8_target(L.o, n)
                                     : cuda::GemvI8Target{};
  MLXM_RETURN_IF_ERROR(enqueue_attention(l, n, m, width, n_tiles, s, o_q));
  float* tmp = tmp_.as<float>();
  cuda::SplitKOutput oo;
  MLXM_RETURN_IF_ERROR(linear(L.o, attn_.as<float>(), n, tmp, s, o_q.scratch != nullptr, &oo));
  const cuda::GemvI8Target gu_q = L.fused_gate_up ? i8_target(L.gate_up, n) : cuda::GemvI8Target{};
  if (fuse_) {
    MLXM_RETURN_IF_ERROR(
        cuda::add_rms_norm(x, oo.base, N.mlp.as<float>(), eps, n, h, xn, s, gu_q, oo.slices));
  } else {
    MLXM_RETURN_IF_ERROR(cuda::add_inplace(x, tmp, n * h, s));
    MLXM_RETURN_IF_ERROR(cuda::rms_norm(x, N.mlp.as<float>(), eps, n, h, xn, s));
  }
  float* gu = gu_.as<float>();
  float* act = act_.as<float>();
  cuda::SplitKOutput go{gu, {1, 0}};
  if (L.fused_gate_up) {
    MLXM_RETURN_IF_ERROR(linear(L.gate_up, xn, n, gu, s, gu_q.scratch != nullptr, &go));
  } else {
    // silu_mul wants [gate | up] per row.
    float* up = up_.as<float>();
    MLXM_RETURN_IF_ERROR(L.gate.forward(xn, n, act, s, lin_));
    MLXM_RETURN_IF_ERROR(L.up.forward(xn, n, up, s, lin_));
    const size_t row = static_cast<size_t>(ff) * 4, un = static_cast<size_t>(n);
    MLXM_RETURN_IF_ERROR(cuda::copy_2d_async(gu, 2 * row, act, row, row, un, s));
    MLXM_RETURN_IF_ERROR(cuda::copy_2d_async(gu + ff, 2 * row, up, row, row, un, s));
  }
  const cuda::GemvI8Target down_q = i8_target(L.down, n);
  MLXM_RETURN_IF_ERROR(cuda::silu_mul(go.base, n, ff, act, s, down_q, go.slices));
  const bool last = l + 1 == c.n_layers;
  cuda::SplitKOutput dn;  // the last layer's plain add reads a written y
  MLXM_RETURN_IF_ERROR(
      linear(L.down, act, n, tmp, s, down_q.scratch != nullptr, last ? nullptr : &dn));
  if (fuse_ && !last) {
    const LayerNorms& next = norms_[static_cast<size_t>(l) + 1];
    const CudaLayer& nl = w_.layers[static_cast<size_t>(l) + 1];
    const cuda::GemvI8Target qkv_q = nl.fused_qkv ? i8_target(nl.qkv, n) : cuda::GemvI8Target{};
    qkv_x_ready_ = qkv_q.scratch != nullptr;
    return cuda::add_rms_norm(x, dn.base, next.attn.as<float>(), eps, n, h, xn, s, qkv_q,
                              dn.slices);
  }
  return cuda::add_inplace(x, tmp, n * h, s);
}

Status CudaDecoder::enqueue_step(int64_t n, int64_t n_out, int64_t width, int64_t n_tiles,
                                 cuda::Stream s) {
  const ModelConfig& c = config_;
  const Meta m = meta_layout(n, n_out, width);
  const int64_t h = c.hidden_size;
  MLXM_RETURN_IF_ERROR(w_.embed.gather_rows(meta_at(m.tokens), n, x_.as<float>(), s));
  qkv_x_ready_ = false;
  for (int l = 0; l < c.n_layers; ++l) {
    MLXM_RETURN_IF_ERROR(enqueue_layer(l, n, m, width, n_tiles, s));
  }
  if (n_out == 0) return ok_status();
  float* xo = xo_.as<float>();
  MLXM_RETURN_IF_ERROR(cuda::gather_rows(x_.as<float>(), n, h, meta_at(m.rows), n_out, xo, s));
  MLXM_RETURN_IF_ERROR(cuda::rms_norm(xo, final_norm_.as<float>(),
                                      static_cast<float>(c.rms_norm_eps), n_out, h, xo, s));
  return w_.head().forward(xo, n_out, logits_.as<float>(), s, lin_);
}

Status CudaDecoder::run_step(const Batch& batch, int64_t* n_out_ret) {
  MLXM_RETURN_IF_ERROR(validate_batch(batch, config_, options_.block_size, n_blocks_));
  const int64_t n = static_cast<int64_t>(batch.tokens.size());
  const int64_t n_out = static_cast<int64_t>(batch.logit_rows.size());
  *n_out_ret = n_out;
  const int bs = options_.block_size;
  int64_t width = 1;
  for (const BatchSeq& s : batch.seqs) width = std::max<int64_t>(width, (s.n_ctx + bs - 1) / bs);
  // Round the table width up (fewer distinct graphs as contexts grow).
  width = width <= 8 ? 8 : int64_t{1} << static_cast<int>(std::ceil(std::log2(double(width))));
  MLXM_RETURN_IF_ERROR(reserve(n, n_out, width));

  const Meta m = meta_layout(n, n_out, width);
  host_meta_.assign(static_cast<size_t>(m.total), 0);
  int32_t* hm = host_meta_.data();
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
  MLXM_RETURN_IF_ERROR(cuda::copy_async(meta_.data(), hm, static_cast<size_t>(m.total) * 4, st));

  if (use_graphs_ && n <= kMaxGraphTokens) {
    const auto key = std::make_tuple(n, n_out, width, n_tiles);
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
  const TimePoint t0 = now();
  int64_t n_out = 0;
  MLXM_RETURN_IF_ERROR(run_step(batch, &n_out));
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
  const TimePoint t0 = now();
  int64_t n_out = 0;
  MLXM_RETURN_IF_ERROR(run_step(batch, &n_out));
  const cuda::Stream st = stream_.get();
  if (n_out > 0) {
    MLXM_RETURN_IF_ERROR(cuda::argmax_rows(logits_.as<float>(), n_out, config_.vocab_size,
                                           ids_.as<int32_t>(), st));
    MLXM_RETURN_IF_ERROR(cuda::copy_async(host_ids_.data(), ids_.data(),
                                          static_cast<size_t>(n_out) * sizeof(int32_t), st));
  }
  MLXM_RETURN_IF_ERROR(finish_rows(full_rows, t0, st, "CUDA engine forward_argmax", logits));
  const int32_t* hi = static_cast<const int32_t*>(host_ids_.data());
  ids->assign(hi, hi + n_out);
  return ok_status();
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
                                   std::vector<int32_t>* ids, std::vector<float>* logits) {
  const size_t n_rows = batch.logit_rows.size();
  const int32_t vocab = config_.vocab_size;
  MLXM_RETURN_IF_ERROR(check_row_specs(rows, n_rows, vocab));
  // Specs (cuda/row_spec.h) and the flattened adjustments of the sampled rows.
  host_specs_.clear();
  host_adjust_.clear();
  spec_rows_.clear();
  std::vector<int32_t> full_rows;
  for (size_t r = 0; r < n_rows; ++r) {
    const RowSampling& s = rows[r];
    if (s.full) {
      full_rows.push_back(static_cast<int32_t>(r));
      continue;
    }
    if (host_adjust_.size() + s.adjust.size() > static_cast<size_t>(INT32_MAX)) {
      return invalid_argument("forward_sample: too many logit adjustments");
    }
    host_specs_.push_back(device_row_spec(s, static_cast<int32_t>(r), vocab, &host_adjust_));
    spec_rows_.push_back(static_cast<int32_t>(r));
  }
  const TimePoint t0 = now();
  const cuda::Stream st = stream_.get();
  const size_t n_spec = host_specs_.size();
  if (n_spec > 0) {
    // Uploaded before the step: a copy from pageable memory first waits for the stream, which
    // is idle here (every forward* ends synchronised), not behind this step's work.
    MLXM_ASSIGN_OR_RETURN(bool g1, grow(sample_specs_, n_spec * sizeof(cuda::SampleRowSpec)));
    MLXM_ASSIGN_OR_RETURN(bool g2, grow(sample_adjust_, std::max<size_t>(1, host_adjust_.size()) *
                                                             sizeof(cuda::SampleAdjust)));
    (void)g1;
    (void)g2;
    MLXM_RETURN_IF_ERROR(cuda::copy_async(sample_specs_.data(), host_specs_.data(),
                                          n_spec * sizeof(cuda::SampleRowSpec), st));
    if (!host_adjust_.empty()) {
      MLXM_RETURN_IF_ERROR(cuda::copy_async(sample_adjust_.data(), host_adjust_.data(),
                                            host_adjust_.size() * sizeof(cuda::SampleAdjust), st));
    }
  }
  int64_t n_out = 0;
  MLXM_RETURN_IF_ERROR(run_step(batch, &n_out));
  if (n_spec > 0) {
    MLXM_RETURN_IF_ERROR(cuda::sample_rows(logits_.as<float>(), n_out, vocab,
                                           sample_specs_.as<cuda::SampleRowSpec>(),
                                           static_cast<int64_t>(n_spec),
                                           sample_adjust_.as<cuda::SampleAdjust>(),
                                           ids_.as<int32_t>(), st));
    MLXM_RETURN_IF_ERROR(cuda::copy_async(host_ids_.data(), ids_.data(),
                                          n_spec * sizeof(int32_t), st));
  }
  MLXM_RETURN_IF_ERROR(finish_rows(full_rows, t0, st, "CUDA engine forward_sample", logits));
  ids->assign(n_rows, kRowFull);
  const int32_t* hi = static_cast<const int32_t*>(host_ids_.data());
  for (size_t j = 0; j < n_spec; ++j) {
    if (hi[j] == cuda::kSampleBadRow) return internal_error("forward_sample: bad spec row");
    (*ids)[static_cast<size_t>(spec_rows_[j])] = hi[j];
  }
  return ok_status();
}

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
