#!/usr/bin/env bash
# Train across nodes: bash launch/multinode.sh HOSTFILE CONFIG [extra `multimix train` flags...]
#
# HOSTFILE is Open MPI's: one line per node, `hostname slots=N` (N ranks on that node), e.g.
#     node01 slots=2
#     node02 slots=2
# Every node needs this repository at the same path, built (bash launch/setup.sh on each), and
# passwordless ssh from this one; the data must be readable at the config's data.root on every node.
# Rank 0 (the first slot of the first host) writes the run folder; no shared filesystem is needed.
# Threads per rank: multimix decides on each node (MULTIMIX_THREADS, else the config's
# training.threads, else that node's CPUs / its ranks) and rank 0 prints its choice.
#
# A node that dies or loses its network ends the job within about 40 s. Open MPI's defaults hang for
# minutes: mpirun notices a silent daemon only through TCP keepalive (first probe after 300 s, 9
# probes 20 s apart). This script passes
#     --mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3
# so mpirun probes each node's daemon after 5 s of silence, every 2 s, and gives up after 3
# unanswered probes (about 10 s): "lost communication with a remote daemon". It then ends the other
# ranks (stuck in an all-reduce with the lost one) with Open MPI's kill sequence: SIGCONT, a wait of
# odls_base_sigkill_timeout seconds, SIGTERM, the same wait again, SIGKILL. That timeout is
# MULTIMIX_SIGKILL_TIMEOUT, default 15 s, so the job ends about 10 + 2 x 15 = 40 s after the node
# went (measured 39-40 s; with 60 s it took 127 s). Nothing is left running on any node, mpirun
# exits non-zero (205), and this script adds one line naming the lost node. The last checkpoint is
# intact (written aside, then renamed): rerun the same command with --resume auto.
#
# Stopping a job for a checkpoint: SIGTERM, SIGHUP, SIGINT or SIGUSR1 to this script reaches the ranks
# at once as SIGUSR1 (launch/lib/stop-signals.sh, as in launch/train.sh); they checkpoint at the next
# step boundary and exit 75, and mpirun ends the job (the kill sequence above for ranks still
# finishing: measured 29 s from SIGTERM to the script's exit 75 with the default 15 s). SIGTERM sent
# to mpirun itself instead goes through the kill sequence: the ranks get it
# one timeout after mpirun and have one more to checkpoint before SIGKILL, so raise
# MULTIMIX_SIGKILL_TIMEOUT when a step takes more than ~10 s.
#
# Environment:
#   MULTIMIX_THREADS       threads per rank, on every node (default: each node's CPUs / its ranks)
#   MULTIMIX_SIGKILL_TIMEOUT  each wait of the kill sequence, odls_base_sigkill_timeout (default 15, see above)
#   MULTIMIX_RSH_AGENT     program mpirun starts its daemons with instead of ssh (plm_rsh_agent,
#                          without tree spawn), e.g. the agent of launch/beds/local-cluster.sh
#   MULTIMIX_MPI_SUBNET    the network MPI uses, e.g. 10.77.0.0/24 (oob_tcp_if_include and
#                          btl_tcp_if_include): only that interface, on every node
#   MULTIMIX_MPIRUN_FLAGS  more mpirun flags, split at spaces (e.g. "--mca btl tcp,self")
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
source "$repo/launch/lib/stop-signals.sh"

if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
    sed -n '2,/^set -euo pipefail/{/^set /d; s/^# \{0,1\}//; p}' "${BASH_SOURCE[0]}"
    exit 0
fi
if [ $# -lt 2 ] || [ ! -f "$1" ] || [ ! -f "$2" ]; then
    echo "usage: bash launch/multinode.sh HOSTFILE CONFIG [multimix train flags...]   (both must be files; --help: settings and environment)" >&2
    exit 2
fi
hostfile="$1"; config="$2"; shift 2

# Every slots=N must be a whole number ≥ 1 (slots=0 divided by zero below).
bad_slots=$(awk '!/^[[:space:]]*(#|$)/ { for (i = 2; i <= NF; i++) if ($i ~ /^slots=/ && ($i !~ /^slots=[1-9][0-9]*$/ || length($i) > 10)) { print FNR ": " $1 " " $i; exit } }' "$hostfile")
if [ -n "$bad_slots" ]; then
    echo "launch/multinode.sh: $hostfile line $bad_slots: give each node slots=N with N a whole number from 1 to 9999" >&2
    exit 2
fi
ranks=$(awk '!/^[[:space:]]*(#|$)/ { n = 1; for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) { split($i, a, "="); n = a[2] } total += n } END { print total + 0 }' "$hostfile")
if [ "$ranks" -lt 1 ]; then echo "launch/multinode.sh: $hostfile lists no slots" >&2; exit 2; fi

[ -x .build/release/multimix ] || bash launch/setup.sh >&2
# The shared flags (launch/lib/mpirun-flags.sh) with a kill-sequence wait of 15 s, not 5 s as in
# launch/train.sh: every job end that goes through it (a lost node, a rank exiting non-zero) takes
# twice this long (see the top of this file).
source "$repo/launch/lib/mpirun-flags.sh"
mpirun_flags 15
flags=(--hostfile "$hostfile" -np "$ranks" --map-by slot "${MPIRUN_FLAGS[@]}")
# A lost node ends the job in seconds instead of minutes (see the top of this file).
flags+=(--mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3)
[ -z "${MULTIMIX_RSH_AGENT:-}" ] || flags+=(--mca plm_rsh_agent "$MULTIMIX_RSH_AGENT" --mca plm_rsh_no_tree_spawn 1)
[ -z "${MULTIMIX_MPI_SUBNET:-}" ] || flags+=(--mca oob_tcp_if_include "$MULTIMIX_MPI_SUBNET" --mca btl_tcp_if_include "$MULTIMIX_MPI_SUBNET")
# shellcheck disable=SC2206
[ -z "${MULTIMIX_MPIRUN_FLAGS:-}" ] || flags+=($MULTIMIX_MPIRUN_FLAGS)

echo "[multinode] $ranks ranks from $hostfile: $config" >&2
# mpirun's stderr passes through a filter that adds one line when Open MPI reports a lost node (its
# own report is a banner of several lines).
status=0
run_passing_stop_signals mpirun "${flags[@]}" \
    "$repo/.build/release/multimix" train --config "$config" "$@" \
    2> >(awk '
        { print > "/dev/stderr"; fflush("/dev/stderr") }
        /lost communication with a remote daemon/ { lost = 1 }
        lost && !said && /Remote daemon:.* on node / {
            node = $0; sub(/.* on node /, "", node); gsub(/[[:space:]]/, "", node)
            print "[multinode] lost node " node ": its daemon stopped answering (node down or cut off); the job is ending, resume with --resume auto" > "/dev/stderr"
            fflush("/dev/stderr"); said = 1
        }') || status=$?
exit "$status"
