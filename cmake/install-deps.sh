#!/usr/bin/env bash
# Installs the Debian packages basin's build, tests, examples and benchmarks need.
# Skips apt entirely when every package is already present, so repeated runs stay fast.
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build ccache pkg-config
  libeigen3-dev libboost-test-dev libbenchmark-dev
  libhdf5-dev hdf5-tools zlib1g-dev
  dataset-fashion-mnist gnuplot-nox
  python3-torch python3-h5py python3-numpy libopenblas0-pthread
  libopenmpi-dev openmpi-bin
)
# Thrust: the CUDA toolkit's CCCL headers when present, else Debian's host-only Thrust.
if [ ! -d /usr/local/cuda/include/cccl/thrust ] && [ ! -d /usr/local/cuda/include/thrust ]; then
  pkgs+=(libthrust-dev libcub-dev)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
