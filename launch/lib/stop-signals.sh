# Sourced by the launch scripts (train.sh, multinode.sh): how a stop request reaches the ranks.
#
#   run_passing_stop_signals COMMAND...   # runs COMMAND (mpirun ...); returns its exit status
#
# SIGTERM, SIGHUP, SIGINT or SIGUSR1 to the script reaches COMMAND at once as SIGUSR1, which mpirun
# forwards to the ranks: they write a checkpoint at the next step boundary (or within an evaluation
# batch) and exit 75. mpirun's own SIGTERM path is slow: it sends SIGCONT, waits
# odls_base_sigkill_timeout, sends SIGTERM, waits again, then SIGKILL (measured: 120 s with a 60 s
# wait, and the ranks only got SIGTERM after the first wait).
run_passing_stop_signals() {
    "$@" &
    local job=$! status
    trap 'kill -USR1 "$job" 2>/dev/null || true' TERM HUP INT USR1
    # wait returns early when a trapped signal arrives: wait again until the command itself has ended.
    while :; do
        status=0; wait "$job" || status=$?
        kill -0 "$job" 2>/dev/null || break
    done
    trap - TERM HUP INT USR1
    return "$status"
}
