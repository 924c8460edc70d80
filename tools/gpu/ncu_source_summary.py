#!/usr/bin/env python3
"""Summarises Nsight Compute's source view of one kernel: where its warps stall, by opcode.

Input: the CSV of `ncu -i REPORT.ncu-rep --page source --csv --print-source sass` for a report
recorded with `--section SourceCounters` (tools/gpu/ncu_source.sh records and converts one).
Prints the kernel, the warp-stall samples per opcode with their four largest reasons, and the
instructions with the most samples (address offset, executions, samples, reasons, SASS).

Usage: python3 tools/gpu/ncu_source_summary.py FILE.csv [--top N]
"""
import argparse
import collections
import csv
import sys

SAMPLES = "Warp Stall Sampling (All Samples)"
EXECUTED = "Instructions Executed"


def opcode(sass):
    """The opcode without predicate or modifiers: '@!P0 LDGSTS.E.128 ...' -> 'LDGSTS'."""
    words = sass.split()
    if words and words[0].startswith("@"):
        words = words[1:]
    return words[0].split(".")[0] if words else "?"


def as_int(text):
    try:
        return int(text.replace(",", ""))
    except ValueError:
        return 0


def load(path):
    """Returns (kernel name, header, rows) of the CSV's first kernel."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    kernel = ""
    for i, row in enumerate(rows):
        if row and row[0] == "Kernel Name":
            kernel = row[1] if len(row) > 1 else ""
        elif "Source" in row and SAMPLES in row:
            return kernel, row, [r for r in rows[i + 1:] if len(r) == len(row)]
    sys.exit(f"{path}: no source table with '{SAMPLES}' (record with --section SourceCounters)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--top", type=int, default=20, help="instructions listed (default 20)")
    args = ap.parse_args()
    kernel, hdr, rows = load(args.csv)
    i_src, i_smp = hdr.index("Source"), hdr.index(SAMPLES)
    i_ex = hdr.index(EXECUTED) if EXECUTED in hdr else None
    reasons = [(i, h) for i, h in enumerate(hdr)
               if h.startswith("stall_") and "Not Issued" not in h]
    total = sum(as_int(r[i_smp]) for r in rows)
    print(f"kernel: {kernel[:120]}")
    print(f"instructions: {len(rows)}, warp-stall samples: {total}")
    if total == 0:
        return
    by_op = collections.Counter()
    by_op_reason = collections.defaultdict(collections.Counter)
    for r in rows:
        op = opcode(r[i_src])
        by_op[op] += as_int(r[i_smp])
        for i, h in reasons:
            by_op_reason[op][h[len("stall_"):]] += as_int(r[i])
    print("\nsamples by opcode (share; largest reasons):")
    for op, n in by_op.most_common():
        if n * 200 < total:  # under 0.5 %
            break
        top = ", ".join(f"{k} {v}" for k, v in by_op_reason[op].most_common(4) if v > 0)
        print(f"  {op:10s} {n:7d} {100.0 * n / total:5.1f} %  {top}")
    print(f"\nthe {args.top} instructions with the most samples:")
    base = None
    for r in rows:
        try:
            base = int(r[0], 16)
            break
        except ValueError:
            continue
    ranked = sorted(rows, key=lambda r: as_int(r[i_smp]), reverse=True)[:args.top]
    for r in ranked:
        try:
            off = f"{int(r[0], 16) - base:#07x}" if base is not None else r[0]
        except ValueError:
            off = r[0]
        ex = as_int(r[i_ex]) if i_ex is not None else 0
        top = ", ".join(f"{h[len('stall_'):]} {as_int(r[i])}" for i, h in
                        sorted(reasons, key=lambda ih: as_int(r[ih[0]]), reverse=True)[:2]
                        if as_int(r[i]) > 0)
        print(f"  {off} x{ex:<8d} {as_int(r[i_smp]):6d}  {top:32s} {r[i_src].strip()[:70]}")


if __name__ == "__main__":
    main()
