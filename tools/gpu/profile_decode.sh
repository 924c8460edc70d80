#!/usr/bin/env bash
# Per-kernel GPU time of eager decode steps (MLXM_CUDA_GRAPHS=0) under Nsight Compute, summed
# by kernel name: where a decode step's time goes. Run after tools/gpu/check.sh (uses its
# bench_cuda_engine build). Prints a table (µs per decode step by kernel) and writes
# $OUT/ncu_decode_<shape>_b<batch>.csv. Usage: bash tools/gpu/profile_decode.sh [shape]
# (default llama-3.2-1b). Env: BATCH (1), PROMPT (64), SKIP_STEPS (2·BATCH + 3), MODEL_DIR (a
# model made before, e.g. by check.sh with MLXM_KEEP_MODELS=DIR: DIR/8b; else one is made in a
# temp dir). Per-step
# figures divide by the decode-attention launches over the layer count.
# NCU_CACHE=none keeps the caches warm between kernels (ncu flushes them by default, which
# makes small kernels read longer than inside a step); the engine's env (MLXM_CUDA_*) applies.
set -uo pipefail
command -v ncu >/dev/null || { echo "profile: no ncu on this machine"; exit 0; }
source "$(dirname "$0")/bench_model.sh"
SHAPE=${1:-llama-3.2-1b}
BATCH=${BATCH:-1}
PROMPT=${PROMPT:-64}
# Make the model first (unprofiled), then profile: skip the warm-up, prefill and first decode
# steps, then record about 2 decode steps' kernels.
bench_model prof "$SHAPE"
LAYERS=$(python3 -c "import json;print(json.load(open('$M/config.json'))['num_hidden_layers'])")
PER_STEP=$(( LAYERS * 16 + 8 ))  # upper bound of launches per eager decode step
# Every sequence's prompt is a prefill step of up to ~2 PER_STEP launches (cuBLASLt linears
# dequantize in chunks; run 169 recorded prefill with a fixed skip of 8 steps at 8-16
# sequences), so the default skip grows with the batch, and enough decode steps follow it.
SKIP_STEPS=${SKIP_STEPS:-$(( 2 * BATCH + 3 ))}
SKIP=$(( PER_STEP * SKIP_STEPS ))
GEN=$(( 2 * SKIP_STEPS + 8 ))
MLXM_CUDA_GRAPHS=0 timeout 240 ncu --clock-control none --cache-control "${NCU_CACHE:-all}" --metrics gpu__time_duration.sum --csv \
  --launch-skip $SKIP --launch-count $(( PER_STEP * 2 )) \
  "$BIN" --shape "$SHAPE" --quant q4 --prompt "$PROMPT" --gen "$GEN" --batch "$BATCH" --argmax device \
  --dir "$M" > "$OUT/ncu_decode_${SHAPE}_b${BATCH}.csv" 2> "$OUT/ncu_decode.err"
echo "profile: ncu exit $?"
python3 - "$OUT/ncu_decode_${SHAPE}_b${BATCH}.csv" "$LAYERS" <<'PY'
import csv, sys, collections, re
rows = list(csv.reader(open(sys.argv[1])))  # the bench's own lines come first
hi = next((i for i, r in enumerate(rows) if "Kernel Name" in r), None)
if hi is None: print("profile: no ncu rows"); sys.exit(0)
h = rows[hi]; ki = h.index("Kernel Name"); vi = h.index("Metric Value"); ui = h.index("Metric Unit")
gi = h.index("Grid Size")
tot = collections.Counter(); cnt = collections.Counter()
for r in rows[hi + 1:]:
    if len(r) <= vi: continue
    name = r[ki].replace("(anonymous namespace)", "").replace("<unnamed>", "").replace("void ", "")
    name = re.sub(r"\(.*", "", name).split("<")[0].split("::")[-1]
    if name in ("gemv_fast_kernel", "gemv_i8_kernel", "gemm_decode_kernel", "gemm_q_kernel",
                "splitk_reduce_kernel"):
        name += " grid" + r[gi].replace(" ", "")  # one line per linear shape
    v = float(r[vi].replace(",", "")); u = r[ui]
    us = v / 1000 if u in ("ns", "nsecond") else v * 1000 if u in ("ms", "msecond") else v
    tot[name] += us; cnt[name] += 1
n = sum(cnt.values()); all_us = sum(tot.values())
# Steps in the window: the decode attention runs once per layer and step (the window cuts
# steps at both ends, so whole-step kernels such as the argmax over-count them); else argmax.
layers = int(sys.argv[2])
attn = sum(c for k, c in cnt.items() if k.startswith("paged_decode"))
steps = attn / layers if attn else max(1, sum(c for k, c in cnt.items() if "argmax" in k))
print(f"profile: {n} kernels, {all_us:.0f} us of kernel time, {steps:.2f} steps: {all_us/steps:.0f} us per step")
for k, v in tot.most_common():
    print(f"profile: {k:52s} {cnt[k]/steps:6.1f} per step {v/steps:9.1f} us/step {v/cnt[k]:8.2f} us each")
PY
rm -rf "$MD"
