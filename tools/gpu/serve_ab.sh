#!/usr/bin/env bash
# Served decode A/B on the GPU machine: `mlx-manager serve --device cuda` on a random q4 model,
# started once per configuration and round (interleaved), each measured by `mlx-benchmark run`
# (streamed completions after a short prompt, every request --max-tokens long).
# Usage: bash tools/gpu/serve_ab.sh BUNDLE "VAR=VALUE ..." "VAR=VALUE ..." ...
#   BUNDLE: made here by tools/gpu/make_serve_bundle.sh and carried. Each further argument is one
#   configuration: server environment settings ("-" for none).
# Env: SHAPE (llama-3.2-3b), CONC (1,8), RUNS (8 requests per concurrency slot), MAX_TOKENS (256),
# TEMPS ("0 1"), ROUNDS (2), OUT (/tmp/serve-ab), DEVICE (cuda), MODEL (a model directory to
# serve instead of the random one), BENCH_ARGS (more `mlx-benchmark run` options, e.g.
# "--top-logprobs 5"). Prints each run's table and the engine loop's
# counters (/admin/models: steps, pipelined steps, busy / forward / sink ms).
set -uo pipefail
B=$(realpath "${1:?usage: serve_ab.sh BUNDLE CONFIG...}")
shift
OUT=${OUT:-/tmp/serve-ab}
SHAPE=${SHAPE:-llama-3.2-3b}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=$B/lib
MODEL=${MODEL:-/tmp/mlxm-serve-models/ab-$SHAPE}
if [ ! -f "$MODEL/config.json" ]; then
  "$B/bin/mlx-benchmark" make-model --shape "$SHAPE" --quant q4 --tokenizer "$B/tok" \
    --out "$MODEL" --seed 7 > "$OUT/make-model.log" 2>&1 || { echo "make-model failed"; exit 1; }
fi
export MLX_SERVER_BATCH_MAX_BATCH_SIZE=64 MLX_SERVER_KV_SEQUENCES=64 MLX_SERVER_MAX_MODEL_LEN=1024
export MLX_SERVER_MAX_BATCHED_TOKENS=2048
PORT=18090
up() {
  for _ in $(seq 1 600); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/health', timeout=1)" \
      2>/dev/null && return 0
    sleep 0.5
  done
  return 1
}
loop_counters() {
  python3 - "$PORT" <<'PY'
import json, sys, urllib.request
d = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/admin/models", timeout=10))
m = [x for x in d["data"] if x.get("state") == "loaded"][0]
n = max(m["steps"], 1)
print(f"  loop: {m['steps']} steps, {m.get('pipelined_steps', 0)} pipelined; per step busy "
      f"{m['busy_ms']/n:.3f} ms, forward {m['forward_ms']/n:.3f}, sink {m['sink_ms']/n:.3f}")
PY
}
for round in $(seq 1 "${ROUNDS:-2}"); do
  c=0
  for cfg in "$@"; do
    c=$((c + 1))
    env_args=()
    [ "$cfg" != - ] && read -r -a env_args <<< "$cfg"
    tag="r$round-c$c"
    env "${env_args[@]}" MLX_MANAGER_HOME="$OUT/home-$tag" "$B/bin/mlx-manager" serve --device "${DEVICE:-cuda}" \
      --model "$MODEL" --port $PORT --no-ui > "$OUT/serve-$tag.log" 2>&1 &
    pid=$!
    if ! up; then
      echo "== round $round [$cfg]: the server did not start"; tail -5 "$OUT/serve-$tag.log"
      kill $pid 2>/dev/null; continue
    fi
    for T in ${TEMPS:-0 1}; do
      "$B/bin/mlx-benchmark" run --url "http://127.0.0.1:$PORT" --model "$(basename "$MODEL")" \
        --api openai-completions --stream --concurrency "${CONC:-1,8}" --runs "${RUNS:-8}" \
        --warmup 2 --max-tokens "${MAX_TOKENS:-256}" --prompt short --quiet --temperature "$T" \
        ${BENCH_ARGS:-} -o "$OUT/run-$tag-t$T.json" > "$OUT/bench-$tag-t$T.log" 2>&1
      echo "== round $round [$cfg] temperature $T (exit $?)"
      sed -n "/^ conc/,/^(medians/p" "$OUT/bench-$tag-t$T.log" | grep -v "^(medians"
    done
    loop_counters
    kill $pid; wait $pid 2>/dev/null
  done
done
