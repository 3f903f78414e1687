#!/usr/bin/env bash
# Data-parallel training on this machine: tokens/s of 2 ranks x 1 thread (mpirun) against 1
# process x 2 threads at the same global batch, for both configurations of
# bench/lm_vs_pytorch.sh; the ranks' gradient buckets reduced during the backward pass
# (--bucket-mb 4) and as one all-reduce after it (--bucket-mb 0). The three alternate ROUNDS
# times, so machine noise hits all; medians are compared. Then a projection to N machines
# on 1, 10 and 25 Gbit/s Ethernet from the model's size and the measured compute time.
#   bench/data_parallel.sh [build-dir]     (ROUNDS=3; tiny Shakespeare from ../shared/data
#                                           when present, else the built-in copy task)
set -euo pipefail
build=${1:-build}
rounds=${ROUNDS:-3}
attn=$build/apps/attn
here=$(cd "$(dirname "$0")" && pwd)
data=$here/../../shared/data/tinyshakespeare.txt
task=(--task copy)
[[ -f "$data" ]] && task=(--data "$data")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The configurations of bench/lm_vs_pytorch.sh, each with its (global) batch.
configs=(
  "12 --layers 4 --heads 4 --width 128 --context 64 --steps 40 --warmup 5"
  "8 --layers 6 --heads 6 --width 384 --context 256 --steps 10 --warmup 2"
)
# measure NAME RUN_DIR: one JSON line from the run's metrics (steps after the second).
measure() {
  python3 - "$1" "$2" <<'PY'
import json, statistics, struct, sys
name, run = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(run + "/metrics.jsonl")]
rows = [r for r in rows if r["step"] > 2 and "step_ms" in r]
step_ms = statistics.median(r["step_ms"] for r in rows)
wait_ms = statistics.median(r.get("allreduce_wait_ms", 0.0) for r in rows)
with open(run + "/checkpoint.safetensors", "rb") as f:
    header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
params = sum(
    (e["data_offsets"][1] - e["data_offsets"][0]) // 4
    for k, e in header.items()
    if k != "__metadata__" and not k.startswith(("adam", "optim", "ema."))
)
print(json.dumps({"bench": "data_parallel", "run": name, "step_ms": step_ms,
                  "allreduce_wait_ms": wait_ms, "tokens_per_s": rows[-1]["tokens_per_step"] / step_ms * 1e3,
                  "parameters": params}))
PY
}
for entry in "${configs[@]}"; do
  batch=${entry%% *} cfg=${entry#* }
  common=("${task[@]}" --log-interval 1 --eval-interval 100000 --eval-iters 1 --quiet)
  lines=()
  for ((r = 0; r < rounds; r++)); do
    rm -rf "$work"/*
    "$attn" train $cfg "${common[@]}" --batch "$batch" --threads 2 --out "$work/one"
    lines+=("$(measure "1 process x 2 threads" "$work/one")")
    mpirun -np 2 "$attn" train $cfg "${common[@]}" --batch $((batch / 2)) --threads 1 \
      --bucket-mb 4 --out "$work/buckets"
    lines+=("$(measure "2 ranks x 1 thread, buckets" "$work/buckets")")
    mpirun -np 2 "$attn" train $cfg "${common[@]}" --batch $((batch / 2)) --threads 1 \
      --bucket-mb 0 --out "$work/whole"
    lines+=("$(measure "2 ranks x 1 thread, one all-reduce" "$work/whole")")
  done
  printf '%s\n' "${lines[@]}"
  printf '%s\n' "${lines[@]}" | python3 "$here/data_parallel_summary.py" "$cfg --batch $batch"
done
