#!/usr/bin/env bash
# Scaling, measured: images/s and exposed communication per step on 1, 2, 3 nodes over TCP, with and
# without added latency on one node, for several gradient-bucket sizes.
#
#   bash launch/bench/scaling.sh [options]          (root: network namespaces, iptables)
#
# Brings up its own cluster on this machine (launch/beds/local-cluster.sh: one network namespace per
# node, real TCP over a bridge), runs short training jobs through launch/multinode.sh with one rank
# per node and `--mca btl tcp,self`, and prints one table (medians over the measured steps, the
# warm-up steps dropped, from `multimix metrics`): nodes, added latency, bucket MB, global images/s,
# speed-up over 1 node, step ms, exposed communication ms and its share of the step. Everything it
# built is torn down at the end, also after an error or Ctrl-C.
#
# Options (lists are comma-separated):
#   --nodes LIST       node counts (default 1,2,3)
#   --latency-ms LIST  latency added on the last node of each job, in ms (default 0,20): every
#                      packet it receives waits that long, so each round trip with it takes that
#                      much longer; 1-node jobs run at 0 only (no traffic between nodes)
#   --bucket-mb LIST   distributed.bucket_mb values (default 0.0625,0.25,1,4); 1-node jobs run once
#   --steps N          measured steps per job (default 20)
#   --warmup N         steps run first and dropped (default 5)
#   --threads N        training.threads per rank (default 1)
#   --mpi-flags "..."  more mpirun flags for every job, e.g. "--mca coll_libnbc_iallreduce_algorithm 4" (after
#                      launch/multinode.sh's own and `--mca btl tcp,self`)
#   --config FILE      the job (default configs/fashion-mnist-resnet20-multimix.yaml: the README's
#                      default job, ResNet-20 on Fashion-MNIST, batch 64 per rank)
#   --out DIR          also keep each job's log and metrics.jsonl, and the table, in DIR
#   -h, --help         this text
#
# Added latency: NFQUEUE (this kernel has no `tc netem`). launch/bench/tools/nfq-delay.swift, compiled here
# with swiftc against libnetfilter_queue (.build/tools/nfq-delay), holds every packet the node
# receives for the delay; the rule inside the node is
#     iptables -I INPUT -i eth0 -j NFQUEUE --queue-num 7 --queue-bypass
# so every round trip with that node takes that much longer. Not OUTPUT: a packet held on its way
# out still counts against its socket's TCP Small Queues budget (about 2 packets at these rates), so
# each connection of the node sent ~5 KB per 20 ms (a 256 KB all-reduce took 1 s instead of 93 ms,
# a training step 3.9 s instead of 0.2 s); the packets a node receives came through the veth, which
# detached them from their socket. The
# script measures the delay with ping from node 1 before and after, prints the added RTT, and stops
# when it is not there.
# Missing packages (iptables, libnetfilter-queue-dev, iputils-ping) are installed with apt-get.
#
# "Exposed communication" is the trainer's `exposed_comm_ms`: the time a step waits in MPI after its
# backward (the gradient buckets backward did not hide, with the step's loss and flags beside the
# last one, and every distributed.check_every_steps the parameter checksums). It includes waiting
# for the slowest rank. Figures are rank 0's (node 1 is never the delayed one).
#
# The test bed's names keep clear of a user's `launch/beds/local-cluster.sh up` (node1..N, 10.77.0.0/24)
# and of the tests' beds. Environment:
#   MULTIMIX_SCALING_DIR          the bed's folder (default /tmp/multimix-scaling; removed at the end)
#   MULTIMIX_SCALING_BRIDGE       its bridge (default br-mmx-scale)
#   MULTIMIX_SCALING_NODE_PREFIX  its nodes' names (default knode: knode1..N)
#   MULTIMIX_SCALING_SUBNET       its /24 (default 10.80.0)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
me="launch/bench/scaling.sh"

if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
    sed -n '2,/^set -euo pipefail/{/^set /d; s/^# \{0,1\}//; p}' "${BASH_SOURCE[0]}"
    exit 0
fi
die() { echo "$me: $*" >&2; exit 2; }
say() { echo "[bench-scaling] $*" >&2; }

