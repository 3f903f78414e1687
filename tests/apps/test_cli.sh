#!/usr/bin/env bash
# The attn command line as a user meets it: resume equivalence, Ctrl-C, sampling, and every
# kind of bad input giving a clear error and a non-zero exit without harming a good checkpoint.
# Usage: test_cli.sh path/to/attn (--help's descriptions and ranges: test_help.sh)
set -uo pipefail
attn=$1 work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/checks.sh"  # pass, fail, check and the failure count

# expect_error NAME "message fragment" attn-args...: non-zero exit, the fragment on stderr.
expect_error() {
  local name=$1 fragment=$2
  shift 2
  local err
  err=$("$attn" "$@" 2>&1 >/dev/null)
  local code=$?
  if [[ $code -ne 0 && $code -lt 128 && "$err" == *"$fragment"* ]]; then pass "$name"
  else fail "$name (exit $code, stderr: $err)"; fi
}

tiny_base=(--layers 1 --heads 2 --width 16 --batch 4 --eval-iters 2 --log-interval 1 --quiet
           --copy-max-len 5 --warmup 2)
tiny=("${tiny_base[@]}" --threads 2)

# 1. Resume: losses after resuming equal those of an uninterrupted run, exactly.
"$attn" train "${tiny[@]}" --steps 12 --out "$work/full" || fail "full run"
"$attn" train "${tiny[@]}" --steps 12 --out "$work/split" --stop-after 5 || fail "first half"
"$attn" train --resume --out "$work/split" --quiet --threads 2 || fail "resumed half"
losses() { python3 -c 'import json,sys; [print(j["step"], j["loss"]) for j in map(json.loads, open(sys.argv[1])) if "loss" in j]' "$1" | sort -n -u; }
if diff <(losses "$work/full/metrics.jsonl") <(losses "$work/split/metrics.jsonl") >/dev/null; then
  pass "resume gives the uninterrupted losses"
else
  fail "resume gives the uninterrupted losses"; diff <(losses "$work/full/metrics.jsonl") <(losses "$work/split/metrics.jsonl")
fi

# 1a. --resume with changed options: --steps extends a finished run (the cosine schedule is
# recomputed over the new total); options that define the run are refused, naming them; the
# same value typed again is accepted. --init-from starts a new run from a checkpoint's weights.
cp -r "$work/full" "$work/extend"
"$attn" train --resume --out "$work/extend" --steps 16 --quiet --threads 2 || fail "extend run"
python3 -c 'import json,sys; s=[json.loads(l)["step"] for l in open(sys.argv[1])]; c=json.load(open(sys.argv[2])); sys.exit(0 if max(s)==16 and c["options"]["steps"]==16 else 1)' \
  "$work/extend/metrics.jsonl" "$work/extend/config.json" \
  && pass "--resume --steps 16 extends a finished 12-step run" || fail "--resume --steps 16 extends a finished 12-step run"
expect_error "resume refuses a changed model width" "these options cannot change: --width (the run has 16, given 32)" \
  train --resume --out "$work/extend" --width 32 --steps 20
expect_error "resume refuses changed data options" "--lr (the run has" train --resume --out "$work/extend" --lr 0.5
expect_error "resume cannot shorten a run" "is behind the run, which is at step 16" train --resume --out "$work/extend" --steps 10
"$attn" train --resume --out "$work/extend" --width 16 --steps 17 --quiet --threads 2 \
  && pass "resume accepts an unchanged option typed again" || fail "resume accepts an unchanged option typed again"
expect_error "--init-from with --resume" "cannot be combined with --resume" train --resume --init-from "$work/full/checkpoint.safetensors" --out "$work/extend"
expect_error "--init-from refuses another shape" "--layers (the run has 1, given 2)" train --init-from "$work/full/checkpoint.safetensors" --layers 2 --out "$work/init_bad"
# Fine-tuning: a copy-task model trained longer starts a new run far below a fresh model's loss.
"$attn" train "${tiny[@]}" --steps 150 --lr 3e-3 --out "$work/pre" || fail "pre-training run"
"$attn" train "${tiny[@]}" --steps 1 --init-from "$work/pre/checkpoint.safetensors" --out "$work/tuned" || fail "init-from run"
"$attn" train "${tiny[@]}" --steps 1 --out "$work/fresh" || fail "fresh run"
python3 - "$work/tuned/metrics.jsonl" "$work/fresh/metrics.jsonl" "$work/pre/metrics.jsonl" <<'PY' \
  && pass "--init-from starts from the checkpoint's weights (new optimizer, step 1)" || fail "--init-from starts from the checkpoint's weights (new optimizer, step 1)"
