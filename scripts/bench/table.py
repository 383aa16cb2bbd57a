#!/usr/bin/env python3
"""Summarise scripts/bench/run.sh timings: median per stage and side, ratio PyTorch/moescope."""
import json
import statistics
import sys

TARGETS = {"train": 1.5, "jac+spec": 3.0, "wall": 2.0}


def main(path):
    runs = [json.loads(line) for line in open(path) if line.strip()]
    side = {s: [r for r in runs if r["side"] == s] for s in ("moescope", "torch")}
    for r in runs:
        r["jac+spec"] = r["jac"] + r["spec"]
    rows = [("training (Σ over jobs)", "train"), ("Jacobians (Σ over jobs)", "jac"),
            ("spectra + PCA (Σ over jobs)", "spec"), ("Jacobians + spectra + PCA", "jac+spec"),
            ("whole run (wall)", "wall")]
    n = min(len(side["moescope"]), len(side["torch"]))
    print(f"\n| stage | moescope s | PyTorch s | ratio PyTorch/moescope | target |  (median of {n} runs each)")
    print("|---|---:|---:|---:|---:|")
    short = []
    for label, key in rows:
        m = statistics.median(r[key] for r in side["moescope"])
        t = statistics.median(r[key] for r in side["torch"])
        target = TARGETS.get(key)
        ratio = t / m
        mark = "" if target is None else (f"≥ {target}× " + ("ok" if ratio >= target else "SHORT"))
        if target is not None and ratio < target:
            short.append(f"{label}: {ratio:.2f}× < {target}× (by {target / ratio:.2f}×)")
        print(f"| {label} | {m:.2f} | {t:.2f} | {ratio:.2f}× | {mark} |")
    m_rss = statistics.median(r["rss_kb"] for r in side["moescope"]) / 1024
    t_rss = statistics.median(r["rss_kb"] for r in side["torch"]) / 1024
    print(f"| peak RSS (MB) | {m_rss:.0f} | {t_rss:.0f} | {t_rss / m_rss:.2f}× | |")
    print("\nfinal validation MSE, mean ± sd over seeds (first run; both sides are deterministic per seed):")
    for arch in ("dense", "top1", "top2", "soft"):
        parts = []
        for s in ("moescope", "torch"):
            vals = [v for r in side[s][:1] for k, v in r["losses"].items() if k.startswith(arch + "_")]
            if vals:
                sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
                parts.append(f"{s} {statistics.mean(vals):.4f} ± {sd:.4f}")
        print(f"  {arch:5s}: " + "; ".join(parts))
    print("\nall ratios at or above target" if not short else "\nshort of target: " + "; ".join(short))


if __name__ == "__main__":
    main(sys.argv[1])