dir="${MULTIMIX_SCALING_DIR:-/tmp/multimix-scaling}"
bridge="${MULTIMIX_SCALING_BRIDGE:-br-mmx-scale}"
prefix="${MULTIMIX_SCALING_NODE_PREFIX:-knode}"
subnet="${MULTIMIX_SCALING_SUBNET:-10.80.0}"
queue=7
[[ "$dir" =~ ^/[^/]+/[^/]+ ]] || die "MULTIMIX_SCALING_DIR='$dir' is not an absolute path below a top-level folder (it is deleted at the end); use e.g. /tmp/multimix-scaling"
source launch/lib/node-settings.sh
source launch/lib/install.sh
is_interface_name "$bridge" || die "MULTIMIX_SCALING_BRIDGE='$bridge' is not an interface name of 1-15 letters, digits, '.', '_', '-'; use e.g. br-mmx-scale"
is_node_prefix "$prefix" || die "MULTIMIX_SCALING_NODE_PREFIX='$prefix' is not 1-7 lower-case letters (interface names are at most 15 characters); use e.g. knode"
is_subnet24 "$subnet" || die "MULTIMIX_SCALING_SUBNET='$subnet' is not the first three numbers of a /24; use e.g. 10.80.0"

nodes_list=1,2,3 latency_list=0,20 bucket_list=0.0625,0.25,1,4
steps=20 warmup=5 threads=1 config=configs/fashion-mnist-resnet20-multimix.yaml out="" mpi_flags=""
while [ $# -gt 0 ]; do
    option="$1"
    case "$option" in
        --nodes|--latency-ms|--bucket-mb|--steps|--warmup|--threads|--mpi-flags|--config|--out)
            [ $# -ge 2 ] || die "$option needs a value (see --help)"
            value="$2"; shift 2 ;;
        *) die "unknown argument '$option'; the options are --nodes, --latency-ms, --bucket-mb, --steps, --warmup, --threads, --mpi-flags, --config, --out (see --help)" ;;
    esac
    case "$option" in
        --nodes) nodes_list="$value" ;;
        --latency-ms) latency_list="$value" ;;
        --bucket-mb) bucket_list="$value" ;;
        --steps) steps="$value" ;;
        --warmup) warmup="$value" ;;
        --threads) threads="$value" ;;
        --mpi-flags) mpi_flags="$value" ;;
        --config) config="$value" ;;
        --out) out="$value" ;;
    esac
done

