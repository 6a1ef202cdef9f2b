# Sourced by the scripts that build namespace nodes (beds/local-cluster.sh, beds/local-slurm.sh,
# bench/scaling.sh): the shapes their node settings must have. Each script names its own variable
# and fix in its error message.
#
#   is_node_prefix P      nodes P1..PN: 1-7 lower-case letters (veth-PN fits Linux's 15 characters)
#   is_subnet24 S         the first three numbers of a /24, each 0-255 (e.g. 10.77.0)
#   is_interface_name I   a bridge name: 1-15 letters, digits, . _ -
is_node_prefix() { [[ "$1" =~ ^[a-z][a-z-]{0,6}$ ]]; }
is_subnet24() {
    [[ "$1" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] && [ "${BASH_REMATCH[1]}" -le 255 ] \
        && [ "${BASH_REMATCH[2]}" -le 255 ] && [ "${BASH_REMATCH[3]}" -le 255 ]
}
is_interface_name() { [[ "$1" =~ ^[A-Za-z0-9_.-]{1,15}$ ]]; }
