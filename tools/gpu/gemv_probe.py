"""Summarizes the bulk GEMV's per-step stamps (run by tools/gpu/gemv_probe.sh).

Input: lines "gemv-probe BLOCK START WAIT END (ISSUE READY DONE)xSTEPS" as gemv_probe_dump()
writes them (cuda_ops.h; µs from the launch's first block start, -1: not reached). Per block
the first consumer warp's steps t (a 4-row group's piece each): ISSUE when the producer lane
issued its copies, READY when its slot was full, DONE when the consumer was done with it.
Prints, per step, medians over the blocks of:
  issue, ready, done   the stamps
  copy                 ready - issue: at most how long the copies took (the consumer looks only
                       after its wait and its step before)
  stall                ready - max(wait, done of the step before): how long the consumer
                       waited for the slot after it could have gone on (0: it was there)
  math                 done - ready: the consumer's own time on the step (its x loads and the
                       arithmetic)
then the medians of start -> wait and wait -> end, and the sums of the stall and math medians.
"""
import statistics
import sys


def read(path):
    blocks = []
    with open(path) as f:
        for line in f:
            p = line.split()
            # gemv-probe, block, start, wait, end, then (issue, ready, done) per step
            if len(p) < 8 or (len(p) - 5) % 3 != 0 or p[0] != "gemv-probe":
                continue
            v = [float(x) for x in p[2:]]
            blocks.append({
                "start": v[0], "wait": v[1], "end": v[2],
                "issue": v[3::3], "ready": v[4::3], "done": v[5::3],
            })
    return blocks


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main(path):
    blocks = read(path)
    if not blocks:
        print(f"no gemv-probe lines in {path} (a MLXM_CUDA_TIMELINE=1 build, MLXM_GEMV_PROBE set?)")
        return 1
    print(f"{len(blocks)} blocks; µs from the launch's first block start (medians over blocks)")
    print(f"{'step':>4s} {'blocks':>6s} {'issue':>7s} {'ready':>7s} {'done':>7s} {'copy':>6s}"
          f" {'stall':>6s} {'math':>6s}")
    sum_stall = sum_math = 0.0
    for t in range(min(len(b["ready"]) for b in blocks)):
        rows = [b for b in blocks if b["ready"][t] >= 0 and b["done"][t] >= 0]
        if len(rows) * 2 < len(blocks):
            break
        copy, stall, math = [], [], []
        for b in rows:
            before = b["wait"] if t == 0 else max(b["wait"], b["done"][t - 1])
            if b["issue"][t] >= 0:
                copy.append(b["ready"][t] - b["issue"][t])
            stall.append(max(0.0, b["ready"][t] - before))
            math.append(b["done"][t] - b["ready"][t])
        sum_stall += med(stall)
        sum_math += med(math)
        print(f"{t:4d} {len(rows):6d} {med([b['issue'][t] for b in rows if b['issue'][t] >= 0]):7.2f}"
              f" {med([b['ready'][t] for b in rows]):7.2f} {med([b['done'][t] for b in rows]):7.2f}"
              f" {med(copy):6.2f} {med(stall):6.2f} {med(math):6.2f}")
    early = med([b["wait"] - b["start"] for b in blocks if b["wait"] >= 0])
    active = med([b["end"] - b["wait"] for b in blocks if b["end"] >= 0 and b["wait"] >= 0])
    last = max(b["end"] for b in blocks)
    print(f"start -> wait {early:.2f}, wait -> end {active:.2f} (the last block ends at {last:.2f});"
          f" summed medians: stall {sum_stall:.2f}, math {sum_math:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
