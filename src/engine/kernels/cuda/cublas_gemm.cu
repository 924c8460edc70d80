// The cuBLASLt path of CudaLinear::forward (cublas_gemm.cuh): chunks of weight rows
// dequantized into the caller's scratch (dequant.cu), then one cuBLASLt matmul per chunk.
//
// Plans (matmul descriptor, the three layouts, the heuristic's algorithm) are cached per
// (n, chunk rows, n_in, n_out, operand type, D alignment) in a small process-wide map, so a
// step's ~100 linears do not each pay the heuristic (tens of µs of host time). Cached plans are
// never destroyed (host memory only, a few hundred bytes each); past kMaxPlans shapes a plan is
// made for the call and destroyed after it.
#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "engine/kernels/cuda/cublas_gemm.cuh"
#include "engine/kernels/cuda/cublaslt.h"
#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/cuda_linear.h"
#include "engine/kernels/cuda/dequant.cuh"

namespace mlxm::engine::cuda {
namespace detail {
namespace {

constexpr size_t kMaxPlans = 1024;

struct Plan {
  lt::MatmulDesc desc = nullptr;
  lt::Layout a = nullptr, b = nullptr, d = nullptr;
  lt::MatmulAlgo algo{};
};

// (n, rows, n_in, n_out, f16, D alignment)
using PlanKey = std::tuple<int64_t, int64_t, int64_t, int64_t, bool, uint32_t>;

void destroy_plan(const lt::Api& api, const Plan& p) {
  if (p.d != nullptr) api.matrix_layout_destroy(p.d);
  if (p.b != nullptr) api.matrix_layout_destroy(p.b);
  if (p.a != nullptr) api.matrix_layout_destroy(p.a);
  if (p.desc != nullptr) api.matmul_desc_destroy(p.desc);
}

// Largest power of two (<= 256) dividing the address.
uint32_t alignment_of(const void* p) {
  const uintptr_t v = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 1 && v % a != 0) a /= 2;
  return a;
}

Status lt_error(const lt::Api& api, const char* call, lt::StatusT s, const PlanKey& k) {
  const std::string shape = "n " + std::to_string(std::get<0>(k)) + ", rows " +
                            std::to_string(std::get<1>(k)) + ", n_in " +
                            std::to_string(std::get<2>(k)) + ", n_out " +
                            std::to_string(std::get<3>(k)) + (std::get<4>(k) ? ", f16" : ", bf16");
  std::string msg = std::string("cuBLASLt: ") + call + " failed: " + lt::status_name(api, s) +
                    " (" + shape + ")";
  if (s == lt::kStatusAllocFailed) return resource_exhausted(std::move(msg));
  return internal_error(std::move(msg));
}

#define MLXM_LT_TRY(call, expr)                                   \
  do {                                                            \
    const lt::StatusT _mlxm_lt_st = (expr);                       \
    if (_mlxm_lt_st != lt::kStatusSuccess) {                      \
      destroy_plan(api, p);                                       \
      return lt_error(api, call, _mlxm_lt_st, key);               \
    }                                                             \
  } while (0)

// A new plan: D (rows × n, f32, ld n_out) = Aᵀ·B, A the weight chunk (n_in × rows, col-major),
// B = x (n_in × n).
Result<Plan> make_plan(const lt::Lib& lib, const PlanKey& key) {
  const lt::Api& api = lib.api;
  const auto [n, rows, n_in, n_out, f16, align_d] = key;
  const int op_type = f16 ? lt::kDataR16F : lt::kDataR16BF;
  Plan p;
  MLXM_LT_TRY("cublasLtMatmulDescCreate",
              api.matmul_desc_create(&p.desc, lt::kCompute32F, lt::kDataR32F));
  const int32_t trans_a = lt::kOpT, trans_b = lt::kOpN;
  MLXM_LT_TRY("cublasLtMatmulDescSetAttribute(TRANSA)",
              api.matmul_desc_set_attribute(p.desc, lt::kDescTransA, &trans_a, sizeof(trans_a)));
  MLXM_LT_TRY("cublasLtMatmulDescSetAttribute(TRANSB)",
              api.matmul_desc_set_attribute(p.desc, lt::kDescTransB, &trans_b, sizeof(trans_b)));
  const uint32_t epilogue = lt::kEpilogueDefault;
  MLXM_LT_TRY("cublasLtMatmulDescSetAttribute(EPILOGUE)",
              api.matmul_desc_set_attribute(p.desc, lt::kDescEpilogue, &epilogue,
                                            sizeof(epilogue)));
  const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
  MLXM_LT_TRY("cublasLtMatrixLayoutCreate(A)",
              api.matrix_layout_create(&p.a, op_type, u(n_in), u(rows), n_in));
  MLXM_LT_TRY("cublasLtMatrixLayoutCreate(B)",
              api.matrix_layout_create(&p.b, op_type, u(n_in), u(n), n_in));
  MLXM_LT_TRY("cublasLtMatrixLayoutCreate(D)",
              api.matrix_layout_create(&p.d, lt::kDataR32F, u(rows), u(n), n_out));

  lt::Pref pref = nullptr;
  MLXM_LT_TRY("cublasLtMatmulPreferenceCreate", api.matmul_preference_create(&pref));
  const uint64_t ws = kCublasWorkspaceBytes;
  const uint32_t align_ab = 256;  // scratch offsets are multiples of 256 bytes
  const uint32_t align_cd = align_d;
  lt::StatusT s = api.matmul_preference_set_attribute(pref, lt::kPrefMaxWorkspaceBytes, &ws,
                                                      sizeof(ws));
  if (s == lt::kStatusSuccess) {
    s = api.matmul_preference_set_attribute(pref, lt::kPrefMinAlignmentABytes, &align_ab,
                                            sizeof(align_ab));
  }
  if (s == lt::kStatusSuccess) {
    s = api.matmul_preference_set_attribute(pref, lt::kPrefMinAlignmentBBytes, &align_ab,
                                            sizeof(align_ab));
  }
  if (s == lt::kStatusSuccess) {
    s = api.matmul_preference_set_attribute(pref, lt::kPrefMinAlignmentCBytes, &align_cd,
                                            sizeof(align_cd));
  }
  if (s == lt::kStatusSuccess) {
    s = api.matmul_preference_set_attribute(pref, lt::kPrefMinAlignmentDBytes, &align_cd,
                                            sizeof(align_cd));
  }
  lt::HeuristicResult result{};
  int found = 0;
  if (s == lt::kStatusSuccess) {
    s = api.matmul_algo_get_heuristic(lib.handle, p.desc, p.a, p.b, p.d, p.d, pref, 1, &result,
                                      &found);
  }
  api.matmul_preference_destroy(pref);
  if (s == lt::kStatusNotSupported) {  // no algorithm for this shape or alignment
    destroy_plan(api, p);
    return unimplemented(lt_error(api, "cublasLtMatmulAlgoGetHeuristic", s, key).message());
  }
  MLXM_LT_TRY("cublasLtMatmulAlgoGetHeuristic", s);
  if (found < 1 || result.state != lt::kStatusSuccess) {
    destroy_plan(api, p);
    const Status e = lt_error(api, "cublasLtMatmulAlgoGetHeuristic (no algorithm)",
                              found < 1 ? lt::kStatusNotSupported : result.state, key);
    return unimplemented(e.message());
  }
  if (result.workspaceSize > kCublasWorkspaceBytes) {
    destroy_plan(api, p);
    return internal_error("cuBLASLt: the chosen algorithm wants " +
                          std::to_string(result.workspaceSize) + " workspace bytes");
  }
  p.algo = result.algo;
  return p;
}

#undef MLXM_LT_TRY

struct PlanCache {
  std::mutex mu;
  std::map<PlanKey, Plan> plans;
};
PlanCache& plan_cache() {
  static PlanCache* c = new PlanCache();  // never destroyed: plans outlive static teardown
  return *c;
}

// The cached plan for `key`, made on the first use. *owned: the plan was not cached (the cache
// is full) and the caller destroys it.
Result<Plan> get_plan(const lt::Lib& lib, const PlanKey& key, bool* owned) {
  PlanCache& c = plan_cache();
  *owned = false;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.plans.find(key);
    if (it != c.plans.end()) return it->second;
  }
  MLXM_ASSIGN_OR_RETURN(Plan p, make_plan(lib, key));
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.plans.find(key);
  if (it != c.plans.end()) {  // made by another thread meanwhile
    destroy_plan(lib.api, p);
    return it->second;
  }
  if (c.plans.size() >= kMaxPlans) {
    *owned = true;
    return p;
  }
  c.plans.emplace(key, p);
  return p;
}

// x rounded once, then per chunk of rows: dequantize, matmul; the bias after the last chunk.
Status enqueue_chunks(const lt::Lib& lib, const CublasArgs& a, int64_t chunk, const Plan& full,
                      const PlanKey& key_full, const Plan& tail, const PlanKey& key_tail,
                      cudaStream_t stream) {
  auto* base = static_cast<char*>(a.scratch);
  void* workspace = base;
  void* xo = base + kCublasWorkspaceBytes;
  void* wchunk = base + kCublasWorkspaceBytes + cublas_x_bytes(a.n, a.n_in);
  const float alpha = 1.0f, beta = 0.0f;
  MLXM_RETURN_IF_ERROR(
      launch_round_operand(a.x, xo, static_cast<int64_t>(a.n) * a.n_in, a.f16, stream));
  for (int64_t r0 = 0; r0 < a.n_out; r0 += chunk) {
    const int64_t r1 = std::min<int64_t>(a.n_out, r0 + chunk);
    const bool is_full = r1 - r0 == chunk;
    const Plan& p = is_full ? full : tail;
    MLXM_RETURN_IF_ERROR(launch_dequant_rows(a.w, a.sb, a.n_out, a.n_in, a.bits, a.group_size,
                                             a.f16, r0, r1, wchunk, stream));
    float* d = a.y + r0;
    const lt::StatusT s = lib.api.matmul(lib.handle, p.desc, &alpha, wchunk, p.a, xo, p.b, &beta,
                                         d, p.d, d, p.d, &p.algo, workspace,
                                         kCublasWorkspaceBytes, stream);
    if (s != lt::kStatusSuccess) {
      return lt_error(lib.api, "cublasLtMatmul", s, is_full ? key_full : key_tail);
    }
  }
  if (a.bias != nullptr) return launch_add_bias(a.y, a.bias, a.n, a.n_out, stream);
  return ok_status();
}

}  // namespace

