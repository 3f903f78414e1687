#!/usr/bin/env bash
# Training throughput of attn vs PyTorch eager on the same GPT, shapes and threads, measured
# in one run: the two alternate ROUNDS times (so machine noise hits both) and the medians are
# compared. Prints every measurement as a JSON line, then one summary line per config.
#   bench/lm_vs_pytorch.sh [build-dir]      (ROUNDS=3 THREADS=2 by default)
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
for cfg in "${configs[@]}"; do
  attn_runs=() torch_runs=()
  for ((r = 0; r < rounds; r++)); do
    line=$("$build/bench/bench_lm_step" $cfg --threads "$threads")
    echo "$line"
    attn_runs+=("$(echo "$line" | $py -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_s"])')")
    if ((have_torch)); then
      line=$(OMP_NUM_THREADS=$threads $py "$(dirname "$0")/lm_step_pytorch.py" $cfg --threads "$threads")
      echo "$line"
      torch_runs+=("$(echo "$line" | $py -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_s"])')")
    fi
  done
  $py - "$cfg" "${attn_runs[*]}" "${torch_runs[*]:-}" <<'PY'
import json, statistics, sys
cfg, a, t = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
out = {"bench": "lm_vs_pytorch", "config": cfg, "attn_tokens_per_s": statistics.median(a)}
if t:
    out["pytorch_tokens_per_s"] = statistics.median(t)
    out["speedup"] = out["attn_tokens_per_s"] / out["pytorch_tokens_per_s"]
print(json.dumps(out))
PY
done
