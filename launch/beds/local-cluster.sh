#!/usr/bin/env bash
# A cluster on one machine, to try launch/multinode.sh (and to test it): nodes as network namespaces.
#
#   bash launch/beds/local-cluster.sh up [N]     # nodes node1..N (default 3); safe to run again
#   bash launch/beds/local-cluster.sh status
#   bash launch/beds/local-cluster.sh down       # ends what runs on the nodes, removes all of it
#
# Needs root (network namespaces, mounts). What `up` builds:
#   - node1..N: network namespaces, each with a veth (`eth0`, 10.77.0.K/24) into the bridge
#     $MULTIMIX_CLUSTER_BRIDGE (default br-mmx); this host is 10.77.0.254 on the bridge, and
#     /etc/netns/nodeK/hosts names every node inside the namespaces. Ranks on different nodes talk
#     real TCP over the veths (`ip -s link show veth-nodeK` counts the bytes).
#   - an rsh agent for mpirun (Open MPI calls it as `AGENT [ssh options] HOST command...` in place of
#     ssh): it runs the command in HOST's namespace with its own hostname, its private scratch folder
#     bind-mounted over the common path $DIR/scratch, a private /dev/shm and TMPDIR in that scratch.
#     Each node sees only its own files there (the rest of the filesystem, the repository and the
#     data included, is shared as on a cluster with the code installed on every node).
#   - a hostfile (one rank per node); node K's private files are $DIR/nodes/nodeK on this host.
# $DIR is $MULTIMIX_CLUSTER_DIR, default /tmp/multimix-cluster. `down` deletes it, node folders included.
# Two test beds side by side (the tests use their own): set, besides the folder and the bridge,
# MULTIMIX_CLUSTER_NODE_PREFIX (default node: nodes node1..N) and MULTIMIX_CLUSTER_SUBNET (the first
# three numbers of a /24, default 10.77.0).
#
# To cut a node off mid-run: ip link set veth-nodeK down (and up again to bring it back).
set -euo pipefail

dir="${MULTIMIX_CLUSTER_DIR:-/tmp/multimix-cluster}"
bridge="${MULTIMIX_CLUSTER_BRIDGE:-br-mmx}"
prefix="${MULTIMIX_CLUSTER_NODE_PREFIX:-node}"
subnet_prefix="${MULTIMIX_CLUSTER_SUBNET:-10.77.0}"
host_address="$subnet_prefix.254"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/node-settings.sh"
is_node_prefix "$prefix" || { echo "launch/beds/local-cluster.sh: MULTIMIX_CLUSTER_NODE_PREFIX='$prefix' is not 1-7 lower-case letters (interface names are at most 15 characters); use e.g. node" >&2; exit 2; }
is_subnet24 "$subnet_prefix" || { echo "launch/beds/local-cluster.sh: MULTIMIX_CLUSTER_SUBNET='$subnet_prefix' is not the first three numbers of a /24; use e.g. 10.77.0" >&2; exit 2; }
is_interface_name "$bridge" || { echo "launch/beds/local-cluster.sh: MULTIMIX_CLUSTER_BRIDGE='$bridge' is not an interface name (1-15 letters, digits, . _ -); use e.g. br-mmx" >&2; exit 2; }

usage() { echo "usage: bash launch/beds/local-cluster.sh up [N] | down | status   (N: 1 to 200 nodes, default 3)" >&2; exit 2; }

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "launch/beds/local-cluster.sh: needs root (network namespaces and mounts); run it with sudo" >&2
        exit 1
    fi
    for tool in ip unshare mount; do
        command -v "$tool" >/dev/null || { echo "launch/beds/local-cluster.sh: '$tool' is missing (Debian: iproute2, util-linux, mount)" >&2; exit 1; }
    done
}

# The namespaces this script made: node1, node2, ... (as far as they go without a gap).
nodes() { local k=1; while ip netns list | awk '{print $1}' | grep -qx "$prefix$k"; do echo "$prefix$k"; k=$((k + 1)); done; }

write_agent() {
    cat > "$dir/rsh-agent" <<EOF
#!/bin/sh
# rsh agent for mpirun on the local test cluster (launch/beds/local-cluster.sh):
#   rsh-agent [ssh options] HOST command...
# runs the command in HOST's network namespace, with HOST's private scratch folder over $dir/scratch.
while [ \$# -gt 0 ]; do
    case "\$1" in
        -[opliFJ]) shift 2 ;;   # options that take a value
        -*) shift ;;
        *) break ;;
    esac
done
[ \$# -ge 2 ] || { echo "rsh-agent: usage: rsh-agent [ssh options] HOST command..." >&2; exit 2; }
host="\$1"; shift
case "\$host" in $prefix[0-9]*) ;; *) echo "rsh-agent: unknown host '\$host' (the nodes are ${prefix}1..N)" >&2; exit 255 ;; esac
[ -d "$dir/nodes/\$host" ] || { echo "rsh-agent: no node '\$host' (bash launch/beds/local-cluster.sh up N)" >&2; exit 255; }
# ip netns exec gives the command its own mount namespace (/ is rslave): the mounts below stay inside.
exec ip netns exec "\$host" unshare --uts sh -c '
    host="\$1"; shift
    hostname "\$host"
    mount --bind "$dir/nodes/\$host" "$dir/scratch"
    mount -t tmpfs -o size=1g tmpfs /dev/shm
    mkdir -p "$dir/scratch/.tmp"
    export TMPDIR="$dir/scratch/.tmp"
    exec sh -c "\$*"
