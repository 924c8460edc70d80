// Linear layers on the GPU: y = x · Wᵀ (+ b) for the weight formats of PackedLinear
// (engine/kernels/cpu/linear.h): dense F32/F16/BF16 and MLX affine 2..8 bits, group 32/64/128.
// CUDA-free header.
//
// Device layout (made by upload()): MLX codes exactly as stored (u32 words, row-major,
// n_in*bits/32 words per row: for 4 and 8 bits every row is a whole number of 16-byte
// chunks); scales and biases interleaved per group as (scale, bias) pairs in the model dtype,
// (n_out, n_groups, 2), so one 4-byte load brings both; the optional bias as f32.
//
// Kernels: 4/8-bit with F16/BF16 scales take the fused dequantize-GEMV ("fast path":
// 16-byte loads, 4 rows per warp, split-K across the warps of a block, f32 accumulation) for
// few rows (or, with ForwardOptions::gemv_i8 and a scratch buffer, the int8-activation dp4a
// GEMV of gemv_i8.cu), and a tensor-core GEMM (gemm.cu: weight tiles dequantized into shared
// memory in the scales' dtype, activations rounded to it, f32 accumulation) from
// `gemm_min_rows` rows on, and from `cublas_min_rows` on, given a scratch, cuBLASLt on weights
// dequantized the same way (cublas_gemm.cuh); everything else takes a plain warp-per-row kernel
// (correct, not fast).
// Thread-safety: the weights are immutable after upload(), and forward() may be called from
// several threads on different streams, with one exception: a call that takes the bulk GEMV
// with more 4-row groups than its consumer warps hands the groups out by the layer's own
// counter (GemvI8Args::ticket), so two such calls on one layer must not run at the same time.
// The engine runs each layer on one stream, one call after the other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/status.h"
#include "engine/kernels/cpu/linear.h"
#include "engine/kernels/cpu/ops.h"  // KvLayerView
#include "engine/kernels/cuda/cuda_runtime_api.h"
#include "engine/kernels/cuda/split_k.h"
#include "engine/tensor/dtype.h"

