#!/usr/bin/env bash
# Set up a machine for multimix-mpi: system packages, the data cache, a release build.
#
#   bash launch/setup.sh                 # idempotent; fast when everything is already there
#   bash launch/setup.sh cifar10 [...]   # also fetch these datasets (multimix data fetch) into the cache
#
# Environment:
#   MULTIMIX_SHARED_DATA  where the xz-compressed datasets are     (default: <repo>/../shared/data)
#   MULTIMIX_DATA_DIR     where they are unpacked and checked      (default: <repo>/.cache/data)
#   MULTIMIX_SKIP_BUILD=1 skip the release build
#   MULTIMIX_TEST_BROWSER=1 also install headless Chromium and a font, for the tests that look at the
#                         report pages (launch/test.sh sets it; training machines do not need it)
#   MULTIMIX_TEST_NETWORK=1 also install iptables, libnetfilter-queue-dev and iputils-ping, for the
#                         latency that launch/bench/scaling.sh adds and its test (launch/test.sh sets it)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

say() { printf '[setup] %s\n' "$*"; }
for name in "$@"; do
    case "$name" in
        cifar10|cifar100|mnist|fashion-mnist) ;;
        *) echo "[setup] error: unknown dataset '$name'; name cifar10, cifar100, mnist or fashion-mnist (or none)" >&2; exit 2 ;;
    esac
done

# 1. System packages (Debian 12). Installed only where missing: CI and new machines start bare.
packages=(libopenmpi-dev openmpi-bin libopenblas-dev libdnnl-dev dataset-fashion-mnist
          zlib1g-dev pkg-config xz-utils libjpeg62-turbo-dev libspng-dev)
# The browser (chromium and chromium-common: 113 MB to download; measured 31 s to install, 24 packages,
# on a machine that had the build packages) only where tests need it.
[ "${MULTIMIX_TEST_BROWSER:-0}" != 1 ] || packages+=(chromium fonts-dejavu-core)
[ "${MULTIMIX_TEST_NETWORK:-0}" != 1 ] || packages+=(iptables libnetfilter-queue-dev iputils-ping)
source launch/lib/install.sh
install_missing "${packages[@]}"

# 2. Release build.
if [ "${MULTIMIX_SKIP_BUILD:-0}" != 1 ]; then
    say "building release"
    mkdir -p .build
    swift build -c release > .build/setup-build.log 2>&1 \
        || { tail -n 40 .build/setup-build.log >&2; echo "[setup] error: release build failed (log: .build/setup-build.log)" >&2; exit 1; }
fi

# 3. Data from the local mirror ../shared/data (CI), through `multimix data fetch --from`, the path a
#    user's mirror takes: each file is checked against its SHA-256 and every record is read before the
#    dataset is moved into the cache. Skipped when the cache already holds the files. Without a
#    mirror, fetch CIFAR yourself: .build/release/multimix data fetch cifar10 (docs/data.md, "Data").
shared="${MULTIMIX_SHARED_DATA:-$repo/../shared/data}"
cache="${MULTIMIX_DATA_DIR:-$repo/.cache/data}"
if [ -d "$shared" ]; then
    wanted=()
    [ -d "$shared/cifar-10-batches-bin" ] && [ ! -s "$cache/cifar-10-batches-bin/test_batch.bin" ] && wanted+=("cifar10 all")
    [ -d "$shared/cifar-100-binary" ] && [ ! -s "$cache/cifar-100-binary/test.bin" ] && {
        # The mirror may hold CIFAR-100's test split alone (out-of-distribution evaluation).
        if [ -e "$shared/cifar-100-binary/train.bin.xz" ] || [ -e "$shared/cifar-100-binary/train.bin" ]; then
            wanted+=("cifar100 all"); else wanted+=("cifar100 test"); fi; }
    if ((${#wanted[@]})); then
        if [ ! -x .build/release/multimix ]; then
            say "building multimix to fetch the data"
            mkdir -p .build
            swift build -c release --product multimix > .build/setup-build.log 2>&1 \
                || { tail -n 40 .build/setup-build.log >&2; echo "[setup] error: release build failed (log: .build/setup-build.log)" >&2; exit 1; }
        fi
        for item in "${wanted[@]}"; do
            read -r name split <<< "$item"
            say "fetching $name ($split) from the local mirror $shared"
            MULTIMIX_PROGRESS=lines .build/release/multimix data fetch "$name" --split "$split" --from "$shared" --into "$cache" \
                | sed 's/^/[setup]   /' || { echo "[setup] error: the local mirror's $name failed its checks (above); fix $shared or delete $cache and run again" >&2; exit 1; }
        done
    fi
    say "data ready in $cache"
else
    say "no local data mirror at $shared (set MULTIMIX_SHARED_DATA); fetch CIFAR with: .build/release/multimix data fetch cifar10"
fi

# 4. Datasets named on the command line, from their official URLs (checked as `data fetch` checks
#    them) into the cache the configs' data.root defaults to; one already there and intact is kept.
for name in "$@"; do
    if [ ! -x .build/release/multimix ]; then
        mkdir -p .build
        swift build -c release --product multimix > .build/setup-build.log 2>&1 \
            || { tail -n 40 .build/setup-build.log >&2; echo "[setup] error: release build failed (log: .build/setup-build.log)" >&2; exit 1; }
    fi
    say "fetching $name"
    .build/release/multimix data fetch "$name" --into "${MULTIMIX_DATA_DIR:-.cache/data}"
done
