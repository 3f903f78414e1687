#!/usr/bin/env bash
# War and Peace with three tokenizers: characters, SentencePiece BPE 2k and 8k, the same
# transformer (4 layers, width 128, 4 heads, context 128, batch 16) and the same wall-clock
# budget each. Prints one line per tokenizer (last evaluation's val loss and bits per byte,
# tokens/s) and a 300-character sample of each.
#   bench/tokenizers.sh [seconds per run, default 180] [corpus, default ../shared/data/warpeace.txt]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-180}
corpus=${2:-../shared/data/warpeace.txt}
attn=build/apps/attn
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$attn" prepare "$corpus" --out "$work/char" --tokenizer char --quiet
"$attn" prepare "$corpus" --out "$work/bpe2k" --tokenizer bpe --vocab-size 2048 --quiet 2>/dev/null
"$attn" prepare "$corpus" --out "$work/bpe8k" --tokenizer bpe --vocab-size 8192 --quiet 2>/dev/null
for ds in char bpe2k bpe8k; do
  # SIGTERM after the budget: the run saves its checkpoint and stops (exit 143).
  timeout -s TERM "$seconds" "$attn" train --data-dir "$work/$ds" --layers 4 --heads 4 --width 128 \
    --context 128 --batch 16 --steps 1000000 --warmup 100 --lr 1e-3 --eval-interval 100 \
    --eval-iters 10 --quiet --out "$work/run_$ds" || true
  python3 -c '
import json, sys
lines = [json.loads(x) for x in open(sys.argv[2])]
ev = [x for x in lines if "val_bpb" in x][-1]
print(json.dumps({"bench": "tokenizers", "tokenizer": sys.argv[1], "seconds": float(sys.argv[3]),
                  "step": ev["step"], "val_loss": ev["val_loss"], "val_bpb": ev["val_bpb"],
                  "tokens_per_s": lines[-1]["tokens_per_s"]}))' "$ds" "$work/run_$ds/metrics.jsonl" "$seconds"
  "$attn" sample --checkpoint "$work/run_$ds/checkpoint.safetensors" --prompt "Pierre" --tokens 300 \
    --temperature 0.8 --top-k 40 --seed 1 2>/dev/null | head -c 300 | sed "s/^/  $ds | /"
  echo
done
