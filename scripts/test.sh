#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test; ends with "N passed, N failed".
set -uo pipefail
# One test at a time: each uses both cores through OpenMP, and two OpenMP programs sharing
# two cores spin at every barrier (a 1-second test then takes minutes).
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
bash scripts/build.sh || exit 1
build=${BUILD_DIR:-build}
meson test -C "$build" --num-processes 1 --print-errorlogs 2>&1 | tee "$build/test-summary.log"
status=${PIPESTATUS[0]}
ok=$(awk '/^Ok:/ {print $2}' "$build/test-summary.log")
failed=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {n += $NF} END {print n + 0}' "$build/test-summary.log")
echo "${ok:-0} passed, ${failed:-0} failed"
exit "$status"
