#!/usr/bin/env bash
# Why the batch-1 linears stream below the copy bandwidth: Nsight Compute's full set on the
# int8 GEMV launches (gemv_stream_kernel; gemv_i8_kernel with MLXM_CUDA_GEMV_STREAM=0) of one
# eager decode step (MLXM_CUDA_GRAPHS=0), one line per launch with the grid, time, DRAM and
# L2 figures, occupancy and the largest warp stall reasons. Run after
# tools/gpu/check.sh (uses its bench_cuda_engine build). Usage: bash tools/gpu/profile_gemv.sh
# [shape] (default llama-3.1-8b). Env: MODEL_DIR (a model made before, e.g. by check.sh with
# MLXM_KEEP_MODELS=DIR: DIR/8b; else one is made in a temp dir), COUNT (launches, 5: a layer's
# four linears and the next), SKIP (GEMV launches skipped first, 300: past the first steps),
# NCU_CACHE (all: caches flushed per kernel, as a cold DRAM stream; none keeps them warm).
# Writes $OUT/ncu_gemv_<shape>.csv; the engine's env (MLXM_CUDA_*) applies.
set -uo pipefail
command -v ncu >/dev/null || { echo "gemv profile: no ncu on this machine"; exit 0; }
source "$(dirname "$0")/bench_model.sh"
SHAPE=${1:-llama-3.1-8b}
bench_model gemvprof "$SHAPE"
CSV="$OUT/ncu_gemv_${SHAPE}.csv"
MLXM_CUDA_GRAPHS=0 timeout 300 ncu --set full --cache-control "${NCU_CACHE:-all}" \
  --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio' \
  -k "regex:gemv_(i8|stream)_kernel" --launch-skip "${SKIP:-300}" --launch-count "${COUNT:-5}" \
  --csv --page details "$BIN" --shape "$SHAPE" --quant q4 --prompt 16 --gen 24 --argmax device \
  --dir "$M" > "$CSV" 2> "$OUT/ncu_gemv.err"
echo "gemv profile: ncu exit $?"
python3 - "$CSV" <<'PY'
import csv, sys, collections
rows = list(csv.reader(open(sys.argv[1])))
hi = next((i for i, r in enumerate(rows) if "Metric Name" in r), None)
if hi is None: print("gemv profile: no ncu rows"); sys.exit(0)
h = rows[hi]; col = {k: h.index(k) for k in ("ID", "Grid Size", "Metric Name", "Metric Unit", "Metric Value")}
per = collections.OrderedDict()
for r in rows[hi + 1:]:
    if len(r) <= col["Metric Value"]: continue
    d = per.setdefault(r[col["ID"]], {"grid": r[col["Grid Size"]]})
    d[r[col["Metric Name"]]] = (r[col["Metric Value"]], r[col["Metric Unit"]])
want = ["Duration", "DRAM Throughput", "Memory Throughput", "L2 Hit Rate", "Achieved Occupancy",
        "Registers Per Thread", "Waves Per SM", "Warp Cycles Per Issued Instruction"]
for i, d in per.items():
    parts = [f"grid {d['grid']}"]
    for k in want:
        if k in d: parts.append(f"{k} {d[k][0]} {d[k][1]}".strip())
    stalls = sorted(((float(v[0].replace(',', '')), k) for k, v in d.items()
                     if k.startswith("smsp__average_warps_issue_stalled_")), reverse=True)[:4]
    parts.append("stalls " + ", ".join(f"{k.split('stalled_')[1].split('_per')[0]} {v:.2f}" for v, k in stalls))
    print("gemv profile: " + " | ".join(parts))
PY
rm -rf "$MD"
