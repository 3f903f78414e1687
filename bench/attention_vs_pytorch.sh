#!/usr/bin/env bash
# The attention comparisons the issues ask for, attn and PyTorch eager alternating in one run
# (same shapes, same threads), with the ratio of forward+backward medians:
#   softmax T = 1024 and 4096, causal T = 4096 (B = 1, H = 4, D = 64);
#   causal linear T = 4096 against PyTorch chunked (64) and cumulative-sum formulations.
#   bench/attention_vs_pytorch.sh [build-dir]
set -euo pipefail
build=${1:-build}
threads=${THREADS:-2}
py=/usr/bin/python3
if ! $py -c "import torch" 2>/dev/null; then
  echo '{"bench": "attention_vs_pytorch", "pytorch": "absent: install with scripts/setup.sh --bench"}'
  exit 0
fi
here=$(dirname "$0")
rounds=${ROUNDS:-3}
compare() {  # attn-variant torch-variant T causal; ROUNDS alternations, medians compared
  local a t all_a=() all_t=()
  for ((r = 0; r < rounds; r++)); do
    a=$("$build/bench/bench_attention" --threads "$threads" --variant "$1" --T "$3" --causal "$4" --repeats 3)
    t=$(OMP_NUM_THREADS=$threads $py "$here/attention_pytorch.py" --threads "$threads" --variant "$2" --T "$3" --causal "$4" --repeats 3)
    echo "$a"
    echo "$t"
    all_a+=("$a") all_t+=("$t")
  done
  $py -c '
import json, statistics, sys
n = len(sys.argv) // 2
a = [json.loads(x) for x in sys.argv[1:1 + n]]
t = [json.loads(x) for x in sys.argv[1 + n:]]
ma = statistics.median(x["fwd_bwd_ms"] for x in a)
mt = statistics.median(x["fwd_bwd_ms"] for x in t)
print(json.dumps({"bench": "attention_vs_pytorch", "attn": a[0]["variant"], "pytorch": t[0]["variant"],
                  "T": a[0]["T"], "causal": a[0]["causal"], "rounds": n, "attn_fwd_bwd_ms": ma,
                  "pytorch_fwd_bwd_ms": mt, "speedup": mt / ma}))' "${all_a[@]}" "${all_t[@]}"
}
compare softmax softmax 1024 0
compare softmax softmax 4096 0
compare softmax softmax 4096 1
compare linear linear-causal-chunked 4096 1
compare linear linear-causal-cumsum 4096 1
