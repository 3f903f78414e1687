#!/usr/bin/env bash
# Layering: apps -> nn -> attention -> engine, nothing pointing up; the test support library
# (testing/: composed twins, gradcheck, matmul peers) sits beside them and production code
# never includes it, tests/ or bench/. Fails naming every include that breaks the rule.
set -uo pipefail
cd "$(dirname "$0")/.."
declare -A allowed=(
  [engine]="engine"
  [attention]="engine attention"
  [nn]="engine attention nn"
  [apps]="engine attention nn apps"
  [testing]="engine attention testing"
)
bad=0 checked=0
for layer in "${!allowed[@]}"; do
  while IFS=: read -r file line include; do
    checked=$((checked + 1))
    target=$(sed -E 's/.*#include "([^/"]+)\/.*/\1/' <<<"$include")
    [[ $target == *'#include'* ]] && continue  # a file in the same folder, no layer named
    if [[ " ${allowed[$layer]} " != *" $target "* ]]; then
      echo "$file:$line: $layer/ must not include $target/ (${include#*#include })"
      bad=$((bad + 1))
    fi
  done < <(grep -n '^#include "' -r "$layer" --include='*.h' --include='*.cpp' | sed -E 's/^([^:]+):([0-9]+):/\1:\2:/')
done
if ((checked == 0)); then echo "no includes found: is this the source tree?"; exit 1; fi
echo "$checked includes checked, $bad break the layering"
((bad == 0))
