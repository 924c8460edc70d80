#!/usr/bin/env bash
# Engine decode A/B with interleaved repeats: for ROUNDS rounds, each configuration once in
# turn (so drifts of the machine hit every configuration alike), then the median decode tok/s
# per configuration. Run after tools/gpu/check.sh (uses its bench_cuda_engine build).
# Usage: bash tools/gpu/ab_decode.sh SHAPE CONFIG... where a CONFIG is "-" (the defaults) or
# env assignments ("MLXM_CUDA_X=0 MLXM_CUDA_Y=1") and bench_cuda_engine flags ("--pipeline"),
# either after "@DIR " to run DIR's
# bench_cuda_engine instead (a build directory under the root, e.g. one of
# tools/gpu/variant_build.sh: "@build-x -", "@build-x MLXM_CUDA_Y=1"). Env: ROUNDS (3),
# BATCH (1), PROMPT (512), GEN (256), QUANT (q4), MODEL_DIR (a model made before, of that QUANT;
# else one is made in a temp dir).
set -uo pipefail
source "$(dirname "$0")/bench_model.sh"
SHAPE=$1; shift
bench_model ab "$SHAPE"
R="$MD/results.txt"
for round in $(seq "${ROUNDS:-3}"); do
  i=0
  for cfg in "$@"; do
    i=$((i + 1))
    bin=$BIN rest=$cfg
    if [[ "$cfg" == @* ]]; then
      bin=${cfg%% *}; bin=${bin#@}/bench_cuda_engine
      rest=$([[ "$cfg" == *" "* ]] && echo "${cfg#* }" || echo "-")
    fi
    envs="" flags=""
    for w in $([ "$rest" = "-" ] || echo "$rest"); do
      if [[ "$w" == --* ]]; then flags="$flags $w"; else envs="$envs $w"; fi
    done
    line=$(env $envs timeout 120 "$bin" --shape "$SHAPE" --quant "${QUANT:-q4}" \
      --prompt "${PROMPT:-512}" --gen "${GEN:-256}" --batch "${BATCH:-1}" --argmax device \
      --dir "$M" $flags 2>&1 | grep "^llama" | tail -1)
    tps=$(echo "$line" | sed -nE 's/.*decode ([0-9.]+) tok\/s.*/\1/p')
    echo "ab: round $round [$cfg] ${tps:-FAIL}"
    echo "$i ${tps:-0}" >> "$R"
  done
done
i=0
for cfg in "$@"; do
  i=$((i + 1))
  med=$(awk -v k="$i" '$1 == k {print $2}' "$R" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
  echo "ab: $SHAPE ${QUANT:-q4} b${BATCH:-1} [$cfg] median ${med} tok/s"
done
rm -rf "$MD"
