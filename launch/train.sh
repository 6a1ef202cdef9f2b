#!/usr/bin/env bash
# Train on one node: bash launch/train.sh CONFIG [RANKS] [extra `multimix train` flags...]
#
#   bash launch/train.sh configs/fashion-mnist-resnet20-multimix.yaml 2
#   bash launch/train.sh configs/cifar10-preactresnet18-multimix.yaml 2 --set training.epochs=10
#
# Builds if needed (launch/setup.sh), splits the cores between the ranks (threads per rank =
# cores / ranks, at least 1), and carries the mpirun flags this machine needs: root allowed,
# oversubscription when ranks > cores, no core binding (each rank runs its own BLAS/oneDNN threads).
# The run folder is runs/NAME (see the config's `name`); the report is runs/NAME/report.html.
# Exit code: multimix train's (0 done, 75 stopped by a signal after a checkpoint; see README).
# launch/study.sh runs `multimix study` through this script (MULTIMIX_SUBCOMMAND=study).
set -euo pipefail
subcommand="${MULTIMIX_SUBCOMMAND:-train}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
source "$repo/launch/lib/stop-signals.sh"

if [ $# -lt 1 ] || [ ! -f "$1" ]; then
    echo "usage: bash launch/$subcommand.sh CONFIG [RANKS] [multimix $subcommand flags...]   (CONFIG must be a file; got '${1:-}')" >&2
    exit 2
fi
config="$1"; shift
ranks=2
# RANKS, when given, is the argument after CONFIG that is not a flag (--…): a whole number in [1, 4096].
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then
    if ! [[ "$1" =~ ^[0-9]{1,4}$ ]] || [ "$((10#$1))" -lt 1 ] || [ "$((10#$1))" -gt 4096 ]; then
        echo "launch/$subcommand.sh: RANKS must be a whole number from 1 to 4096 (got '$1'); e.g. bash launch/$subcommand.sh $config 2" >&2
        exit 2
    fi
    ranks=$((10#$1)); shift
fi

bash launch/setup.sh >&2

cores=$(nproc)
threads=$(( cores / ranks )); [ "$threads" -ge 1 ] || threads=1
# Stopping: SIGTERM, SIGHUP, SIGINT or SIGUSR1 to this script reaches the ranks at once as SIGUSR1
# (launch/lib/stop-signals.sh), and they checkpoint at the next step boundary (or within an evaluation
# batch) and exit 75. mpirun still ends the other ranks through its kill sequence once one has exited
# (SIGCONT, wait, SIGTERM, wait, SIGKILL), so the wait stays short: 5 s, enough for a rank to finish
# its checkpoint.
flags=(--bind-to none --mca odls_base_sigkill_timeout 5)
[ "$ranks" -le "$cores" ] || flags+=(--oversubscribe)
[ "$(id -u)" -ne 0 ] || flags+=(--allow-run-as-root)
# A live progress line when this script's output is a terminal, plain lines in a batch log.
if [ -t 1 ]; then export MULTIMIX_PROGRESS=live; else export MULTIMIX_PROGRESS=lines; fi

echo "[$subcommand] $ranks ranks x $threads threads on $cores cores: $config" >&2
# A study's runs take their threads from their configs; a single run gets this machine's share.
extra=(); [ "$subcommand" != train ] || extra=(--set "training.threads=$threads")
status=0
run_passing_stop_signals mpirun -np "$ranks" "${flags[@]}" -x MULTIMIX_PROGRESS \
    "$repo/.build/release/multimix" "$subcommand" --config "$config" "${extra[@]}" "$@" || status=$?
exit "$status"
