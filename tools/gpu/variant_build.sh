#!/usr/bin/env bash
# A variant of check.sh's build for an A/B on the GPU machine without building there: the
# objects of check.sh's build (MLXM_CHECK_BUILD_DIR, default build-gpucheck; made with
# MLXM_CHECK_BUILD_ONLY=1) with UNIT... recompiled with FLAGS added (-D switches), linked into
# build-NAME/bench_cuda_engine, build-NAME/engine_cuda_tests and build-NAME/bench_cuda_gemm.
# ~20 s per CUDA unit on the development machine's 2 cores, against ~160 s for the whole build.
# Usage: bash tools/gpu/variant_build.sh NAME "FLAGS" [UNIT...]
#   UNIT: a source under the root (default src/engine/kernels/cuda/gemv_bulk.cu); name every
#   unit that a changed header or switch reaches. Env: NVCC, CXX, MLXM_CUDA_GENCODE and
#   MLXM_CUDA_TIMELINE=1 as check.sh (a timeline variant needs a timeline base).
# Then carry both builds' binaries (a gzipped tar: ~3.5 MB per binary) and compare them in one
# call: bash tools/gpu/ab_decode.sh llama-3.1-8b "@build-gpucheck -" "@build-NAME -".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
[ $# -ge 2 ] || { sed -n '2,12p' "$0"; exit 2; }
NAME=$1 EXTRA_FLAGS=$2
shift 2
UNITS=("$@")
[ ${#UNITS[@]} -gt 0 ] || UNITS=(src/engine/kernels/cuda/gemv_bulk.cu)
BASE=$ROOT/${MLXM_CHECK_BUILD_DIR:-build-gpucheck}
if [ ! -d "$BASE/obj" ]; then
  echo "variant_build.sh: $BASE/obj missing (first: MLXM_CHECK_BUILD_ONLY=1 bash tools/gpu/check.sh)"
  exit 1
fi
B=$ROOT/build-$NAME
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
CXX=${CXX:-g++}
GENCODE=${MLXM_CUDA_GENCODE:-arch=compute_90,code=sm_90}
source "$ROOT/tools/gpu/build_lib.sh"
NL=$(find_nlohmann)
[ -n "$NL" ] || { echo "variant_build.sh: nlohmann/json.hpp not found (see check.sh)"; exit 1; }
build_flags "$NL"
mkdir -p "$B/obj"
cp -p "$BASE"/obj/*.o "$B/obj/"
for u in "${UNITS[@]}"; do
  [ -f "$u" ] || { echo "variant_build.sh: no unit $u"; exit 1; }
  compile_one "$u" || exit 1
done
link_bin bench_cuda_engine bench/cuda/engine_bench.cpp || exit 1
link_bin engine_cuda_tests $CPP_TEST || exit 1
link_bin bench_cuda_gemm bench/cuda/gemm_bench.cpp || exit 1
echo "variant_build.sh: $B/bench_cuda_engine, $B/engine_cuda_tests, $B/bench_cuda_gemm (${UNITS[*]}" \
  "with: $EXTRA_FLAGS)"
