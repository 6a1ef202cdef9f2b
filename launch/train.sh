#!/usr/bin/env bash
# Train on one node: bash launch/train.sh CONFIG [RANKS] [extra `multimix train` flags...]
#
#   bash launch/train.sh configs/fashion-mnist-resnet20-multimix.yaml 2
#   bash launch/train.sh configs/cifar10-preactresnet18-multimix.yaml 2 --set training.epochs=10
#
# Builds if needed (launch/setup.sh) and starts mpirun with the flags every launcher shares
# (launch/lib/mpirun-flags.sh), plus --oversubscribe when ranks > cores. Threads per rank: multimix
# decides (`--set training.threads=N`, MULTIMIX_THREADS, the config's training.threads, else this
# machine's CPUs / ranks, at least 1) and prints its choice: "[train] 2 ranks x 1 threads (...)".
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

# A live progress line when this script's output is a terminal, plain lines in a batch log. Only this
# script can tell: mpirun gives every rank a pseudo-terminal for its output whether mpirun's own output
# is a terminal, a pipe or a file (Open MPI 4.1: `mpirun -np 1 bash -c '[ -t 1 ] && echo tty' > f`
# writes tty). So it passes on what it sees, and multimix decides (ProgressReporter.showsLiveLine:
# MULTIMIX_PROGRESS when set, else plain lines under mpirun or Slurm).
[ -n "${MULTIMIX_PROGRESS:-}" ] || ! [ -t 1 ] || export MULTIMIX_PROGRESS=live
# Stopping: SIGTERM, SIGHUP, SIGINT or SIGUSR1 to this script reaches the ranks at once as SIGUSR1
# (launch/lib/stop-signals.sh), and they checkpoint at the next step boundary (or within an evaluation
# batch) and exit 75. mpirun still ends the other ranks through its kill sequence once one has exited
# (SIGCONT, wait, SIGTERM, wait, SIGKILL), so the wait stays short: 5 s, enough for a rank to finish
# its checkpoint.
source "$repo/launch/lib/mpirun-flags.sh"
mpirun_flags 5
[ "$ranks" -le "$(nproc)" ] || MPIRUN_FLAGS+=(--oversubscribe)

echo "[$subcommand] $ranks ranks on $(nproc) cores: $config" >&2
status=0
run_passing_stop_signals mpirun -np "$ranks" "${MPIRUN_FLAGS[@]}" \
    "$repo/.build/release/multimix" "$subcommand" --config "$config" "$@" || status=$?
exit "$status"
