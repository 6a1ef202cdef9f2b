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
# The XCTest process runs models in-process and, unlike `multimix`, cannot choose OpenMP's wait policy
# for itself (see Sources/multimix/OpenMPWaitPolicy.swift): idle pool threads sleep instead of spinning
# beside the ranks the tests start. The `multimix` processes the tests start choose it themselves
# (ThreadModelTests removes the variable to check that).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"

echo "[test] building release with tests"
mkdir -p .build
swift build -c release --build-tests > .build/test-build.log 2>&1 \
    || { tail -n 60 .build/test-build.log >&2; echo "[test] error: build failed (log: .build/test-build.log)" >&2; exit 1; }
echo "[test] running swift test"
swift test -c release --skip-build --disable-swift-testing "$@"
echo "[test] done in $(( $(date +%s) - start )) s"
