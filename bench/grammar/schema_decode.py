#!/usr/bin/env python3
"""Cost of constrained decoding end to end: N concurrent /v1/chat/completions requests against a
running mlx-manager, without and with a JSON schema (response_format json_schema, nested objects,
arrays, enums, bounded and unbounded strings), same prompts, seeds and max_tokens. Reports per
mode the median over --runs of: aggregate tok/s (wall clock), and from /admin/models the engine
thread's forward time and sampling time (the mask is computed and applied inside sampling) per
step. A random-weight model rarely closes a JSON string, so most constrained tokens are string
content: the case the string fast path is for.

Standard library only. Usage:
  bench/grammar/schema_decode.py --url http://127.0.0.1:18555 --model l1b-q4 \
      --concurrency 8 --max-tokens 48 --runs 3
"""
import argparse
import http.client
import json
import os
import statistics
import threading
import time
import urllib.parse

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 0},
        "title": {"type": "string", "maxLength": 120},
        "summary": {"type": "string"},
        "status": {"enum": ["open", "closed", "pending review"]},
        "author": {"type": "object", "properties": {
            "name": {"type": "string", "maxLength": 60},
            "email": {"type": "string"}}, "required": ["name", "email"]},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 30}, "maxItems": 6},
        "lines": {"type": "array", "maxItems": 3, "items": {"type": "object", "properties": {
            "sku": {"type": "string", "minLength": 3, "maxLength": 12},
            "qty": {"type": "integer"}}, "required": ["sku", "qty"]}},
        "done": {"type": "boolean"}},
    "required": ["id", "title", "summary", "status", "author", "tags", "lines", "done"]}


def post(url, body):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=900)
    conn.request("POST", "/v1/chat/completions", json.dumps(body),
                 {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, json.loads(data)


def admin(url):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", "/admin/models")
    j = json.loads(conn.getresponse().read())
    conn.close()
    return j["data"][0]


def one_run(args, schema, seed0):
    bodies = []
    for i in range(args.concurrency):
        b = {"model": args.model, "max_tokens": args.max_tokens, "temperature": 1.0,
             "seed": seed0 + i,
             "messages": [{"role": "user", "content": "Describe ticket %d as JSON." % i}]}
        if schema:
            b["response_format"] = {"type": "json_schema",
                                    "json_schema": {"name": "ticket", "schema": SCHEMA}}
        bodies.append(b)
    results = [None] * len(bodies)

    def worker(i):
        results[i] = post(args.url, bodies[i])

    before = admin(args.url)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    after = admin(args.url)
    tokens = 0
    for status, j in results:
        if status != 200:
            raise SystemExit("request failed: %s %s" % (status, j))
        tokens += j["usage"]["completion_tokens"]
        if schema and j["choices"][0]["finish_reason"] == "stop":
            json.loads(j["choices"][0]["message"]["content"])  # complete output parses
    steps = after["steps"] - before["steps"]
    return {"tok_s": tokens / wall, "tokens": tokens,
            "forward_ms_step": (after["forward_ms"] - before["forward_ms"]) / max(steps, 1),
            "sample_ms_step": (after["sample_ms"] - before["sample_ms"]) / max(steps, 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:10242")
    ap.add_argument("--model", required=True)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    one_run(argparse.Namespace(**{**vars(args), "concurrency": 1, "max_tokens": 4}), True, 99)
    rows = {}
    print("load average at start: %.2f %.2f %.2f" % os.getloadavg())
    for r in range(args.runs):  # interleaved, so drifting machine load hits both modes alike
        for schema in (False, True):
            rows.setdefault(schema, []).append(one_run(args, schema, 1000 * r))
    print("load average at end: %.2f %.2f %.2f" % os.getloadavg())
    print("| mode | aggregate tok/s | tokens/run | forward ms/step | sampling+mask ms/step |")
    print("|---|---|---|---|---|")
    med = {}
    for schema in (False, True):
        rs = rows[schema]
        m = {k: statistics.median(x[k] for x in rs) for k in rs[0]}
        med[schema] = m
        print("| %s | %.2f | %d | %.1f | %.2f |" % (
            "json_schema" if schema else "no schema", m["tok_s"], m["tokens"],
            m["forward_ms_step"], m["sample_ms_step"]))
    slow = med[False]["tok_s"] / med[True]["tok_s"] - 1
    extra = med[True]["sample_ms_step"] - med[False]["sample_ms_step"]
    step = med[False]["forward_ms_step"] + med[False]["sample_ms_step"]
    print("schema vs none: %+.1f%% wall-clock tok/s; +%.2f ms sampling per step = %.1f%% of a step"
          % (-slow * 100, extra, 100 * extra / step))


if __name__ == "__main__":
    main()