' rsh-agent "\$host" "\$@"
EOF
    chmod +x "$dir/rsh-agent"
}

up() {
    local n="${1:-3}" n_ping
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || usage
    need_root
    mkdir -p "$dir/scratch" "$dir/nodes"
    if ! ip link show "$bridge" >/dev/null 2>&1; then
        ip link add "$bridge" type bridge
        ip addr add "$host_address/24" dev "$bridge"
    fi
    ip link set "$bridge" up
    # Nodes beyond N from an earlier `up` go away.
    for name in $(nodes); do
        [ "${name#"$prefix"}" -le "$n" ] || remove_node "$name"
    done
    local hosts="127.0.0.1 localhost"$'\n'"$host_address launcher"$'\n'
    for k in $(seq 1 "$n"); do hosts+="$subnet_prefix.$k $prefix$k"$'\n'; done
    for k in $(seq 1 "$n"); do
        local name="$prefix$k" veth="veth-$prefix$k"
        ip netns list | awk '{print $1}' | grep -qx "$name" || ip netns add "$name"
        if ! ip link show "$veth" >/dev/null 2>&1; then
            ip link add "$veth" type veth peer name eth0 netns "$name"
            ip link set "$veth" master "$bridge"
        fi
        ip link set "$veth" up
        ip -n "$name" link set lo up
        ip -n "$name" addr replace "$subnet_prefix.$k/24" dev eth0
        ip -n "$name" link set eth0 up
        mkdir -p "/etc/netns/$name" "$dir/nodes/$name"
        printf '%s' "$hosts" > "/etc/netns/$name/hosts"
    done
    : > "$dir/hostfile"
    for k in $(seq 1 "$n"); do echo "$prefix$k slots=1" >> "$dir/hostfile"; done
    write_agent
    # Every node answers (a few tries: a fresh bridge port takes a moment to forward), where ping exists.
    command -v ping >/dev/null || n_ping=0
    for k in $(seq 1 "${n_ping:-$n}"); do
        local tries=0
        until ip netns exec "$prefix$k" ping -c 1 -W 1 "$host_address" >/dev/null 2>&1; do
            tries=$((tries + 1))
            [ "$tries" -lt 10 ] || { echo "launch/beds/local-cluster.sh: $prefix$k does not reach $host_address" >&2; exit 1; }
            sleep 0.3
        done
    done
    local repo; repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    cat <<EOF
[local-cluster] $n nodes up: ${prefix}1..$prefix$n on $bridge ($subnet_prefix.0/24, this host $host_address)
hostfile:  $dir/hostfile
rsh agent: $dir/rsh-agent
scratch:   $dir/scratch on every node, node K's own folder $dir/nodes/${prefix}K (rank 0 runs on ${prefix}1)
launch:
  MULTIMIX_RSH_AGENT=$dir/rsh-agent MULTIMIX_MPI_SUBNET=$subnet_prefix.0/24 \\
    bash $repo/launch/multinode.sh $dir/hostfile CONFIG --run-dir $dir/scratch/runs/NAME
  (the run folder then appears in $dir/nodes/${prefix}1/runs/NAME)
cut a node off: ip link set veth-${prefix}K down      stop: bash launch/beds/local-cluster.sh down
EOF
}

remove_node() {
    local name="$1"
    # What still runs there (orted daemonizes): end it by process id, then the namespace.
    local pids; pids=$(ip netns pids "$name" 2>/dev/null || true)
    if [ -n "$pids" ]; then
        kill -TERM $pids 2>/dev/null || true
        sleep 1
        pids=$(ip netns pids "$name" 2>/dev/null || true)
        [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
    fi
    ip link del "veth-$name" 2>/dev/null || true
    ip netns del "$name" 2>/dev/null || true
    rm -rf "/etc/netns/$name"
}

down() {
    need_root
    for name in $(nodes); do remove_node "$name"; done
    # A namespace left by a gap in the numbering (node2 removed by hand) is found through its veth.
    for veth in $(ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep "^veth-$prefix[0-9]" || true); do
        remove_node "${veth#veth-}"
    done
    ip link del "$bridge" 2>/dev/null || true
    rmdir /etc/netns 2>/dev/null || true   # only when empty: other namespaces' files stay
    rm -rf "$dir"
    echo "[local-cluster] down"
}

status() {
    local found
    found=$(nodes)
    if [ -z "$found" ]; then echo "[local-cluster] no nodes (bash launch/beds/local-cluster.sh up [N])"; return 0; fi
    echo "[local-cluster] bridge $bridge: $(ip -br addr show "$bridge" 2>/dev/null | awk '{print $2, $3}')"
    for name in $found; do
        local address link pids
        address=$(ip -n "$name" -br addr show eth0 2>/dev/null | awk '{print $3}')
        link=$(ip -br link show "veth-$name" 2>/dev/null | awk '{print $2}')
        pids=$(ip netns pids "$name" 2>/dev/null | wc -l)
        echo "  $name  $address  link ${link:-missing}  processes $pids  files $dir/nodes/$name"
    done
    [ ! -f "$dir/hostfile" ] || echo "hostfile: $dir/hostfile    rsh agent: $dir/rsh-agent"
}

case "${1:-}" in
    up) shift; [ $# -le 1 ] || usage; up "${1:-3}" ;;
    down) [ $# -eq 1 ] || usage; down ;;
    status) [ $# -eq 1 ] || usage; status ;;
    *) usage ;;
esac
