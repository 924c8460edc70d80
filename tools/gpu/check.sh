#!/usr/bin/env bash
# GPU check of the CUDA backend (issue 9): builds the kernels, the engine (config, loader,
# models, the CUDA decoder), their tests and two benchmarks with nvcc + g++ alone (no CMake
# packages: the GPU machine lacks our Debian -dev packages), runs the tests, the end-to-end
# engine benchmark (make_model llama-3.2-1b / llama-3.1-8b q4, decode and prefill tok/s), then
# the GEMV benchmark. Logs and a CSV go to $OUT (or build-gpucheck/out when OUT is unset).
# Usage, from anywhere:
#   bash tools/gpu/check.sh [--quick]      (--quick: GEMV bench n = 1 and 8 only)
# nlohmann-json (needed by the loader) comes from NLOHMANN_INCLUDE (a directory holding
# nlohmann/json.hpp), else <repo>/.gpu-deps, else /usr/include. Before a run on the GPU machine:
#   mkdir -p .gpu-deps && cp -r /usr/include/nlohmann .gpu-deps/ && \
#     (grep -qx .gpu-deps .git/info/exclude || echo .gpu-deps >> .git/info/exclude)
# and carry .gpu-deps (it is git-ignored).
# Exit status: 0 when the build, every test and every engine-bench run passed (times never fail
# the run; a bench run cut by its time limit is reported as TIMEOUT, not as a failure).
# Env: MLXM_CUDA_GENCODE (default arch=compute_90,code=sm_90), NVCC, CXX, JOBS,
#      MLXM_ENGINE_BENCH=0 (skip the engine bench), MLXM_GEMV_BENCH=0 (skip the GEMV bench),
#      MLXM_GEMM_BENCH=0 (skip the GEMM bench; MLXM_GEMM_BENCH_AB=1: again with
#      MLXM_CUDA_GEMM_DECODE=off / always into gemm_64x64.log / gemm_decode.log), MLXM_ENGINE_SET=ab (default: defaults vs
#      MLXM_CUDA_FUSE=0 MLXM_CUDA_FLASH_PREFILL=0, host vs device argmax at batch 64) or argmax
#      (every model with --argmax device) or kernels (device argmax; i8 vs f32 GEMV, GEMM
#      configurations and device vs host sampling at batch 64) or pdl (PDL + L2 prefetch vs
#      MLXM_CUDA_PDL=0 per model; batch 8 with the GEMM from 5 vs 9 rows) or quant (producers
#      quantizing for the int8 GEMV vs MLXM_CUDA_FUSE_QUANT=0; prefill on cuBLASLt vs the GEMM)
#      or gemm (the decode GEMM vs MLXM_CUDA_GEMM_DECODE=off: 8B at 16/32/64 sequences, 3B at
#      64; 8B at 8 sequences on the GEMM vs the int8 GEMV; 8B and 3B at batch 1),
#      MLXM_ENGINE_3B=0 (no 3B runs),
#      MLXM_TEST_TIMEOUT_S (240: the GPU test binary's limit),
#      MLXM_CUDA_TIMELINE=1 (the decode attention's phase stamps and the step's kernel chain,
#        for tools/gpu/attn_timeline.sh),
#      MLXM_CHECK_BUILD_DIR (the build directory under the root; default build-gpucheck),
#      MLXM_CHECK_BUILD_ONLY=1 (build, then stop: binaries to carry to the GPU machine).
#      tools/gpu/profile_decode.sh afterwards: per-kernel time of eager decode steps (ncu).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
QUICK=""
[ "${1:-}" = "--quick" ] && QUICK="--quick"
# MLXM_CHECK_BUILD_DIR (a directory name under the root, default build-gpucheck): another
# build beside the default one, e.g. a timeline build next to the plain one in the same call
# (give each its own OUT too).
B=$ROOT/${MLXM_CHECK_BUILD_DIR:-build-gpucheck}
OUT=${OUT:-$B/out}
mkdir -p "$OUT" "$B/obj"
LOG=$OUT/check.log
: > "$LOG"
say() { echo "$*" | tee -a "$LOG"; }
T0=$(date +%s)

NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
CXX=${CXX:-g++}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
GENCODE=${MLXM_CUDA_GENCODE:-arch=compute_90,code=sm_90}

say "== environment"
{ uname -a; "$NVCC" --version | tail -2; "$CXX" --version | head -1; cmake --version 2>/dev/null | head -1
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv 2>&1 || true
} 2>&1 | tee -a "$LOG"
if [ ! -x "$NVCC" ]; then say "FAIL: nvcc not found (set NVCC)"; exit 1; fi
if ! echo 'int main(){}' | "$CXX" -std=c++20 -x c++ - -o /dev/null 2>>"$LOG"; then
  say "FAIL: $CXX cannot compile C++20"; exit 1
fi

source "$ROOT/tools/gpu/build_lib.sh"
NL=$(find_nlohmann)
if [ -z "$NL" ]; then
  say "FAIL: nlohmann/json.hpp not found (NLOHMANN_INCLUDE=${NLOHMANN_INCLUDE:-unset}, .gpu-deps, /usr/include);"
  say "      on the dev machine: mkdir -p .gpu-deps && cp -r /usr/include/nlohmann .gpu-deps/ and carry .gpu-deps"
  exit 1
fi
say "nlohmann-json: $NL/nlohmann"
build_flags "$NL"

say "== build ($JOBS jobs, $GENCODE)"
rm -f "$B"/engine_cuda_tests "$B"/bench_cuda_gemv "$B"/bench_cuda_engine "$B"/bench_cuda_gemm
# .cu first (slowest), everything in parallel.
if ! printf '%s\n' $CU $CPP_LIB $CPP_TEST $CPP_BENCH | xargs -P "$JOBS" -I{} bash -c 'compile_one {}' 2>&1 | tee -a "$LOG"; then
  :
fi
for s in $CU $CPP_LIB $CPP_TEST $CPP_BENCH; do
  if [ ! -f "$(obj "$s")" ]; then say "FAIL: build ($s did not compile; see above)"; exit 1; fi
done
cat $(obj $CU | sed 's/$/.log/') > "$OUT/ptxas.txt"
grep -h "spill\|Used" "$OUT/ptxas.txt" | sort | uniq -c | sort -rn | head -5 | tee -a "$LOG"
link_bin engine_cuda_tests $CPP_TEST 2>&1 | tee -a "$LOG"
link_bin bench_cuda_gemv bench/cuda/gemv_bench.cpp 2>&1 | tee -a "$LOG"
link_bin bench_cuda_engine bench/cuda/engine_bench.cpp 2>&1 | tee -a "$LOG"
link_bin bench_cuda_gemm bench/cuda/gemm_bench.cpp 2>&1 | tee -a "$LOG"
for bin in engine_cuda_tests bench_cuda_gemv bench_cuda_engine bench_cuda_gemm; do
  if [ ! -x "$B/$bin" ]; then say "FAIL: link of $bin"; exit 1; fi
done
say "build: $(( $(date +%s) - T0 )) s"
# MLXM_CHECK_BUILD_ONLY=1: stop here. On the development machine (nvcc, no GPU) this builds
# the binaries to carry to the GPU machine, whose calls then run them without building.
[ "${MLXM_CHECK_BUILD_ONLY:-0}" = "1" ] && exit 0

# cuBLASLt (dlopen()ed by the prefill linears, kernels/cuda/cublaslt.h): the loader's path, the
# toolkit's lib64, or the pip package nvidia-cublas; its directory goes on LD_LIBRARY_PATH.
CUBLAS_DIR=""
if ldconfig -p 2>/dev/null | grep -q "libcublasLt\.so\.13 "; then
  CUBLAS_DIR="(ldconfig) $(ldconfig -p | grep -m1 "libcublasLt\.so\.13 " | sed 's/.*=> //')"
