#!/usr/bin/env bash
# Keep a long study's finished runs in the repository, or put them back to continue it.
#
#   bash launch/keep-study.sh NAME            # runs/NAME/RUN/ -> docs/studies/NAME/runs/RUN/, each finished RUN
#   bash launch/keep-study.sh NAME --restore  # docs/studies/NAME/runs/RUN/ -> runs/NAME/RUN/ (missing ones only)
#
# A study of many runs outlives the session or the machine that runs it; its run folders (runs/ is
# not committed) do not. Keeping copies a finished run's small files (config.yaml, metrics.jsonl,
# finished.json, test.json, eval-details.json: what `multimix study` skips a finished run by and
# tabulates), never its checkpoints or TensorBoard files; restoring puts them back, after which
# `bash launch/study.sh configs/studies/NAME.yaml` skips those runs and trains the rest (or
# `--report-only` rebuilds the tables). Only regular files are copied, never through a link; a run
# already kept is replaced only if its finished.json changed.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "launch/keep-study.sh: error: $*" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: bash launch/keep-study.sh NAME [--restore]"
name="$1"
[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "study name '$name' has characters a study name cannot have; use a study file's name (configs/studies/NAME.yaml)"
restore=false
if [ $# -eq 2 ]; then [ "$2" = --restore ] || die "unknown flag '$2'; the only flag is --restore"; restore=true; fi
[ -f "$repo/configs/studies/$name.yaml" ] || die "no study configs/studies/$name.yaml; name a study file there (without .yaml)"

files=(config.yaml metrics.jsonl finished.json test.json eval-details.json)
live="$repo/runs/$name" kept="$repo/docs/studies/$name/runs"
if $restore; then from="$kept" to="$live"; else from="$live" to="$kept"; fi
[ -d "$from" ] && [ ! -L "$from" ] || die "$from is not a folder; nothing to $($restore && echo restore || echo keep)"
for dir in "$to" "$(dirname "$to")"; do [ ! -L "$dir" ] || die "$dir is a symbolic link; remove it first"; done
mkdir -p "$to"

count=0
for run in "$from"/*/; do
    run="${run%/}" id="$(basename "$run")"
    [ ! -L "$run" ] && [ -f "$run/finished.json" ] && [ ! -L "$run/finished.json" ] || continue
    target="$to/$id"
    [ ! -L "$target" ] || die "$target is a symbolic link; remove it first"
    if [ -d "$target" ]; then
        $restore && continue                                   # a live run folder is never overwritten
        cmp -s "$run/finished.json" "$target/finished.json" && continue
    fi
    staging="$to/.$id.keeping"
    rm -rf "$staging" && mkdir "$staging"
    for file in "${files[@]}"; do
        [ -e "$run/$file" ] || [ -L "$run/$file" ] || continue   # a dangling link is refused below, not skipped
        [ -f "$run/$file" ] && [ ! -L "$run/$file" ] || { rm -rf "$staging"; die "$run/$file is not a regular file; not copied (run $id left as it was)"; }
        [ "$(stat -c %s "$run/$file")" -le $((64 << 20)) ] || { rm -rf "$staging"; die "$run/$file is over 64 MiB; a kept run's files are small (run $id left as it was)"; }
        cp "$run/$file" "$staging/$file"
    done
    rm -rf "$target" && mv "$staging" "$target"
    count=$((count + 1))
done
echo "launch/keep-study.sh: $count run(s) $($restore && echo restored into || echo kept in) ${to#"$repo"/}"
