#!/usr/bin/env bash
# Train across nodes: bash launch/multinode.sh HOSTFILE CONFIG [extra `multimix train` flags...]
#
# HOSTFILE is Open MPI's: one line per node, `hostname slots=N` (N ranks on that node), e.g.
#     node01 slots=2
#     node02 slots=2
# Every node needs this repository at the same path, built (bash launch/setup.sh on each), and
# passwordless ssh from this one; the data must be readable at the config's data.root on every node.
# Rank 0 (the first slot of the first host) writes the run folder; no shared filesystem is needed.
# Threads per rank: MULTIMIX_THREADS, else the cores of this node / its slots.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

if [ $# -lt 2 ] || [ ! -f "$1" ] || [ ! -f "$2" ]; then
    echo "usage: bash launch/multinode.sh HOSTFILE CONFIG [multimix train flags...]   (both must be files)" >&2
    exit 2
fi
hostfile="$1"; config="$2"; shift 2

ranks=$(awk '!/^[[:space:]]*(#|$)/ { n = 1; for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) { split($i, a, "="); n = a[2] } total += n } END { print total + 0 }' "$hostfile")
if [ "$ranks" -lt 1 ]; then echo "launch/multinode.sh: $hostfile lists no slots" >&2; exit 2; fi
first_slots=$(awk '!/^[[:space:]]*(#|$)/ { n = 1; for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) { split($i, a, "="); n = a[2] } print n; exit }' "$hostfile")
threads="${MULTIMIX_THREADS:-$(( $(nproc) / first_slots ))}"; [ "$threads" -ge 1 ] || threads=1

[ -x .build/release/multimix ] || bash launch/setup.sh >&2
# SIGTERM to mpirun is forwarded to the ranks, which checkpoint at the next step boundary; Open MPI
# sends SIGKILL 1 s later by default, too soon for a step or an evaluation to end: give them 60 s.
flags=(--hostfile "$hostfile" -np "$ranks" --bind-to none --map-by slot --mca odls_base_sigkill_timeout 60)
[ "$(id -u)" -ne 0 ] || flags+=(--allow-run-as-root)
export MULTIMIX_PROGRESS=lines

echo "[multinode] $ranks ranks from $hostfile, $threads threads each: $config" >&2
exec mpirun "${flags[@]}" -x MULTIMIX_PROGRESS \
    "$repo/.build/release/multimix" train --config "$config" --set "training.threads=$threads" "$@"