else
  for d in "$(dirname "$NVCC")/../lib64" /usr/local/cuda/lib64 \
           "$(python3 -c 'import nvidia.cublas as m; print(list(m.__path__)[0])' 2>/dev/null)/lib" \
           "$(python3 -c 'import nvidia as m; print(list(m.__path__)[0])' 2>/dev/null)/cu13/lib"; do
    if [ -f "$d/libcublasLt.so.13" ]; then
      d=$(cd "$d" && pwd)
      export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      CUBLAS_DIR="$d/libcublasLt.so.13"
      break
    fi
  done
fi
say "cuBLASLt: ${CUBLAS_DIR:-NOT FOUND (the cuBLASLt tests will fail)}"

say "== tests"
timeout "${MLXM_TEST_TIMEOUT_S:-240}" "$B/engine_cuda_tests" 2>&1 | tee "$OUT/tests.log"
TEST_RC=${PIPESTATUS[0]}
grep -E "^\[  (FAILED|SKIPPED) \]|passed, .* failed|worst|INFO|^\[ cuda" "$OUT/tests.log" >> "$LOG"
if [ "$TEST_RC" -eq 0 ] && grep -q " 0 failed" "$OUT/tests.log"; then
  if grep -q "SKIPPED \]" "$OUT/tests.log"; then
    # On the GPU machine a skip means the device was not usable: that is a failure here.
    if [ "${MLXM_ALLOW_SKIP:-0}" = "1" ]; then TESTS="PASS (with skips)"; else
      TESTS="FAIL (tests skipped: $(grep -m1 -o 'no CUDA device.*' "$OUT/tests.log"))"; fi
  else
    TESTS="PASS"
  fi
else
  TESTS="FAIL (exit $TEST_RC)"
fi
say "tests: $TESTS"

say "tests: $(( $(date +%s) - T0 )) s"

