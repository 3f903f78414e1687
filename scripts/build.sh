#!/usr/bin/env bash
# Configures (once) and builds attn into build/ (or $BUILD_DIR). Extra arguments go to
# `meson setup`, e.g. scripts/build.sh -Darch=avx2 for a build that runs on any AVX2 machine.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
if [[ ! -f "$build/build.ninja" ]]; then
  meson setup "$build" "$@" >/dev/null
elif [[ $# -gt 0 ]]; then
  meson configure "$build" "$@" >/dev/null
fi
ninja -C "$build" -j "${JOBS:-$(nproc)}" | grep -v "^\[" || true
test "${PIPESTATUS[0]}" -eq 0
