# Sourced by the launch scripts that install Debian packages (setup.sh, bench/scaling.sh,
# beds/local-slurm.sh): one way to install what is missing.
#
#   install_missing PACKAGE...   installs, with apt-get (through sudo when not root), the packages
#                                dpkg does not list as installed; nothing (and no apt-get update)
#                                when every one is there. Prints "installing P..." and "installed in
#                                N s" through the caller's `say` (else "[SCRIPT] ..." on stderr). When
#                                apt-get fails: one line "launch/SCRIPT.sh: could not install P... with
#                                apt-get; ..." naming the fix, and exit 1.
install_say() { if declare -F say >/dev/null; then say "$@"; else echo "[$(basename "$0" .sh)] $*" >&2; fi; }
install_missing() {
    local missing=() package start sudo_cmd=""
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    local script; script="${0##*launch/}"
    install_say "installing ${missing[*]}"
    start=$(date +%s)
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    { $sudo_cmd apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } \
        || { echo "launch/$script: could not install ${missing[*]} with apt-get (above); install them (${sudo_cmd:+sudo }apt-get install ${missing[*]}), then run again" >&2; exit 1; }
    install_say "installed in $(( $(date +%s) - start )) s"
}
