#!/usr/bin/env bash
# multimix's training step side by side with PyTorch's on the same model, interleaved in one run.
#
#   bash launch/bench/vs-pytorch.sh [ROUNDS] [--isa avx2] [bench train flags...]
#   e.g. bash launch/bench/vs-pytorch.sh 5 --model resnet20 --input 1x28x28 --classes 10
#
# --isa avx2 runs both sides as an AVX2-only CPU would, on an AVX-512 machine: oneDNN (ours and
# PyTorch's bundled one) capped by ONEDNN_MAX_CPU_ISA=AVX2, OpenBLAS by OPENBLAS_CORETYPE=Haswell, MKL by
# MKL_ENABLE_INSTRUCTIONS=AVX2; the summary says "emulated AVX2".
#
# Each round runs `multimix bench train --json` and python/bench_train.py (NCHW, then channels-last)
# with the same --model/--input/--classes/--batch/--threads/--steps, each in a clean environment
# (`env -i PATH HOME`: as a user starts them, no OMP_* or OPENBLAS_* variables). It prints each
# round's figures and, at the end, the medians and the median of the per-round ratios to the faster
# PyTorch layout (rounds are paired, so a noisy minute moves both sides). Needs PyTorch:
# MULTIMIX_TEST_PYTHON, else .build/python-venv/bin/python (launch/test.sh makes it), else python3.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rounds=3
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then rounds="$1"; shift; fi
isa=native
if [ $# -gt 0 ] && [ "$1" = --isa ]; then
    [ $# -ge 2 ] && [[ "$2" == avx2 || "$2" == native ]] || { echo "launch/bench/vs-pytorch.sh: --isa takes avx2 or native" >&2; exit 2; }
    isa="$2"; shift 2
fi
python="${MULTIMIX_TEST_PYTHON:-$repo/.build/python-venv/bin/python}"
[ -x "$python" ] || python=python3
"$python" -c "import torch" 2>/dev/null || {
    echo "launch/bench/vs-pytorch.sh: $python cannot import torch; run bash launch/test.sh once (it makes .build/python-venv) or set MULTIMIX_TEST_PYTHON" >&2; exit 1; }
[ -x "$repo/.build/release/multimix" ] || bash "$repo/launch/setup.sh" >&2

# The flags both sides take, with bench train's defaults.
declare -A flag=([--model]=resnet20 [--input]=3x32x32 [--classes]=10 [--batch]=128 [--threads]=2 [--steps]=10)
while [ $# -gt 0 ]; do
    [ -n "${flag[$1]+x}" ] && [ $# -ge 2 ] || { echo "launch/bench/vs-pytorch.sh: unknown or incomplete flag '$1'; use ${!flag[*]}" >&2; exit 2; }
    flag[$1]="$2"; shift 2
done
shared=(); for name in "${!flag[@]}"; do shared+=("$name" "${flag[$name]}"); done
clean=(env -i PATH="$PATH" HOME="$HOME")
[ "$isa" = native ] || clean+=(ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell MKL_ENABLE_INSTRUCTIONS=AVX2)

results=$(mktemp); trap 'rm -f "$results"' EXIT
for round in $(seq "$rounds"); do
    ours=$("${clean[@]}" "$repo/.build/release/multimix" bench train "${shared[@]}" --json | grep '^{')
    nchw=$("${clean[@]}" "$python" "$repo/python/bench_train.py" "${shared[@]}" | grep '^{')
    last=$("${clean[@]}" "$python" "$repo/python/bench_train.py" "${shared[@]}" --channels-last | grep '^{')
    printf '%s\t%s\t%s\n' "$ours" "$nchw" "$last" >> "$results"
    echo "round $round/$rounds done" >&2
done
python3 - "$results" "$isa" <<'PY'
import json, statistics, sys
emulated = sys.argv[2] == "avx2"
rows = [[json.loads(cell) for cell in line.rstrip("\n").split("\t")] for line in open(sys.argv[1])]
ours = [r[0]["images_per_second"] for r in rows]
nchw = [r[1]["images_per_second"] for r in rows]
last = [r[2]["images_per_second"] for r in rows]
ratios = [o / max(a, b) for o, a, b in zip(ours, nchw, last)]
first = rows[0][0]
isa = "emulated AVX2 (ONEDNN_MAX_CPU_ISA=AVX2, OPENBLAS_CORETYPE=Haswell, MKL_ENABLE_INSTRUCTIONS=AVX2)" if emulated else first['vector_extensions']
print(f"{first['model']} {first['input']}, batch {first['batch']}, {first['threads']} threads; CPU {first['cpu']} ({isa})")
print(f"multimix OpenMP wait policy: {first['omp_wait_policy']}; PyTorch: {rows[0][1]['omp_wait_policy']}")
for i, (o, a, b, r) in enumerate(zip(ours, nchw, last, ratios), 1):
    print(f"round {i}: multimix {o:8.1f} img/s   PyTorch NCHW {a:8.1f}   channels-last {b:8.1f}   ratio {r:.2f}")
print(f"median:  multimix {statistics.median(ours):8.1f} img/s   PyTorch NCHW {statistics.median(nchw):8.1f}   "
      f"channels-last {statistics.median(last):8.1f}   ratio to the faster PyTorch (median of rounds) {statistics.median(ratios):.2f}")
PY
