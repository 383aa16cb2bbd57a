#!/usr/bin/env bash
# Real CUDA build of the moescope binary on any x86_64 Linux box, GPU or not, using NVIDIA's
# CUDA 13.0 toolkit from PyPI wheels in a venv (no system CUDA install, no root).
#
# Usage: scripts/build-cuda.sh [--with-tests] [extra cargo build args]
#   --with-tests   also build the workspace test binaries with `cuda` (for scripts/gpu-check.sh
#                  --prebuilt on a box without Rust); their paths are printed at the end.
# Env:
#   CUDA_COMPUTE_CAP     GPU compute capability to build for (default 90 = H100/H200; 80 = A100,
#                        89 = L4/L40/RTX 40xx, 120 = RTX 50xx). Kernels only run on that family.
#   MOESCOPE_CU13_VENV   the toolkit venv (default ~/.cache/moescope-cu13, ~1.7 GB, made once)
#   CARGO_TARGET_DIR     default target/cuda, apart from the CPU build's target/
# Output: $CARGO_TARGET_DIR/release/moescope.
#
# Why CUDA 13.0 exactly: candle loads kernels as PTX JIT-compiled by the driver; PTX from nvcc 13.0
# (ISA 9.0) is accepted by driver >= 580, newer nvcc emits PTX a 580 driver refuses.
# The binary hard-links libcuda.so.1 (candle 0.11 uses cudarc's dynamic-linking), so it only
# starts where the NVIDIA driver is installed; at link time a generated stub stands in for it.
set -euo pipefail

cd "$(dirname "$0")/.."
with_tests=0
if [ "${1:-}" = "--with-tests" ]; then with_tests=1; shift; fi

venv="${MOESCOPE_CU13_VENV:-$HOME/.cache/moescope-cu13}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/cuda}"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"

if [ ! -x "$venv/bin/pip" ]; then
  echo "build-cuda: installing the CUDA 13.0 toolkit wheels into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q \
    nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 \
    nvidia-cuda-cccl==13.0.85 nvidia-cuda-runtime==13.0.96 nvidia-cuda-nvrtc==13.0.88 \
    nvidia-curand==10.4.0.35 nvidia-cublas==13.0.2.14 nvidia-cusolver==12.0.4.66 \
    nvidia-cusparse==12.6.3.3 nvidia-nvjitlink==13.0.88
fi
cuda_home=$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')

# The wheels ship only versioned sonames; the linker wants the unversioned names.
for f in libcudart.so.13 libnvrtc.so.13 libcurand.so.10 libcublas.so.13 libcublasLt.so.13 \
         libcusolver.so.12 libcusparse.so.12 libnvJitLink.so.13; do
  if [ -e "$cuda_home/lib/$f" ]; then ln -sf "$f" "$cuda_home/lib/${f%%.so*}.so"; fi
done

# No wheel ships libcuda (it is the driver). Link against a stub exporting every driver symbol
# cudarc binds, with the real soname so the binary asks the loader for libcuda.so.1.
stub="$cuda_home/lib/stubs/libcuda.so"
if [ ! -e "$stub" ]; then
  cargo fetch --quiet
  sys_rs=$(cargo metadata --format-version 1 --features cuda | python3 -c '
import json, os, sys
m = json.load(sys.stdin)
print([os.path.join(os.path.dirname(p["manifest_path"]), "src/driver/sys/mod.rs")
       for p in m["packages"] if p["name"] == "cudarc"][0])')
  mkdir -p "$(dirname "$stub")"
  grep -oE '^pub unsafe fn cu[A-Za-z0-9_]+' "$sys_rs" | awk '{print $4}' | sort -u \
    | awk '{print "int " $1 "(void) { return 999; }"}' > "$cuda_home/lib/stubs/libcuda_stub.c"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stub" "$cuda_home/lib/stubs/libcuda_stub.c"
fi

export CUDA_HOME="$cuda_home" PATH="$cuda_home/bin:$PATH" NVCC="$cuda_home/bin/nvcc"
export CUDARC_CUDA_VERSION=13000 CUDAFORGE_THREADS="${CUDAFORGE_THREADS:-$(nproc)}"
nvcc --version | tail -2

start=$(date +%s)
cargo build --release --features cuda --bin moescope "$@"
bin="$CARGO_TARGET_DIR/release/moescope"
echo "build-cuda: built $bin in $(( $(date +%s) - start )) s ($(stat -c %s "$bin") bytes, cc $CUDA_COMPUTE_CAP)"
if command -v readelf > /dev/null; then
  echo "build-cuda: shared libraries the binary needs at run time:"
  readelf -d "$bin" | awk '/NEEDED/ {print "  " $NF}'
fi

if [ "$with_tests" = 1 ]; then
  cargo test --release --workspace --features cuda --no-run "$@" 2>&1 \
    | tee /dev/stderr | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' > "$CARGO_TARGET_DIR/release/cuda-test-binaries.txt"
  echo "build-cuda: test binaries listed in $CARGO_TARGET_DIR/release/cuda-test-binaries.txt"
fi
