#!/usr/bin/env bash
# Run every test of multimix-mpi, multi-rank ones included (they spawn real mpirun processes).
#
#   bash launch/test.sh [extra swift test arguments, e.g. --filter SwiftMPITests]
#
# Installs what is missing (launch/setup.sh, with headless Chromium for ReportBrowserTests unless
# MULTIMIX_TEST_BROWSER=0, and the packet-delay tools of ScalingBenchTests unless
# MULTIMIX_TEST_NETWORK=0), creates the Python environment of the PyTorch interoperability tests,
# builds release, then runs `swift test -c release`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
start=$(date +%s)

MULTIMIX_SKIP_BUILD=1 MULTIMIX_TEST_BROWSER="${MULTIMIX_TEST_BROWSER:-1}" MULTIMIX_TEST_NETWORK="${MULTIMIX_TEST_NETWORK:-1}" bash launch/setup.sh

# Python for the PyTorch interoperability tests (Tests/TestSupport/PythonReference.swift), in an
# ignored folder: created when missing, topped up when the package list below changes, else untouched.
# PyTorch is pinned to its CPU build (unpinned, pip picks the 5 GB CUDA one). pip finds it where pip is
# configured to look (this machine: find-links /opt/wheels); elsewhere point pip at PyTorch's CPU
# wheels, e.g. PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu bash launch/test.sh
# (or PIP_FIND_LINKS=/folder/of/wheels). In CI (CI=true) those tests fail when this Python is missing.
# Pillow: the image-folder tests' decoding reference and make_image_folder.py; simplejpeg: launch/bench/data.sh.
python_packages=("torch==2.13.0+cpu" numpy safetensors tensorboard pillow simplejpeg)
venv="$repo/.build/python-venv"
if [ "$(cat "$venv/.packages" 2>/dev/null)" != "${python_packages[*]}" ]; then
    venv_start=$(date +%s)
    echo "[test] python environment $venv: installing ${python_packages[*]}"
    rm -f "$venv/.packages"
    if { [ -x "$venv/bin/python" ] || python3 -m venv "$venv"; } \
        && "$venv/bin/python" -m pip install -q "${python_packages[@]}"; then
        echo "${python_packages[*]}" > "$venv/.packages"
        echo "[test] python environment ready in $(( $(date +%s) - venv_start )) s"
    else
        echo "[test] warning: could not set up $venv; the PyTorch interoperability tests will fail in CI, skip elsewhere" >&2
    fi
fi
export MULTIMIX_TEST_PYTHON="$venv/bin/python"

# mpirun as root (CI runs as root) and more ranks than cores, for the multi-rank tests.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# The XCTest process runs models in-process and, unlike `multimix`, cannot choose OpenMP's wait policy
# for itself (see Sources/multimix/OpenMPWaitPolicy.swift): idle pool threads sleep instead of spinning
# beside the ranks the tests start. The `multimix` processes the tests start choose it themselves
# (ThreadModelTests removes the variable to check that).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"

echo "[test] building release with tests"
mkdir -p .build
swift build -c release --build-tests > .build/test-build.log 2>&1 \
    || { tail -n 60 .build/test-build.log >&2; echo "[test] error: build failed (log: .build/test-build.log)" >&2; exit 1; }
# The Slurm tests (SlurmTests, SlurmNodeTests) spend most of their minutes waiting on Slurm's own
# timers (requeues, a node marked down), so a full run starts them beside the others: the test bundle
# itself in a second process (SwiftPM allows one `swift test` per .build at a time), its output kept in
# .build/slurm-tests.log and printed after the others'. A run with arguments (`--filter ...`) stays one
# `swift test`.
bundle="$(swift build -c release --show-bin-path)/multimix-mpiPackageTests.xctest"
if [ "$#" -gt 0 ] || [ "${MULTIMIX_SKIP_SLURM_TESTS:-0}" = 1 ] || [ ! -x "$bundle" ]; then
    echo "[test] running swift test"
    swift test -c release --skip-build --disable-swift-testing "$@"
    echo "[test] done in $(( $(date +%s) - start )) s"
    exit 0
fi
slurm_log="$repo/.build/slurm-tests.log"
echo "[test] running the Slurm tests beside the others (their output: $slurm_log, printed at the end)"
"$bundle" SystemTests.SlurmTests,SystemTests.SlurmNodeTests > "$slurm_log" 2>&1 &
slurm_pid=$!
trap 'kill -TERM "$slurm_pid" 2>/dev/null || true' EXIT
echo "[test] running swift test (all but the Slurm tests)"
others=0
swift test -c release --skip-build --disable-swift-testing --skip 'SystemTests\.SlurmTests' --skip 'SystemTests\.SlurmNodeTests' || others=$?
slurm=0
wait "$slurm_pid" || slurm=$?
trap - EXIT
echo "[test] the Slurm tests (exit status $slurm):"
cat "$slurm_log"
[ "$others" -eq 0 ] || echo "[test] error: tests failed (exit status $others), see above" >&2
[ "$slurm" -eq 0 ] || echo "[test] error: the Slurm tests failed (exit status $slurm), see $slurm_log" >&2
[ "$others" -eq 0 ] && [ "$slurm" -eq 0 ] || exit 1
echo "[test] done in $(( $(date +%s) - start )) s"
