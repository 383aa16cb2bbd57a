#!/usr/bin/env bash
# One-shot GPU acceptance check for moescope, for a person with an NVIDIA GPU (driver >= 580).
#
#   1. build the CUDA binary and test binaries (scripts/build-cuda.sh), unless --bin is given;
#   2. run the workspace test suite with the `cuda` feature (device tests run on CPU and cuda:0);
#   3. run configs/paper.yaml on cuda:0 and on cpu and compare metrics.csv
#      (scripts/compare-metrics.py: |gpu - cpu| <= ATOL + RTOL·|cpu| on >= 95 % of rows);
#   4. time a GPU sweep: the paper config with SEEDS seeds for E in EXPERTS, the seeds of each
#      architecture trained as one batched graph (train.stack=STACK), printing
#      E, wall seconds, models/s (models = architectures × seeds actually written).
#
# Usage: scripts/gpu-check.sh [--bin PATH] [--tests FILE] [--out DIR] [--skip-tests]
#                             [--skip-compare] [--skip-sweep]
#   --bin PATH     prebuilt CUDA moescope binary (skips the build; e.g. from the Docker image or
#                  scripts/build-cuda.sh on another machine)
#   --tests FILE   file listing prebuilt test binaries, one per line (build-cuda.sh --with-tests
#                  writes target/cuda/release/cuda-test-binaries.txt); without it and with --bin,
#                  the tests are skipped unless cargo is available
#   --out DIR      where run folders and logs go (default gpu-check-<UTC time>)
# Env: SEEDS (100), STACK (seeds per batched training graph; default SEEDS), EXPERTS ("2 4 8 16"), RTOL (0.10), ATOL (0.05), DEVICE (cuda:0),
#      CONFIG (configs/paper.yaml; a smaller config for a smoke test),
#      CUDA_COMPUTE_CAP (default: asked from nvidia-smi), PY (python with torch's CUDA 13 wheels,
#      searched for libcudart/libcublas/libcusolver if the loader cannot find them).
# Exit: 0 when every step that ran passed; the summary at the end lists each step.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
bin=""
tests_list=""
out="gpu-check-$(date -u +%Y%m%dT%H%M%SZ)"
skip_tests=0
skip_compare=0
skip_sweep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --tests) tests_list="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --skip-tests) skip_tests=1; shift ;;
    --skip-compare) skip_compare=1; shift ;;
    --skip-sweep) skip_sweep=1; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
seeds="${SEEDS:-100}"
stack="${STACK:-$seeds}"
experts="${EXPERTS:-2 4 8 16}"
rtol="${RTOL:-0.10}"
atol="${ATOL:-0.05}"
device="${DEVICE:-cuda:0}"
config="${CONFIG:-$repo/configs/paper.yaml}"
# Paths given on the command line are relative to where the script was started.
abs() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
if [ -n "$bin" ]; then bin=$(abs "$bin"); fi
if [ -n "$tests_list" ]; then tests_list=$(abs "$tests_list"); fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$repo"
summary="$out/summary.txt"
: > "$summary"
status=0

note() { echo "gpu-check: $*" | tee -a "$summary"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
record() { # step-name rc
  if [ "$2" = 0 ]; then note "PASS $1"; else note "FAIL $1 (exit $2)"; status=1; fi
}

# --- 0. the GPU -------------------------------------------------------------------------------
if ! command -v nvidia-smi > /dev/null; then
  echo "gpu-check: nvidia-smi not found; this script needs an NVIDIA driver and GPU" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv | tee "$out/gpu.txt"
if [ -z "${CUDA_COMPUTE_CAP:-}" ]; then
  CUDA_COMPUTE_CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1 | tr -d ' .')
fi
export CUDA_COMPUTE_CAP

# --- 1. build -----------------------------------------------------------------------------------
if [ -z "$bin" ]; then
  note "building with scripts/build-cuda.sh --with-tests (CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP); log $out/build.log"
  t0=$(now)
  rc=0
  scripts/build-cuda.sh --with-tests > "$out/build.log" 2>&1 || rc=$?
  record "build ($(elapsed "$t0") s)" "$rc"
  if [ "$rc" != 0 ]; then tail -n 30 "$out/build.log"; exit 1; fi
  bin="${CARGO_TARGET_DIR:-$repo/target/cuda}/release/moescope"
  tests_list="${CARGO_TARGET_DIR:-$repo/target/cuda}/release/cuda-test-binaries.txt"
fi
if [ ! -x "$bin" ]; then echo "gpu-check: $bin is not an executable" >&2; exit 2; fi

