# syntax=docker/dockerfile:1
# moescope in a container. Two variants from one file:
#   cuda (default): built on nvidia/cuda devel, runs on nvidia/cuda runtime; needs the NVIDIA
#                   driver >= 580 on the host and `docker run --gpus all` (nvidia-container-toolkit
#                   mounts libcuda.so.1 into the container).
#   cpu:            --build-arg VARIANT=cpu, Debian bookworm, no CUDA at all.
#
#   docker build -t moescope:cuda .
#   docker build -t moescope:cpu --build-arg VARIANT=cpu .
#   docker run --rm --gpus all -v "$PWD/runs:/runs" --user "$(id -u):$(id -g)" \
#       moescope:cuda run configs/paper.yaml --device cuda:0
#
# Results: the configs' output root is `runs`, relative to WORKDIR /work, and /work/runs is a link
# to /runs: mount a host folder (or named volume) there. `--out /runs/NAME` also works.
# CUDA_COMPUTE_CAP selects the GPU family the kernels are built for (90 = H100/H200, 80 = A100,
# 89 = L4/L40, 120 = RTX 50xx); the kernels (sm_90a for 90) only run on that family.
# Keep CUDA at 13.0.x: candle's kernels ship as PTX that the driver JIT-compiles, and PTX from a
# newer nvcc is refused by a 580 driver.

ARG VARIANT=cuda
ARG CUDA_VERSION=13.0.0
ARG UBUNTU=ubuntu24.04

# ---- build stages -----------------------------------------------------------------------------
FROM nvidia/cuda:${CUDA_VERSION}-devel-${UBUNTU} AS build-cuda
ENV CUDA_HOME=/usr/local/cuda CARGO_FEATURES="--features cuda"

FROM debian:bookworm-slim AS build-cpu
ENV CARGO_FEATURES=""

FROM build-${VARIANT} AS build
ARG RUST_VERSION=1.95.0
ARG CUDA_COMPUTE_CAP=90
ENV CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP} \
    RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:${PATH}
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gcc g++ libc6-dev git pkg-config \
 && rm -rf /var/lib/apt/lists/* \
 && curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain "${RUST_VERSION}" \
 && rustc --version
WORKDIR /src
COPY . .
# The cache mounts keep the registry and target dir between builds (BuildKit); the binary is
# copied out of the cached target dir because the mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CUDAFORGE_THREADS="$(nproc)" cargo build --release --locked --bin moescope ${CARGO_FEATURES} \
 && install -D target/release/moescope /out/moescope

# ---- runtime stages ---------------------------------------------------------------------------
# The runtime image carries libcudart, libcublas(Lt), libcurand, libcusolver (+ cusparse,
# nvJitLink): everything the binary links besides the driver's libcuda.so.1.
FROM nvidia/cuda:${CUDA_VERSION}-runtime-${UBUNTU} AS runtime-cuda
ENV NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility

FROM debian:bookworm-slim AS runtime-cpu
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

FROM runtime-${VARIANT}
ARG VARIANT
LABEL org.opencontainers.image.title="moescope" \
      org.opencontainers.image.description="MoE geometry experiment engine (${VARIANT} build)"
RUN useradd --create-home --uid 10001 --user-group moescope \
 && mkdir -p /runs /work && chown moescope:moescope /runs /work
COPY --from=build /out/moescope /usr/local/bin/moescope
WORKDIR /work
COPY --chown=moescope:moescope configs/ /work/configs/
RUN ln -s /runs /work/runs
USER moescope
VOLUME ["/runs"]
ENTRYPOINT ["moescope"]
CMD ["--help"]
