"""Every numeric option of every attn subcommand states its range in --help, and values just
outside each end (and NaN, infinity and junk) are refused before any work, naming the option.
    python3 option_edges.py path/to/attn      (prints one line per failure, then a summary)"""
import concurrent.futures
import os
import re
import subprocess
import sys

attn = sys.argv[1]
SUBCOMMANDS = ["train", "prepare", "sample", "eval", "classify", "compare", "bench", "attention-map", "op", "plot"]
OPTION = re.compile(r"^\s+(?:-\w,)?--([\w-]+) (INT|UINT|FLOAT|BOOLEAN)\b(.*)$")
RANGE = re.compile(r":([\[(])(-?[\d.e+]+), (-?[\d.e+]+)([\])])")


def refused(sub, name, value):
    r = subprocess.run([attn, sub, f"--{name}={value}"], capture_output=True, text=True, timeout=60)
    return r.returncode != 0 and f"--{name}" in r.stderr + r.stdout


# Under the sanitizers (a slow debug build) only the two edges of each range: the checks of
# non-numbers are the same code for every option and run in the optimised build.
EDGES_ONLY = "ASAN_OPTIONS" in os.environ


def outside_values(kind, open_, lo, hi, close):
    """Values just outside [lo, hi] (or the open ends), then values that are never numbers."""
    if kind in ("INT", "UINT"):
        values = [str(int(lo) - 1), str(int(hi) + 1), "1.5", "12abc", "0x10"]
    else:
        lo, hi = float(lo), float(hi)
        values = [repr(lo - 1e-6 * max(1, abs(lo))) if open_ == "[" else repr(lo),
                  repr(hi + 1e-6 * max(1, abs(hi))) if close == "]" else repr(hi), "nan", "inf", "1x"]
    return values[:2] if EDGES_ONLY else values


cases = failures = 0
pool = concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
for sub in SUBCOMMANDS:
    help_text = subprocess.run([attn, sub, "--help"], capture_output=True, text=True).stdout
    for line in help_text.splitlines():
        m = OPTION.match(line)
        if not m:
            continue
        name, kind, rest = m.groups()
        if kind == "BOOLEAN":
            values = ["2", "-1", "yes please"] if "true|false" in rest else None
        else:
            r = RANGE.match(rest)
            values = outside_values(kind, *r.groups()) if r else None
        if values is None:
            failures += 1
            print(f"FAIL attn {sub} --{name}: no range stated in --help ({line.strip()})")
            continue
        for value, ok in zip(values, pool.map(lambda v: refused(sub, name, v), values)):
            cases += 1
            if not ok:
                failures += 1
                print(f"FAIL attn {sub} --{name}={value} was not refused with a message naming it")
print(f"option edges: {cases} cases, {failures} failures")
sys.exit(1 if failures else 0)
