"""Summarizes the kernel chain of a decode step (run by tools/gpu/attn_timeline.sh).

Input: lines "chain KIND BLOCK START WAIT_NS END_NS TAG" as chain_timeline_dump() writes them
(timeline.cuh: per block and launch, the start in ns of %globaltimer, pdl::wait() returned and
the block's work done as ns after the start, and a tag per launch). Launches are the entries of
one (kind, tag) whose starts lie within SPLIT_US of each other; steps are cut where no recorded
kernel runs for STEP_GAP_US. For the last step it prints per role (a kind and its occurrence
since the layer's attention: GEMV#0 is o_proj, #1 gate/up, #2 down, #3 the next q/k/v; NORM#0
after o_proj, #1 before the next attention; "pre:" before the first attention, HEAD the
step's last GEMV) the median over layers of:
  blocks  the launch's recorded blocks
  early   its first block's start -> the median block's wait returning (PDL: launched early)
  handoff the predecessor's last block done -> this launch's median wait returning
  active  the median wait -> the last block done (the launch's own work after its inputs)
and the step's span with the sums of handoff and active (they add up to about the span).
"""
import statistics
import sys

KINDS = {0: "GEMV", 1: "GEMV", 2: "ATTN", 3: "NORM", 4: "SILU"}
SPLIT_US = 15.0
STEP_GAP_US = 20.0


def launches(path):
    groups = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) != 7 or p[0] != "chain":
                continue
            kind, start, wait_ns, end_ns, tag = int(p[1]), int(p[3]), int(p[4]), int(p[5]), p[6]
            groups.setdefault((kind, tag), []).append((start, wait_ns, end_ns))
    out = []
    for (kind, _), entries in groups.items():
        entries.sort()
        cur = [entries[0]]
        for e in entries[1:]:
            if (e[0] - cur[-1][0]) / 1000.0 > SPLIT_US:
                out.append(summarize(kind, cur))
                cur = []
            cur.append(e)
        out.append(summarize(kind, cur))
    out.sort(key=lambda l: l["t0"])
    return out


def summarize(kind, entries):
    waits = [s + w for s, w, _ in entries if w > 0]
    return {
        "kind": KINDS.get(kind, str(kind)),
        "blocks": len(entries),
        "t0": min(s for s, _, _ in entries) / 1000.0,
        "wait": (statistics.median(waits) if waits else min(s for s, _, _ in entries)) / 1000.0,
        "end": max(s + e for s, _, e in entries) / 1000.0,
    }


def last_step(ls):
    steps, cur, cur_end = [], [], 0.0
    for l in ls:
        if cur and l["t0"] - cur_end > STEP_GAP_US:
            steps.append(cur)
            cur = []
        cur_end = l["end"] if not cur else max(cur_end, l["end"])
        cur.append(l)
    if cur:
        steps.append(cur)
    return (steps[-1] if steps else []), len(steps)


def main(path):
    ls = launches(path)
    if not ls:
        print(f"no chain lines in {path} (a MLXM_CUDA_TIMELINE=1 build?)")
        return 1
    step, n_steps = last_step(ls)
    span = step[-1]["end"] - step[0]["t0"]
    print(f"{n_steps} steps in the window; the last: {len(step)} launches over {span:.1f} µs")
    roles, seen, prev_end = {}, {}, None
    sums = {"handoff": 0.0, "active": 0.0}
    attn_seen = False
    for i, l in enumerate(step):
        if l["kind"] == "ATTN":
            seen, attn_seen = {}, True
        k = seen.get(l["kind"], 0)
        seen[l["kind"]] = k + 1
        role = l["kind"] if l["kind"] == "ATTN" else f"{l['kind']}#{k}"
        if not attn_seen:
            role = "pre:" + role  # the first layer's norm and q/k/v
        elif i == len(step) - 1 and l["kind"] == "GEMV":
            role = "HEAD"  # the logits' GEMV
        early = l["wait"] - l["t0"]
        active = l["end"] - l["wait"]
        handoff = l["wait"] - prev_end if prev_end is not None else 0.0
        prev_end = l["end"] if prev_end is None else max(prev_end, l["end"])
        sums["handoff"] += handoff
        sums["active"] += active
        r = roles.setdefault(role, {"n": 0, "blocks": [], "early": [], "handoff": [], "active": []})
        r["n"] += 1
        r["blocks"].append(l["blocks"])
        r["early"].append(early)
        r["handoff"].append(handoff)
        r["active"].append(active)
    print(f"{'role':8s} {'count':>5s} {'blocks':>6s} {'early':>7s} {'handoff':>8s} {'active':>7s}"
          f" {'sum handoff':>12s} {'sum active':>11s}   (µs, medians over the step's launches)")
    for role in sorted(roles, key=lambda r: (r != "ATTN", r)):
        r = roles[role]
        med = lambda xs: statistics.median(xs)
        print(f"{role:8s} {r['n']:5d} {med(r['blocks']):6.0f} {med(r['early']):7.2f}"
              f" {med(r['handoff']):8.2f} {med(r['active']):7.2f}"
              f" {sum(r['handoff']):12.1f} {sum(r['active']):11.1f}")
    print(f"step span {span:.1f} µs = handoffs {sums['handoff']:.1f} + active {sums['active']:.1f}"
          f" (+ what overlaps or is not recorded: {span - sums['handoff'] - sums['active']:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