# End-to-end engine: make_model writes the model (vocab 128256) into a temp dir, Engine::load
# with --device cuda, then prefill and decode. The 8B model is reused for the batch-64 run.
ENGINE="skipped"
if [ "${MLXM_ENGINE_BENCH:-1}" != "0" ]; then
  say "== engine bench"
  ENGINE="ok"
  # MLXM_KEEP_MODELS=DIR: make the models in DIR and keep them (profile_decode.sh MODEL_DIR=DIR/8b).
  MD=${MLXM_KEEP_MODELS:-$(mktemp -d "${TMPDIR:-/tmp}/mlxm_gpucheck_XXXXXX")}
  mkdir -p "$MD"
  drop() { [ -n "${MLXM_KEEP_MODELS:-}" ] || rm -rf "$@"; }
  : > "$OUT/engine_bench.log"
  run_engine() {  # limit_s name args...  (env for the bench: ENGINE_ENV="A=1 B=0")
    local limit=$1; shift; local name=$1; shift
    # Never run past budget + 40 s (the whole script must stay under 6 minutes).
    local left=$(( ${MLXM_CHECK_BUDGET_S:-300} + 40 - ($(date +%s) - T0) ))
    [ "$left" -lt "$limit" ] && limit=$left
    if [ "$limit" -lt 20 ]; then
      say "engine $name: SKIPPED (script time budget used up)"; return 0; fi
    echo "== $name ${ENGINE_ENV:-}" >> "$OUT/engine_bench.log"
    env ${ENGINE_ENV:-} timeout "$limit" "$B/bench_cuda_engine" "$@" >> "$OUT/engine_bench.log" 2>&1
    local rc=$?
    if [ $rc -eq 124 ]; then say "engine $name: TIMEOUT after $limit s"
    elif [ $rc -ne 0 ]; then say "engine $name: FAIL (exit $rc)"; ENGINE="FAIL"
    else echo "[$name${ENGINE_ENV:+ $ENGINE_ENV}] $(grep "^llama" "$OUT/engine_bench.log" | tail -1)" | tee -a "$LOG"; fi
  }
  # Each model once with the defaults (fused kernels, flash prefill attention) and once with
  # the separate kernels (MLXM_CUDA_FUSE=0 MLXM_CUDA_FLASH_PREFILL=0: the previous step layout);
  # batch 64 with the host argmax and with Engine::forward_argmax (device argmax).
  SEP="MLXM_CUDA_FUSE=0 MLXM_CUDA_FLASH_PREFILL=0"
  DA="--argmax device"
  if [ "${MLXM_ENGINE_SET:-ab}" = "quant" ]; then
    # Producers writing the int8 GEMV's input (default) vs the GEMV's own quantize launch
    # (MLXM_CUDA_FUSE_QUANT=0) at batch 1; prefill on cuBLASLt (default from 256 rows) vs the
    # tensor-core GEMM (MLXM_CUDA_CUBLAS_MIN_ROWS=1073741824); 8B at batch 64.
    NOFQ="MLXM_CUDA_FUSE_QUANT=0"
    NOCB="MLXM_CUDA_CUBLAS_MIN_ROWS=1073741824"
    ENGINE_ENV="" run_engine 90 "1b q4 b1" --shape llama-3.2-1b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/1b"
    ENGINE_ENV="$NOFQ" run_engine 60 "1b q4 b1 no-fuse-quant" --shape llama-3.2-1b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/1b"
    ENGINE_ENV="MLXM_CUDA_GEMV_WAVES=4" run_engine 60 "1b q4 b1 gemv-waves-4" --shape llama-3.2-1b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/1b"
    drop "$MD/1b"
    ENGINE_ENV="" run_engine 90 "3b q4 b1" --shape llama-3.2-3b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/3b"
    ENGINE_ENV="$NOFQ" run_engine 60 "3b q4 b1 no-fuse-quant" --shape llama-3.2-3b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/3b"
    ENGINE_ENV="$NOCB" run_engine 60 "3b q4 b1 no-cublas" --shape llama-3.2-3b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/3b"
    ENGINE_ENV="MLXM_CUDA_GEMV_WAVES=4" run_engine 60 "3b q4 b1 gemv-waves-4" --shape llama-3.2-3b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/3b"
    drop "$MD/3b"
    ENGINE_ENV="" run_engine 180 "8b q4 b1" --shape llama-3.1-8b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/8b"
    ENGINE_ENV="$NOCB" run_engine 60 "8b q4 b1 no-cublas" --shape llama-3.1-8b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/8b"
    ENGINE_ENV="MLXM_CUDA_GEMV_WAVES=4" run_engine 60 "8b q4 b1 gemv-waves-4" --shape llama-3.1-8b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/8b"
    ENGINE_ENV="" run_engine 60 "8b q4 b64" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 64 $DA --dir "$MD/8b"
    ENGINE_ENV="" run_engine 60 "8b q4 prefill 2048" --shape llama-3.1-8b --quant q4 --prompt 2048 --gen 8 $DA --dir "$MD/8b"
    drop "$MD/8b"
  elif [ "${MLXM_ENGINE_SET:-ab}" = "gemm" ]; then
    # Batched decode on the decode GEMM (default) vs the 64x64 GEMM (MLXM_CUDA_GEMM_DECODE=off):
    # 8B at 64/32/16 sequences, 3B at 64; 8B at 8 sequences on the GEMM (default) vs the int8
    # GEMV (MLXM_CUDA_GEMM_MIN_ROWS=9); 8B and 3B at batch 1.
    OLD="MLXM_CUDA_GEMM_DECODE=off"
    ENGINE_ENV="" run_engine 180 "8b q4 b64" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 64 $DA --dir "$MD/8b"
    ENGINE_ENV="$OLD" run_engine 60 "8b q4 b64 64x64-gemm" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 64 $DA --dir "$MD/8b"
    ENGINE_ENV="" run_engine 60 "8b q4 b32" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 32 $DA --dir "$MD/8b"
    ENGINE_ENV="" run_engine 60 "8b q4 b16" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 16 $DA --dir "$MD/8b"
    ENGINE_ENV="$OLD" run_engine 60 "8b q4 b16 64x64-gemm" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 16 $DA --dir "$MD/8b"
    ENGINE_ENV="" run_engine 60 "8b q4 b8" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 8 $DA --dir "$MD/8b"
    ENGINE_ENV="MLXM_CUDA_GEMM_MIN_ROWS=9" run_engine 60 "8b q4 b8 int8-gemv" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 8 $DA --dir "$MD/8b"
    ENGINE_ENV="" run_engine 60 "8b q4 b1" --shape llama-3.1-8b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/8b"
    drop "$MD/8b"
    ENGINE_ENV="" run_engine 90 "3b q4 b64" --shape llama-3.2-3b --quant q4 --prompt 16 --gen 16 --batch 64 $DA --dir "$MD/3b"
    ENGINE_ENV="" run_engine 60 "3b q4 b1" --shape llama-3.2-3b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/3b"
    drop "$MD/3b"
  elif [ "${MLXM_ENGINE_SET:-ab}" = "base" ]; then
    # The issue's decode figures once each: 8B at 64 and 32 sequences (64 also with the
    # split-K reduce kernels instead of consumers summing the slices), 8B and 3B at batch 1
    # (also with the old GEMV; 3B also with the stream's per-lane cp.async instead of bulk
    # copies).
    # Single runs: for A/B at batch 1 use tools/gpu/ab_decode.sh (interleaved repeats).
    ENGINE_ENV="" run_engine 180 "8b q4 b64" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 64 $DA --dir "$MD/8b"
    ENGINE_ENV="MLXM_CUDA_SPLITK_CONSUMERS=0" run_engine 60 "8b q4 b64 reduce-kernels" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 64 $DA --dir "$MD/8b"
    ENGINE_ENV="" run_engine 60 "8b q4 b32" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 32 $DA --dir "$MD/8b"
    ENGINE_ENV="" run_engine 60 "8b q4 b1" --shape llama-3.1-8b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/8b"
    ENGINE_ENV="MLXM_CUDA_GEMV_STREAM=0" run_engine 60 "8b q4 b1 gemv-i8" --shape llama-3.1-8b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/8b"
    drop "$MD/8b"
    ENGINE_ENV="" run_engine 90 "3b q4 b1" --shape llama-3.2-3b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/3b"
    ENGINE_ENV="MLXM_CUDA_GEMV_STREAM=0" run_engine 60 "3b q4 b1 gemv-i8" --shape llama-3.2-3b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/3b"
    ENGINE_ENV="MLXM_CUDA_GEMV_BULK=0" run_engine 60 "3b q4 b1 stream-cp-async" --shape llama-3.2-3b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/3b"
    ENGINE_ENV="MLXM_CUDA_QKV_KV_PREFETCH=0 MLXM_CUDA_ATTN_PREFETCH=0" run_engine 60 "3b q4 b1 no-kv-prefetch" --shape llama-3.2-3b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/3b"
    drop "$MD/3b"
  elif [ "${MLXM_ENGINE_SET:-ab}" = "pdl" ]; then
    # Programmatic dependent launch + L2 weight prefetch (default) vs ordinary launches
    # (MLXM_CUDA_PDL=0), device argmax, each model at batch 1, 8B also at batch 64.
    NOPDL="MLXM_CUDA_PDL=0"
    ENGINE_ENV="" run_engine 90 "1b q4 b1 pdl" --shape llama-3.2-1b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/1b"
    ENGINE_ENV="$NOPDL" run_engine 60 "1b q4 b1 no-pdl" --shape llama-3.2-1b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/1b"
    drop "$MD/1b"
    ENGINE_ENV="" run_engine 90 "3b q4 b1 pdl" --shape llama-3.2-3b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/3b"
    ENGINE_ENV="$NOPDL" run_engine 60 "3b q4 b1 no-pdl" --shape llama-3.2-3b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/3b"
    drop "$MD/3b"
    ENGINE_ENV="" run_engine 180 "8b q4 b1 pdl" --shape llama-3.1-8b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/8b"
    ENGINE_ENV="$NOPDL" run_engine 60 "8b q4 b1 no-pdl" --shape llama-3.1-8b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/8b"
    ENGINE_ENV="" run_engine 60 "8b q4 b64 pdl" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 64 $DA --dir "$MD/8b"
    ENGINE_ENV="$NOPDL" run_engine 60 "8b q4 b64 no-pdl" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 64 $DA --dir "$MD/8b"
    ENGINE_ENV="MLXM_CUDA_GEMM_MIN_ROWS=9" run_engine 60 "8b q4 b8 gemm>=9" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 8 $DA --dir "$MD/8b"
    ENGINE_ENV="" run_engine 60 "8b q4 b8" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 8 $DA --dir "$MD/8b"
    drop "$MD/8b"
  elif [ "${MLXM_ENGINE_SET:-ab}" = "kernels" ]; then
    # Device argmax everywhere; int8-activation GEMV vs the f32 GEMV (batch 1), the GEMM
    # configuration (batch 64), device vs host sampling (batch 64, T=1 top_p=0.9).
    F32="MLXM_CUDA_GEMV=f32"
    ENGINE_ENV="" run_engine 90 "1b q4 b1 i8" --shape llama-3.2-1b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/1b"
    ENGINE_ENV="$F32" run_engine 60 "1b q4 b1 f32" --shape llama-3.2-1b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/1b"
    drop "$MD/1b"
    ENGINE_ENV="" run_engine 180 "8b q4 b1 i8" --shape llama-3.1-8b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/8b"
    ENGINE_ENV="$F32" run_engine 60 "8b q4 b1 f32" --shape llama-3.1-8b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/8b"
    ENGINE_ENV="" run_engine 60 "8b q4 b64" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 64 $DA --dir "$MD/8b"
    ENGINE_ENV="" run_engine 60 "8b q4 b64 sampled device" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 64 $DA --sample --dir "$MD/8b"
    ENGINE_ENV="" run_engine 60 "8b q4 b64 sampled host" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 64 --sample --dir "$MD/8b"
    drop "$MD/8b"
    if [ "${MLXM_ENGINE_3B:-1}" != "0" ]; then
      ENGINE_ENV="" run_engine 90 "3b q4 b1 i8" --shape llama-3.2-3b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/3b"
    fi
  elif [ "${MLXM_ENGINE_SET:-ab}" = "argmax" ]; then
    # Greedy decode with the device argmax (Engine::forward_argmax), each model.
    ENGINE_ENV="" run_engine 90 "1b q4 b1 device-argmax" --shape llama-3.2-1b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/1b"
    ENGINE_ENV="" run_engine 60 "1b q4 b8 device-argmax" --shape llama-3.2-1b --quant q4 --prompt 64 --gen 32 --batch 8 $DA --dir "$MD/1b"
    drop "$MD/1b"
    ENGINE_ENV="" run_engine 90 "3b q4 b1 device-argmax" --shape llama-3.2-3b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/3b"
    ENGINE_ENV="$SEP" run_engine 60 "3b q4 b1" --shape llama-3.2-3b --quant q4 --prompt 512 --gen 64 --dir "$MD/3b"
    drop "$MD/3b"
    ENGINE_ENV="" run_engine 180 "8b q4 b1 device-argmax" --shape llama-3.1-8b --quant q4 --prompt 512 --gen 64 $DA --dir "$MD/8b"
    ENGINE_ENV="" run_engine 60 "8b q4 b64 device-argmax" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 64 $DA --dir "$MD/8b"
    drop "$MD/8b"
  else
    ENGINE_ENV="" run_engine 90 "1b q4 b1" --shape llama-3.2-1b --quant q4 --prompt 512 --gen 64 --dir "$MD/1b"
    ENGINE_ENV="$SEP" run_engine 60 "1b q4 b1" --shape llama-3.2-1b --quant q4 --prompt 512 --gen 64 --dir "$MD/1b"
    drop "$MD/1b"
    ENGINE_ENV="" run_engine 180 "8b q4 b1" --shape llama-3.1-8b --quant q4 --prompt 512 --gen 64 --dir "$MD/8b"
    ENGINE_ENV="$SEP" run_engine 60 "8b q4 b1" --shape llama-3.1-8b --quant q4 --prompt 512 --gen 64 --dir "$MD/8b"
    ENGINE_ENV="" run_engine 60 "8b q4 b64" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 64 --dir "$MD/8b"
    ENGINE_ENV="" run_engine 60 "8b q4 b64 device-argmax" --shape llama-3.1-8b --quant q4 --prompt 16 --gen 16 --batch 64 --argmax device --dir "$MD/8b"
    ENGINE_ENV="" run_engine 60 "8b q4 prefill 2048" --shape llama-3.1-8b --quant q4 --prompt 2048 --gen 8 --dir "$MD/8b"
    ENGINE_ENV="$SEP" run_engine 60 "8b q4 prefill 2048" --shape llama-3.1-8b --quant q4 --prompt 2048 --gen 8 --dir "$MD/8b"
    drop "$MD/8b"
    if [ "${MLXM_ENGINE_3B:-1}" != "0" ]; then
      ENGINE_ENV="" run_engine 60 "3b q4 b1" --shape llama-3.2-3b --quant q4 --prompt 512 --gen 64 --dir "$MD/3b"
      ENGINE_ENV="$SEP" run_engine 60 "3b q4 b1" --shape llama-3.2-3b --quant q4 --prompt 512 --gen 64 --dir "$MD/3b"
    fi
  fi
  drop "$MD"
