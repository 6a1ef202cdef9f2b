#!/usr/bin/env bash
# The image-folder pipeline side by side with the Python references, interleaved in one run.
#
#   bash launch/bench/data.sh ROOT [ROUNDS] [--image-size S] [--mode train|eval] [--limit N]
#   e.g. python3 ../shared/reference/make_image_folder.py /tmp/photos --size 500 --train-per-class 40 --val-per-class 10
#        bash launch/bench/data.sh /tmp/photos 5
#
# Each round runs `multimix bench data --json` (1 worker) and ../shared/reference/bench_decode.py with
# Pillow, then with simplejpeg (libjpeg-turbo's DCT scaling), every one pinned to the same core
# (taskset -c 0) in a clean environment (`env -i PATH HOME`), over the same files with the same
# transform. It prints each round and, at the end, the medians and the median of the per-round ratios
# (rounds are paired, so a noisy minute moves every side). Needs Pillow and simplejpeg:
# MULTIMIX_TEST_PYTHON, else .build/python-venv/bin/python (launch/test.sh makes it), else python3;
# the reference script: MULTIMIX_BENCH_DECODE, else ../shared/reference/bench_decode.py.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
usage="usage: bash launch/bench/data.sh ROOT [ROUNDS] [--image-size S] [--mode train|eval] [--limit N]"
[ $# -ge 1 ] || { echo "launch/bench/data.sh: no ROOT; $usage" >&2; exit 2; }
root="$1"; shift
[ -d "$root" ] || { echo "launch/bench/data.sh: $root is not a folder; give a folder of .jpg/.png images ($usage)" >&2; exit 2; }
rounds=3
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then rounds="$1"; shift; fi
[ "$rounds" -ge 1 ] && [ "$rounds" -le 100 ] || { echo "launch/bench/data.sh: ROUNDS must be in [1, 100]" >&2; exit 2; }
declare -A flag=([--image-size]=224 [--mode]=train [--limit]=500)
while [ $# -gt 0 ]; do
    [ -n "${flag[$1]+x}" ] && [ $# -ge 2 ] || { echo "launch/bench/data.sh: unknown or incomplete flag '$1'; $usage" >&2; exit 2; }
    flag[$1]="$2"; shift 2
done
[[ "${flag[--image-size]}" =~ ^[0-9]+$ && "${flag[--limit]}" =~ ^[0-9]+$ ]] \
    || { echo "launch/bench/data.sh: --image-size and --limit take whole numbers" >&2; exit 2; }
[[ "${flag[--mode]}" == train || "${flag[--mode]}" == eval ]] || { echo "launch/bench/data.sh: --mode is train or eval" >&2; exit 2; }
python="${MULTIMIX_TEST_PYTHON:-$repo/.build/python-venv/bin/python}"
[ -x "$python" ] || python=python3
reference="${MULTIMIX_BENCH_DECODE:-$repo/../shared/reference/bench_decode.py}"
[ -f "$reference" ] || { echo "launch/bench/data.sh: no reference script at $reference; set MULTIMIX_BENCH_DECODE" >&2; exit 1; }
"$python" -c "import PIL, simplejpeg, numpy" 2>/dev/null || {
    echo "launch/bench/data.sh: $python cannot import PIL, simplejpeg and numpy; run bash launch/test.sh once (it makes .build/python-venv) or set MULTIMIX_TEST_PYTHON" >&2; exit 1; }
[ -x "$repo/.build/release/multimix" ] || bash "$repo/launch/setup.sh" >&2

size="${flag[--image-size]}" mode="${flag[--mode]}" limit="${flag[--limit]}"
clean=(env -i PATH="$PATH" HOME="$HOME" taskset -c 0)
results=$(mktemp); trap 'rm -f "$results"' EXIT
for round in $(seq "$rounds"); do
    ours=$("${clean[@]}" "$repo/.build/release/multimix" bench data --root "$root" --image-size "$size" --mode "$mode" --limit "$limit" --rounds 1 --json | grep '^{')
    pillow=$("${clean[@]}" "$python" "$reference" "$root" --size "$size" --mode "$mode" --limit "$limit" --rounds 1 | grep '^{')
    simple=$("${clean[@]}" "$python" "$reference" "$root" --size "$size" --mode "$mode" --limit "$limit" --rounds 1 --decoder simplejpeg | grep '^{')
    printf '%s\t%s\t%s\n' "$ours" "$pillow" "$simple" >> "$results"
    echo "round $round/$rounds done" >&2
done
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [[json.loads(cell) for cell in line.rstrip("\n").split("\t")] for line in open(sys.argv[1])]
key = "images_per_second_per_core"
ours, pillow, simple = ([r[i][key] for r in rows] for i in range(3))
first = rows[0][0]
print(f"{first['images']} images, {first['mode']} transform to {first['size']} px, one core; CPU {first['cpu']} ({first['vector_extensions']})")
for i, (o, p, s) in enumerate(zip(ours, pillow, simple), 1):
    print(f"round {i}: multimix {o:7.1f} img/s   Pillow {p:7.1f}   simplejpeg {s:7.1f}   ratios {o / p:.2f} / {o / s:.2f}")
print(f"median:  multimix {statistics.median(ours):7.1f} img/s   Pillow {statistics.median(pillow):7.1f}   simplejpeg {statistics.median(simple):7.1f}   "
      f"ratio to Pillow {statistics.median([o / p for o, p in zip(ours, pillow)]):.2f}, to simplejpeg {statistics.median([o / s for o, s in zip(ours, simple)]):.2f} (medians of rounds)")
PY
