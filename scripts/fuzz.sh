#!/usr/bin/env bash
# Fuzzes the readers of untrusted files with libFuzzer (clang, ASan + UBSan): the .npy reader,
# the safetensors/checkpoint reader, the UTF-8 char tokenizer, the label,text CSV reader and
# the ListOps TSV reader. Starts from the seed corpora
# in tests/fuzz/corpus/<target>; crashing inputs are copied to tests/fuzz/regressions/<target>,
# which the test suite replays (tests/fuzz/test_regressions.cpp).
#   scripts/fuzz.sh [seconds per target, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
missing=()
for p in clang libclang-rt-14-dev libdnnl-dev nlohmann-json3-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
out=build-fuzz
mkdir -p "$out/obj"
flags=(-std=c++20 -O1 -g -fopenmp -I. -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined)
sources=(engine/*.cpp engine/ops/*.cpp attention/*.cpp nn/*.cpp apps/tokenizer.cpp apps/csv.cpp
         apps/listops.cpp tests/fuzz/targets.cpp)
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
status=0
for target in npy_reader checkpoint_reader utf8_tokenizer csv_reader listops_tsv_reader; do
  case $target in
    npy_reader) name=npy ;; checkpoint_reader) name=safetensors ;; utf8_tokenizer) name=utf8 ;;
    csv_reader) name=csv ;; listops_tsv_reader) name=tsv ;;
  esac
  bin="$out/fuzz_$name"
  clang++ "${flags[@]/fuzzer-no-link/fuzzer}" -DATTN_FUZZ_TARGET="$target" tests/fuzz/fuzz_main.cpp \
    "${objects[@]}" -ldnnl -o "$bin"
  work="$out/corpus_$name"
  mkdir -p "$work" "tests/fuzz/regressions/$name"
  cp -n tests/fuzz/corpus/$name/* "$work/" 2>/dev/null || true
  echo "fuzz: $name for ${seconds}s"
  if ! "$bin" "$work" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
       -artifact_prefix="tests/fuzz/regressions/$name/" -print_final_stats=1 2>"$out/$name.log"; then
    echo "fuzz: $name FOUND A CRASH (see $out/$name.log and tests/fuzz/regressions/$name/)"
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$out/$name.log" | sed "s/^/fuzz: $name /"
done
exit $status
