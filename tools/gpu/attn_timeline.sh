#!/usr/bin/env bash
# Where the decode attention's time goes: runs the engine bench once and prints, per phase of
# the attention kernel's last launch (the last layer of the last decode step), the median and
# the latest time over its blocks, from its launch, and the median step of each phase; then
# the last decode step's kernel chain (chain_timeline.py: per kernel role, when its inputs were
# ready against its predecessor's end, and how long its own work took).
# Needs a timeline build first (the stamps are compiled in only there):
#   MLXM_CUDA_TIMELINE=1 MLXM_ENGINE_BENCH=0 MLXM_GEMV_BENCH=0 MLXM_GEMM_BENCH=0 \
#     MLXM_TEST_TIMEOUT_S=1 bash tools/gpu/check.sh --quick
# It can sit beside the plain build, built in the same call (run both with the same
# MLXM_CHECK_BUILD_DIR, each build with its own OUT):
#   MLXM_CHECK_BUILD_DIR=build-gputl OUT=/tmp/tl MLXM_CUDA_TIMELINE=1 ... check.sh --quick &
#   MLXM_CHECK_BUILD_DIR=build-gputl bash tools/gpu/attn_timeline.sh llama-3.2-3b
# Usage: bash tools/gpu/attn_timeline.sh SHAPE [ENV=VALUE...]
#   (e.g. llama-3.2-3b MLXM_CUDA_QKV_KV_PREFETCH=0). Env: PROMPT (512), GEN (32), BATCH (1),
#   MODEL_DIR (a model made before; else one is made in a temp dir). The raw lines go to
#   $OUT/timeline_SHAPE.txt. Stamps cost a little time: compare phases, not tok/s.
set -uo pipefail
source "$(dirname "$0")/bench_model.sh"
SHAPE=$1; shift
bench_model tl "$SHAPE"
RAW="$OUT/timeline_$SHAPE.txt"
mkdir -p "$OUT"
env "$@" "$BIN" --shape "$SHAPE" --quant q4 --prompt "${PROMPT:-512}" --gen "${GEN:-32}" \
  --batch "${BATCH:-1}" --argmax device --dir "$M" 2> "$RAW" | grep "^llama" | tail -1
rm -rf "$MD"
python3 "$(dirname "$0")/attn_timeline.py" "$RAW"
# The whole step's kernel chain from the same run (timeline.cuh's chain rings).
echo
python3 "$(dirname "$0")/chain_timeline.py" "$RAW"
