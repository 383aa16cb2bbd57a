#!/usr/bin/env bash
# moescope vs the PyTorch way, side by side (issue 5). See BENCHMARKS.md.
#
#   scripts/bench/run.sh [--reps N (2; 0 = no timing)] [--steps S] [--seeds K] [--skip-agree] [--scaling] [--no-build]
#
# 1. Agreement: writes T1 data as CSV, runs moescope on it (scripts/bench/agree.yaml), loads its
#    checkpoints into PyTorch and compares metrics on identical weights and identical inputs.
# 2. Timing: runs configs/paper.yaml with moescope and moe_torch.py alternately, N times each, and
#    prints the median per stage (train, Jacobians, spectra+PCA, whole run), ratios and peak RSS.
# 3. --scaling: probe-set size (2k, 20k, 200k points) and number of experts (2..64), moescope only.
#
# Environment: PYTHON (a python with torch, numpy, safetensors; default scripts/bench/.venv or
# /tmp/benchvenv), MOESCOPE (binary; default target/release/moescope after `cargo build --release`),
# WORK (scratch folder; default /tmp/moescope-bench).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS=2 STEPS=2000 SEEDS=3 AGREE=1 SCALING=0 BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS=$2; shift ;;
    --steps) STEPS=$2; shift ;;
    --seeds) SEEDS=$2; shift ;;
    --skip-agree) AGREE=0 ;;
    --scaling) SCALING=1 ;;
    --no-build) BUILD=0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "${PYTHON:-}" ]; then
  for p in scripts/bench/.venv/bin/python /tmp/benchvenv/bin/python; do [ -x "$p" ] && PYTHON=$p && break; done
fi
: "${PYTHON:?set PYTHON to a python with torch (pip install torch numpy safetensors)}"
MOESCOPE=${MOESCOPE:-target/release/moescope}
WORK=${WORK:-/tmp/moescope-bench}
CORES=$(nproc)
TIME=/usr/bin/time
[ -x $TIME ] || { echo "needs GNU time (apt-get install time)" >&2; exit 2; }
[ "$BUILD" = 1 ] && cargo build --release
mkdir -p "$WORK"
PT="$PYTHON scripts/bench/moe_torch.py"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $CORES cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "threads: moescope --jobs $CORES (1 rayon thread per job); torch --jobs $CORES --threads 1"

if [ "$AGREE" = 1 ]; then
  echo "== agreement (identical weights, identical inputs) =="
  A="$WORK/agree"; rm -rf "$A"; mkdir -p "$A"
  $PT make-csv --csv "$A/t1.csv" --n $((4096 + 512 + 2048)) --seed 0
  $MOESCOPE run scripts/bench/agree.yaml "task.path=$A/t1.csv" --out "$A/run" > "$A/moescope.log" 2>&1
  $PT agree --run "$A/run" --csv "$A/t1.csv" --threads "$CORES" | tee "$A/agree.txt" | tail -n 25
fi

# One timed run of each side; appends a JSON line per run to $WORK/times.jsonl.
run_moescope() {
  local out="$WORK/ms_$1"; rm -rf "$out"
  $TIME -v -o "$WORK/ms_$1.time" $MOESCOPE run configs/paper.yaml "seeds=$SEEDS" "train.steps=$STEPS" \
    --out "$out" > "$WORK/ms_$1.log" 2>&1
  "$PYTHON" - "$out" "$WORK/ms_$1.time" >> "$WORK/times.jsonl" <<'EOF'
import json, re, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
st = {s["stage"]: s["seconds"] for s in m["stages"]}
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(sys.argv[2]).read()).group(1))
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", open(sys.argv[2]).read()).group(1)
secs = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.split(":"))))
vals = {}
for line in open(sys.argv[1] + "/metrics.jsonl"):
    r = json.loads(line)
    if r["metric"] == "fit.val_loss":
        vals[f'{r["model"]}_s{r["seed"]}'] = r["value"]
print(json.dumps({"side": "moescope", "train": st["train"], "jac": st["probe"], "spec": st["spectral"],
                  "wall": secs, "rss_kb": rss, "losses": vals}))
EOF
}
run_torch() {
  local out="$WORK/pt_$1"; rm -rf "$out"
  $TIME -v -o "$WORK/pt_$1.time" $PT run --seeds "$SEEDS" --steps "$STEPS" --jobs "$CORES" --threads 1 \
    --out "$out" --json "$out.json" > "$WORK/pt_$1.log" 2>&1
  "$PYTHON" - "$out.json" "$WORK/pt_$1.time" >> "$WORK/times.jsonl" <<'EOF'
import json, re, sys
s = json.load(open(sys.argv[1]))
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", open(sys.argv[2]).read()).group(1)
secs = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.split(":"))))
st = s["stages"]
print(json.dumps({"side": "torch", "train": st["train"], "jac": st["probe"], "spec": st["spectral"],
                  "wall": secs, "rss_kb": s["peak_rss_kb_sum"], "losses": s["losses"]}))
EOF
}

if [ "$REPS" -gt 0 ]; then
  echo "== timing: configs/paper.yaml (seeds=$SEEDS, steps=$STEPS), $REPS alternating runs each =="
  : > "$WORK/times.jsonl"
  for i in $(seq 1 "$REPS"); do
    if [ $((i % 2)) = 1 ]; then run_moescope "$i"; run_torch "$i"; else run_torch "$i"; run_moescope "$i"; fi
    echo "  rep $i done (load $(cut -d' ' -f1 /proc/loadavg))"
  done
  "$PYTHON" scripts/bench/table.py "$WORK/times.jsonl"
fi

if [ "$SCALING" = 1 ]; then
  echo "== scaling (moescope; soft routing, 20 training steps, 1 seed) =="
  printf "%-28s %10s %10s %12s\n" "case" "probe s" "spectral s" "peak RSS MB"
  scale() {  # $1 = label, rest = overrides
    local label=$1; shift; local out="$WORK/scale"; rm -rf "$out"
    $TIME -v -o "$out.time" $MOESCOPE run configs/paper.yaml seeds=1 train.steps=20 "architectures=[soft]" \
      "$@" --out "$out" > "$out.log" 2>&1
    "$PYTHON" - "$label" "$out/manifest.json" "$out.time" <<'EOF'
import json, re, sys
st = {s["stage"]: s["seconds"] for s in json.load(open(sys.argv[2]))["stages"]}
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(sys.argv[3]).read()).group(1))
print(f"{sys.argv[1]:28s} {st['probe']:10.2f} {st['spectral']:10.2f} {rss / 1024:12.0f}")
EOF
  }
  for n in 2048 20480 204800; do scale "probe points $n" "task.n_probe=$n"; done
  for e in 2 4 8 16 32 64; do scale "experts $e (probe 2048)" "model.experts=$e"; done
fi
