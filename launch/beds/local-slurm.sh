#!/usr/bin/env bash
# A real Slurm on this machine, for trying launch/slurm.sbatch and for SlurmTests / SlurmNodeTests:
#
#   bash launch/beds/local-slurm.sh up       # install slurm-wlm + munge if missing, start munged, slurmctld, slurmd
#   bash launch/beds/local-slurm.sh up --nodes 3   # instead: 3 nodes snode1..3, one slurmd each in its own network namespace
#   eval "$(bash launch/beds/local-slurm.sh env)"   # SLURM_CONF for sbatch, squeue, scontrol, ... in this shell
#   sbatch --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 launch/slurm.sbatch CONFIG
#   bash launch/beds/local-slurm.sh status   # the daemons (and each node's link), sinfo -N, squeue
#   bash launch/beds/local-slurm.sh down     # cancel every job, stop the daemons (remove the nodes): nothing is left running
#
# Everything lives in $MULTIMIX_SLURM_DIR (default /tmp/multimix-slurm): slurm.conf, its own munge
# key and socket, state, spool, logs, TmpFS. Nothing under /etc is changed (but /etc/netns/NODE with
# --nodes, as `ip netns` wants) and no systemd is needed (daemons are started by hand; needs root, as
# slurmd does). Ports 6917/6918 (MULTIMIX_SLURM_PORT, +1), not Slurm's defaults, so a site Slurm on
# this machine is left alone; a second bed beside this one needs its own folder and port. The
# settings are the measured ones of docs (CLUSTER.md, section B): cred_expire=30 (a requeued job runs
# again after about 35-40 s instead of 2.5 min), bf_interval=5, JobRequeue=1, ReturnToService=2 (a
# node that answers again is back in service), TmpFS per node, SlurmdTimeout=30.
#
# Plain `up`: one node, this machine (its hostname), controller and node on 127.0.0.1.
# `up --nodes N` (1-64): nodes PREFIX1..N made by launch/beds/local-cluster.sh (network namespaces, a veth
# each into a bridge, real TCP between them), slurmctld in this namespace on the bridge address
# (SlurmctldHost=`hostname`(SUBNET.254)), and on node K `slurmd -N PREFIXK` at SUBNET.K, with its own
# hostname (UTS namespace), /dev/shm, spool, log and TmpFS (a TmpFS shared by nodes breaks mpi/pmix).
# `ip netns exec` mounts a fresh /sys without /sys/fs/cgroup, where slurmd 22.05 dies: an rbind copy
# of /sys/fs/cgroup in $MULTIMIX_SLURM_DIR/cgroup is bound back inside each node (run `down`, which
# unmounts it, before deleting that folder by hand). Set, so that the nodes do not collide with a
# user's `launch/beds/local-cluster.sh up` (node1..N on 10.77.0.0/24) or with the test beds (tnode on
# 10.78.0, tsnode on 10.81.0):
#   MULTIMIX_SLURM_NODE_PREFIX  node names           (default snode: snode1..N; 1-7 lower-case letters)
#   MULTIMIX_SLURM_SUBNET       the nodes' /24       (default 10.79.0: nodes 10.79.0.K, this host .254)
#   MULTIMIX_SLURM_BRIDGE       the bridge           (default br-mmx-slurm)
# A node fails: `ip link set veth-snode3 down` cuts snode3 off (its slurmd and job steps go on, alone);
# 36-53 s later (SlurmdTimeout=30, then slurmctld's next ping round) the node is `down*` and a
# `--requeue` job is requeued. `ip link set veth-snode3 up` reconnects it: slurmctld noticed that on
# its own 6 minutes after setting the node down (ReturnToService=2); `scontrol update
# NodeName=snode3 State=RESUME` returns it at once. (docs/clusters.md, "Slurm", has what the jobs do.)
set -euo pipefail
dir="${MULTIMIX_SLURM_DIR:-/tmp/multimix-slurm}"
port="${MULTIMIX_SLURM_PORT:-6917}"
conf="$dir/slurm.conf"
bed_file="$dir/bed"   # what `up` built, read back by down and status
host="$(hostname)"
cluster_script="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/local-cluster.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/node-settings.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/install.sh"
# The namespace nodes (`up --nodes N`); down and status use what bed_file recorded.
nodes=0
prefix="${MULTIMIX_SLURM_NODE_PREFIX:-snode}"
subnet="${MULTIMIX_SLURM_SUBNET:-10.79.0}"
bridge="${MULTIMIX_SLURM_BRIDGE:-br-mmx-slurm}"

