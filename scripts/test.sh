#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test; ends with "N passed, N failed".
set -uo pipefail
# Tests run side by side (one per core); their OpenMP threads wait passively (tests/meson.build)
# so that two of them share the cores without spinning at each other's barriers.
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
bash scripts/build.sh || exit 1
build=${BUILD_DIR:-build}
meson test -C "$build" --num-processes "$(nproc)" --print-errorlogs 2>&1 | tee "$build/test-summary.log"
status=${PIPESTATUS[0]}
ok=$(awk '/^Ok:/ {print $2}' "$build/test-summary.log")
failed=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {n += $NF} END {print n + 0}' "$build/test-summary.log")
echo "${ok:-0} passed, ${failed:-0} failed"
exit "$status"
