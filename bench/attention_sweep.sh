#!/usr/bin/env bash
# Every attention operator, forward and forward+backward, over T = 256 .. 16384 (as far as
# memory allows), B = 1, H = 4, D = 64, causal and not; each configuration in a fresh process
# so process_peak_rss_mb is its own. Then causal linear attention at B = 1, H = 1 up to
# T = 65536 (linear scaling). JSON lines on stdout.
#   bench/attention_sweep.sh [build-dir] > sweep.jsonl
set -euo pipefail
build=${1:-build}
bench="$build/bench/bench_attention"
threads=${THREADS:-2}
run() { "$bench" --threads "$threads" --B 1 --H 4 --D 64 --repeats 3 "$@"; }
for causal in 0 1; do
  for T in 256 512 1024 2048 4096 8192 16384; do
    run --variant softmax --causal $causal --T $T
    run --variant linear --causal $causal --T $T
    # The Synthesizer keeps T x T per head by design: 16384 would need ~13 GB.
    ((T <= 8192)) && run --variant synth-random --causal $causal --T $T
    ((causal == 0)) && run --variant linformer --causal 0 --T $T --linformer-k 256
  done
done
for T in 1024 2048 4096 8192 16384 32768 65536; do
  "$bench" --threads "$threads" --variant linear --causal 1 --B 1 --H 1 --D 64 --T $T --repeats 3
done
