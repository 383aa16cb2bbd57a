#!/usr/bin/env python3
"""Compare two run folders' metrics.csv (e.g. a CUDA run against a CPU run of the same config).

Rows are matched on (model, seed, expert, metric). A row agrees when
    |a - b| <= atol + rtol * |b|        (b = the reference, the second file).
GPU and CPU training differ in floating-point reduction order, so their trajectories drift apart
over thousands of steps, and Top-k routing can flip tokens between experts; per-expert metrics can
therefore move more than run-level ones. The check passes when the key sets are identical and at
most --max-bad-fraction of the rows fall outside the tolerance. Prints per-metric worst relative
differences so a person can judge the rest.

Usage: compare-metrics.py A/metrics.csv B/metrics.csv [--rtol 0.1] [--atol 0.05] [--max-bad-fraction 0.05]
Exit: 0 agree, 1 disagree, 2 bad input.
"""
import argparse
import csv
import math
import sys
from collections import defaultdict


def load(path):
    rows = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            key = (r["model"], r["seed"], r["expert"], r["metric"])
            rows[key] = float(r["value"])
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b", help="reference")
    ap.add_argument("--rtol", type=float, default=0.10)
    ap.add_argument("--atol", type=float, default=0.05)
    ap.add_argument("--max-bad-fraction", type=float, default=0.05)
    args = ap.parse_args()
    try:
        a, b = load(args.a), load(args.b)
    except (OSError, KeyError, ValueError) as e:
        print(f"compare-metrics: cannot read input: {e}", file=sys.stderr)
        return 2
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if only_a or only_b:
        print(f"compare-metrics: key sets differ: {len(only_a)} rows only in {args.a}, "
              f"{len(only_b)} only in {args.b}; first: {(only_a + only_b)[:3]}")
        return 1
    bad = []
    worst = defaultdict(float)
    for key, ref in b.items():
        diff = abs(a[key] - ref)
        rel = diff / max(abs(ref), 1e-12)
        worst[key[3]] = max(worst[key[3]], rel if math.isfinite(rel) else math.inf)
        if not diff <= args.atol + args.rtol * abs(ref):
            bad.append((diff - args.atol - args.rtol * abs(ref), key, a[key], ref))
    print(f"{'metric':<40} worst |a-b|/|b|")
    for metric in sorted(worst):
        print(f"{metric:<40} {worst[metric]:.3g}")
    frac = len(bad) / max(len(b), 1)
    print(f"compare-metrics: {len(b)} rows, {len(bad)} outside atol={args.atol} rtol={args.rtol} "
          f"({100 * frac:.1f}%, allowed {100 * args.max_bad_fraction:.1f}%)")
    for _, key, va, vb in sorted(bad, reverse=True)[:10]:
        print(f"  {key}: {va!r} vs {vb!r}")
    return 0 if frac <= args.max_bad_fraction else 1


if __name__ == "__main__":
    sys.exit(main())
