"""Summarizes the decode attention's phase stamps (tools/gpu/attn_timeline.sh).

Input: lines "attn-timeline BLOCK t0 .. t7" (µs from the first block's launch, -1 where the
block did not reach the phase) as paged_attention_timeline_dump() writes them. Output: per
phase, how many blocks reached it, the median and latest time, and the median step from the
previous phase over the blocks that reached both.
"""
import statistics
import sys

PHASES = [
    "launched (PDL: before the predecessor ends)",
    "predecessor done (pdl::wait returns)",
    "context length, table, q arrived",
    "the round's K/V arrived (last round)",
    "the rounds' math done",
    "partials written",
    "counted in (atomic)",
    "last block merged (output, out_q)",
]


def main(path):
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 + len(PHASES) and parts[0] == "attn-timeline":
                rows.append([float(x) for x in parts[2:]])
    if not rows:
        print(f"no attn-timeline lines in {path} (a MLXM_CUDA_TIMELINE=1 build?)")
        return 1
    print(f"{len(rows)} blocks; µs from the first block's launch")
    print(f"{'phase':46s} {'blocks':>6s} {'median':>8s} {'latest':>8s} {'step':>7s}")
    for k, name in enumerate(PHASES):
        at = [r[k] for r in rows if r[k] >= 0]
        steps = [r[k] - r[k - 1] for r in rows if k > 0 and r[k] >= 0 and r[k - 1] >= 0]
        if not at:
            print(f"{name:46s} {0:6d}")
            continue
        step = f"{statistics.median(steps):7.2f}" if steps else f"{'':7s}"
        print(f"{name:46s} {len(at):6d} {statistics.median(at):8.2f} {max(at):8.2f} {step}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
