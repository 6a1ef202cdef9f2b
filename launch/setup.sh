#!/usr/bin/env bash
# Set up a machine for multimix-mpi: system packages, the data cache, a release build.
#
#   bash launch/setup.sh          # idempotent; fast when everything is already there
#
# Environment:
#   MULTIMIX_SHARED_DATA  where the xz-compressed datasets are     (default: <repo>/../shared/data)
#   MULTIMIX_DATA_DIR     where they are unpacked and checked      (default: <repo>/.cache/data)
#   MULTIMIX_SKIP_BUILD=1 skip the release build
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

say() { printf '[setup] %s\n' "$*"; }

# 1. System packages (Debian 12). Installed only where missing: CI and new machines start bare.
packages=(libopenmpi-dev openmpi-bin libopenblas-dev libdnnl-dev dataset-fashion-mnist
          zlib1g-dev pkg-config xz-utils)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Data: unpack ../shared/data (xz, file by file) into the cache once, then verify the checksums.
shared="${MULTIMIX_SHARED_DATA:-$repo/../shared/data}"
cache="${MULTIMIX_DATA_DIR:-$repo/.cache/data}"
if [ -d "$shared" ]; then
    mkdir -p "$cache"
    (cd "$shared" && find . -type f \( -name '*.xz' -o -name '*.txt' \) -print) | while read -r rel; do
        rel="${rel#./}"
        target="$cache/${rel%.xz}"
        [ -s "$target" ] && continue
        mkdir -p "$(dirname "$target")"
        if [[ "$rel" == *.xz ]]; then
            say "unpacking $rel"
            xz -dkc "$shared/$rel" > "$target.partial" && mv "$target.partial" "$target"
        else
            cp "$shared/$rel" "$target"
        fi
    done
    if [ -f "$shared/SHA256SUMS" ]; then
        (cd "$cache" && sha256sum --quiet -c "$shared/SHA256SUMS") \
            || { echo "[setup] error: unpacked data in $cache fails its checksums; delete $cache and run again" >&2; exit 1; }
    fi
    say "data ready in $cache"
else
    say "no shared data at $shared (set MULTIMIX_SHARED_DATA); CIFAR will need data.root"
fi

# 3. Release build.
if [ "${MULTIMIX_SKIP_BUILD:-0}" != 1 ]; then
    say "building release"
    mkdir -p .build
    swift build -c release > .build/setup-build.log 2>&1 \
        || { tail -n 40 .build/setup-build.log >&2; echo "[setup] error: release build failed (log: .build/setup-build.log)" >&2; exit 1; }
fi
