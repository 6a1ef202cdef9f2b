#!/usr/bin/env bash
# A real one-node Slurm on this machine, for trying launch/slurm.sbatch and for SlurmTests:
#
#   bash launch/local-slurm.sh up       # install slurm-wlm + munge if missing, start munged, slurmctld, slurmd
#   eval "$(bash launch/local-slurm.sh env)"   # SLURM_CONF for sbatch, squeue, scontrol, ... in this shell
#   sbatch --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 launch/slurm.sbatch CONFIG
#   bash launch/local-slurm.sh status   # the daemons and sinfo/squeue
#   bash launch/local-slurm.sh down     # cancel every job, stop the daemons: nothing is left running
#
# Everything lives in $MULTIMIX_SLURM_DIR (default /tmp/multimix-slurm): slurm.conf, its own munge
# key and socket, state, spool, logs, TmpFS. Nothing under /etc is changed and no systemd is needed
# (daemons are started by hand; needs root, as slurmd does). Ports 6917/6918 (MULTIMIX_SLURM_PORT,
# +1), not Slurm's defaults, so a site Slurm on this machine is left alone. The settings are the
# measured ones of docs (CLUSTER.md, section B): cred_expire=30 (a requeued job runs again after
# about 35-40 s instead of 2.5 min), bf_interval=5, JobRequeue=1, TmpFS per node, SlurmdTimeout=30.
set -euo pipefail
dir="${MULTIMIX_SLURM_DIR:-/tmp/multimix-slurm}"
port="${MULTIMIX_SLURM_PORT:-6917}"
conf="$dir/slurm.conf"
host="$(hostname)"

log() { echo "[local-slurm] $*" >&2; }
die() { echo "[local-slurm] error: $*" >&2; exit 1; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/slurm-wlm/mpi_pmix.so ]; then
        return
    fi
    [ "$(id -u)" -eq 0 ] || die "slurm-wlm and munge are missing; as root: apt-get install -y slurm-wlm munge"
    local start; start=$(date +%s)
    log "installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends slurm-wlm munge >"$dir/apt.log" 2>&1 \
        || { apt-get update >>"$dir/apt.log" 2>&1 && apt-get install -y --no-install-recommends slurm-wlm munge >>"$dir/apt.log" 2>&1; } \
        || { tail -n 20 "$dir/apt.log" >&2; die "apt-get install slurm-wlm munge failed (log: $dir/apt.log)"; }
    log "installed in $(( $(date +%s) - start )) s"
}

