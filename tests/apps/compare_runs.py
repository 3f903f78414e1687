#!/usr/bin/env python3
"""Compares two training runs (Python standard library only; used by test_mpi.sh).

  compare_runs.py losses RUN_A RUN_B TOL [FIRST_STEP]
      every step's training loss in both metrics.jsonl files, |a - b| <= TOL
  compare_runs.py params RUN_A RUN_B TOL
      every model tensor in both checkpoints (not the optimizer's), |a - b| <= TOL
Prints the largest difference; exits 1 when it is over TOL or the runs do not match up.
"""
import json
import struct
import sys
from array import array


def losses(run):
    by_step = {}
    with open(run + "/metrics.jsonl") as f:
        for line in f:
            row = json.loads(line)
            if "loss" in row:
                by_step[row["step"]] = row["loss"]
    return by_step


def tensors(run):
    with open(run + "/checkpoint.safetensors", "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    out = {}
    for name, entry in header.items():
        if name == "__metadata__" or name.startswith(("adam", "optim", "ema.")):
            continue
        begin, end = entry["data_offsets"]
        values = array("f")
        values.frombytes(data[begin:end])
        out[name] = values
    return out


def main():
    kind, a, b, tol = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    if kind == "losses":
        first = int(sys.argv[5]) if len(sys.argv) > 5 else 1
        la, lb = losses(a), losses(b)
        steps = sorted(s for s in la if s >= first)
        if not steps or any(s not in lb for s in steps):
            print(f"the runs log different steps: {sorted(la)[:5]}... vs {sorted(lb)[:5]}...")
            return 1
        worst = max(abs(la[s] - lb[s]) for s in steps)
        print(f"{len(steps)} steps, largest loss difference {worst:.3g} (tolerance {tol:g})")
    else:
        ta, tb = tensors(a), tensors(b)
        if sorted(ta) != sorted(tb) or not ta:
            print("the checkpoints hold different tensors")
            return 1
        worst, where = max((max(abs(x - y) for x, y in zip(ta[k], tb[k])), k) for k in ta)
        print(f"{len(ta)} tensors, largest parameter difference {worst:.3g} in {where} "
              f"(tolerance {tol:g})")
    return 0 if worst <= tol else 1


if __name__ == "__main__":
    sys.exit(main())
