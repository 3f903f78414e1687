#!/usr/bin/env bash
# Data-parallel training under mpirun (apps/world.h): 2 ranks x batch B train as 1 process
# x batch 2B; built-in, token-file and classification data; identical parameters on every
# rank (and a nudged rank is caught); resume with another rank count; a killed or a hung
# rank ends the job naming it, leaving a checkpoint that resumes; two "machines" (network
# namespaces joined by a veth pair) train as the loopback run does.
# Usage: test_mpi.sh path/to/attn
set -uo pipefail
attn=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
namespaces=()
cleanup() {
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
source "$here/checks.sh"
finish() { echo "test_mpi: $failures failed"; exit $((failures > 0)); }

if ! ldd "$attn" | grep -q libmpi; then
  echo "skip: $attn was built without MPI (meson -Dmpi=disabled, or libopenmpi-dev missing)"
  exit 77
fi
# CI runs as root; two ranks may share one core on a small machine; the shared-memory
# transport copies through a buffer (single-copy needs ptrace rights containers lack).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
# Under the sanitizers' build: Open MPI unloads its components at exit, so LeakSanitizer
# cannot tell their start-up allocations from attn's; leaks are checked by every other test
# (the same code runs there as one process), the rest of ASan and UBSan stays on here.
if [[ -n "${ASAN_OPTIONS:-}" ]]; then export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"; fi
mpi() { mpirun -np 2 "$@"; }
compare() { python3 "$here/compare_runs.py" "$@"; }

lm=(--task copy --width 64 --layers 2 --heads 2 --threads 1 --log-interval 1 --eval-interval 25
    --quiet)

# 1. Equivalence: 50 steps of 2 ranks x batch 4 against 1 process x batch 8.
"$attn" train "${lm[@]}" --steps 50 --batch 8 --out "$work/one" || fail "1 process"
mpi "$attn" train "${lm[@]}" --steps 50 --batch 4 --sync-check 5 --out "$work/two" || fail "2 ranks"
check "2 ranks x 4 == 1 x 8: losses" compare losses "$work/one" "$work/two" 1e-4
check "2 ranks x 4 == 1 x 8: parameters" compare params "$work/one" "$work/two" 1e-5
mpi "$attn" train "${lm[@]}" --steps 50 --batch 4 --out "$work/again" || fail "2 ranks again"
check "the same seed and ranks give the same parameters (bitwise)" compare params "$work/two" "$work/again" 0
# Buckets reduced during the backward pass sum exactly what one reduction at the end does.
mpi "$attn" train "${lm[@]}" --steps 50 --batch 4 --bucket-mb 0.02 --out "$work/buckets" ||
  fail "2 ranks, small buckets"
mpi "$attn" train "${lm[@]}" --steps 50 --batch 4 --bucket-mb 0 --out "$work/whole" ||
  fail "2 ranks, one reduction"
check "overlapped buckets == one all-reduce (bitwise)" compare params "$work/buckets" "$work/whole" 0
[[ -f "$work/two/metrics.jsonl" && ! -e "$work/two/metrics.jsonl.1" ]] &&
  [[ $(grep -c '"step":50,' "$work/two/metrics.jsonl") -eq 1 ]] &&
  pass "rank 0 alone writes metrics.jsonl" || fail "rank 0 alone writes metrics.jsonl"

# Under the sanitizers' build (slow to start) the memory-safety of the data-parallel code
# paths is what matters: the equivalence above, the parameter check and resume below. The
# rest (more data kinds, faults, two namespaces) runs in the release build's test.
sanitized=0
[[ -n "${ASAN_OPTIONS:-}" ]] && sanitized=1

# 2. Token files (attn prepare) and classification, the same way.
if ((!sanitized)); then
python3 -c 'import random; r = random.Random(3); print("\n".join(" ".join(r.choice(["the", "cat", "sat", "on", "a", "mat", "and", "ran"]) for _ in range(12)) for _ in range(400)))' > "$work/corpus.txt"
"$attn" prepare "$work/corpus.txt" --out "$work/ds" --tokenizer char --quiet >/dev/null || fail "prepare"
tok=(--data-dir "$work/ds" --context 32 --width 32 --layers 1 --heads 2 --threads 1 --steps 20
     --log-interval 1 --eval-interval 10 --quiet)
"$attn" train "${tok[@]}" --batch 8 --out "$work/tok1" || fail "token files, 1 process"
mpi "$attn" train "${tok[@]}" --batch 4 --out "$work/tok2" || fail "token files, 2 ranks"
check "token files: 2 ranks x 4 == 1 x 8" compare losses "$work/tok1" "$work/tok2" 1e-4
cls=(--steps 30 --width 32 --layers 1 --heads 2 --threads 1 --log-interval 1 --eval-interval 15
     --quiet --listops-train 400 --listops-test 100 --listops-min-len 20 --listops-max-len 60
     --context 64)
"$attn" classify "${cls[@]}" --batch 8 --out "$work/cls1" || fail "classify, 1 process"
mpi "$attn" classify "${cls[@]}" --batch 4 --out "$work/cls2" || fail "classify, 2 ranks"
check "classify: 2 ranks x 4 == 1 x 8: losses" compare losses "$work/cls1" "$work/cls2" 1e-4
check "classify: 2 ranks x 4 == 1 x 8: parameters" compare params "$work/cls1" "$work/cls2" 1e-5

fi

# 3. A rank whose parameters drift is caught at the next comparison, naming the step.
err=$(ATTN_TEST_DESYNC=3 mpi "$attn" train "${lm[@]}" --steps 20 --batch 4 --sync-check 4 \
      --out "$work/desync" 2>&1 >/dev/null)
[[ "$err" == *"parameters differ after step 4"* ]] && pass "drifting parameters stop the job" ||
  fail "drifting parameters stop the job: $err"

# 4. Resume with another rank count keeps the global batch (and the draw): 2 -> 1, 1 -> 2.
mpi "$attn" train "${lm[@]}" --steps 20 --batch 4 --out "$work/two20" || fail "2 ranks, 20 steps"
mpi "$attn" train "${lm[@]}" --steps 20 --batch 4 --out "$work/r21" --stop-after 10 >/dev/null
"$attn" train --resume --out "$work/r21" --threads 1 > "$work/r21.txt" || fail "resume on 1"
grep -q -- "--grad-accum 1 -> 2 keeps the global batch of 8" "$work/r21.txt" &&
  check "resume 2 ranks -> 1" compare losses "$work/two20" "$work/r21" 1e-4 11 ||
  fail "resume 2 ranks -> 1 says how: $(cat "$work/r21.txt")"
"$attn" train "${lm[@]}" --steps 20 --batch 4 --grad-accum 2 --out "$work/r12" --stop-after 10 >/dev/null
mpi "$attn" train --resume --out "$work/r12" --threads 1 --quiet || fail "resume on 2"
check "resume 1 -> 2 ranks" compare losses "$work/two20" "$work/r12" 1e-4 11
# With dropout each rank draws its own masks (the run's stream jumped rank times); a resumed
# 2-rank run rebuilds them exactly.
mpi "$attn" train "${lm[@]}" --steps 20 --batch 4 --dropout 0.1 --out "$work/drop" || fail "dropout run"
mpi "$attn" train "${lm[@]}" --steps 20 --batch 4 --dropout 0.1 --out "$work/drop2" --stop-after 8 >/dev/null
mpi "$attn" train --resume --out "$work/drop2" --threads 1 --quiet || fail "dropout resume"
check "2 ranks with dropout resume exactly (bitwise)" compare params "$work/drop" "$work/drop2" 0
err=$(mpirun -np 3 "$attn" train --resume --out "$work/r12" --steps 30 2>&1 >/dev/null)
[[ "$err" == *"which 3 ranks cannot share equally"* ]] && pass "3 ranks cannot keep 2 x 4: said" ||
  fail "3 ranks cannot keep 2 x 4: $err"

((sanitized)) && finish

# 5. Faults: rank 1 killed, or stopped (hung), mid-run.
# fault SIGNAL OUT extra-args...: starts a long run, sends SIGNAL to rank 1 after the first
# checkpoint, and waits at most 30 s for the job to end; sets $err and $seconds.
fault() {
  local signal=$1 out=$2; shift 2
  mpi "$attn" train "${lm[@]}" --steps 1000000 --batch 4 --ckpt-interval 20 --out "$out" "$@" \
    > /dev/null 2> "$out.err" &
  local job=$!
  for _ in $(seq 300); do [[ -f "$out/checkpoint.safetensors" ]] && break; sleep 0.1; done
  sleep 0.5
  local start=$SECONDS
  for p in $(pgrep -f -- "--out $out"); do
    tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && kill "-$signal" "$p"
  done
  for _ in $(seq 300); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
  seconds=$((SECONDS - start))
  if kill -0 "$job" 2>/dev/null; then pkill -KILL -f -- "--out $out"; seconds=999; fi
  wait "$job" 2>/dev/null
  err=$(cat "$out.err")
}
fault KILL "$work/killed"
[[ $seconds -le 15 && "$err" == *"rank 1"* && "$err" == *"rank 0: SIGTERM during step "* ]] &&
  pass "a killed rank ends the job in ${seconds} s, naming it and the step" ||
  fail "a killed rank ends the job (${seconds} s): $err"
step=$(python3 -c 'import json,struct,sys; f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]; print(json.loads(json.loads(f.read(n))["__metadata__"]["attn.state"])["step"])' "$work/killed/checkpoint.safetensors" 2>/dev/null)
"$attn" train --resume --out "$work/killed" --steps $((step + 5)) --threads 1 --quiet >/dev/null &&
  pass "the killed job's checkpoint (step $step) resumes" || fail "the killed job's checkpoint resumes"
fault STOP "$work/hung" --rank-timeout 3
[[ $seconds -le 15 && ( "$err" == *"rank 1 did not reach the "*" of step "* ||
                          "$err" == *"rank 1 stopped answering during the "*" of step "* ) ]] &&
  pass "a hung rank ends the job in ${seconds} s, naming it" ||
  fail "a hung rank ends the job (${seconds} s): $err"

# 6. Two machines: network namespaces joined by a veth pair, mpirun over TCP between them.
if ! command -v ip >/dev/null || ! ip netns add attn_test_a 2>/dev/null; then
  echo "skip: two-namespace run (this machine does not allow creating network namespaces)"
  finish
fi
namespaces=(attn_test_a attn_test_b)
ip netns add attn_test_b && ip link add attn_va type veth peer name attn_vb &&
  ip link set attn_va netns attn_test_a && ip link set attn_vb netns attn_test_b &&
  ip -n attn_test_a addr add 10.231.0.1/24 dev attn_va &&
  ip -n attn_test_b addr add 10.231.0.2/24 dev attn_vb &&
  for end in a b; do ip -n "attn_test_$end" link set "attn_v$end" up; ip -n "attn_test_$end" link set lo up; done ||
  { fail "two namespaces: setup"; finish; }
# mpirun starts the remote rank through this "ssh": a command run in the host's namespace,
# under its own host name.
cat > "$work/agent.sh" <<'EOF'
#!/bin/bash
host=$1; shift
case "$host" in
  10.231.0.1) ns=attn_test_a; name=machine-a ;;
  10.231.0.2) ns=attn_test_b; name=machine-b ;;
  *) echo "agent: unknown host $host" >&2; exit 1 ;;
esac
exec ip netns exec "$ns" unshare --uts sh -c "hostname $name; $*"
EOF
chmod +x "$work/agent.sh"
tcp=(--mca btl tcp,self)
run=("$attn" train "${lm[@]}" --steps 20 --batch 4)
ip netns exec attn_test_a unshare --uts sh -c 'hostname machine-a; exec "$@"' sh \
  mpirun -np 2 --host 10.231.0.1,10.231.0.2 --mca plm_rsh_agent "$work/agent.sh" "${tcp[@]}" \
  --mca btl_tcp_if_include 10.231.0.0/24 --mca oob_tcp_if_include 10.231.0.0/24 \
  "${run[@]}" --out "$work/lan" || fail "two namespaces: the run"
mpi "${tcp[@]}" --mca btl_tcp_if_include lo "${run[@]}" --out "$work/loopback" || fail "loopback run"
check "two namespaces over TCP == loopback: losses (bitwise)" compare losses "$work/lan" "$work/loopback" 0
check "two namespaces over TCP == loopback: parameters (bitwise)" compare params "$work/lan" "$work/loopback" 0
finish