# Every value checked before anything is built.
# check_list NAME LIST PATTERN LOW HIGH WHAT: each item matches PATTERN and lies in [LOW, HIGH].
check_list() {
    local name="$1" list="$2" pattern="$3" low="$4" high="$5" what="$6" item
    [[ "$list" =~ ^[^,]+(,[^,]+)*$ ]] || die "$name '$list' is not a comma-separated list; give e.g. $7"
    for item in ${list//,/ }; do
        [[ "$item" =~ $pattern ]] && awk -v x="$item" -v lo="$low" -v hi="$high" 'BEGIN { exit !(x + 0 >= lo && x + 0 <= hi) }' \
            || die "$name: '$item' is not $what; give e.g. $7"
    done
}
check_list --nodes "$nodes_list" '^[0-9]+$' 1 16 "a node count from 1 to 16" 1,2,3
check_list --latency-ms "$latency_list" '^[0-9]+(\.[0-9]+)?$' 0 1000 "a latency from 0 to 1000 ms" 0,20
check_list --bucket-mb "$bucket_list" '^([0-9]+(\.[0-9]*)?|\.[0-9]+)$' 0.000001 4096 "a bucket size in (0, 4096] MB" 0.25,1,4
[[ "$steps" =~ ^[0-9]+$ ]] && [ "$steps" -ge 1 ] && [ "$steps" -le 100000 ] || die "--steps '$steps' is not a number of measured steps from 1 to 100000; give e.g. --steps 20"
[[ "$warmup" =~ ^[0-9]+$ ]] && [ "$warmup" -le 100000 ] || die "--warmup '$warmup' is not a number of steps from 0 to 100000; give e.g. --warmup 5"
[[ "$threads" =~ ^[0-9]+$ ]] && [ "$threads" -ge 1 ] && [ "$threads" -le 1024 ] || die "--threads '$threads' is not a thread count of at least 1; give e.g. --threads 1"
[ -z "$mpi_flags" ] || [[ "$mpi_flags" =~ ^- ]] || die "--mpi-flags '$mpi_flags' does not start with a flag; give mpirun flags, e.g. --mpi-flags \"--mca mpi_yield_when_idle 0\""
[ -f "$config" ] || die "--config '$config' is not a file; give a training config, e.g. configs/fashion-mnist-resnet20-multimix.yaml"
config="$(cd "$(dirname "$config")" && pwd)/$(basename "$config")"
if [ -n "$out" ]; then
    mkdir -p "$out" 2>/dev/null && [ -w "$out" ] || die "--out '$out' is not a folder that can be written; give another"
    out="$(cd "$out" && pwd)"
fi
[ "$(id -u)" -eq 0 ] || { echo "$me: needs root (network namespaces, iptables in them); run it with sudo" >&2; exit 1; }
command -v mpirun >/dev/null && [ -x .build/release/multimix ] || bash launch/setup.sh >&2

# One bench at a time on this bed: a second would tear the first's nodes down.
mkdir -p "$(dirname "$dir")"
exec 9> "$dir.lock"
flock -n 9 || { echo "$me: another bench-scaling.sh is running on $dir; wait for it, or set MULTIMIX_SCALING_DIR (and the bridge, prefix and subnet) for a second bed" >&2; exit 1; }

max_nodes=$(echo "${nodes_list//,/ }" | tr ' ' '\n' | sort -n | tail -n 1)
needs_delay=0
for latency in ${latency_list//,/ }; do awk -v x="$latency" 'BEGIN { exit !(x > 0) }' && needs_delay=1; done

# 1. Packages (the delayer's; ping measures the delay) and the delayer.
packages=(iputils-ping)
[ "$needs_delay" = 0 ] || packages+=(iptables libnetfilter-queue-dev)
install_missing "${packages[@]}"
delayer="$repo/.build/tools/nfq-delay"
if [ "$needs_delay" = 1 ]; then
    source_file=launch/bench/tools/nfq-delay.swift shim=launch/bench/tools/CNetfilterQueue/cnetfilterqueue_shim.h
    if [ ! -x "$delayer" ] || [ "$source_file" -nt "$delayer" ] || [ "$shim" -nt "$delayer" ]; then
        say "compiling $source_file"
        mkdir -p "$(dirname "$delayer")"
        swiftc -O -I launch/bench/tools/CNetfilterQueue -module-cache-path .build/tools/module-cache "$source_file" -o "$delayer" \
            || { echo "$me: compiling $source_file failed (above)" >&2; exit 1; }
    fi
fi

# 2. The test bed, and its tear-down on every way out.
cluster() {
    MULTIMIX_CLUSTER_DIR="$dir" MULTIMIX_CLUSTER_BRIDGE="$bridge" MULTIMIX_CLUSTER_NODE_PREFIX="$prefix" \
        MULTIMIX_CLUSTER_SUBNET="$subnet" bash launch/beds/local-cluster.sh "$@"
}
job_pid="" delayer_pid="" delayed_node="" bed_up=0
stop_delay() {
    [ -n "$delayed_node" ] || return 0
    ip netns exec "$delayed_node" iptables -D INPUT -i eth0 -j NFQUEUE --queue-num "$queue" --queue-bypass 2>/dev/null || true
    if [ -n "$delayer_pid" ]; then
        kill -TERM "$delayer_pid" 2>/dev/null || true
        wait "$delayer_pid" 2>/dev/null || true
    fi
    delayer_pid="" delayed_node=""
}
clean_up() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "$job_pid" ] && kill -0 "$job_pid" 2>/dev/null; then
        kill -TERM "$job_pid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$job_pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$job_pid" 2>/dev/null || true
        wait "$job_pid" 2>/dev/null || true
    fi
    stop_delay
    [ "$bed_up" = 0 ] || cluster down >/dev/null 2>&1 || echo "$me: tearing the bed down failed; run: MULTIMIX_CLUSTER_DIR=$dir MULTIMIX_CLUSTER_BRIDGE=$bridge MULTIMIX_CLUSTER_NODE_PREFIX=$prefix MULTIMIX_CLUSTER_SUBNET=$subnet bash launch/beds/local-cluster.sh down" >&2
    exit "$status"
}
trap clean_up EXIT
trap 'echo "$me: interrupted; tearing the test bed down" >&2; exit 130' INT
trap 'echo "$me: terminated; tearing the test bed down" >&2; exit 143' TERM
bed_up=1
cluster down >/dev/null 2>&1 || true   # what an interrupted earlier run left
cluster up "$max_nodes" > "$dir.up.log" 2>&1 || { cat "$dir.up.log" >&2; echo "$me: launch/beds/local-cluster.sh up $max_nodes failed (above)" >&2; exit 1; }
rm -f "$dir.up.log"
mkdir -p "$dir/logs"

