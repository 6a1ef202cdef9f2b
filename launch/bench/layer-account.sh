#!/usr/bin/env bash
# Where a training step's time goes, multimix beside PyTorch, layer kind by layer kind, in one run.
#
#   bash launch/bench/layer-account.sh [ROUNDS] [--isa avx2] [--model M] [--input CxHxW] [--batch B] [--batch-norm engine]
#
# Each round runs `multimix bench train --json` (its own per-layer-kind timers) and
# `python/bench_train.py --channels-last --account` (torch.profiler, inclusive op times), interleaved,
# each in a clean environment (`env -i PATH HOME`), 2 threads, 10 timed steps; --isa avx2 caps oneDNN,
# OpenBLAS and MKL at AVX2 as launch/bench/vs-pytorch.sh does ("emulated AVX2"). Prints a Markdown table
# of the medians over rounds (ms per step) and multimix's share of PyTorch's time for each part.
# PyTorch's parts come from its profiler, which adds its own overhead; its plain step time (no
# profiler) is the last row. Needs PyTorch (MULTIMIX_TEST_PYTHON, else .build/python-venv).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rounds=3
if [ $# -gt 0 ] && [[ "$1" =~ ^[1-9][0-9]?$ ]]; then rounds="$1"; shift; fi
isa=native model=resnet20 input=3x32x32 batch=128 batch_norm=onednn
while [ $# -gt 0 ]; do
    case "$1" in
        --isa) [ $# -ge 2 ] && [[ "$2" == avx2 || "$2" == native ]] || { echo "launch/bench/layer-account.sh: --isa takes avx2 or native" >&2; exit 2; }; isa="$2" ;;
        --model) [ $# -ge 2 ] || { echo "launch/bench/layer-account.sh: --model needs a name" >&2; exit 2; }; model="$2" ;;
        --input) [ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+x[0-9]+x[0-9]+$ ]] || { echo "launch/bench/layer-account.sh: --input takes CxHxW, e.g. 3x32x32" >&2; exit 2; }; input="$2" ;;
        --batch) [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]{0,3}$ ]] || { echo "launch/bench/layer-account.sh: --batch takes 1 to 9999" >&2; exit 2; }; batch="$2" ;;
        --batch-norm) [ $# -ge 2 ] && [[ "$2" == engine || "$2" == onednn ]] || { echo "launch/bench/layer-account.sh: --batch-norm takes engine or onednn" >&2; exit 2; }; batch_norm="$2" ;;
        *) echo "launch/bench/layer-account.sh: unknown flag '$1'; use [ROUNDS] --isa, --model, --input, --batch, --batch-norm" >&2; exit 2 ;;
    esac
    shift 2
done
python="${MULTIMIX_TEST_PYTHON:-$repo/.build/python-venv/bin/python}"
"$python" -c "import torch" 2>/dev/null || {
    echo "launch/bench/layer-account.sh: $python cannot import torch; run bash launch/test.sh once (it makes .build/python-venv) or set MULTIMIX_TEST_PYTHON" >&2; exit 1; }
[ -x "$repo/.build/release/multimix" ] || bash "$repo/launch/setup.sh" >&2
clean=(env -i PATH="$PATH" HOME="$HOME")
[ "$isa" = native ] || clean+=(ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell MKL_ENABLE_INSTRUCTIONS=AVX2)
shared=(--model "$model" --input "$input" --batch "$batch" --threads 2 --steps 10)
results="$(mktemp)" && trap 'rm -f "$results"' EXIT
for round in $(seq "$rounds"); do
    "${clean[@]}" "$repo/.build/release/multimix" bench train "${shared[@]}" --batch-norm "$batch_norm" --json | grep '^{' | sed 's/^/multimix /' >> "$results"
    "${clean[@]}" "$python" "$repo/python/bench_train.py" "${shared[@]}" --channels-last --account 2>/dev/null | grep '^{' | sed 's/^/torch /' >> "$results"
    echo "[round $round/$rounds done]" >&2
done
python3 - "$results" "$isa" "$model" "$input" "$batch" "$rounds" <<'PYTHON'
import json, statistics, sys
path, isa, model, shape, batch, rounds = sys.argv[1:]
runs = {"multimix": [], "torch": []}
for line in open(path):
    side, text = line.split(" ", 1)
    runs[side].append(json.loads(text))
def median(side, *keys):
    return 1e3 * statistics.median(sum(run.get(key, 0.0) for key in keys) for run in runs[side])
rows = [
    ("convolution forward", ("convolution_forward_seconds",), ("convolution_forward_seconds",)),
    ("convolution backward (data + weights)", ("convolution_backward_data_seconds", "convolution_backward_weights_seconds"), ("convolution_backward_seconds",)),
    ("  of which backward-data / backward-weights (multimix)", None, None),
    ("batch norm + ReLU + add, forward", ("batch_norm_forward_seconds",), ("batch_norm_forward_seconds", "relu_forward_seconds", "add_forward_seconds")),
    ("batch norm + ReLU + add, backward", ("batch_norm_backward_seconds",), ("batch_norm_backward_seconds", "relu_backward_seconds", "add_backward_seconds")),
    ("other elementwise (ReLU, add, shortcut outside fused blocks)", ("elementwise_seconds",), ()),
    ("pooling, linear, loss", ("pooling_seconds", "linear_seconds", "loss_seconds"), ("pooling_seconds", "linear_seconds", "loss_seconds")),
    ("optimizer", ("optimizer_seconds",), ("optimizer_seconds",)),
    ("whole step (median, no profiler)", ("step_seconds_median",), ("step_seconds_median",)),
]
cpu = runs["multimix"][0].get("cpu", "?")
print(f"{model} {shape}, batch {batch}, 2 threads, {'emulated AVX2' if isa == 'avx2' else 'this CPU'} ({cpu}), "
      f"multimix's batch norm: {runs['multimix'][0].get('batch_norm', '?')}, median of {rounds} interleaved rounds, ms per step")
print()
print("| part | multimix | PyTorch (channels-last, torch.profiler) | multimix / PyTorch |")
print("| --- | ---: | ---: | ---: |")
for name, ours, theirs in rows:
    if ours is None:
        print(f"| {name} | {median('multimix', 'convolution_backward_data_seconds'):.1f} / {median('multimix', 'convolution_backward_weights_seconds'):.1f} | | |")
        continue
    a = median("multimix", *ours)
    b = median("torch", *theirs) if theirs else None
    ratio = f"{a / b:.2f}" if b else ""
    print(f"| {name} | {a:.1f} | {'' if b is None else f'{b:.1f}'} | {ratio} |")
PYTHON
