#!/usr/bin/env bash
# Training throughput of attn vs PyTorch eager on the same GPT, shapes and threads, measured
# in one run: the two alternate ROUNDS times (so machine noise hits both) and the medians are
# compared. Prints every measurement as a JSON line, then one summary line per config.
#   bench/lm_vs_pytorch.sh [build-dir]      (ROUNDS=3 THREADS=2 PRECISIONS=fp32 by default)
set -euo pipefail
build=${1:-build}
rounds=${ROUNDS:-3}
threads=${THREADS:-2}
py=/usr/bin/python3
have_torch=1
if ! $py -c "import torch" 2>/dev/null; then
  have_torch=0
  echo '{"bench": "lm_vs_pytorch", "pytorch": "absent: install with scripts/setup.sh --bench"}'
fi
configs=(
  "--layers 4 --heads 4 --width 128 --context 64 --batch 12 --steps 30 --warmup 5"
  "--layers 6 --heads 6 --width 384 --context 256 --batch 8 --steps 8 --warmup 2"
)
# PRECISIONS="fp32 bf16" adds attn --precision bf16 against PyTorch under CPU autocast (bf16).
precisions=${PRECISIONS:-fp32}
value() { $py -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_s"])'; }
for cfg in "${configs[@]}"; do
  declare -A attn_runs=() torch_runs=()
  for ((r = 0; r < rounds; r++)); do
    for prec in $precisions; do
      line=$("$build/bench/bench_lm_step" $cfg --threads "$threads" --precision "$prec")
      echo "$line"
      attn_runs[$prec]+=" $(echo "$line" | value)"
      if ((have_torch)); then
        line=$(OMP_NUM_THREADS=$threads $py "$(dirname "$0")/lm_step_pytorch.py" $cfg \
               --threads "$threads" --precision "$prec")
        echo "$line"
        torch_runs[$prec]+=" $(echo "$line" | value)"
      fi
    done
  done
  for prec in $precisions; do
    $py - "$cfg" "$prec" "${attn_runs[$prec]}" "${torch_runs[$prec]:-}" "${attn_runs[fp32]:-}" <<'PY'
import json, statistics, sys
cfg, prec = sys.argv[1], sys.argv[2]
a, t, f = ([float(x) for x in arg.split()] for arg in sys.argv[3:6])
out = {"bench": "lm_vs_pytorch", "config": cfg, "precision": prec,
       "attn_tokens_per_s": statistics.median(a)}
if t:
    out["pytorch_tokens_per_s"] = statistics.median(t)
    out["speedup"] = out["attn_tokens_per_s"] / out["pytorch_tokens_per_s"]
if prec != "fp32" and f:
    out["attn_vs_attn_fp32"] = out["attn_tokens_per_s"] / statistics.median(f)
print(json.dumps(out))
PY
  done
  unset attn_runs torch_runs
done