namespace mlxm::engine::cuda {

// ForwardOptions::rope_store: what qkv_rope_store (cuda_ops.h) would do after a fused q/k/v
// projection without q/k norms.
struct RopeStore {
  const int32_t* positions = nullptr;  // (n) device
  const float* inv_freq = nullptr;     // (head_dim/2) device, scaling applied
  const int32_t* slots = nullptr;      // (n) device; negative or past the cache: not stored
  KvLayerView kv;                      // the layer's paged cache (F16, BF16 or F32)
  float* q_out = nullptr;              // (n, n_heads, head_dim) roped q
  int n_heads = 0;
  // Optional (block_tables null: none): a decode step's rows are its sequences, and the GEMV
  // brings the K/V blocks their attention will read into L2 while it waits for x (L2
  // prefetches of the lines of each row's context blocks, before pdl::wait()). A hint: read
  // before the step's inputs are ready, block ids bounds-checked; a stale guess costs
  // bandwidth only.
  const int32_t* block_tables = nullptr;  // (n, max_blocks) device
  const int32_t* context_lens = nullptr;  // (n) device
  int max_blocks = 0;
};

// Default row count from which forward() takes the tensor-core GEMM (fast formats only).
inline constexpr int kDefaultGemmMinRows = 5;
// The same when GEMV rows take the int8-activation GEMV (ForwardOptions::gemv_i8 with a
// scratch): 9, every row count the GEMV takes. The bulk-copied stream GEMV with its own kernel
// per row count beats the batched-decode GEMM at 5-8 rows (decode tok/s, bench/NOTES.md run
// 161: 3B 2,762 / 1,753 at 5 rows, 2,535 / 2,196 at 8; 8B 1,527 / 927 at 5, 1,678 / 1,384 at
// 8). It was 5 from the decode GEMM (run 28, against the int8 GEMV of then) to run 161.
inline constexpr int kDefaultGemmMinRowsI8 = 9;
// Default row count from which forward() takes the cuBLASLt path (fast formats, with a
// ForwardOptions::cublas_scratch and cuBLASLt loadable; cublas_gemm.cuh).
inline constexpr int kDefaultCublasMinRows = 256;
// The cuBLASLt workspace at the front of the cuBLASLt scratch (H100/H200 want >= 32 MiB for
// their best algorithms).
inline constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;
// Room for dequantized weight rows the engine gives the cuBLASLt path: 8192 rows of 4096 inputs.
inline constexpr size_t kCublasWeightBytes = size_t{64} << 20;

// Which GEMM 4-bit calls of 1..64 rows take (the rows the GEMM gets; ForwardOptions::gemm_decode):
// kAuto: the batched-decode GEMM (gemm_decode.cu) when a workspace is given and it measured
// faster (the layer gives it at least one block per SM; above 32 rows at least one 128-row
// tile per SM), else the 64x64 GEMM; kOff: always the 64x64 GEMM; kAlways: the decode GEMM
// whenever a large enough workspace is given (tests).
enum class GemmDecode { kOff, kAuto, kAlways };

// Optional inputs of CudaLinear::forward.
struct ForwardOptions {
  // Device f32 scratch for the GEMM's split-K partial sums (kz·n·n_out floats, kz ≤ 16);
  // null: no split-K. Not read across calls; one per stream.
  float* workspace = nullptr;
  size_t workspace_floats = 0;
  // Fast formats: n >= gemm_min_rows takes the GEMM (f16/bf16 operands), fewer rows the f32
  // GEMV (8 rows per launch). 1 = always GEMM, INT32_MAX-ish = never.
  int gemm_min_rows = kDefaultGemmMinRows;
  // GEMM rows of 4-bit layers, n <= 64: see GemmDecode. The decode GEMM keeps its rounded x
  // (64·n_in·2 bytes) at the head of `workspace`, split-K partial sums after it.
  GemmDecode gemm_decode = GemmDecode::kAuto;
  // With gemm_x_ready the decode GEMM reads x in its form from `gemm_x` instead (a producer
  // kernel wrote it: cuda_ops.h XTarget in the GEMM's form, same n rows, this layer's n_in and
  // scale dtype; at least gemm_x_bytes(n_in) bytes, 16-byte aligned, n_in % 64 == 0, else
  // forward() fails with kInvalidArgument) and x is not read; calls the decode GEMM does not
  // take read x as always. Not read across calls; one per stream.
  void* gemm_x = nullptr;
  size_t gemm_x_bytes = 0;
  bool gemm_x_ready = false;
  // Fast formats, GEMV rows: int8 activations (x quantized per 32 values into
  // `gemv_scratch`, dp4a dot products; gemv_i8.cu) or the f32 GEMV. The int8 GEMV runs when
  // gemv_i8 is set and gemv_scratch is given; a null scratch means the f32 GEMV. The scratch
  // must hold gemv_i8_scratch_bytes(n_in) bytes, 16-byte aligned (else forward() fails with
  // kInvalidArgument); not read across calls; one per stream.
  bool gemv_i8 = true;
  void* gemv_scratch = nullptr;
  size_t gemv_scratch_bytes = 0;
  // The int8 GEMV's x is already quantized in gemv_scratch (a producer kernel wrote it:
  // cuda_ops.h XTarget, same n rows, this layer's n_in and bits); x is not read. Only for
  // calls that take the int8 GEMV with n <= 8 (else forward() fails with kInvalidArgument).
  bool gemv_x_ready = false;
  // The int8 GEMV as a weight stream (persistent warps, a cp.async ring of weight steps per
  // warp; gemv_stream.cu) instead of gemv_i8_kernel. Rows bit-identical alone or in a batch
  // within either kernel, not across them.
  bool gemv_stream = true;
  // The stream GEMV's weights brought by the bulk copy engine (gemv_bulk.cu: one producer warp
  // per block, the other warps only compute) where n_in is a multiple of 4·group_size, on
  // sm_90+ devices (uses_gemv_bulk); rows bit-identical to the stream GEMV's. Off by default
  // here; the engine turns it on.
  bool gemv_bulk = false;
  // That bulk GEMV copies its weights with an L2 evict_first policy: read once per decode
  // step (far more bytes than L2 holds), they are then the first lines L2 gives up, not the
  // ones read again (the K/V lines prefetched for the attention, activations, partial sums).
  // Values are unchanged. Off by default here; the engine turns it on.
  bool weights_evict_first = false;
  // That bulk GEMV with 4 ring slots per consumer warp instead of 3 (dynamic shared memory,
  // 3 blocks per SM instead of 4) where a layer's rows are long and its groups few
  // (uses_gemv_bulk_deep: 8B's and 3B's down projections): more of a warp's pieces are in
  // flight before the kernel's wait. Rows unchanged. Off by default here; the engine turns
  // it on.
  bool gemv_bulk_deep = false;
  // A fused q/k/v projection's stream GEMV also ropes q into rope_store->q_out and k, v into
  // the paged cache (qkv_rope_store's work, without q/k norms) in its epilogue; y is written
  // as always. Only for calls that take the stream GEMV with n <= 8, n_out = (n_heads +
  // 2·n_kv_heads)·head_dim, head_dim a multiple of 4 up to 256; else forward() fails with
  // kInvalidArgument. Null: none.
  const RopeStore* rope_store = nullptr;
  // Fast formats, n >= cublas_min_rows rows with a cublas_scratch: W dequantized in chunks of
  // rows to the scales' dtype into the scratch, x rounded to it once, one cuBLASLt matmul per
  // chunk (f32 accumulation and output). The scratch: 256-byte aligned, at least
  // cublas_scratch_size(n, n_in, min(n_out, 64)·n_in·2) bytes (else forward() fails with
  // kInvalidArgument); more room for weight rows means fewer chunks. Not read across calls;
  // one per stream. Without cuBLASLt (cublaslt_status() not ok) the tensor-core GEMM runs.
  int cublas_min_rows = kDefaultCublasMinRows;
  void* cublas_scratch = nullptr;
  size_t cublas_scratch_bytes = 0;
  // Set: a split-K GEMM call without a bias skips its reduce and leaves y as its partial sums
  // in `workspace` (valid until the next call given this workspace), described here for the
  // consumer kernel (split_k.h); every other call writes y and sets {y, {1, 0}}.
  SplitKOutput* split_k_out = nullptr;
};

// Bytes of ForwardOptions::cublas_scratch for n rows of n_in inputs with `weight_bytes` of room
// for dequantized weight rows: kCublasWorkspaceBytes + x in 16 bits (rounded up to 256) +
// weight_bytes.
size_t cublas_scratch_size(int64_t n, int64_t n_in, size_t weight_bytes = kCublasWeightBytes);

// Ok when cuBLASLt is loaded and initialised in this process (loads it on the first call);
// else kUnavailable naming what failed (the libraries tried, the missing symbol, cublasLtCreate).
Status cublaslt_status();

// Device scratch bytes the int8 GEMV needs for layers with `n_in` inputs (any row count).
size_t gemv_i8_scratch_bytes(int64_t n_in);
// Bytes of ForwardOptions::gemm_x for inputs of n_in values: 64 rows of n_in rounded up to 64,
// 16-bit values.
size_t gemm_x_bytes(int64_t n_in);

class CudaLinear {
 public:
  // Validates `src` like PackedLinear::pack (same messages) and copies it to the device.
  static Result<CudaLinear> upload(const LinearSource& src);
  // Benchmarks: a quantized layer with random codes, scales ≈ 0.02·15/(2^bits-1) and biases
  // ≈ -scale·2^(bits-1), generated on the device (fast for GB-sized weight sets).
  static Result<CudaLinear> random(int64_t n_out, int64_t n_in, int bits, int group_size,
                                   DType dtype, uint64_t seed);

