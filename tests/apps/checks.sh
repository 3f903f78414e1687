# Shared by the shell tests: pass/fail lines and a failure count. Source it.
failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }
check() {  # check NAME command...: passes when the command succeeds, with its output
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then pass "$name: $out"; else fail "$name: $out"; fi
}
