#!/usr/bin/env bash
# Run every test of multimix-mpi, multi-rank ones included (they spawn real mpirun processes).
#
#   bash launch/test.sh [extra swift test arguments, e.g. --filter SwiftMPITests]
#
# Installs what is missing (launch/setup.sh), builds release, then runs `swift test -c release`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
start=$(date +%s)

MULTIMIX_SKIP_BUILD=1 bash launch/setup.sh

# mpirun as root (CI runs as root) and more ranks than cores, for the multi-rank tests.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# One BLAS thread per rank unless a test sets its own: ranks share this machine's cores.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
# oneDNN's OpenMP threads sleep when idle instead of spinning (ranks share the cores in the tests).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"

echo "[test] building release with tests"
mkdir -p .build
swift build -c release --build-tests > .build/test-build.log 2>&1 \
    || { tail -n 60 .build/test-build.log >&2; echo "[test] error: build failed (log: .build/test-build.log)" >&2; exit 1; }
echo "[test] running swift test"
swift test -c release --skip-build --disable-swift-testing "$@"
echo "[test] done in $(( $(date +%s) - start )) s"
