#!/usr/bin/env python3
"""Batching sweep against a running mlx-manager: aggregate and per-request decode tok/s at
several concurrencies (the seed guide's "Batching Performance" table), plus the server's own
per-token overhead: time the engine thread spends delivering tokens to the HTTP/SSE path
(detokenize, stop strings, JSON, queueing the write) against its time in the forward pass, from
/admin/models.

Standard library only. Usage:
  bench/serving/batch_sweep.py --url http://127.0.0.1:10242 --model NAME \
      --concurrency 1,2,4,8 --max-tokens 64 --prompt-tokens 32 --runs 3
"""
import argparse
import http.client
import json
import statistics
import threading
import time
import urllib.parse


def stream_one(url, model, prompt, max_tokens, seed, out):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    body = json.dumps({
        "model": model, "prompt": prompt, "max_tokens": max_tokens, "ignore_eos": True,
        "temperature": 0.8, "seed": seed, "stream": True,
        "stream_options": {"include_usage": True}})
    t0 = time.perf_counter()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        out.append({"error": resp.status})
        return
    t_first = None
    t_last = None
    usage = None
    buf = b""
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            if not event.startswith(b"data: "):
                continue
            data = event[6:]
            if data == b"[DONE]":
                continue
            j = json.loads(data)
            now = time.perf_counter()
            if j.get("usage"):
                usage = j["usage"]
            elif j.get("choices"):
                if t_first is None:
                    t_first = now
                t_last = now
    conn.close()
    n = usage["completion_tokens"] if usage else 0
    out.append({"ttft": t_first - t0, "decode_s": t_last - t_first, "tokens": n,
                "e2e": time.perf_counter() - t0})


def admin(url):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", "/admin/models")
    j = json.loads(conn.getresponse().read())
    conn.close()
    return j["data"][0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:10242")
    ap.add_argument("--model", required=True)
    ap.add_argument("--concurrency", default="1,2,4,8")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    prompt = " ".join(["hello"] * args.prompt_tokens)
    # warm-up
    stream_one(args.url, args.model, prompt, 4, 0, [])
    rows = []
    for c in [int(x) for x in args.concurrency.split(",")]:
        aggs, per_req, ttfts, overheads = [], [], [], []
        for run in range(args.runs):
            before = admin(args.url)
            out = []
            threads = [threading.Thread(target=stream_one,
                                        args=(args.url, args.model, prompt, args.max_tokens,
                                              1000 * run + i, out)) for i in range(c)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            after = admin(args.url)
            ok = [o for o in out if "error" not in o]
            tokens = sum(o["tokens"] for o in ok)
            aggs.append(tokens / wall)
            per_req.append(statistics.median((o["tokens"] - 1) / o["decode_s"]
                                             for o in ok if o["decode_s"] > 0))
            ttfts.append(statistics.median(o["ttft"] for o in ok))
            fwd = after["forward_ms"] - before["forward_ms"]
            sink = after["sink_ms"] - before["sink_ms"]
            overheads.append(100.0 * sink / max(fwd, 1e-9))
        rows.append((c, statistics.median(aggs), statistics.median(per_req),
                     statistics.median(ttfts) * 1000, statistics.median(overheads)))
    base = rows[0][1]
    print(f"model {args.model}, {args.prompt_tokens} prompt tokens, {args.max_tokens} generated, "
          f"median of {args.runs} runs")
    print("| concurrency | aggregate tok/s | per-request decode tok/s | median TTFT ms | "
          "scaling vs 1 | output path / forward |")
    print("|---|---|---|---|---|---|")
    for c, agg, per, ttft, ovh in rows:
        print(f"| {c} | {agg:.1f} | {per:.1f} | {ttft:.0f} | {agg / base:.2f}x | {ovh:.2f}% |")


if __name__ == "__main__":
    main()