write_config() {
    mkdir -p "$dir"/{state,spool,log,tmp/"$host",munge,jobcomp}
    chmod 755 "$dir"
    # munged refuses keys and sockets in folders others may write to: its own folder, owned by munge.
    chown munge:munge "$dir/munge"; chmod 700 "$dir/munge"
    if [ ! -s "$dir/munge/munge.key" ]; then
        dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
        chown munge:munge "$dir/munge/munge.key"; chmod 400 "$dir/munge/munge.key"
    fi
    chmod 755 "$dir/munge"   # clients (sbatch, srun as root) connect to the socket inside
    # The node as slurmd sees it; the loopback address, so that no name lookup is needed.
    local node; node="$(slurmd -C | head -n 1)"
    cat >"$conf" <<EOF
# Written by launch/local-slurm.sh: a one-node Slurm for tests (see the script).
ClusterName=multimix
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=30
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp/jobs.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobRequeue=1
SchedulerParameters=bf_interval=5
SlurmdTimeout=30
KillWait=5
MinJobAge=60
MailProg=/bin/true
TmpFS=$dir/tmp/%n
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local seconds="$1" what="$2"; shift 2
    local deadline=$(( $(date +%s) + seconds ))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

# A daemon inherits no descriptor but stdin/stdout/stderr (all /dev/null; the daemons write their own
# logs): a caller that waits for this script's output to close (Foundation's Process does) is not
# held up by the daemons.
detached() {
    ( for fd in $(ls /proc/$BASHPID/fd); do [ "$fd" -le 2 ] || eval "exec $fd>&-"; done
      exec "$@" </dev/null >/dev/null 2>&1 )
}

node_idle() { [ "$(SLURM_CONF="$conf" sinfo -h -N -o %T 2>/dev/null | head -n 1)" = idle ]; }

up() {
    [ "$(id -u)" -eq 0 ] || die "needs root (slurmd and munged are started by hand)"
    local start; start=$(date +%s)
    mkdir -p "$dir"
    install_packages
    write_config
    export SLURM_CONF="$conf"
    if ! alive "$dir/munge/munged.pid"; then
        detached runuser -u munge -- munged --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
            --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" \
            || { tail -n 5 "$dir/munge/munged.log" >&2 2>/dev/null; die "munged did not start"; }
    fi
    wait_for 10 munged munge -S "$dir/munge/munge.socket" -n \
        || die "munged does not answer on $dir/munge/munge.socket (log: $dir/munge/munged.log)"
    # A fresh controller (-c: no jobs from an earlier session), then the node.
    alive "$dir/slurmctld.pid" || detached slurmctld -c -f "$conf" || die "slurmctld did not start (log: $dir/log/slurmctld.log)"
    wait_for 20 slurmctld scontrol ping || { tail -n 20 "$dir/log/slurmctld.log" >&2; die "slurmctld does not answer"; }
    alive "$dir/slurmd.pid" || detached slurmd -f "$conf" || die "slurmd did not start (log: $dir/log/slurmd.log)"
    if ! wait_for 60 "node idle" node_idle; then
        SLURM_CONF="$conf" sinfo -N >&2 || true
        tail -n 20 "$dir/log/slurmd.log" >&2
        die "node $host is not idle after 60 s"
    fi
    log "up in $(( $(date +%s) - start )) s: node $host idle; export SLURM_CONF=$conf"
}

stop_daemon() {  # stop_daemon PIDFILE NAME
    local pidfile="$1" name="$2" pid
    alive "$pidfile" || { rm -f "$pidfile"; return 0; }
    pid="$(cat "$pidfile")"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for 15 "$name stops" bash -c "! kill -0 $pid"; then
        log "$name (pid $pid) ignored SIGTERM for 15 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

down() {
    export SLURM_CONF="$conf"
    if alive "$dir/slurmctld.pid"; then
        # Cancel every job so that no step (and no rank) outlives the daemons.
        scancel --full --quiet --user=root 2>/dev/null || true
        scancel --quiet --state=PENDING 2>/dev/null || true
        wait_for 20 "no jobs" bash -c '[ -z "$(squeue -h -o %i 2>/dev/null)" ]' || log "jobs still listed after 20 s: stopping anyway"
    fi
    stop_daemon "$dir/slurmd.pid" slurmd
    # slurmstepd of a job the cancel missed: its processes' parent chain leads to our spool.
    local stray; stray="$(pgrep -f "^slurmstepd: \[" || true)"
    [ -z "$stray" ] || log "slurmstepd still running (pids $stray); they end with their job steps"
    stop_daemon "$dir/slurmctld.pid" slurmctld
    stop_daemon "$dir/munge/munged.pid" munged
    log "down"
}

status() {
    local name pidfile
    for name in munged slurmctld slurmd; do
        case "$name" in munged) pidfile="$dir/munge/munged.pid" ;; *) pidfile="$dir/$name.pid" ;; esac
        if alive "$pidfile"; then echo "$name: running (pid $(cat "$pidfile"))"; else echo "$name: stopped"; fi
    done
    if alive "$dir/slurmctld.pid"; then
        SLURM_CONF="$conf" sinfo -N; SLURM_CONF="$conf" squeue
    fi
    alive "$dir/slurmctld.pid" && alive "$dir/slurmd.pid" && alive "$dir/munge/munged.pid"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    env) echo "export SLURM_CONF=$conf" ;;
    *) echo "usage: bash launch/local-slurm.sh up|down|status|env" >&2; exit 2 ;;
esac
