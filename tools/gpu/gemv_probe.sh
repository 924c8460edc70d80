#!/usr/bin/env bash
# What the bulk GEMV's consumers wait for: runs the engine bench once with the per-step stamps
# of one layer shape on (MLXM_GEMV_PROBE, cuda_ops.h gemv_probe_select) and prints, per step of
# the last such launch, when the copies were issued, when the slot was full and when the
# consumer was done with it (tools/gpu/gemv_probe.py).
# Needs a timeline build first, as tools/gpu/attn_timeline.sh does (the stamps are compiled
# in only there):
#   MLXM_CHECK_BUILD_DIR=build-gputl OUT=/tmp/tl MLXM_CUDA_TIMELINE=1 MLXM_ENGINE_BENCH=0 \
#     MLXM_GEMV_BENCH=0 MLXM_GEMM_BENCH=0 MLXM_TEST_TIMEOUT_S=1 bash tools/gpu/check.sh --quick
#   MLXM_CHECK_BUILD_DIR=build-gputl bash tools/gpu/gemv_probe.sh llama-3.1-8b 4096 14336
# Usage: bash tools/gpu/gemv_probe.sh SHAPE N_OUT N_IN [ENV=VALUE...] (8B: down 4096 14336,
#   gate/up 28672 4096, o_proj 4096 4096, q/k/v 6144 4096; 3B: down 3072 8192, gate/up 16384
#   3072, o_proj 3072 3072, q/k/v 5120 3072). Env: PROMPT (512), GEN (32), MODEL_DIR (a model
#   made before; else one is made in a temp dir). The raw lines go to
#   $OUT/gemv_probe_SHAPE_N_OUT_N_IN.txt.
set -uo pipefail
source "$(dirname "$0")/bench_model.sh"
SHAPE=$1 N_OUT=$2 N_IN=$3; shift 3
bench_model probe "$SHAPE"
RAW="$OUT/gemv_probe_${SHAPE}_${N_OUT}_${N_IN}.txt"
mkdir -p "$OUT"
env MLXM_GEMV_PROBE="$N_OUT,$N_IN" "$@" "$BIN" --shape "$SHAPE" --quant q4 \
  --prompt "${PROMPT:-512}" --gen "${GEN:-32}" --argmax device --dir "$M" 2> "$RAW" |
  grep "^llama" | tail -1
rm -rf "$MD"
python3 "$(dirname "$0")/gemv_probe.py" "$RAW"
