#!/usr/bin/env bash
# The pictures of docs/attention_maps.md.
#
#   docs/examples/make_pictures.sh [ATTN] [OUT]          attention maps on the copy task
#   docs/examples/make_pictures.sh [ATTN] [OUT] --bench  time and memory against T
#
# ATTN is the attn binary (default build/apps/attn), OUT the folder for the pictures
# (default docs/images). Without --bench: `attn compare` trains one small causal model per
# causal attention variant on the built-in copy task (same seed, same budget, each run keeps
# its checkpoint), `attn attention-map` writes every model's attention weights on one copy
# example, and the NumPy code below draws one head of every variant side by side into
# OUT/copy_attention_maps.png. With --bench: `attn bench` times the causal variants over T and
# its log-log plots are copied to OUT/bench_time.png and OUT/bench_memory.png (run this on a
# quiet machine: other programs' load shows up in the times).
#
# Options: --runs DIR reuses the training runs of an earlier call (DIR holds compare.json)
# instead of training again. Environment: PYTHON (a Python 3 with NumPy, default
# /usr/bin/python3), THREADS (training threads, default 2, so that the numbers on the page
# come back exactly), STEPS (default 1000; fewer only to try the script), BENCH_T (default
# 128,256,512,1024,2048,4096), BENCH_THREADS (default 0: all cores). The training and bench
# folders are kept in a temporary folder whose name is printed.
set -euo pipefail

bench=0 runs="" positional=()
while (($#)); do
  case "$1" in
    --bench) bench=1 ;;
    --runs) runs="$2"; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) positional+=("$1") ;;
  esac
  shift
done
attn="${positional[0]:-build/apps/attn}"
out="${positional[1]:-docs/images}"
python="${PYTHON:-/usr/bin/python3}"
threads="${THREADS:-2}"
if [[ ! -x "$attn" ]]; then
  echo "make_pictures.sh: $attn is not an executable (build attn first)" >&2
  exit 1
fi
mkdir -p "$out"
work="$(mktemp -d "${TMPDIR:-/tmp}/attn-pictures.XXXXXX")"
echo "make_pictures.sh: working in $work"

if ((bench)); then
  # Every causal variant (Linformer cannot be causal); B=1, H=4, D=64; median of 3 runs.
  "$attn" bench --attention all --causal --T "${BENCH_T:-128,256,512,1024,2048,4096}" \
    --repeats 3 --threads "${BENCH_THREADS:-0}" --out "$work/bench"
  cp "$work/bench/time.png" "$out/bench_time.png"
  cp "$work/bench/memory.png" "$out/bench_memory.png"
  echo "make_pictures.sh: wrote $out/bench_time.png and $out/bench_memory.png (the numbers:" \
    "$work/bench/bench.jsonl)"
  exit 0
fi

# (a) Strings of 2 to 8 symbols out of 10, then the separator (token 10), then the copy:
# context 2 * 8 + 1 = 17. Two layers of four heads, width 64; 1000 steps of 32 sequences.
# `--attention all` of a causal task is every causal variant (all but Linformer).
if [[ -z "$runs" ]]; then
  runs="$work/compare"
  "$attn" compare --task copy --attention all --copy-symbols 10 --copy-min-len 2 \
    --copy-max-len 8 --context 17 --layers 2 --heads 4 --width 64 --steps "${STEPS:-1000}" \
    --batch 32 --lr 0.002 --seed 1 --threads "$threads" --out "$runs"
fi
[[ -f "$runs/compare.json" ]] || { echo "make_pictures.sh: no $runs/compare.json" >&2; exit 1; }

# (b) The same example for every model: the string 2 7 4 0 5 9 (n = 6 symbols), the separator
# (token 10), the copy. (n, not L: L is the model's context in docs/glossary.md.)
"$python" - "$attn" "$runs" "$work/maps" "$out/copy_attention_maps.png" <<'PYTHON'
import json, os, struct, subprocess, sys, zlib
import numpy as np

attn, runs, maps, png = sys.argv[1:5]
string = [2, 7, 4, 0, 5, 9]
n = len(string)
ids = string + [10] + string
T = len(ids)

# A 3 x 5 pixel font: five rows of three bits (4 = left column) per character.
FONT = {
    "A": "25755", "B": "65656", "C": "34443", "D": "65556", "E": "74647", "F": "74644",
    "G": "34553", "H": "55755", "I": "72227", "K": "55655", "L": "44447", "M": "57755",
    "N": "65555", "O": "25552", "P": "65644", "Q": "25563", "R": "65655", "S": "34216",
    "T": "72222", "U": "55557", "V": "55552", "W": "55775", "X": "55255", "Y": "55222",
    "0": "75557", "1": "26227", "2": "71747", "3": "71317", "4": "55711", "5": "74717",
    "6": "74757", "7": "71222", "8": "75757", "9": "75717", "-": "00700", "+": "02720",
    ":": "02020", ".": "00002", ",": "00024", "%": "51245", "=": "07070", " ": "00000",
    "(": "12221", ")": "42224", "/": "11244", ";": "02024", "|": "22222",
}