log() { echo "[local-slurm] $*" >&2; }
die() { echo "[local-slurm] error: $*" >&2; exit 1; }
usage() {
    [ $# -eq 0 ] || echo "[local-slurm] error: $*" >&2
    echo "usage: bash launch/beds/local-slurm.sh up [--nodes N] | down | status | env   (N: 1 to 64 namespace nodes)" >&2
    exit 2
}
bad_setting() { echo "[local-slurm] error: $1" >&2; exit 2; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

[[ "$dir" =~ ^/[A-Za-z0-9._/-]+$ ]] || bad_setting "MULTIMIX_SLURM_DIR='$dir' is not an absolute path of letters, digits, . _ - and /; use e.g. /tmp/multimix-slurm"
[[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1024 ] && [ "$port" -le 65534 ] \
    || bad_setting "MULTIMIX_SLURM_PORT='$port' is not a port from 1024 to 65534 (the node daemons take it + 1); use e.g. 6917"

# The settings of the bed that is up (if any), over the environment's.
[ ! -f "$bed_file" ] || . "$bed_file"

node_names() {
    if [ "$nodes" -eq 0 ]; then echo "$host"; else seq -f "$prefix%g" 1 "$nodes"; fi
}
slurmd_pidfile() { echo "$dir/slurmd-$1.pid"; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/slurm-wlm/mpi_pmix.so ]; then
        return
    fi
    install_missing slurm-wlm munge
}

# The settings of `up --nodes`, checked before anything is made: every mistake named with its fix.
check_node_settings() {
    is_node_prefix "$prefix" \
        || bad_setting "MULTIMIX_SLURM_NODE_PREFIX='$prefix' is not 1-7 lower-case letters (interface names are at most 15 characters); use e.g. snode"
    is_subnet24 "$subnet" \
        || bad_setting "MULTIMIX_SLURM_SUBNET='$subnet' is not the first three numbers of a /24; use e.g. 10.79.0"
    is_interface_name "$bridge" \
        || bad_setting "MULTIMIX_SLURM_BRIDGE='$bridge' is not an interface name (1-15 letters, digits, . _ -); use e.g. br-mmx-slurm"
    for tool in ip unshare mount mountpoint; do
        command -v "$tool" >/dev/null || die "'$tool' is missing (Debian: iproute2, util-linux, mount)"
    done
    [ -f "$bed_file" ] && return 0   # this bed's own nodes and bridge, from an earlier `up`
    ! ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "${prefix}1" \
        || bad_setting "network namespace ${prefix}1 exists and is not this bed's ($dir): set MULTIMIX_SLURM_NODE_PREFIX (and MULTIMIX_SLURM_SUBNET) for this bed, or take the other one down"
    ! ip link show "$bridge" >/dev/null 2>&1 \
        || bad_setting "interface $bridge exists and is not this bed's ($dir): set MULTIMIX_SLURM_BRIDGE, or take the other bed down"
    local used; used="$(ip -o -4 addr show 2>/dev/null | awk -v net="$subnet." 'index($4, net) == 1 {print $2}' | head -n 1)"
    [ -z "$used" ] || bad_setting "$subnet.0/24 is already on interface $used: set MULTIMIX_SLURM_SUBNET to a free /24 (e.g. 10.79.1)"
}

check_ports() {
    local taken p
    alive "$dir/slurmctld.pid" && return 0
    for p in "$port" "$((port + 1))"; do
        [ "$nodes" -eq 0 ] || [ "$p" -eq "$port" ] || continue   # namespace nodes' slurmd listen in their own namespaces
        taken="$(ss -Hltn "sport = :$p" 2>/dev/null || true)"
        [ -z "$taken" ] || bad_setting "port $p is in use (another Slurm, or a bed in another MULTIMIX_SLURM_DIR): set MULTIMIX_SLURM_PORT (e.g. $((port + 10)))"
    done
}

write_config() {
    mkdir -p "$dir"/{state,spool,log,munge,jobcomp}
    chmod 755 "$dir"
    # munged refuses keys and sockets in folders others may write to: its own folder, owned by munge.
    chown munge:munge "$dir/munge"; chmod 700 "$dir/munge"
    if [ ! -s "$dir/munge/munge.key" ]; then
        dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
        chown munge:munge "$dir/munge/munge.key"; chmod 400 "$dir/munge/munge.key"
    fi
    chmod 755 "$dir/munge"   # clients (sbatch, srun as root) connect to the socket inside
    # A node as slurmd sees this machine (CPUs, cores, memory); each namespace node sees the same.
    local node controller name k=0 node_lines=""
    node="$(slurmd -C | head -n 1)"
    if [ "$nodes" -eq 0 ]; then
        controller=127.0.0.1   # the loopback address, so that no name lookup is needed
        node_lines="$node NodeAddr=127.0.0.1 State=UNKNOWN"
    else
        controller="$subnet.254"
        for name in $(node_names); do
            k=$((k + 1))
            node_lines+="$(sed "s/^NodeName=[^ ]*/NodeName=$name/" <<<"$node") NodeAddr=$subnet.$k State=UNKNOWN"$'\n'
        done
    fi
    for name in $(node_names); do mkdir -p "$dir/tmp/$name" "$dir/spool/$name"; done
    cat >"$conf" <<EOF
# Written by launch/beds/local-slurm.sh: a Slurm for tests (see the script).
ClusterName=multimix
SlurmctldHost=$host($controller)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=30
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$(slurmd_pidfile %n)
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
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
$node_lines
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

nodes_idle() {
    local want; want=$(node_names | wc -l)
    [ "$(SLURM_CONF="$conf" sinfo -h -N -o %T 2>/dev/null | grep -cx idle)" -eq "$want" ]
}

# launch/beds/local-cluster.sh with this bed's folder, bridge, prefix and subnet.
cluster() {
    MULTIMIX_CLUSTER_DIR="$dir/cluster" MULTIMIX_CLUSTER_BRIDGE="$bridge" MULTIMIX_CLUSTER_NODE_PREFIX="$prefix" \
        MULTIMIX_CLUSTER_SUBNET="$subnet" bash "$cluster_script" "$@"
}

# The namespace nodes, and the copy of /sys/fs/cgroup their slurmd gets back (private: unmounting
# it later leaves the real one alone).
make_nodes() {
    cluster up "$nodes" >"$dir/log/local-cluster.log" 2>&1 \
        || { tail -n 5 "$dir/log/local-cluster.log" >&2; die "launch/beds/local-cluster.sh up $nodes failed (log: $dir/log/local-cluster.log)"; }
    if ! mountpoint -q "$dir/cgroup"; then
        mkdir -p "$dir/cgroup"
        mount --rbind /sys/fs/cgroup "$dir/cgroup" && mount --make-rprivate "$dir/cgroup" \
            || die "cannot bind /sys/fs/cgroup to $dir/cgroup (slurmd needs it inside the nodes)"
    fi
}

start_slurmd() {  # start_slurmd NODE
    local name="$1"
    if [ "$nodes" -eq 0 ]; then
        detached slurmd -f "$conf"
        return
    fi
    # In the node's network namespace (and mount namespace: ip netns exec), with its own hostname,
    # cgroups back, a private /dev/shm; slurmd daemonizes and writes its pid file.
    detached ip netns exec "$name" unshare --uts sh -c '
        hostname "$1"
        mount --rbind "$2/cgroup" /sys/fs/cgroup
        mount -t tmpfs -o size=1g tmpfs /dev/shm
        exec slurmd -N "$1" -f "$2/slurm.conf"
    ' slurmd-node "$name" "$dir"
}

up() {
    [ "$(id -u)" -eq 0 ] || die "needs root (slurmd and munged are started by hand); run it with sudo"
    local wanted="$1"
    if [ -f "$bed_file" ] && [ "$nodes" -ne "$wanted" ]; then
        die "$dir holds a bed with $([ "$nodes" -eq 0 ] && echo "one node (plain up)" || echo "--nodes $nodes"): bash launch/beds/local-slurm.sh down first, or set MULTIMIX_SLURM_DIR (and MULTIMIX_SLURM_PORT) for a second bed"
    fi
    nodes="$wanted"
    [ "$nodes" -eq 0 ] || check_node_settings
    check_ports
    local start; start=$(date +%s)
    mkdir -p "$dir"
    install_packages
    # Recorded first: a `down` after a failed `up` removes what was made.
    printf 'nodes=%s\nprefix=%s\nsubnet=%s\nbridge=%s\n' "$nodes" "$prefix" "$subnet" "$bridge" >"$bed_file"
    write_config
    [ "$nodes" -eq 0 ] || make_nodes
    export SLURM_CONF="$conf"
    if ! alive "$dir/munge/munged.pid"; then
        detached runuser -u munge -- munged --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
            --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" \
            || { tail -n 5 "$dir/munge/munged.log" >&2 2>/dev/null; die "munged did not start"; }
    fi
    wait_for 10 munged munge -S "$dir/munge/munge.socket" -n \
        || die "munged does not answer on $dir/munge/munge.socket (log: $dir/munge/munged.log)"
    # A fresh controller (-c: no jobs from an earlier session), then the nodes.
    alive "$dir/slurmctld.pid" || detached slurmctld -c -f "$conf" || die "slurmctld did not start (log: $dir/log/slurmctld.log)"
    wait_for 20 slurmctld scontrol ping || { tail -n 20 "$dir/log/slurmctld.log" >&2; die "slurmctld does not answer"; }
    local name
    for name in $(node_names); do
        alive "$(slurmd_pidfile "$name")" || start_slurmd "$name" || die "slurmd of $name did not start (log: $dir/log/slurmd-$name.log)"
    done
    if ! wait_for 60 "nodes idle" nodes_idle; then
        sinfo -N >&2 || true
        for name in $(node_names); do tail -n 5 "$dir/log/slurmd-$name.log" >&2 || true; done
        die "not every node is idle after 60 s (logs: $dir/log)"
    fi
    local names; names="$(node_names | paste -sd ' ')"
    log "up in $(( $(date +%s) - start )) s: nodes $names idle; export SLURM_CONF=$conf"
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
    local name
    for name in $(node_names); do stop_daemon "$(slurmd_pidfile "$name")" "slurmd of $name"; done
    stop_daemon "$dir/slurmd.pid" slurmd   # a bed from before the per-node pid files
    if [ "$nodes" -gt 0 ]; then
        # What is left on the nodes (the steps of a cut-off node) ends with the namespaces.
        cluster down >>"$dir/log/local-cluster.log" 2>&1 || die "launch/beds/local-cluster.sh down failed (log: $dir/log/local-cluster.log)"
        if mountpoint -q "$dir/cgroup"; then
            umount -R "$dir/cgroup" 2>/dev/null || umount -R -l "$dir/cgroup" || die "cannot unmount $dir/cgroup (a copy of /sys/fs/cgroup): do not delete $dir before it is unmounted"
        fi
        rmdir "$dir/cgroup" 2>/dev/null || true
    else
        # slurmstepd of a job the cancel missed: its processes' parent chain leads to our spool.
        local stray; stray="$(pgrep -f "^slurmstepd: \[" || true)"
        [ -z "$stray" ] || log "slurmstepd still running (pids $stray); they end with their job steps"
    fi
    stop_daemon "$dir/slurmctld.pid" slurmctld
    stop_daemon "$dir/munge/munged.pid" munged
    rm -f "$bed_file"
    log "down"
}

status() {
    local name pidfile all=0 link
    if [ ! -f "$bed_file" ] && ! alive "$dir/slurmctld.pid"; then
        echo "no Slurm bed up in $dir (bash launch/beds/local-slurm.sh up [--nodes N])"
        return 1
    fi
    for name in munged slurmctld; do
        case "$name" in munged) pidfile="$dir/munge/munged.pid" ;; *) pidfile="$dir/$name.pid" ;; esac
        if alive "$pidfile"; then echo "$name: running (pid $(cat "$pidfile"))"; else echo "$name: stopped"; all=1; fi
    done
    for name in $(node_names); do
        pidfile="$(slurmd_pidfile "$name")"
        link=""
        [ "$nodes" -eq 0 ] || link="  link $(ip -br link show "veth-$name" 2>/dev/null | awk '{print $2}' || true)"
        if alive "$pidfile"; then echo "slurmd $name: running (pid $(cat "$pidfile"))$link"; else echo "slurmd $name: stopped$link"; all=1; fi
    done
    if alive "$dir/slurmctld.pid"; then
        SLURM_CONF="$conf" sinfo -N -o "%N %T %E" || true
        SLURM_CONF="$conf" squeue || true
    fi
    return "$all"
}

case "${1:-}" in
    up)
        shift
        wanted=0
        while [ $# -gt 0 ]; do
            case "$1" in
                --nodes) [ $# -ge 2 ] || usage "--nodes needs a number of nodes"; wanted="$2"; shift 2 ;;
                --nodes=*) wanted="${1#--nodes=}"; shift ;;
                *) usage "unknown argument '$1' to up" ;;
            esac
            [[ "$wanted" =~ ^[0-9]+$ ]] && [ "$wanted" -ge 1 ] && [ "$wanted" -le 64 ] \
                || usage "--nodes '$wanted' is not a number of nodes from 1 to 64"
        done
        up "$wanted" ;;
    down) [ $# -eq 1 ] || usage "down takes no arguments"; down ;;
    status) [ $# -eq 1 ] || usage "status takes no arguments"; status ;;
    env) [ $# -eq 1 ] || usage "env takes no arguments"; echo "export SLURM_CONF=$conf" ;;
    "") usage ;;
    *) usage "unknown command '$1'" ;;
esac
