#!/usr/bin/env bash
# attn's --help as a user reads it: every option of every subcommand is described, and every
# numeric option states its range and refuses the values just outside it.
# Usage: test_help.sh path/to/attn
set -uo pipefail
attn=$1
source "$(dirname "$0")/checks.sh"

# 1. Every option of every subcommand has a description in --help (on its line, or on the
# next one when the option's name is long).
undescribed=$(for c in train prepare sample eval classify compare bench attention-map op plot; do
  "$attn" "$c" --help | awk -v cmd="$c" '
    pending != "" { if ($0 !~ /^                    +[^ -]/) print cmd ": " pending; pending = "" }
    /^  +-/ {  # described: text after two spaces, or text from column 31 (the name column)
      line = $0; sub(/^ +/, "", line)
      if (line !~ /[^ ]  +[^ ]/ && !(substr($0, 30, 1) == " " && substr($0, 31, 1) ~ /[^ ]/)) pending = $1
    }
    END { if (pending != "") print cmd ": " pending }'
done)
[[ -z "$undescribed" ]] && pass "every option of every subcommand has a --help description" \
  || fail "options without a --help description: $undescribed"

# 2. Every numeric option of every subcommand states its range in --help, and the values just
# outside each end (and NaN, infinity, junk) are refused, naming the option (option_edges.py).
if edges=$(python3 "$(dirname "$0")/option_edges.py" "$attn" 2>&1); then pass "${edges##*$'\n'}"
else fail "numeric option ranges"; echo "$edges"; fi

echo "$failures failed"
[[ $failures -eq 0 ]]
