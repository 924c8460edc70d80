# Sourced (not run) by tools/gpu/check.sh and tools/gpu/variant_build.sh: how the GPU check's
# binaries are compiled and linked without CMake. Needs ROOT (the repository root, the working
# directory), B (the build directory), NVCC, CXX and GENCODE set; EXTRA_FLAGS (optional) goes
# to both compilers (a variant's -D switches). Defines:
#   find_nlohmann            the directory holding nlohmann/json.hpp (NLOHMANN_INCLUDE, else
#                            <root>/.gpu-deps, else /usr/include), nothing when none has it
#   build_flags NL_DIR       sets CXXFLAGS and NVFLAGS
#   CU CPP_LIB CPP_TEST CPP_BENCH   the sources
#   compile_one SRC          SRC -> $B/obj (exported for xargs); obj SRC... its objects
#   link_bin NAME SRC...     $B/NAME from the library objects and those of SRC...
find_nlohmann() {
  local nl
  if [ -n "${NLOHMANN_INCLUDE:-}" ]; then nl=$(cd "$NLOHMANN_INCLUDE" 2>/dev/null && pwd)
  elif [ -f "$ROOT/.gpu-deps/nlohmann/json.hpp" ]; then nl=$ROOT/.gpu-deps
  else nl=/usr/include; fi
  [ -f "${nl:-/nonexistent}/nlohmann/json.hpp" ] && echo "$nl"
}

build_flags() {
  local nlflag=""
  [ "$1" != "/usr/include" ] && nlflag="-I$1"
  CXXFLAGS="-std=c++20 -O2 -DNDEBUG -Wall -Wextra -Wno-restrict -pthread -I$ROOT/tools/gpu/shim -I$ROOT/tools/gpu/minigtest -I$ROOT/src -I$ROOT/tests $nlflag -DMLXM_SOURCE_DIR=\"$ROOT\" -DMLXM_BINARY_DIR=\"$B\" ${EXTRA_FLAGS:-}"
  NVFLAGS="-std=c++20 -O3 -DNDEBUG -gencode=$GENCODE -Xptxas -v -I$ROOT/src ${EXTRA_FLAGS:-}"
  # MLXM_CUDA_TIMELINE=1: the decode attention stamps its phases and the step's kernels
  # record their chain (timeline.cuh) for tools/gpu/attn_timeline.sh; a diagnostic build,
  # not for timings or the tests' verdict.
  [ "${MLXM_CUDA_TIMELINE:-0}" = "1" ] && NVFLAGS="$NVFLAGS -DMLXM_CUDA_TIMELINE"
  export B CXX CXXFLAGS NVCC NVFLAGS
}

# Sources: core pieces without spdlog/fmt (log.h is shimmed), dtype, the CPU kernels (the
# reference), the engine (facade, config, loader, CPU models, sampler, CUDA decoder), the CUDA
# kernels, the tests, the minigtest driver, the benches.
CPP_LIB="src/core/check.cpp src/core/status.cpp src/core/env.cpp src/core/cpu_features.cpp
  src/engine/tensor/dtype.cpp $(ls src/engine/kernels/cpu/*.cpp) $(ls src/engine/*.cpp)
  $(ls src/engine/loader/*.cpp) $(ls src/engine/models/*.cpp) $(ls src/engine/sample/*.cpp)
  src/engine/cuda/cuda_decoder.cpp src/engine/cuda/cuda_decoder_step.cpp
  $(ls src/engine/kernels/cuda/*.cpp 2>/dev/null)"
CPP_TEST="$(ls tests/engine/cuda/*_test.cpp) tools/gpu/minigtest/main.cpp"
CPP_BENCH="bench/cuda/gemv_bench.cpp bench/cuda/engine_bench.cpp bench/cuda/gemm_bench.cpp"
CU="$(ls src/engine/kernels/cuda/*.cu)"

compile_one() {  # src -> obj; ISA flags for *_avx2 / *_avx512 like src/engine/CMakeLists.txt
  local src=$1 obj=$B/obj/$(echo "$1" | tr '/' '_').o extra=""
  case "$src" in
    *_avx512.cpp) extra="-mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx2 -mfma -mf16c" ;;
    *_avx2.cpp) extra="-mavx2 -mfma -mf16c" ;;
  esac
  if [[ "$src" == *.cu ]]; then
    "$NVCC" $NVFLAGS -c "$src" -o "$obj" > "$obj.log" 2>&1
  else
    $CXX $CXXFLAGS $extra -c "$src" -o "$obj" > "$obj.log" 2>&1
  fi
  local rc=$?
  if [ $rc -ne 0 ]; then echo "COMPILE FAIL $src"; cat "$obj.log"; fi
  return $rc
}
export -f compile_one

obj() { for s in "$@"; do echo "$B/obj/$(echo "$s" | tr '/' '_').o"; done; }

link_bin() {
  local name=$1; shift
  "$NVCC" -gencode="$GENCODE" -cudart static -o "$B/$name" $(obj $CU $CPP_LIB "$@") -lpthread -ldl
}