size_t cublas_x_bytes(int64_t n, int64_t n_in) {
  return (static_cast<size_t>(n) * static_cast<size_t>(n_in) * 2 + 255) / 256 * 256;
}

int64_t cublas_chunk_rows(int64_t n, int64_t n_out, int64_t n_in, size_t scratch_bytes) {
  const size_t front = kCublasWorkspaceBytes + cublas_x_bytes(n, n_in);
  if (scratch_bytes <= front || n_in <= 0) return 0;
  const size_t row_bytes = static_cast<size_t>(n_in) * 2;
  const int64_t fit = static_cast<int64_t>((scratch_bytes - front) / row_bytes);
  if (fit >= n_out) return n_out;
  return fit / 64 * 64;
}

Status launch_cublas_linear(const CublasArgs& a, cudaStream_t stream) {
  if (a.bits != 4 && a.bits != 8) return invalid_argument("cublas linear: 4 or 8 bits only");
  if (a.n <= 0) return ok_status();
  if (a.n_in % 32 != 0) return invalid_argument("cublas linear: n_in must be a multiple of 32");
  const int64_t chunk = cublas_chunk_rows(a.n, a.n_out, a.n_in, a.scratch_bytes);
  if (a.scratch == nullptr || reinterpret_cast<uintptr_t>(a.scratch) % 256 != 0 || chunk <= 0) {
    return invalid_argument(
        "CudaLinear::forward: cublas_scratch must be 256-byte aligned and hold " +
        std::to_string(cublas_scratch_size(a.n, a.n_in,
                                           static_cast<size_t>(std::min<int64_t>(a.n_out, 64)) *
                                               static_cast<size_t>(a.n_in) * 2)) +
        " bytes (has " + std::to_string(a.scratch_bytes) + ")");
  }
  MLXM_ASSIGN_OR_RETURN(const lt::Lib* lib, lt::get());
  const lt::Api& api = lib->api;

  // Plans for the full chunk and the tail, before anything is enqueued.
  const int64_t tail = a.n_out % chunk;
  const uint32_t align_full = alignment_of(a.y);  // chunk starts are multiples of 64 rows
  const PlanKey key_full{a.n, chunk, a.n_in, a.n_out, a.f16, align_full};
  bool own_full = false, own_tail = false;
  MLXM_ASSIGN_OR_RETURN(const Plan full, get_plan(*lib, key_full, &own_full));
  Plan tail_plan;
  PlanKey key_tail{};
  if (tail != 0 && a.n_out > chunk) {
    key_tail = PlanKey{a.n, tail, a.n_in, a.n_out, a.f16, alignment_of(a.y + (a.n_out - tail))};
    auto t = get_plan(*lib, key_tail, &own_tail);
    if (!t.ok()) {
      if (own_full) destroy_plan(api, full);
      return t.status();
    }
    tail_plan = std::move(t).value();
  }

  const Status st = enqueue_chunks(*lib, a, chunk, full, key_full, tail_plan, key_tail, stream);
  if (own_full) destroy_plan(api, full);
  if (own_tail) destroy_plan(api, tail_plan);
  return st;
}

}  // namespace detail

size_t cublas_scratch_size(int64_t n, int64_t n_in, size_t weight_bytes) {
  return kCublasWorkspaceBytes + detail::cublas_x_bytes(n, n_in) + weight_bytes;
}

Status cublaslt_status() {
  auto lib = lt::get();
  return lib.ok() ? ok_status() : lib.status();
}

}  // namespace mlxm::engine::cuda