# Minimum ping RTT in ms from node 1 to node K.
rtt() {
    ip netns exec "${prefix}1" ping -n -q -c 10 -i 0.05 -W 2 "$subnet.$1" 2>/dev/null \
        | awk -F'[/ ]+' '/^rtt|^round-trip/ { for (i = 1; i <= NF; i++) if ($i == "=") { print $(i + 1); exit } }'
}
# Holds every packet node K receives for D ms, and checks with ping that it does.
start_delay() {
    local k="$1" latency="$2" before after
    before=$(rtt "$k")
    delayed_node="$prefix$k"
    ip netns exec "$delayed_node" "$delayer" --queue "$queue" --delay-ms "$latency" > "$dir/logs/delayer.log" 2>&1 &
    delayer_pid=$!
    for _ in $(seq 50); do grep -q '^ready' "$dir/logs/delayer.log" 2>/dev/null && break; kill -0 "$delayer_pid" 2>/dev/null || break; sleep 0.1; done
    grep -q '^ready' "$dir/logs/delayer.log" || { cat "$dir/logs/delayer.log" >&2; echo "$me: the delayer did not start on $delayed_node (above)" >&2; exit 1; }
    ip netns exec "$delayed_node" iptables -I INPUT -i eth0 -j NFQUEUE --queue-num "$queue" --queue-bypass \
        || { echo "$me: iptables could not add the NFQUEUE rule in $delayed_node (the kernel needs nf_tables or ip_tables and nfnetlink_queue)" >&2; exit 1; }
    after=$(rtt "$k")
    [ -n "$before" ] && [ -n "$after" ] || { echo "$me: ping from ${prefix}1 to $delayed_node failed; the bed's network is broken" >&2; exit 1; }
    local added; added=$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a - b }')
    say "delay on $delayed_node: ping ${prefix}1 -> $delayed_node min RTT $before ms -> $after ms (+$added ms; asked +$latency ms)"
    echo "$latency $added" >> "$dir/delays"
    awk -v added="$added" -v want="$latency" 'BEGIN { exit !(added >= 0.8 * want) }' \
        || { echo "$me: the delay did not apply: +$added ms measured against +$latency ms asked" >&2; exit 1; }
}

# Medians of a job's train records after the warm-up (multimix metrics): images/s, step ms, exposed
# ms, exposed % of step, on one line ("nan" for a value no record had).
medians() {
    local summary
    summary=$(.build/release/multimix metrics "$1" --skip-steps "$warmup" --json) \
        || { echo "$me: multimix metrics $1 failed (above)" >&2; return 1; }
    # One flat JSON object, its values numbers or null: "KEY":VALUE.
    local key
    for key in images_per_s step_ms exposed_comm_ms exposed_share; do
        sed -n "s/.*\"$key\":\([^,}]*\).*/\1/p" <<< "$summary"
    done | awk 'NR == 4 && $1 != "null" { $1 = 100 * $1 } { v[NR] = $1 == "null" ? "nan" : $1 } END { print v[1], v[2], v[3], v[4] }'
}

