#!/usr/bin/env bash
# Debian's oneDNN against the newest GNU-OpenMP build of oneDNN on PyPI (onednn-cpu-gomp, oneDNN 3.2), and
# against PyTorch's bundled oneDNN, on ResNet-20's convolutions, interleaved in one run.
#
#   bash launch/bench/onednn-versions.sh [ROUNDS]      # default 3 rounds, each on emulated AVX2 and natively
#
# Downloads the two wheels with pip into .cache/onednn-cpu-gomp (once), builds
# launch/bench/tools/onednn-conv.c against each library, and runs them (and launch/bench/tools/torch-conv.py
# when a Python with torch is there: MULTIMIX_TEST_PYTHON or .build/python-venv) in a clean environment
# with 2 threads, once capped at AVX2 (ONEDNN_MAX_CPU_ISA=AVX2, "emulated AVX2") and once as the CPU is.
# Prints every round's network sums; compare the medians by eye (rounds are paired).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rounds="${1:-3}"
[[ "$rounds" =~ ^[1-9][0-9]?$ ]] || { echo "launch/bench/onednn-versions.sh: ROUNDS must be 1 to 99 (got '$rounds')" >&2; exit 2; }
wheels="$repo/.cache/onednn-cpu-gomp"
version=2023.2.0   # oneDNN 3.2: the newest onednn-cpu-gomp (later `onednn` wheels run on TBB and need the SYCL runtime)
if [ ! -f "$wheels/.done-$version" ]; then
    rm -rf "$wheels" && mkdir -p "$wheels"
    python3 -m pip download -q --no-deps -d "$wheels" "onednn-cpu-gomp==$version" "onednn-devel-cpu-gomp==$version" \
        || { echo "launch/bench/onednn-versions.sh: pip could not download onednn-cpu-gomp==$version (needs PyPI)" >&2; exit 1; }
    (cd "$wheels" && for wheel in *.whl; do python3 -m zipfile -e "$wheel" .; done)
    touch "$wheels/.done-$version"
fi
include="$wheels/onednn_devel_cpu_gomp-$version.data/data/include" lib="$wheels/onednn_cpu_gomp-$version.data/data/lib"
build="$repo/.build/onednn-versions" && mkdir -p "$build"
[ -f /usr/include/dnnl.h ] || bash "$repo/launch/setup.sh" >&2
gcc -O2 -o "$build/conv-debian" "$repo/launch/bench/tools/onednn-conv.c" -ldnnl
gcc -O2 -I"$include" -o "$build/conv-pypi" "$repo/launch/bench/tools/onednn-conv.c" -L"$lib" -l:libdnnl.so.3 -Wl,-rpath,"$lib"
python="${MULTIMIX_TEST_PYTHON:-$repo/.build/python-venv/bin/python}"
"$python" -c "import torch" 2>/dev/null || python=""
for round in $(seq "$rounds"); do
    for isa in AVX2 native; do
        clean=(env -i PATH="$PATH" HOME="$HOME" OMP_NUM_THREADS=2)
        [ "$isa" = native ] || clean+=(ONEDNN_MAX_CPU_ISA=AVX2)
        echo "[round $round, $([ "$isa" = native ] && echo "this CPU" || echo "emulated AVX2")]"
        "${clean[@]}" "$build/conv-debian" | tail -n 1
        "${clean[@]}" "$build/conv-pypi" | tail -n 1
        [ -z "$python" ] || "${clean[@]}" "$python" "$repo/launch/bench/tools/torch-conv.py" | tail -n 1
    done
done
