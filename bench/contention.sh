#!/usr/bin/env bash
# attn beside another busy program on the same cores. For both configs of lm_vs_pytorch.sh,
# in one run, alternating so that machine noise hits every case alike:
#   idle        bench_lm_step with the default (automatic) threads, nothing else running
#   idle_fixed  bench_lm_step --threads <all cores>: the thread count attn used before it
#               learned to share, and the spin-waiting it still uses (a: idle within 3%)
#   vs_attn     beside a second attn run (attn classify, default settings)
#   vs_torch    beside a PyTorch training job with its default settings (all cores)
#   *_fixed     the same competitors against --threads <all cores>: what sharing avoids
# Each competitor is started and stopped by this script. Prints every measurement as a JSON
# line, then one summary line per config with the kept share of idle tokens/s (b: >= 40%).
#   bench/contention.sh [build-dir]      (ROUNDS=2 by default)
# Run it on an otherwise idle machine.
set -euo pipefail
build=${1:-build}
rounds=${ROUNDS:-2}
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
cores=$(nproc)
work=$(mktemp -d)
competitor=""
cleanup() {
  [[ -n $competitor ]] && kill "$competitor" 2>/dev/null && wait "$competitor" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
have_torch=1
$py -c "import torch" 2>/dev/null || have_torch=0
((have_torch)) || echo '{"bench": "contention", "pytorch": "absent: install with scripts/setup.sh --bench"}'

start_competitor() {  # $1: attn | torch
  if [[ $1 == attn ]]; then
    "$build/apps/attn" classify --steps 1000000 --quiet --out "$work/competitor-$RANDOM" >/dev/null 2>&1 &
  else
    $py "$here/lm_step_pytorch.py" --threads 0 --steps 1000000 >/dev/null 2>&1 &
  fi
  competitor=$!
  sleep 3  # past its start-up, busy
}
stop_competitor() {
  kill "$competitor" 2>/dev/null || true
  wait "$competitor" 2>/dev/null || true
  competitor=""
  sleep 1
}
measure() {  # $1: case name, $2: threads (0: automatic), rest: config
  local name=$1 threads=$2
  shift 2
  "$build/bench/bench_lm_step" "$@" --threads "$threads" |
    $py -c 'import json,sys; d=json.load(sys.stdin); d["case"]=sys.argv[1]; print(json.dumps(d))' "$name"
}

configs=(
  "--layers 4 --heads 4 --width 128 --context 64 --batch 12 --steps 40 --warmup 10"
  "--layers 6 --heads 6 --width 384 --context 256 --batch 8 --steps 10 --warmup 3"
)
competitors=(attn)
((have_torch)) && competitors+=(torch)
for cfg in "${configs[@]}"; do
  out="$work/lines.jsonl"
  : >"$out"
  for ((r = 0; r < rounds; r++)); do
    measure idle 0 $cfg | tee -a "$out"
    measure idle_fixed "$cores" $cfg | tee -a "$out"
    for c in "${competitors[@]}"; do
      start_competitor "$c"
      measure "vs_$c" 0 $cfg | tee -a "$out"
      measure "vs_${c}_fixed" "$cores" $cfg | tee -a "$out"
      stop_competitor
    done
  done
  $py - "$cfg" "$out" <<'PY'
import json, statistics, sys
cfg, path = sys.argv[1], sys.argv[2]
by_case = {}
for line in open(path):
    d = json.loads(line)
    by_case.setdefault(d["case"], []).append(d["tokens_per_s"])
med = {k: statistics.median(v) for k, v in by_case.items()}
out = {"bench": "contention", "config": cfg, "tokens_per_s": med,
       "idle_vs_fixed": med["idle"] / med["idle_fixed"]}
for case in med:
    if case.startswith("vs_"):
        base = med["idle_fixed"] if case.endswith("_fixed") else med["idle"]
        out["kept_" + case[3:]] = med[case] / base
print(json.dumps(out))
PY
done