fi

GEMM="skipped"
if [ "${MLXM_GEMM_BENCH:-1}" != "0" ]; then
  say "== GEMM bench"
  timeout 120 "$B/bench_cuda_gemm" --csv "$OUT/gemm.csv" $QUICK > "$OUT/gemm.log" 2>&1
  GRC=$?
  GEMM=$([ "$GRC" -eq 0 ] && echo ok || echo "FAIL (exit $GRC)")
  if [ "${MLXM_GEMM_BENCH_AB:-0}" = "1" ]; then  # 4-bit rows <= 64 on either GEMM alone
    MLXM_CUDA_GEMM_DECODE=off timeout 120 "$B/bench_cuda_gemm" $QUICK > "$OUT/gemm_64x64.log" 2>&1
    MLXM_CUDA_GEMM_DECODE=always timeout 120 "$B/bench_cuda_gemm" $QUICK > "$OUT/gemm_decode.log" 2>&1
  fi
  say "gemm bench: $GEMM ($(( $(date +%s) - T0 )) s)"
fi

BENCH_RC=0
GEMV="skipped"
if [ "${MLXM_GEMV_BENCH:-1}" != "0" ] && [ $(( $(date +%s) - T0 )) -lt "${MLXM_CHECK_BUDGET_S:-300}" ]; then
  say "== GEMV bench"
  timeout 60 "$B/bench_cuda_gemv" --csv "$OUT/bench.csv" $QUICK 2>&1 | tee "$OUT/bench.log"
  BENCH_RC=${PIPESTATUS[0]}
  GEMV=$([ "$BENCH_RC" -eq 0 ] && echo ok || echo "FAIL (exit $BENCH_RC)")
fi

say ""
say "== summary ($(( $(date +%s) - T0 )) s)"
say "TESTS: $TESTS"
say "ENGINE BENCH: $ENGINE"
grep -E "^== |^llama" "$OUT/engine_bench.log" 2>/dev/null | tee -a "$LOG"
say "GEMM BENCH: $GEMM"
grep -E "^llama" "$OUT/gemm.log" 2>/dev/null | awk '{print $2, $4, $5, $6, $7, $9, $10}' | tr '\n' ';' | fold -w 2000 | tee -a "$LOG"
say ""
say "GEMV BENCH: $GEMV"
grep -E "copy:|^llama-3\.[0-9]-[0-9]+b +[0-9]" "$OUT/bench.log" 2>/dev/null | tee -a "$LOG"
if [[ "$TESTS" == PASS* ]] && [ "$ENGINE" != "FAIL" ]; then say "CHECK: PASS"; exit 0; fi
say "CHECK: FAIL"
exit 1
