#!/usr/bin/env bash
# Served logprobs and constrained output on the GPU machine, computed on the device against the
# host: `mlx-manager serve --device cuda` on a random q4 model, once with MLXM_CUDA_LOGPROBS=0
# MLXM_CUDA_MASKS=0 (the logits come to the host: the Sampler and the grammar work there) and
# once by default (logprob_rows and mask_rows on the device). The same greedy chat requests
# (logprobs, top_logprobs 5; 4 also with response_format json_object) go to both: 3 plain and
# the 4 JSON ones one at a time, then 6 at once. In every answer each
# token must be its own top-1 (greedy) and a JSON answer that stopped must parse; the requests
# sent alone must give the same tokens, with every logprob within TOL (1e-4) of the host's.
# Usage: bash tools/gpu/device_sampling_check.sh BUNDLE   (tools/gpu/make_serve_bundle.sh)
# Env: SHAPE (llama-3.2-1b), OUT (/tmp/device-sampling-check), TOL, DEVICE (cuda; cpu checks
# the script).
set -uo pipefail
B=$(realpath "${1:?usage: device_sampling_check.sh BUNDLE}")
OUT=${OUT:-/tmp/device-sampling-check}
SHAPE=${SHAPE:-llama-3.2-1b}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=$B/lib
MODEL=/tmp/mlxm-serve-models/lp-$SHAPE
if [ ! -f "$MODEL/config.json" ]; then
  "$B/bin/mlx-benchmark" make-model --shape "$SHAPE" --quant q4 --tokenizer "$B/tok" \
    --out "$MODEL" --seed 7 > "$OUT/make-model.log" 2>&1 || { echo "make-model failed"; exit 1; }
fi
PORT=18091
for mode in host device; do
  env_args=()
  [ "$mode" = host ] && env_args=(MLXM_CUDA_LOGPROBS=0 MLXM_CUDA_MASKS=0)
  env "${env_args[@]}" MLX_MANAGER_HOME="$OUT/home-$mode" "$B/bin/mlx-manager" serve \
    --device "${DEVICE:-cuda}" --model "$MODEL" --port $PORT --no-ui > "$OUT/serve-$mode.log" 2>&1 &
  pid=$!
  python3 - "$PORT" "$(basename "$MODEL")" "$OUT/$mode.json" <<'PY'
import json, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
port, model, out = sys.argv[1], sys.argv[2], sys.argv[3]
base = f"http://127.0.0.1:{port}"
for _ in range(600):
    try:
        urllib.request.urlopen(base + "/health", timeout=1)
        break
    except Exception:
        time.sleep(0.5)
def ask(i, as_json=False):
    body = {"model": model, "max_tokens": 24, "temperature": 0, "logprobs": True,
            "top_logprobs": 5, "ignore_eos": not as_json,
            "messages": [{"role": "user", "content": f"Count to {i + 3}, please."}]}
    if as_json:
        body["response_format"] = {"type": "json_object"}
        body["max_tokens"] = 64
    req = urllib.request.Request(base + "/v1/chat/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=120))
# Alone first: later requests share cached prompt blocks, which the batched ones computed in
# batches that differ between the two servers.
answers = [ask(i) for i in range(3)] + [ask(i, True) for i in range(3, 7)]
with ThreadPoolExecutor(6) as ex:
    answers += list(ex.map(ask, range(7, 13)))
json.dump(answers, open(out, "w"))
print(f"{out}: {len(answers)} answers")
PY
  kill $pid; wait $pid 2>/dev/null
done
python3 - "$OUT/host.json" "$OUT/device.json" "${TOL:-1e-4}" <<'PY'
import json, sys
host, dev, tol = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), float(sys.argv[3])
content = lambda a: a["choices"][0]["logprobs"]["content"]
bad = []
# Every answer of either mode: greedy, so each token is its own top-1 with the same logprob, and
# the alternatives come in descending order.
for mode, answers in (("host", host), ("device", dev)):
    for i, a in enumerate(answers):
        if 3 <= i < 7 and a["choices"][0]["finish_reason"] == "stop":
            try:
                json.loads(a["choices"][0]["message"]["content"])
            except ValueError:
                bad.append(f"{mode} request {i}: not JSON")
        for t in content(a):
            top = t["top_logprobs"]
            if len(top) != 5 or top[0]["token"] != t["token"] or top[0]["logprob"] != t["logprob"]:
                bad.append(f"{mode} request {i}: token {t['token']!r} is not its own top-1")
            if any(x["logprob"] < y["logprob"] for x, y in zip(top, top[1:])):
                bad.append(f"{mode} request {i}: alternatives out of order")
# The same tokens and logprobs (within tol) for the requests sent one at a time (0-6).
# The 6 sent at once are batched as they arrive, differently with and without pipelined steps,
# and batch sizes take different GEMV kernels: their logits differ in the last bits, so a
# near-tie may break the other way and their logprobs differ by ~1e-3. For those only the
# agreement is reported.
worst, worst_batched, n, same = 0.0, 0.0, 0, 0
for i, (h, d) in enumerate(zip(host, dev)):
    alone = i < 7
    hc, dc = content(h), content(d)
    if [t["token"] for t in hc] != [t["token"] for t in dc]:
        if alone:
            bad.append(f"request {i} (alone): tokens differ")
        continue
    same += 1
    for a, b in zip(hc, dc):
        tops = [[t["token"] for t in x["top_logprobs"]] for x in (a, b)]
        if alone and tops[0] != tops[1]:
            bad.append(f"request {i}: top tokens differ at {a['token']!r}")
        pairs = [(a["logprob"], b["logprob"])]
        pairs += [(x["logprob"], y["logprob"])
                  for x, y in zip(a["top_logprobs"], b["top_logprobs"])]
        for x, y in pairs:
            if alone:
                n += 1
                worst = max(worst, abs(x - y))
            else:
                worst_batched = max(worst_batched, abs(x - y))
print(f"{len(host)} requests, {same} with the same tokens in both modes; alone: {n} logprobs "
      f"compared, max |host - device| = {worst:.3g}; batched: max {worst_batched:.3g}")
print("PASS" if not bad and worst <= tol and n > 0 else
      "FAIL: " + ("; ".join(bad[:5]) or f"max difference {worst:.3g} > {tol}"))
PY
