#!/usr/bin/env bash
# Serving on the GPU end to end (issue 9): `mlx-manager serve --device cuda` with a random
# Llama-3.2-1B-shaped q4 model, a greedy answer compared with `--device cpu` on the same model,
# then `mlx-benchmark run` (streamed completions, concurrency sweep) against the GPU server.
# Usage on the GPU machine: bash tools/gpu/serve_check.sh [BUNDLE] with BUNDLE (default
# .gpu-serve) made here by tools/gpu/make_serve_bundle.sh and carried. Logs and reports go to
# $OUT (default /tmp/serve-check). Env: SHAPE (llama-3.2-1b), CONC (1,8,32,64), MAX_TOKENS (128),
# TEMPS (default), SKIP_CPU=1 (no CPU comparison); the server's own settings pass through
# (MLX_SERVER_PIPELINE=0 serves with one-at-a-time steps).
set -uo pipefail
cd "$(dirname "$0")/../.."
B=$(realpath "${1:-.gpu-serve}")
OUT=${OUT:-/tmp/serve-check}
SHAPE=${SHAPE:-llama-3.2-1b}
CONC=${CONC:-1,8,32,64}
MAX_TOKENS=${MAX_TOKENS:-128}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=$B/lib
MODELS=/tmp/mlxm-serve-models
MODEL=$MODELS/gpu-$SHAPE
say() { echo "$*" | tee -a "$OUT/serve_check.log"; }
: > "$OUT/serve_check.log"
if [ ! -f "$MODEL/config.json" ]; then
  say "== make-model $SHAPE q4"
  "$B/bin/mlx-benchmark" make-model --shape "$SHAPE" --quant q4 --tokenizer "$B/tok" \
    --out "$MODEL" --seed 7 >> "$OUT/serve_check.log" 2>&1 || { say "make-model FAILED"; exit 1; }
fi
export MLX_SERVER_BATCH_MAX_BATCH_SIZE=64 MLX_SERVER_KV_SEQUENCES=64 MLX_SERVER_MAX_MODEL_LEN=1024
export MLX_SERVER_MAX_BATCHED_TOKENS=2048
start() {  # device port
  MLX_MANAGER_HOME=$OUT/home-$1 "$B/bin/mlx-manager" serve --device "$1" --model "$MODEL" \
    --port "$2" --no-ui > "$OUT/serve-$1.log" 2>&1 &
  echo $!
}
wait_up() {
  for _ in $(seq 1 600); do
    python3 - "$1" <<'PY' && return 0
import sys, urllib.request
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=1); sys.exit(0)
except Exception: sys.exit(1)
PY
    sleep 0.5
  done
  return 1
}
complete() {  # port -> prints the greedy text of a fixed prompt
  python3 - "$1" "gpu-$SHAPE" <<'PY'
import json, sys, urllib.request
body = {"model": sys.argv[2], "prompt": "The history of the city begins", "max_tokens": 24,
        "temperature": 0}
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/v1/completions",
                             data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
r = json.load(urllib.request.urlopen(req, timeout=300))
print(json.dumps(r["choices"][0]["text"]))
PY
}
GPU_PID=$(start cuda 18080)
if ! wait_up 18080; then say "GPU server did not start"; tail -20 "$OUT/serve-cuda.log"; exit 1; fi
grep -m1 "loaded model" "$OUT/serve-cuda.log" | tee -a "$OUT/serve_check.log"
GPU_TEXT=$(complete 18080)
say "greedy GPU: $GPU_TEXT"
if [ "${SKIP_CPU:-0}" != 1 ]; then
  CPU_PID=$(start cpu 18081)
  wait_up 18081 && CPU_TEXT=$(complete 18081) || CPU_TEXT="(cpu server failed)"
  kill "$CPU_PID" 2>/dev/null
  say "greedy CPU: $CPU_TEXT"
  [ "$GPU_TEXT" = "$CPU_TEXT" ] && say "GREEDY MATCH" || say "GREEDY DIFFERS (random weights: near-ties may flip)"
fi
# TEMPS: temperatures to bench ("default" = the server's, 1.0; 0 = greedy, which the CUDA
# engine answers with a device argmax so only ids leave the GPU).
# The engine thread's time per step from /admin/models (cumulative counters; the difference
# over one bench): busy = forward + host sampling + token delivery (sink) + the rest
# (scheduling, batch building); wall = the bench's duration.
loop_stats() {  # port -> "steps busy forward sample sink pipelined_steps" (cumulative)
  python3 - "$1" <<'PY'
import json, sys, urllib.request
d = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/admin/models", timeout=10))
m = [x for x in d["data"] if x.get("state") == "loaded"][0]
print(m["steps"], m["busy_ms"], m["forward_ms"], m["sample_ms"], m["sink_ms"],
      m.get("pipelined_steps", 0))
PY
}
step_breakdown() {  # before after wall_s -> one line per step
  python3 - "$1" "$2" "$3" <<'PY'
import sys
a = [float(v) for v in sys.argv[1].split()]; b = [float(v) for v in sys.argv[2].split()]
d = [y - x for x, y in zip(a, b)]; n = max(d[0], 1)
print(f"engine loop: {int(d[0])} steps, per step busy {d[1]/n:.2f} ms = forward {d[2]/n:.2f}"
      f" + sampling {d[3]/n:.2f} + token delivery {d[4]/n:.2f} + other {(d[1]-d[2]-d[3]-d[4])/n:.2f};"
      f" wall {float(sys.argv[3])*1000/n:.2f} ms per step; {int(d[5])} steps pipelined")
PY
}
for T in ${TEMPS:-default}; do
  TARG=(); [ "$T" != default ] && TARG=(--temperature "$T")
  S0=$(loop_stats 18080); W0=$(date +%s.%N)
  say "== mlx-benchmark run (completions, streamed, c=$CONC, $MAX_TOKENS tokens, temperature $T)"
  "$B/bin/mlx-benchmark" run --url http://127.0.0.1:18080 --model "gpu-$SHAPE" \
    --api openai-completions --stream --concurrency "$CONC" --runs 2 --max-tokens "$MAX_TOKENS" \
    --prompt short --quiet "${TARG[@]}" -o "$OUT/run-t$T.json" > "$OUT/bench-t$T.log" 2>&1
  say "bench exit $?"
  grep -A8 "^ conc" "$OUT/bench-t$T.log" | tee -a "$OUT/serve_check.log"
  S1=$(loop_stats 18080); W1=$(date +%s.%N)
  say "$(step_breakdown "$S0" "$S1" "$(echo "$W1 - $W0" | bc -l 2>/dev/null || python3 -c "print($W1 - $W0)")")"
done
kill "$GPU_PID" 2>/dev/null
wait 2>/dev/null
