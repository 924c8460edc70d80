#!/usr/bin/env bash
# Where one kernel's warps stall, instruction by instruction: records one launch of the kernels
# matching REGEX under Nsight Compute's SourceCounters (warp-stall sampling per SASS
# instruction), converts the source page to OUT.csv and prints tools/gpu/ncu_source_summary.py's
# summary (samples by opcode with their reasons, the top instructions). On the GPU machine.
# Usage: bash tools/gpu/ncu_source.sh REGEX OUT CMD...   (env SKIP: launches skipped first, 20;
# NCU_CACHE: all (default: caches flushed before the launch) or none). The clocks are left
# alone (--clock-control none), as everywhere on that machine.
# e.g. MLXM_CUDA_GEMM_DECODE=always bash tools/gpu/ncu_source.sh gemm_decode_kernel $OUT/gd16 \
#        build-gpucheck/bench_cuda_gemm --only gate+up --rows 16
set -uo pipefail
[ $# -ge 3 ] || { sed -n '2,9p' "$0"; exit 2; }
REGEX=$1 OUT=$2
shift 2
NCU=${NCU:-$(command -v ncu || echo /usr/local/cuda/bin/ncu)}
"$NCU" --section SourceCounters --section WarpStateStats --clock-control none \
  --cache-control "${NCU_CACHE:-all}" -k "regex:$REGEX" \
  --launch-skip "${SKIP:-20}" --launch-count 1 -f -o "$OUT" "$@" > "$OUT.log" 2>&1 ||
  { echo "ncu_source.sh: ncu failed (see $OUT.log)"; exit 1; }
"$NCU" -i "$OUT.ncu-rep" --page source --csv --print-source sass > "$OUT.csv" 2>> "$OUT.log" ||
  { echo "ncu_source.sh: no source page (see $OUT.log)"; exit 1; }
python3 "$(dirname "$0")/ncu_source_summary.py" "$OUT.csv"
