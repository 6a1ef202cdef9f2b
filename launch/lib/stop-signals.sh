# Sourced by the launch scripts (train.sh, multinode.sh, slurm.sbatch): how a stop request reaches the ranks.
#
#   run_passing_stop_signals COMMAND...   # runs COMMAND (mpirun or srun ...); returns its exit status
#
# SIGTERM, SIGHUP, SIGINT or SIGUSR1 to the script reaches COMMAND at once as SIGUSR1, which mpirun and
# srun forward to the ranks: they write a checkpoint at the next step boundary (or within an evaluation
# batch) and exit 75. Not the signal itself: mpirun's own SIGTERM path is slow (it sends SIGCONT, waits
# odls_base_sigkill_timeout, sends SIGTERM, waits again, then SIGKILL; measured: 120 s with a 60 s
# wait, and the ranks only got SIGTERM after the first wait), and srun answers SIGTERM by killing the
# ranks without a checkpoint.
#
# STOP_SIGNAL holds the name of the last signal received (TERM, HUP, INT, USR1; empty if none), and a
# function `on_stop_signal` defined by the caller is called with it first (slurm.sbatch logs it).
# The caller's own traps for these signals are back in place when the function returns.
STOP_SIGNAL=""
forward_stop_signal() {
    STOP_SIGNAL="$1"
    ! declare -F on_stop_signal >/dev/null || on_stop_signal "$1"
    kill -USR1 "$2" 2>/dev/null || true
}
run_passing_stop_signals() {
    local previous_traps job status signal
    previous_traps="$(trap -p TERM HUP INT USR1)"
    "$@" &
    job=$!
    for signal in TERM HUP INT USR1; do
        # shellcheck disable=SC2064  # the job's id is fixed now
        trap "forward_stop_signal $signal $job" "$signal"
    done
    # wait returns early when a trapped signal arrives: wait again until the command itself has ended.
    while :; do
        status=0; wait "$job" || status=$?
        kill -0 "$job" 2>/dev/null || break
    done
    trap - TERM HUP INT USR1
    eval "$previous_traps"
    return "$status"
}