# The CUDA libraries: the toolkit venv of build-cuda.sh, else a python's CUDA 13 wheels (PyTorch).
lib_dirs=""
for py in "${MOESCOPE_CU13_VENV:-$HOME/.cache/moescope-cu13}/bin/python" "${PY:-python3}"; do
  if [ -x "$(command -v "$py" || true)" ]; then
    d=$("$py" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "lib"))' 2> /dev/null || true)
    if [ -n "$d" ] && [ -d "$d" ]; then lib_dirs="${lib_dirs:+$lib_dirs:}$d"; fi
  fi
done
if ldd "$bin" | grep -q "not found" && [ -n "$lib_dirs" ]; then
  export LD_LIBRARY_PATH="$lib_dirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
if ldd "$bin" | grep "not found"; then
  echo "gpu-check: $bin cannot find the libraries above (install the CUDA 13 runtime, cuBLAS, cuRAND, cuSOLVER, or set PY)" >&2
  exit 2
fi
note "binary $bin"

# --- 2. device test suite -----------------------------------------------------------------------
if [ "$skip_tests" = 1 ]; then
  note "SKIP tests (--skip-tests)"
elif [ -n "$tests_list" ] && [ -s "$tests_list" ]; then
  t0=$(now)
  rc=0
  while IFS= read -r test_bin; do
    [ -n "$test_bin" ] || continue
    echo "== $test_bin" >> "$out/tests.log"
    "$test_bin" >> "$out/tests.log" 2>&1 || rc=$?
  done < "$tests_list"
  grep -E "^test result|FAILED|panicked" "$out/tests.log" | sort | uniq -c | tail -n 20
  record "tests: $(grep -c '_cuda \.\.\. ok' "$out/tests.log" || true) cuda device tests ok ($(elapsed "$t0") s, log $out/tests.log)" "$rc"
elif command -v cargo > /dev/null; then
  t0=$(now)
  rc=0
  cargo test --release --workspace --features cuda > "$out/tests.log" 2>&1 || rc=$?
  record "tests: cargo test --features cuda ($(elapsed "$t0") s, log $out/tests.log)" "$rc"
else
  note "SKIP tests: no --tests list and no cargo"
fi

# --- 3. paper config on GPU vs CPU --------------------------------------------------------------
run() { # out-dir device overrides...
  local dir="$1" dev="$2"
  shift 2
  "$bin" run "$config" --out "$dir" --device "$dev" "$@" > "$dir.log" 2>&1
}
if [ "$skip_compare" = 1 ]; then
  note "SKIP compare (--skip-compare)"
else
  for side in gpu ref; do
    dev="$device"
    if [ "$side" = ref ]; then dev=cpu; fi
    t0=$(now)
    rc=0
    run "$out/$side-${dev/:/}" "$dev" || rc=$?
    record "$(basename "$config") on $dev ($(elapsed "$t0") s)" "$rc"
  done
  rc=0
  python3 scripts/compare-metrics.py "$out/gpu-${device/:/}/metrics.csv" "$out/ref-cpu/metrics.csv" \
    --rtol "$rtol" --atol "$atol" | tee "$out/compare.txt" || rc=$?
  record "metrics.csv $device vs cpu within atol=$atol rtol=$rtol" "$rc"
fi

# --- 4. GPU sweep timing --------------------------------------------------------------------------
if [ "$skip_sweep" = 1 ]; then
  note "SKIP sweep (--skip-sweep)"
else
  table="$out/sweep-timing.tsv"
  printf 'E\tseeds\tstack\tmodels\twall_s\tmodels_per_s\n' > "$table"
  for e in $experts; do
    dir="$out/sweep-E$e"
    t0=$(now)
    rc=0
    run "$dir" "$device" "seeds=$seeds" "train.stack=$stack" "model.experts=$e" || rc=$?
    wall=$(elapsed "$t0")
    models=0
    if [ -f "$dir/metrics.csv" ]; then
      models=$(awk -F, 'NR > 1 { seen[$1 "," $2] = 1 } END { print length(seen) }' "$dir/metrics.csv")
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$e" "$seeds" "$stack" "$models" "$wall" \
      "$(awk -v m="$models" -v w="$wall" 'BEGIN { printf "%.2f", (w > 0 ? m / w : 0) }')" >> "$table"
    record "sweep E=$e seeds=$seeds stack=$stack" "$rc"
  done
  echo
  column -t "$table" 2> /dev/null || cat "$table"
  cat "$table" >> "$summary"
fi

echo
echo "gpu-check: summary ($summary):"
cat "$summary"
exit "$status"
