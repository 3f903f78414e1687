#!/usr/bin/env python3
"""Summary of bench/data_parallel.sh's JSON lines (stdin) for one configuration (argv[1]):
medians per run, the data-parallel efficiency, and a projection to N machines.

Projection: each machine keeps the measured step (batch B per machine, so the global batch
grows with N) and adds a ring all-reduce of the gradients, 2 (N - 1) / N x bytes over the
link at 90% of its line rate plus 2 (N - 1) x 50 us of latency. 'one all-reduce' adds it
after the step; 'buckets' hides it behind the backward pass (about 2/3 of the step) and
adds only what is left. Speedup = N x step / projected step.
"""
import json
import statistics
import sys


def main():
    config = sys.argv[1]
    runs = {}
    for line in sys.stdin:
        row = json.loads(line)
        runs.setdefault(row["run"], []).append(row)
    med = {name: {k: statistics.median(r[k] for r in rows) for k in ("step_ms", "allreduce_wait_ms", "tokens_per_s")}
           for name, rows in runs.items()}
    one = med["1 process x 2 threads"]
    buckets = med["2 ranks x 1 thread, buckets"]
    whole = med["2 ranks x 1 thread, one all-reduce"]
    params = runs["1 process x 2 threads"][0]["parameters"]
    out = {"bench": "data_parallel", "config": config, "parameters": params,
           "tokens_per_s_1x2": one["tokens_per_s"],
           "tokens_per_s_2x1_buckets": buckets["tokens_per_s"],
           "tokens_per_s_2x1_one_allreduce": whole["tokens_per_s"],
           "efficiency_buckets": buckets["tokens_per_s"] / one["tokens_per_s"],
           "efficiency_one_allreduce": whole["tokens_per_s"] / one["tokens_per_s"],
           "allreduce_ms_one": whole["allreduce_wait_ms"],
           "allreduce_wait_ms_buckets": buckets["allreduce_wait_ms"],
           "compute_ms_per_rank": whole["step_ms"] - whole["allreduce_wait_ms"]}
    print(json.dumps(out))
    step = one["step_ms"] / 1e3  # one machine's step (2 threads, batch B)
    size = 4.0 * params
    for gbit in (1, 10, 25):
        rate = gbit * 1e9 / 8 * 0.9
        row = {"bench": "data_parallel_projection", "config": config, "gbit_per_s": gbit,
               "step_ms_one_machine": step * 1e3}
        for n in (2, 4, 8):
            comm = 2 * (n - 1) / n * size / rate + 2 * (n - 1) * 50e-6
            row[f"allreduce_ms_{n}"] = comm * 1e3
            row[f"speedup_{n}_one_allreduce"] = n * step / (step + comm)
            row[f"speedup_{n}_buckets"] = n * step / (step + max(0.0, comm - 2 / 3 * step))
        print(json.dumps(row))


if __name__ == "__main__":
    main()