import json, sys
first = [json.loads(open(p).readline()) for p in sys.argv[1:3]]
pre_last = [json.loads(l) for l in open(sys.argv[3])][-1]
sys.exit(0 if first[0]["step"] == 1 and first[0]["loss"] < first[1]["loss"] - 0.3 and first[0]["loss"] < pre_last["loss"] + 0.5 else 1)
PY

# 1b. Determinism: the same seed and thread count give bit-identical losses and parameters;
# another thread count gives the same losses within a tolerance (sums in another order).
"$attn" train "${tiny[@]}" --steps 12 --out "$work/again" || fail "repeat run"
# The checkpoints differ only in the run folder named in their metadata: compare the data's checksum.
checksum() { python3 -c 'import json,struct,sys; f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]; print(json.loads(f.read(n))["__metadata__"]["attn.checksum"])' "$1"; }
[[ "$(checksum "$work/full/checkpoint.safetensors")" == "$(checksum "$work/again/checkpoint.safetensors")" ]] \
  && pass "same seed, same threads: bit-identical parameters" || fail "same seed, same threads: bit-identical parameters"
diff <(losses "$work/full/metrics.jsonl") <(losses "$work/again/metrics.jsonl") >/dev/null \
  && pass "same seed, same threads: identical losses" || fail "same seed, same threads: identical losses"
"$attn" train "${tiny_base[@]}" --steps 12 --threads 1 --out "$work/one" || fail "1-thread run"
python3 - "$work/full/metrics.jsonl" "$work/one/metrics.jsonl" <<'PY' && pass "1 vs 2 threads: losses within 1e-4" || fail "1 vs 2 threads: losses within 1e-4"
import json, sys
a, b = ([json.loads(l)["loss"] for l in open(p)] for p in sys.argv[1:])
sys.exit(0 if len(a) == len(b) and max(abs(x - y) for x, y in zip(a, b)) < 1e-4 else 1)
PY

# 1c. Keep the last N checkpoints.
"$attn" train "${tiny[@]}" --steps 12 --ckpt-interval 2 --keep-checkpoints 3 --out "$work/keep" || fail "keep run"
kept=$(cd "$work/keep" && ls checkpoint-*.safetensors | tr '\n' ' ')
[[ "$kept" == "checkpoint-00000008.safetensors checkpoint-00000010.safetensors checkpoint-00000012.safetensors " ]] \
  && pass "--keep-checkpoints keeps the last N" || fail "--keep-checkpoints keeps the last N ($kept)"

# 1d. SIGKILL at random moments (also mid-write) always leaves a loadable checkpoint.
python3 -c "print('to be or not to be, that is the question. ' * 60)" > "$work/kill.txt"
"$attn" train --data "$work/kill.txt" --context 16 "${tiny[@]}" --steps 2 --out "$work/kill" || fail "kill seed run"
killed_ok=1
for delay in 0.05 0.13 0.21 0.34 0.47; do
  "$attn" train --resume --out "$work/kill" --quiet --threads 2 --ckpt-interval 1 --stop-after 100000 &
  pid=$!
  sleep $delay
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  "$attn" eval --checkpoint "$work/kill/checkpoint.safetensors" --data "$work/kill.txt" >/dev/null || killed_ok=0
done
((killed_ok)) && pass "SIGKILL during training and checkpoint writes leaves a loadable checkpoint" \
  || fail "SIGKILL during training and checkpoint writes leaves a loadable checkpoint"

# 2. Ctrl-C saves a checkpoint and exits 130; the run then resumes to the end.
"$attn" train "${tiny[@]}" --steps 100000 --out "$work/int" &
pid=$!
for _ in $(seq 100); do [[ -s "$work/int/metrics.jsonl" ]] && break; sleep 0.1; done
kill -INT $pid
wait $pid
code=$?
if [[ $code -eq 130 && -f "$work/int/checkpoint.safetensors" ]]; then pass "SIGINT saves and exits 130"
else fail "SIGINT saves and exits 130 (exit $code)"; fi

