# Sourced by the launchers that start mpirun (train.sh, multinode.sh, slurm.sbatch): the flags every
# mpirun of this project carries. Each launcher adds only what is its own (a hostfile, --oversubscribe).
#
#   mpirun_flags DEFAULT_SIGKILL_TIMEOUT   # sets the array MPIRUN_FLAGS; exit 2 on a bad setting
#
#   --bind-to none     each rank runs its own pool of compute threads (multimix sizes it: training.threads,
#                      else the node's CPUs / its ranks), so no rank is pinned to one core
#   --mca odls_base_sigkill_timeout N
#                      Open MPI's kill sequence (SIGCONT, wait, SIGTERM, wait, SIGKILL) waits N s twice
#                      once a rank has exited or mpirun got SIGTERM; its default of 1 s is too soon for a
#                      checkpoint. N is MULTIMIX_SIGKILL_TIMEOUT, else the launcher's default (train.sh:
#                      5, the stop signal reaching the ranks at once; multinode.sh: 15, see its header)
#   --allow-run-as-root  when run as root (CI, containers)
#   -x NAME            MULTIMIX_PROGRESS and MULTIMIX_THREADS, when set, reach the ranks on every node
#                      (mpirun passes the environment only to ranks on its own node)
mpirun_flags() {
    local sigkill_timeout="${MULTIMIX_SIGKILL_TIMEOUT:-$1}" name
    if ! [[ "$sigkill_timeout" =~ ^[0-9]{1,4}$ ]]; then
        echo "$(basename "$0"): MULTIMIX_SIGKILL_TIMEOUT must be a whole number of seconds (got '$sigkill_timeout'); e.g. MULTIMIX_SIGKILL_TIMEOUT=15" >&2
        exit 2
    fi
    MPIRUN_FLAGS=(--bind-to none --mca odls_base_sigkill_timeout "$sigkill_timeout")
    [ "$(id -u)" -ne 0 ] || MPIRUN_FLAGS+=(--allow-run-as-root)
    for name in MULTIMIX_PROGRESS MULTIMIX_THREADS; do
        [ -z "${!name:-}" ] || MPIRUN_FLAGS+=(-x "$name")
    done
}