# 3. The jobs.
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
say "CPU: ${cpu:-unknown} ($(nproc) cores), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
say "job: $(basename "$config"), $threads thread(s) per rank, 1 rank per node, $warmup warm-up + $steps measured steps, TCP only${mpi_flags:+, mpirun $mpi_flags}"
rows=()
single_rate=""
run_job() {
    local n="$1" latency="$2" bucket="$3"
    local name="n$n-l$latency-b$bucket" log="$dir/logs/n$n-l$latency-b$bucket.log"
    head -n "$n" "$dir/hostfile" > "$dir/hostfile-$n"
    MULTIMIX_RSH_AGENT="$dir/rsh-agent" MULTIMIX_MPI_SUBNET="$subnet.0/24" MULTIMIX_MPIRUN_FLAGS="--mca btl tcp,self $mpi_flags" \
        MULTIMIX_THREADS="$threads" bash launch/multinode.sh "$dir/hostfile-$n" "$config" \
        --run-dir "$dir/scratch/runs/$name" --max-steps $((warmup + steps)) \
        --set training.log_every_steps=1 --set "distributed.bucket_mb=$bucket" \
        --set eval.every_epochs=1000000 --set checkpoint.every_epochs=1000000 > "$log" 2>&1 &
    job_pid=$!
    local status=0
    wait "$job_pid" || status=$?
    job_pid=""
    local metrics="$dir/nodes/${prefix}1/runs/$name/metrics.jsonl"
    if [ -n "$out" ]; then cp "$log" "$out/$name.log"; [ ! -f "$metrics" ] || cp "$metrics" "$out/$name.metrics.jsonl"; fi
    [ "$status" = 0 ] && [ -f "$metrics" ] || { tail -n 30 "$log" >&2; echo "$me: job $name failed (status $status; log above)" >&2; exit 1; }
    local values rate step_ms exposed percent speedup="1.00"
    values=$(medians "$metrics") || exit 1
    read -r rate step_ms exposed percent <<< "$values"
    if [ "$n" = 1 ]; then single_rate="$rate"; fi
    [ -z "$single_rate" ] || speedup=$(awk -v r="$rate" -v s="$single_rate" 'BEGIN { printf "%.2f", r / s }')
    [ -n "$single_rate" ] || speedup="-"
    local bucket_shown="$bucket"; [ "$n" != 1 ] || bucket_shown="-"
    local row
    row=$(awk -v n="$n" -v l="$latency" -v b="$bucket_shown" -v r="$rate" -v sp="$speedup" -v s="$step_ms" -v e="$exposed" -v p="$percent" \
        'BEGIN { printf "| %d | %s | %s | %.0f | %s | %.1f | %.1f | %.1f%% |", n, l, b, r, sp, s, e, p }')
    rows+=("$row")
    say "$row"
}
for n in ${nodes_list//,/ }; do
    for latency in ${latency_list//,/ }; do
        if [ "$n" = 1 ] && [ "$latency" != 0 ]; then continue; fi
        if awk -v x="$latency" 'BEGIN { exit !(x > 0) }'; then start_delay "$n" "$latency"; fi
        for bucket in ${bucket_list//,/ }; do
            run_job "$n" "$latency" "$bucket"
            [ "$n" != 1 ] || break   # one rank: no all-reduce, the bucket size changes nothing
        done
        stop_delay
    done
done

# 4. The table.
{
    echo "CPU: ${cpu:-unknown} ($(nproc) cores); $(basename "$config"), $threads thread(s) per rank, 1 rank per node, TCP (--mca btl tcp,self${mpi_flags:+ $mpi_flags}); medians of $steps steps after $warmup warm-up steps"
    echo
    echo "| nodes | added latency ms (last node) | bucket MB | images/s | speed-up | step ms | exposed comm ms | exposed % of step |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
    printf '%s\n' "${rows[@]}"
    if [ -f "$dir/delays" ]; then
        echo
        awk '{ printf "delay check: +%s ms asked, ping RTT +%s ms measured\n", $1, $2 }' "$dir/delays"
    fi
} | if [ -n "$out" ]; then tee "$out/table.md"; else cat; fi