# 3. Text training, sampling and evaluation on a small file.
python3 -c "print(('the quick brown fox jumps over the lazy dog. ' * 40))" > "$work/text.txt"
"$attn" train --data "$work/text.txt" --context 16 "${tiny[@]}" --steps 30 --out "$work/text" || fail "text run"
out=$("$attn" sample --checkpoint "$work/text/checkpoint.safetensors" --prompt "the " --tokens 20 --seed 1)
[[ ${#out} -ge 24 ]] && pass "sample prints text" || fail "sample prints text ($out)"
out2=$("$attn" sample --checkpoint "$work/text/checkpoint.safetensors" --prompt "the " --tokens 20 --seed 1)
err=$("$attn" sample --checkpoint "$work/text/checkpoint.safetensors" --prompt "the " --tokens 20 --top-p 0.9 --threads 1 2>&1 >/dev/null)
[[ "$err" == *"20 tokens in"*"tokens/s)"* ]] && pass "sample reports tokens/s on stderr (top-p, --threads)" || fail "sample reports tokens/s on stderr ($err)"
expect_error "sample: top-p out of range" "--top-p: 0 is outside (0, 1]" sample --checkpoint "$work/text/checkpoint.safetensors" --top-p 0
expect_error "a run folder given as --checkpoint" "is a folder, not a checkpoint file" sample --checkpoint "$work/text"
expect_error "a character outside the vocabulary, in hexadecimal" "character U+00E9 at position 3" \
  sample --checkpoint "$work/text/checkpoint.safetensors" --prompt "caf$(printf '\xc3\xa9')"
loud=()
for a in "${tiny_base[@]}"; do [[ $a != --quiet ]] && loud+=("$a"); done
"$attn" train --data "$work/text.txt" --context 16 "${loud[@]}" --steps 4 --eval-interval 2 --out "$work/last_lines" > "$work/last_lines.txt" \
  || fail "run for the last lines"
grep -q "final: loss .*best of this run: loss .* at step" "$work/last_lines.txt" && grep -q "checkpoint: $work/last_lines/checkpoint.safetensors" "$work/last_lines.txt" \
  && pass "train ends with final and best validation loss and the checkpoint path" \
  || { fail "train ends with final and best validation loss and the checkpoint path"; cat "$work/last_lines.txt"; }
[[ "$out" == "$out2" ]] && pass "sampling is seeded" || fail "sampling is seeded"
"$attn" eval --checkpoint "$work/text/checkpoint.safetensors" --data "$work/text.txt" | grep -q '"perplexity"' \
  && pass "eval prints perplexity" || fail "eval prints perplexity"

# 4. Bad input: clear errors, non-zero exits.
expect_error "missing data file" "a text data file does not exist" train --data "$work/nope.txt" --out "$work/e1"
: > "$work/empty.txt"
expect_error "empty data file" "the data file is empty" train --data "$work/empty.txt" --out "$work/e2"
echo "short" > "$work/short.txt"
expect_error "text shorter than the context" "not more than the context" train --data "$work/short.txt" --out "$work/e3"
printf 'abc\xff\xfedef%.0s' $(seq 100) > "$work/binary.txt"
expect_error "non-UTF-8 text, char level" "invalid UTF-8 at byte offset 3" train --data "$work/binary.txt" --out "$work/e4"
"$attn" train --data "$work/binary.txt" --tokenizer byte --context 16 "${tiny[@]}" --steps 2 --out "$work/bytes" \
  && pass "non-UTF-8 text trains at byte level" || fail "non-UTF-8 text trains at byte level"
expect_error "negative learning rate" "--lr: -1 is outside (0, 1000]" train --lr -1 --out "$work/e5"
expect_error "width not divisible by heads" "must be a positive multiple of n_head" train --heads 3 --width 128 --out "$work/e6"
expect_error "unknown attention variant" "unknown attention variant 'bogus'" train --attention bogus --out "$work/e7"
expect_error "non-numeric option" "--steps: 'ten' is not a whole number" train --steps ten --out "$work/e8"
expect_error "resume without a run names the file and how to start" "checkpoint.safetensors does not exist, so there is no run to continue" train --resume --out "$work/nothing"
expect_error "classify: resume without a run" "start one with \`attn classify --out" classify --resume --out "$work/nothing"
expect_error "sample from a copy-task model" "synthetic task" sample --checkpoint "$work/full/checkpoint.safetensors"

# 4b. A diverging run stops with a clear message and exit code 3; --skip-nonfinite skips instead.
expect_error "diverging loss stops the run" "became" train "${tiny[@]}" --steps 20 --lr 1000 --out "$work/nan"
out=$("$attn" train --layers 1 --heads 2 --width 16 --batch 4 --eval-iters 2 --copy-max-len 5 \
  --warmup 2 --steps 20 --lr 1000 --skip-nonfinite --out "$work/nan2" 2>&1)
[[ "$out" == *"step skipped"* ]] && pass "--skip-nonfinite skips non-finite steps" || fail "--skip-nonfinite skips non-finite steps ($out)"
# A loss that diverges without becoming NaN (lr 10: 2.5 -> hundreds) stops the run too, and no
# checkpoint written while the loss is above the bound; an evaluation is never written as null.
"$attn" train "${tiny[@]}" --steps 60 --lr 10 --ckpt-interval 1 --out "$work/div" 2> "$work/div.txt"
code=$?
if [[ $code -eq 3 ]] && grep -q "the loss diverged: .* above 4 x its minimum" "$work/div.txt" &&
   ! grep -q null "$work/div/metrics.jsonl" &&
   python3 -c 'import struct,json,sys; d=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",d[:8])[0]; st=json.loads(json.loads(d[8:8+n])["__metadata__"]["attn.state"]); sys.exit(0 if st["step"] <= 3 else 1)' "$work/div/checkpoint.safetensors"
then pass "a diverging finite loss stops the run (exit 3); the last checkpoint predates it"
else fail "a diverging finite loss stops the run (exit $code): $(cat "$work/div.txt")"; fi

# 4b2. --grad-accum 4 at batch 8 is one batch of 32: the same losses within 1e-4 over 20 steps,
# on text (every target scored) and on the copy task (micro-batches score different counts).
for task in "--data $work/text.txt --context 16" "--task copy"; do
  # shellcheck disable=SC2086
  "$attn" train $task --layers 1 --heads 2 --width 16 --batch 32 --steps 20 --log-interval 1 --quiet \
    --threads 2 --eval-iters 1 --out "$work/ga_big" > /dev/null &&
  "$attn" train $task --layers 1 --heads 2 --width 16 --batch 8 --grad-accum 4 --steps 20 --log-interval 1 \
    --quiet --threads 2 --eval-iters 1 --out "$work/ga_acc" > /dev/null &&
  python3 -c 'import json,sys; a,b=[[json.loads(l) for l in open(p)] for p in sys.argv[1:]]; sys.exit(0 if len(a)==len(b)==20 and all(abs(x["loss"]-y["loss"])<1e-4 and x["tokens_per_step"]==y["tokens_per_step"] for x,y in zip(a,b)) else 1)' \
    "$work/ga_big/metrics.jsonl" "$work/ga_acc/metrics.jsonl" \
    && pass "--grad-accum 4 x batch 8 equals batch 32 ($task)" || fail "--grad-accum 4 x batch 8 equals batch 32 ($task)"
  rm -rf "$work/ga_big" "$work/ga_acc"
done

# 4b3. Real corpora: prepare a folder with a BPE vocabulary, train from the memory-mapped
# token files (bits per byte reported), sample after the dataset folder is gone (the
# tokenizer lives in the checkpoint); a nanoGPT folder (train.bin/val.bin only) with --vocab-size.
mkdir -p "$work/corpus"
for i in 1 2 3; do python3 -c "print(('Line %d of the corpus: the quick brown fox, caf\u00e9. ' * 30 + '\n') * 20)" > "$work/corpus/part$i.txt"; done
"$attn" prepare "$work/corpus" --out "$work/ds" --tokenizer bpe --vocab-size 320 > "$work/prepare.txt" 2>&1 &&
  "$attn" train --data-dir "$work/ds" "${tiny[@]}" --context 16 --steps 6 --eval-interval 3 --out "$work/ds_run" > /dev/null &&
  grep -q '"val_bpb"' "$work/ds_run/metrics.jsonl" && rm -rf "$work/ds" &&
  [[ "$("$attn" sample --checkpoint "$work/ds_run/checkpoint.safetensors" --prompt "Line" --tokens 5 2>/dev/null)" == Line* ]] \
  && pass "prepare (BPE) -> train --data-dir (val_bpb) -> sample without the dataset" \
  || { fail "prepare (BPE) -> train --data-dir (val_bpb) -> sample without the dataset"; cat "$work/prepare.txt"; }
# Token-file runs resume exactly: the windows come from the run's saved data RNG.
"$attn" prepare "$work/corpus" --out "$work/ds_char" --tokenizer char --quiet &&
  "$attn" train --data-dir "$work/ds_char" "${tiny[@]}" --context 16 --steps 10 --out "$work/tf_full" > /dev/null &&
  "$attn" train --data-dir "$work/ds_char" "${tiny[@]}" --context 16 --steps 10 --stop-after 4 --out "$work/tf_split" > /dev/null &&
  "$attn" train --resume --out "$work/tf_split" --quiet --threads 2 > /dev/null &&
  diff <(losses "$work/tf_full/metrics.jsonl") <(losses "$work/tf_split/metrics.jsonl") > /dev/null \
  && pass "a token-file run resumes with the uninterrupted losses" || fail "a token-file run resumes with the uninterrupted losses"
expect_error "prepare: a folder that already exists" "already exists: choose another --out" prepare "$work/corpus" --out "$work/corpus"
mkdir -p "$work/nanogpt"
python3 -c 'import struct,sys; [open(sys.argv[1]+"/"+n,"wb").write(struct.pack("<%dH" % c, *[(i*7)%50 for i in range(c)])) for n,c in (("train.bin",4000),("val.bin",500))]' "$work/nanogpt"
"$attn" train --data-dir "$work/nanogpt" --vocab-size 50 "${tiny[@]}" --context 16 --steps 4 --out "$work/ng_run" > /dev/null &&
  [[ "$("$attn" sample --checkpoint "$work/ng_run/checkpoint.safetensors" --prompt 7,14 --tokens 4 2>/dev/null | wc -w)" == 4 ]] \
  && pass "a nanoGPT folder trains with --vocab-size and samples token ids" || fail "a nanoGPT folder trains with --vocab-size and samples token ids"
expect_error "a nanoGPT folder without --vocab-size" "give the vocabulary size with --vocab-size" train --data-dir "$work/nanogpt" --out "$work/ng2"

# 4c. SIGTERM (kill, a scheduler, a shutdown) stops like Ctrl-C: a checkpoint at the end of the
# step, exit 143, and --resume continues with the uninterrupted losses.
"$attn" train "${tiny[@]}" --steps 1500 --out "$work/term_full" || fail "uninterrupted run for SIGTERM"
"$attn" train "${tiny[@]}" --steps 1500 --out "$work/term" &
pid=$!
for _ in $(seq 100); do [[ -s "$work/term/metrics.jsonl" ]] && break; sleep 0.05; done
kill -TERM $pid
wait $pid
code=$?
if [[ $code -eq 143 && -f "$work/term/checkpoint.safetensors" ]] &&
   "$attn" train --resume --out "$work/term" --quiet --threads 2 &&
   diff <(losses "$work/term/metrics.jsonl") <(losses "$work/term_full/metrics.jsonl") >/dev/null
then pass "SIGTERM saves a checkpoint (exit 143) and the run resumes exactly"
else fail "SIGTERM saves a checkpoint (exit $code) and the run resumes exactly"; fi

# 4d. Files planted in a run folder: symlinks are never written through.
mkdir -p "$work/planted"
echo precious > "$work/victim.txt"
ln -s "$work/victim.txt" "$work/planted/config.json"
"$attn" train "${tiny[@]}" --steps 2 --out "$work/planted" > /dev/null 2>&1
if [[ "$(cat "$work/victim.txt")" == precious && -f "$work/planted/config.json" && ! -L "$work/planted/config.json" ]]
then pass "a symlink at config.json is replaced, its target untouched"
else fail "a symlink at config.json is replaced, its target untouched"; fi
mkdir -p "$work/planted2"
ln -s "$work/victim.txt" "$work/planted2/metrics.jsonl"
expect_error "a symlink at metrics.jsonl is refused" "metrics.jsonl: cannot open for writing" \
  train "${tiny[@]}" --steps 2 --out "$work/planted2"
[[ "$(cat "$work/victim.txt")" == precious ]] && pass "the symlink's target is untouched" || fail "the symlink's target is untouched"
expect_error "--data /dev/zero is refused, not read until memory runs out" "is not a regular file" \
  train --data /dev/zero --out "$work/zero"
"$attn" train "${tiny[@]}" --steps 2 --attention linear:chunk=1000000000 --out "$work/bigchunk" \
  && pass "linear:chunk=1000000000 runs as one chunk (no chunk x chunk buffer)" \
  || fail "linear:chunk=1000000000 runs as one chunk (no chunk x chunk buffer)"
expect_error "a run that cannot fit in memory is refused with the estimate" "but the machine has" \
  train --batch 100000 --context 4096 --out "$work/huge"
expect_error "--data of a folder" "is a folder, not a text data file" train --data "$work" --out "$work/dir"

# 5. A damaged checkpoint is refused, and a good one is never overwritten by a failing command.
cp "$work/text/checkpoint.safetensors" "$work/good.bak"
expect_error "new run into a folder with a checkpoint" "already holds a checkpoint" train --data "$work/text.txt" --context 16 --out "$work/text"
expect_error "resume with a bad option" "--lr: -3 is outside" train --data "$work/text.txt" --lr -3 --out "$work/text"
cmp -s "$work/good.bak" "$work/text/checkpoint.safetensors" && pass "good checkpoint untouched" || fail "good checkpoint untouched"
head -c 1000 "$work/good.bak" > "$work/trunc.safetensors"
expect_error "truncated checkpoint" "truncated" sample --checkpoint "$work/trunc.safetensors"
echo "not a checkpoint at all" > "$work/foreign.safetensors"
expect_error "foreign file as checkpoint" "exceeds the 100 MiB limit" sample --checkpoint "$work/foreign.safetensors"

# 5b. Classification: a short CSV run (word level) learns above the majority class.
python3 - "$work" <<'PY'
import random, sys
random.seed(1)
filler = "the a of and to in is was for on".split()
for name, n in (("train", 400), ("test", 100)):
    with open(f"{sys.argv[1]}/{name}.csv", "w") as f:
        f.write("label,text\n")
        for i in range(n):
            label = random.randrange(2)
            words = random.sample(filler, 5) + [("apple", "banana")[label]]
            random.shuffle(words)
            f.write(f'{label},"{" ".join(words)}, ok"\n')
PY
"$attn" classify --task csv --train "$work/train.csv" --test "$work/test.csv" --layers 1 --heads 2 \
  --width 16 --context 16 --steps 150 --batch 16 --lr 3e-3 --warmup 10 --out "$work/cls" --quiet || fail "classify run"
python3 -c 'import json,math,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["test_accuracy"] > r["majority_baseline"] + 0.2 and 0 < r["test_loss"] < math.log(2) else 1)' \
  "$work/cls/eval.json" && pass "classify learns above the majority class (test loss below chance)" || fail "classify learns above the majority class (test loss below chance)"
expect_error "classify: csv without files" "needs --train FILE and --test FILE" classify --task csv

# 5c. classify goes through the same trainer: --stop-after leaves a checkpoint, --resume gives
# the uninterrupted run's losses and final evaluation exactly (curriculum, dropout and the
# weight average included), and a finished run folder is not overwritten.
cls_small=(classify --task listops --listops-train-min-len 10 --listops-min-len 20 --listops-max-len 50
           --listops-train 80 --listops-test 30 --curriculum 5 --ema 0.9 --dropout 0.1 --context 64
           --layers 1 --heads 2 --width 16 --steps 10 --batch 4 --eval-interval 4 --log-interval 1
           --quiet --threads 2)
"$attn" "${cls_small[@]}" --out "$work/cls_full" || fail "classify full run"
"$attn" "${cls_small[@]}" --out "$work/cls_split" --stop-after 6 || fail "classify first part"
[[ -f "$work/cls_split/checkpoint.safetensors" && ! -f "$work/cls_split/eval.json" ]] \
  && pass "classify --stop-after: a checkpoint, no final report yet" \
  || fail "classify --stop-after: a checkpoint, no final report yet"
"$attn" classify --resume --out "$work/cls_split" --quiet --threads 2 || fail "classify resumed"
evals() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["test_accuracy"], r["test_loss"])' "$1"; }
if diff <(losses "$work/cls_full/metrics.jsonl") <(losses "$work/cls_split/metrics.jsonl") >/dev/null &&
   [[ "$(evals "$work/cls_full/eval.json")" == "$(evals "$work/cls_split/eval.json")" ]]; then
  pass "classify: resume gives the uninterrupted losses and evaluation"
else
  fail "classify: resume gives the uninterrupted losses and evaluation"
  diff <(losses "$work/cls_full/metrics.jsonl") <(losses "$work/cls_split/metrics.jsonl")
fi
"$attn" classify --eval-only --checkpoint "$work/cls_full/checkpoint.safetensors" --out "$work/cls_eval" --quiet \
  || fail "classify --eval-only run"
[[ "$(evals "$work/cls_eval/eval.json")" == "$(evals "$work/cls_full/eval.json")" ]] \
  && pass "classify --eval-only reproduces the run's final evaluation (averaged weights)" \
  || fail "classify --eval-only reproduces the run's final evaluation ($(evals "$work/cls_eval/eval.json") vs $(evals "$work/cls_full/eval.json"))"
expect_error "classify --eval-only needs a checkpoint" "--eval-only needs --checkpoint FILE" classify --eval-only
expect_error "classify --eval-only of a language model" "is not a classifier checkpoint" \
  classify --eval-only --checkpoint "$work/full/checkpoint.safetensors"
expect_error "classify: a finished run folder is not overwritten" "already holds a checkpoint" \
  "${cls_small[@]}" --out "$work/cls_full"

# 6. A run folder without room for checkpoints is refused before training (needs a small
# tmpfs; skipped where mounting is not allowed).
mkdir -p "$work/tiny_fs"
if mount -t tmpfs -o size=1m tmpfs "$work/tiny_fs" 2>/dev/null; then
  expect_error "full disk refused before training" " free, checkpoints need about" \
    train --layers 4 --width 256 --heads 4 --steps 2 --out "$work/tiny_fs/run"
  umount "$work/tiny_fs"
else
  echo "skip full-disk check (cannot mount a tmpfs here)"
fi

# 7. compare, bench and attention-map: the table, JSON and PNG files a user is promised.
png_size() {  # prints "width height" from the PNG header
  python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); assert d[:8]==b"\x89PNG\r\n\x1a\n"; print(*struct.unpack(">II", d[16:24]))' "$1"
}
"$attn" compare --task recall --attention softmax,linear:chunk=4 --layers 1 --heads 2 --width 16 \
  --steps 6 --batch 4 --recall-max-pairs 4 --out "$work/cmp" > "$work/cmp.txt" || fail "compare run"
if grep -q "^linear:chunk=4 " "$work/cmp.txt" && [[ $(png_size "$work/cmp/loss.png") == "900 560" ]] &&
   python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["runs"]; sys.exit(0 if [x["variant"] for x in r]==["softmax","linear:chunk=4"] and all(0<=x["accuracy"]<=1 and x["ms_per_step"]>0 and x["parameters"]>0 for x in r) else 1)' "$work/cmp/compare.json"
then pass "compare writes the table, compare.json and a 900x560 loss.png"
else fail "compare writes the table, compare.json and a 900x560 loss.png"; cat "$work/cmp.txt"; fi
"$attn" compare --task listops --attention softmax --listops-min-len 20 --listops-max-len 60 \
  --listops-train 60 --listops-test 40 --context 64 --layers 1 --heads 2 --width 16 --steps 3 \
  --batch 4 --out "$work/cmp_lo" > "$work/cmp_lo.txt" || fail "compare listops run"
if grep -q "^majority class .*% *(baseline" "$work/cmp_lo.txt" &&
   grep -q "^outer-operator shortcut .*% *(baseline" "$work/cmp_lo.txt" &&
   python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["baselines"]; sys.exit(0 if sorted(b)==["majority class","outer-operator shortcut"] and all(0<v<=1 for v in b.values()) else 1)' "$work/cmp_lo/compare.json"
then pass "compare on ListOps shows the majority-class and outer-operator baselines"
else fail "compare on ListOps shows the majority-class and outer-operator baselines"; cat "$work/cmp_lo.txt"; fi
"$attn" classify --task listops --listops-train-min-len 10 --listops-min-len 30 --listops-max-len 60 \
  --listops-train 80 --listops-test 20 --curriculum 4 --ema 0.9 --context 64 --layers 1 --heads 2 --width 16 \
  --steps 6 --batch 4 --log-interval 1 --out "$work/cls_cur" > "$work/cls_cur.txt" || fail "classify with a curriculum"
read -r shortest longest < <(sed -n 's/^training lengths \([0-9]*\)\.\.\([0-9]*\) .*shortest first.*/\1 \2/p' "$work/cls_cur.txt")
if [[ -n "${shortest:-}" && $shortest -gt 10 && $shortest -le 30 && $longest -lt 60 ]] &&
   [[ $(wc -l < "$work/cls_cur/metrics.jsonl") -eq 6 ]] && grep -q "evaluated with averaged weights" "$work/cls_cur.txt"
then pass "classify: a lower training floor, the length curriculum, averaged weights"
else fail "classify: a lower training floor, the length curriculum, averaged weights"; cat "$work/cls_cur.txt"; fi
expect_error "classify: negative curriculum" "--curriculum: -1 is outside [0," classify --curriculum -1
expect_error "classify: weight-average decay of 1" "--ema: 1 is outside [0, 1)" classify --ema 1
# One-run plots: attn plot draws loss.png (and accuracy.png where scored); the trainer does too.
"$attn" plot "$work/cls_full" > "$work/plot.txt" || fail "attn plot run"
if [[ $(png_size "$work/cls_full/loss.png") == "900 560" && $(png_size "$work/cls_full/accuracy.png") == "900 560" ]] &&
   grep -q "wrote $work/cls_full/accuracy.png" "$work/plot.txt" && [[ -f "$work/text/loss.png" && ! -f "$work/text/accuracy.png" ]]
then pass "attn plot and the trainer draw loss.png (and accuracy.png for scored tasks)"
else fail "attn plot and the trainer draw loss.png (and accuracy.png for scored tasks)"; cat "$work/plot.txt"; fi
expect_error "attn plot: not a run folder" "is not a run folder" plot "$work/nothing_here"
[[ $(png_size "$work/cmp/accuracy.png") == "900 560" ]] && pass "compare draws accuracy.png for a scored task" \
  || fail "compare draws accuracy.png for a scored task"
expect_error "compare: a folder with a run is refused up front, without suggesting --resume" \
  "already holds a run: choose another --out" compare --task recall --attention softmax,linear:chunk=4 \
  --layers 1 --heads 2 --width 16 --steps 6 --batch 4 --recall-max-pairs 4 --out "$work/cmp"
expect_error "compare: unknown task" "must be copy, recall, listops or csv" compare --task poetry
expect_error "compare: unknown variant" "unknown attention variant 'sofmax'" compare --attention softmax,sofmax
expect_error "compare: causal Linformer" "Linformer" compare --task copy --attention linformer

"$attn" bench --attention softmax,linear,synth-random --T 16,32 --heads 2 --head-dim 8 --repeats 1 \
  --out "$work/bench" > "$work/bench.txt" || fail "bench run"
if [[ $(wc -l < "$work/bench/bench.jsonl") -eq 6 && $(png_size "$work/bench/time.png") == "900 560" &&
      $(png_size "$work/bench/memory.png") == "900 560" ]] &&
   python3 -c 'import json,sys; sys.exit(0 if all(j["fwd_ms"]>0 and j["fwd_bwd_ms"]>=0 and j["peak_mb"]>0 for j in map(json.loads, open(sys.argv[1]))) else 1)' "$work/bench/bench.jsonl"
then pass "bench writes 6 JSON lines and two plots"
else fail "bench writes 6 JSON lines and two plots"; cat "$work/bench.txt"; fi

"$attn" attention-map --checkpoint "$work/cmp/softmax/checkpoint.safetensors" --ids 1,16,2,17,3,18,20,2 \
  --cell 4 --out "$work/map" > "$work/map.txt" || fail "attention-map run"
npy_shape() {  # prints the shape of a .npy file as "2 8 8"
  python3 -c 'import ast,sys; d=open(sys.argv[1],"rb").read(); n=int.from_bytes(d[8:10],"little"); print(*ast.literal_eval(d[10:10+n].decode())["shape"])' "$1"
}
# one layer, 2 heads of 8 x 8 weights; the picture holds the 8 x 8 cells of 4 pixels, labels and a scale
read -r map_w map_h < <(png_size "$work/map/layer0.png")
if [[ $(npy_shape "$work/map/layer0.npy") == "2 8 8" && $map_w -gt 88 && $map_h -gt 64 ]] && grep -q "rows sum to 1" "$work/map.txt"
then pass "attention-map writes a labelled heatmap and the [2, 8, 8] weights for 2 heads"
else fail "attention-map writes a labelled heatmap and the [2, 8, 8] weights for 2 heads"; cat "$work/map.txt"; fi
# A classifier (attn classify): the maps of one test example of its run, rebuilt from the options.
"$attn" attention-map --checkpoint "$work/cls_full/checkpoint.safetensors" --example 2 --out "$work/cls_map" \
  > "$work/cls_map.txt" || fail "attention-map of a classifier"
read -r heads rows cols < <(npy_shape "$work/cls_map/layer0.npy")
if grep -q "test example 2 (label [0-9])" "$work/cls_map.txt" && [[ $heads == 2 && $rows == "$cols" && $rows -gt 10 ]]
then pass "attention-map of a classifier's test example"
else fail "attention-map of a classifier's test example"; cat "$work/cls_map.txt"; fi
"$attn" attention-map --checkpoint "$work/cls_full/checkpoint.safetensors" --text "[MAX 2 [MIN 9 4 ] ]" \
  --out "$work/cls_text" > "$work/cls_text.txt" && [[ $(npy_shape "$work/cls_text/layer0.npy") == "2 7 7" ]] \
  && pass "attention-map of a classifier on a ListOps text" || fail "attention-map of a classifier on a ListOps text"
expect_error "attention-map: example out of range" "outside the 30 test examples" attention-map \
  --checkpoint "$work/cls_full/checkpoint.safetensors" --example 30
expect_error "attention-map: unknown ListOps token" "is not a ListOps token" attention-map \
  --checkpoint "$work/cls_full/checkpoint.safetensors" --text "[MAX 2 x ]"
expect_error "attention-map: cell too large" "--cell: 65 is outside [0, 64]" attention-map \
  --checkpoint "$work/cmp/softmax/checkpoint.safetensors" --ids 1,2 --cell 65
expect_error "attention-map: id out of range" "is not a token id" attention-map \
  --checkpoint "$work/cmp/softmax/checkpoint.safetensors" --ids 1,99
expect_error "attention-map: synthetic model needs ids" "give its input as --ids" attention-map \
  --checkpoint "$work/cmp/softmax/checkpoint.safetensors" --text hello
echo "$failures failed"
[[ $failures -eq 0 ]]