  CudaLinear();
  ~CudaLinear();
  CudaLinear(CudaLinear&&) noexcept;
  CudaLinear& operator=(CudaLinear&&) noexcept;

  int64_t n_out() const;
  int64_t n_in() const;
  int bits() const;  // 0 for dense
  int group_size() const;
  DType dtype() const;
  bool fast_path() const;  // forward() uses the fused 4/8-bit GEMV
  // Device bytes one forward pass reads over all rows: weights + scales + biases.
  size_t bytes() const;

  // y (n, n_out) = x (n, n_in) · Wᵀ (+ bias), f32 device pointers, enqueued on `stream`.
  // REQUIRES x 16-byte aligned (checked). GEMV: rows 8 at a time per launch; GEMM: one launch
  // (plus a split-K reduction), see ForwardOptions.
  Status forward(const float* x, int64_t n, float* y, Stream stream = nullptr,
                 const ForwardOptions& opt = {}) const;
  // True when forward(…, n, …, opt) takes the tensor-core GEMM.
  bool uses_gemm(int64_t n, const ForwardOptions& opt = {}) const;
  // True when forward(…, n, …, opt) takes the cuBLASLt path (loads cuBLASLt on the first call
  // that could take it). Should cuBLASLt have no algorithm for the shape, forward() finds out
  // before enqueuing anything and runs the tensor-core GEMM (or, below gemm_min_rows, the GEMV).
  bool uses_cublas(int64_t n, const ForwardOptions& opt = {}) const;
  // True when forward(…, n, …, opt) takes the batched-decode GEMM (where
  // ForwardOptions::gemm_x_ready may be given).
  bool uses_gemm_decode(int64_t n, const ForwardOptions& opt = {}) const;
  // True when forward(…, n, …, opt) takes the int8-activation GEMV.
  bool uses_gemv_i8(int64_t n, const ForwardOptions& opt = {}) const;
  // Whether forward(n rows, opt) takes the stream GEMV (where ForwardOptions::rope_store may
  // be given).
  bool uses_gemv_stream(int64_t n, const ForwardOptions& opt = {}) const;
  // Whether that stream GEMV gets its weights by bulk copies (ForwardOptions::gemv_bulk and
  // n_in a multiple of 4·group_size).
  bool uses_gemv_bulk(int64_t n, const ForwardOptions& opt = {}) const;
  // Whether that bulk GEMV runs with 4-slot rings (ForwardOptions::gemv_bulk_deep, no RoPE
  // epilogue, and a layer shape detail::gemv_bulk_deep_fits takes).
  bool uses_gemv_bulk_deep(int64_t n, const ForwardOptions& opt = {}) const;
  // Ok when forward(n rows, opt) can take `r` as ForwardOptions::rope_store (else the
  // kInvalidArgument forward() would return).
  Status check_rope_store(const RopeStore& r, int64_t n, const ForwardOptions& opt) const;

  // Embedding lookup: out (n, n_in) = rows ids[i] of W dequantized to f32 (every format), ids
  // a device int32 (n) array. With prev_ids (device int32), a negative ids[i] stands for
  // prev_ids[-1 - ids[i]] (Engine::submit's previous_row_token; the caller bounds the index).
  // An id outside [0, n_out) gives a NaN row (never read out of bounds).
  Status gather_rows(const int32_t* ids, int64_t n, float* out, Stream stream = nullptr,
                     const int32_t* prev_ids = nullptr) const;

 private:
  struct Impl;
  Status prepare_bulk();  // the bulk GEMV's counter, after the weights are uploaded
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlxm::engine::cuda
