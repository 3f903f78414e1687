#!/usr/bin/env bash
# Installs what attn needs from Debian packages, only what is missing; quiet when all is there.
#   scripts/setup.sh          build dependencies
#   scripts/setup.sh --bench  also PyTorch (the benchmark peer) with OpenMP OpenBLAS
set -euo pipefail
# openmpi-bin, libopenmpi-dev: data-parallel training under mpirun (apps/world.h); iproute2:
# the two-network-namespace test (tests/apps/test_mpi.sh). python3-numpy: the checks of the
# learner pages (docs/examples/*.py, run by the tests).
# ocl-icd-opencl-dev: oneDNN's CMake config looks for OpenCL even in a CPU-only build, and
# apt only recommends it (the script installs without recommends).
packages=(meson ninja-build g++ pkg-config cmake libdnnl-dev ocl-icd-opencl-dev doctest-dev
          libcli11-dev nlohmann-json3-dev libstb-dev libsentencepiece-dev
          openmpi-bin libopenmpi-dev iproute2 python3-numpy)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(python3-torch libopenblas0-openmp)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