def text(img, x, y, s, color=(0, 0, 0), scale=2):
    """Draws s (upper-cased) with its top-left corner at (x, y); 4 * scale pixels a character."""
    for i, ch in enumerate(s.upper()):
        for row, digit in enumerate(FONT[ch]):
            for col in range(3):
                if int(digit) & (4 >> col):
                    x0, y0 = x + (4 * i + col) * scale, y + row * scale
                    img[y0:y0 + scale, x0:x0 + scale] = color


def write_png(path, img):
    """An 8-bit RGB PNG: signature, IHDR, one zlib IDAT of filter-0 rows, IEND."""
    h, w, _ = img.shape
    rows = b"".join(b"\x00" + img[y].tobytes() for y in range(h))
    chunk = lambda tag, data: (struct.pack(">I", len(data)) + tag + data +
                               struct.pack(">I", zlib.crc32(tag + data)))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" +
                chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


# Every model's attention weights on the example; keep the head (of any layer) that puts the
# most weight on the copy diagonal: query p in [n, 2n) must predict the token at p + 1,
# a copy of the one at key p - n.
results = json.load(open(os.path.join(runs, "compare.json")))["runs"]
panels = []
for run in results:
    name = run["variant"]
    folder = "".join("_" if c in ":,=+/" else c for c in name)  # as attn compare names it
    where = os.path.join(maps, folder)
    subprocess.run([attn, "attention-map", "--checkpoint",
                    os.path.join(runs, folder, "checkpoint.safetensors"),
                    "--ids", ",".join(map(str, ids)), "--out", where, "--threads", "2"],
                   check=True, stdout=subprocess.DEVNULL)
    layers = sorted(f for f in os.listdir(where) if f.endswith(".npy"))
    best = (-1.0, 0, 0, None)
    for layer, f in enumerate(layers):
        w = np.load(os.path.join(where, "layer%d.npy" % layer))  # [H, T, T]
        for h in range(w.shape[0]):
            score = np.mean([w[h, p, p - n] for p in range(n, 2 * n)])
            best = max(best, (score, layer, h, w[h]), key=lambda b: b[0])
    score, layer, head, weights = best
    print("%-22s layer %d head %d: mean weight on the copy diagonal %.2f, accuracy %.2f%%, "
          "final loss %.4f" % (name, layer, head, score, 100 * run["accuracy"], run["final_loss"]))
    about = "layer %d head %d  acc %.1f%%" % (layer, head, 100 * run["accuracy"])
    panels.append((name, about, weights))

# The figure: three panels a row; white (weight 0) to dark blue (weight 1) on a square-root
# scale like attn attention-map's, red boxes around the cells of the copy diagonal.
cell, label, head_h, gap = 16, 16, 40, 24
pw, ph = label + T * cell, head_h + label + T * cell
cols = 3
rows = (len(panels) + cols - 1) // cols
top = 36
img = np.full((top + rows * (ph + gap), 16 + cols * (pw + gap), 3), 255, np.uint8)
text(img, 16, 10, "copy task, | = separator: rows are queries, columns keys; red: the key to copy")
for k, (name, about, w) in enumerate(panels):
    x0, y0 = 16 + (k % cols) * (pw + gap), top + (k // cols) * (ph + gap)
    text(img, x0, y0, name)
    text(img, x0, y0 + 16, about, (90, 90, 90))
    gx, gy = x0 + label, y0 + head_h + label
    t = np.sqrt(np.clip(w, 0, 1))
    color = np.stack([255 - 247 * t, 255 - 207 * t, 255 - 148 * t], -1).astype(np.uint8)
    img[gy:gy + T * cell, gx:gx + T * cell] = np.repeat(np.repeat(color, cell, 0), cell, 1)
    for i, tok in enumerate(ids):
        s = "|" if tok == 10 else str(tok)
        text(img, gx + i * cell + (cell - 8 * len(s) + 2) // 2, gy - 13, s)  # keys
        text(img, gx - 2 - 8 * len(s), gy + i * cell + 3, s)                  # queries
    for p in range(n, 2 * n):
        bx, by = gx + (p - n) * cell, gy + p * cell
        img[by, bx:bx + cell] = img[by + cell - 1, bx:bx + cell] = (220, 30, 30)
        img[by:by + cell, bx] = img[by:by + cell, bx + cell - 1] = (220, 30, 30)
write_png(png, img)
print("wrote %s (%d x %d, %d bytes)" % (png, img.shape[1], img.shape[0], os.path.getsize(png)))
PYTHON
