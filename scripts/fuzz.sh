#!/usr/bin/env bash
# Fuzzes the readers of untrusted files with libFuzzer (clang, ASan + UBSan), in memory: the
# .npy reader, the checkpoint reader (and what the apps then do with a checkpoint: its
# tokenizer, its saved options, loading it into a model), JSON (depth scan, tokenizer and
# config checks), the UTF-8 char tokenizer, the label,text CSV reader and the ListOps TSV
# reader. Each target has a largest input that reaches its format's limits and a dictionary
# of its format's tokens (tests/fuzz/dict/); it starts from the structure-aware seeds in
# tests/fuzz/corpus/<target> (64 KiB .npy headers, checkpoints with optimizer state, JSON at
# the depth limit). Crashing inputs go to tests/fuzz/regressions/<target>, which the test
# suite replays (tests/fuzz/test_regressions.cpp). Prints executions, coverage and the
# longest input per target.
#   scripts/fuzz.sh [seconds per target, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
missing=()
for p in clang libclang-rt-14-dev libdnnl-dev nlohmann-json3-dev libcli11-dev libsentencepiece-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
out=build-fuzz
mkdir -p "$out/obj"
flags=(-std=c++20 -O1 -g -fopenmp -I. -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined)
sources=(engine/*.cpp engine/ops/*.cpp attention/*.cpp nn/*.cpp nn/variants/*.cpp apps/tokenizer.cpp
         apps/subword_model.cpp apps/token_files.cpp apps/csv.cpp apps/listops.cpp apps/memory_estimate.cpp apps/option_ranges.cpp apps/run_options.cpp
         tests/fuzz/targets.cpp)
# Objects are rebuilt when their source or any header changed (a header's constant, such as a
# size limit, changes what every file that includes it does).
headers_stamp=$(cat engine/*.h attention/*.h nn/*.h nn/variants/*.h apps/*.h tests/fuzz/*.h | sha1sum | cut -c1-16)
if [[ "$(cat "$out/headers.stamp" 2>/dev/null)" != "$headers_stamp" ]]; then rm -f "$out"/obj/*.o; fi
echo "$headers_stamp" > "$out/headers.stamp"
objects=()
for src in "${sources[@]}"; do
  obj="$out/obj/$(echo "$src" | tr / _).o"
  if [[ ! -f "$obj" || "$src" -nt "$obj" ]]; then
    echo "fuzz: compiling $src"
    clang++ "${flags[@]}" -c "$src" -o "$obj" &
    (( $(jobs -r | wc -l) >= $(nproc) )) && wait -n
  fi
  objects+=("$obj")
done
wait
# target  corpus name  largest input: each reaches its format's limits (a .npy header of 64 KiB,
# a checkpoint with a tokenizer, optimizer state and a weight average, JSON of nesting depth).
targets=("npy_reader npy 70000" "checkpoint_reader safetensors 262144" "json_reader json 65536"
         "utf8_tokenizer utf8 16384" "csv_reader csv 65536" "listops_tsv_reader tsv 65536"
         "subword_model_reader spm 1048576")
status=0
for entry in "${targets[@]}"; do
  read -r target name max_len <<< "$entry"
  bin="$out/fuzz_$name"
  clang++ "${flags[@]/fuzzer-no-link/fuzzer}" -DATTN_FUZZ_TARGET="$target" tests/fuzz/fuzz_main.cpp \
    "${objects[@]}" -ldnnl -lsentencepiece -lsentencepiece_train -o "$bin"
  work="$out/corpus_$name"
  mkdir -p "$work" "tests/fuzz/regressions/$name"
  cp -n tests/fuzz/corpus/$name/* "$work/" 2>/dev/null || true
  echo "fuzz: $name for ${seconds}s (inputs up to $max_len bytes, dictionary tests/fuzz/dict/$name.dict)"
  if ! "$bin" "$work" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=4096 \
       -dict="tests/fuzz/dict/$name.dict" -artifact_prefix="tests/fuzz/regressions/$name/" \
       -print_final_stats=1 2>"$out/$name.log"; then
    echo "fuzz: $name FOUND A CRASH (see $out/$name.log and tests/fuzz/regressions/$name/)"
    status=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log")
  cov=$(grep -o 'cov: [0-9]*' "$out/$name.log" | tail -1 | cut -d' ' -f2)
  longest=$(find "$work" -type f -printf '%s\n' | sort -n | tail -1)
  echo "fuzz: $name executions ${execs:-?}, coverage ${cov:-?} edges, corpus $(ls "$work" | wc -l) inputs, longest $longest bytes"
done
exit $status
