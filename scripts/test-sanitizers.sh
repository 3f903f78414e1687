#!/usr/bin/env bash
# Builds the tests with AddressSanitizer + UndefinedBehaviorSanitizer (an unoptimised debug
# build in build-asan/, only the test targets, to stay within CI's time) and runs them all;
# any sanitizer report fails its test. Ends with "N passed, N failed".
set -uo pipefail
# Tests run side by side (one per core); their OpenMP threads wait passively (tests/meson.build).
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
build=build-asan
if [[ ! -f "$build/build.ninja" ]]; then
  meson setup "$build" -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
fi
targets=$(ninja -C "$build" -t targets all | grep -E "^tests/.*: cpp_LINKER|^apps/attn: " | cut -d: -f1)
ninja -C "$build" -j "$(nproc)" $targets | grep -v "^\[" || true
test "${PIPESTATUS[0]}" -eq 0 || exit 1
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
meson test -C "$build" --no-rebuild --num-processes "$(nproc)" --print-errorlogs 2>&1 | tee "$build/test-summary.log"
status=${PIPESTATUS[0]}
ok=$(awk '/^Ok:/ {print $2}' "$build/test-summary.log")
failed=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {n += $NF} END {print n + 0}' "$build/test-summary.log")
echo "sanitizers: ${ok:-0} passed, ${failed:-0} failed"
exit "$status"
