// Run-time loading of cuBLASLt (cublaslt.h). Plain C++: no CUDA header.
#include "engine/kernels/cuda/cublaslt.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace mlxm::engine::cuda::lt {
namespace {

// Resolves `name` into `*fn`; false (and `*missing` = name) when the library lacks it.
template <typename Fn>
bool resolve(void* lib, const char* name, Fn* fn, std::string* missing) {
  void* p = dlsym(lib, name);
  if (p == nullptr) {
    if (missing->empty()) *missing = name;
    return false;
  }
  *fn = reinterpret_cast<Fn>(p);
  return true;
}

}  // namespace

std::vector<std::string> default_candidates() {
  std::vector<std::string> out = {"libcublasLt.so.13", "libcublasLt.so"};
  const char* env = std::getenv("MLXM_CUBLASLT");
  if (env != nullptr && *env != '\0') out.emplace_back(env);
  return out;
}

Result<Api> load_api(const std::vector<std::string>& candidates) {
  if (candidates.empty()) return unavailable("cuBLASLt: no library to try");
  std::string tried;
  for (const std::string& path : candidates) {
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* err = dlerror();
      tried += "\n  " + path + ": " + (err != nullptr ? err : "dlopen failed");
      continue;
    }
    Api a;
    std::string missing;
    bool ok = true;
    ok &= resolve(lib, "cublasLtCreate", &a.create, &missing);
    ok &= resolve(lib, "cublasLtDestroy", &a.destroy, &missing);
    ok &= resolve(lib, "cublasLtGetVersion", &a.get_version, &missing);
    ok &= resolve(lib, "cublasLtGetStatusName", &a.get_status_name, &missing);
    ok &= resolve(lib, "cublasLtMatmulDescCreate", &a.matmul_desc_create, &missing);
    ok &= resolve(lib, "cublasLtMatmulDescSetAttribute", &a.matmul_desc_set_attribute, &missing);
    ok &= resolve(lib, "cublasLtMatmulDescDestroy", &a.matmul_desc_destroy, &missing);
    ok &= resolve(lib, "cublasLtMatrixLayoutCreate", &a.matrix_layout_create, &missing);
    ok &= resolve(lib, "cublasLtMatrixLayoutDestroy", &a.matrix_layout_destroy, &missing);
    ok &= resolve(lib, "cublasLtMatmulPreferenceCreate", &a.matmul_preference_create, &missing);
    ok &= resolve(lib, "cublasLtMatmulPreferenceSetAttribute",
                  &a.matmul_preference_set_attribute, &missing);
    ok &= resolve(lib, "cublasLtMatmulPreferenceDestroy", &a.matmul_preference_destroy, &missing);
    ok &= resolve(lib, "cublasLtMatmulAlgoGetHeuristic", &a.matmul_algo_get_heuristic, &missing);
    ok &= resolve(lib, "cublasLtMatmul", &a.matmul, &missing);
    if (!ok) {
      dlclose(lib);
      return unavailable("cuBLASLt: " + path + " lacks the symbol " + missing);
    }
    // Kept open for the life of the process (the function pointers point into it).
    a.path = path;
    return a;
  }
  return unavailable("cuBLASLt: no library could be loaded:" + tried);
}

Result<const Lib*> get() {
  static std::once_flag once;
  static Lib lib;
  static Status failure;
  std::call_once(once, [] {
    auto api = load_api(default_candidates());
    if (!api.ok()) {
      failure = api.status();
      return;
    }
    Handle h = nullptr;
    const StatusT s = api->create(&h);
    if (s != kStatusSuccess || h == nullptr) {
      failure = unavailable("cuBLASLt: cublasLtCreate failed (" + api->path + "): " +
                            status_name(*api, s));
      return;
    }
    lib.api = std::move(api).value();
    lib.handle = h;  // never destroyed: used until the process exits
  });
  if (!failure.ok()) return failure;
  return &lib;
}

std::string status_name(const Api& api, StatusT s) {
  std::string out;
  if (api.get_status_name != nullptr) {
    const char* n = api.get_status_name(s);
    if (n != nullptr) out = std::string(n) + " ";
  }
  return out + "(" + std::to_string(s) + ")";
}

}  // namespace mlxm::engine::cuda::lt
