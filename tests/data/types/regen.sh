#!/bin/sh
# Regenerates the *.json golden files in this directory from the *.yaml
# compose files with the reference binary (Docker Compose v2.40.3):
#   tests/data/types/regen.sh [/path/to/docker-compose]
# Each file runs in a fresh temp dir (with the helper files some cases read)
# under a clean environment; the temp dir path is replaced by /PROJECT_DIR.
set -eu
COMPOSE=${1:-/opt/compose-v2.40.3/docker-compose}
here=$(cd "$(dirname "$0")" && pwd)
for src in "$here"/*.yaml; do
    name=$(basename "$src" .yaml)
    dir=$(mktemp -d)
    mkdir -p "$dir/home"
    printf 'services:\n  base:\n    environment: [BASE=1]\n    cap_add: [SYS_ADMIN]\n' >"$dir/base.yaml"
    printf 'services:\n  included:\n    image: alpine\n    command: [sleep, infinity]\n' >"$dir/inc.yaml"
    printf 'B=2\n' >"$dir/b.env"
    printf 'l1=v1\n' >"$dir/labels.txt"
    : >"$dir/a.env"; : >"$dir/s1.txt"; : >"$dir/s4"; : >"$dir/c1.txt"; : >"$dir/c"
    cp "$src" "$dir/compose.yaml"
    (cd "$dir" && env -i PATH=/usr/bin:/bin HOME="$dir/home" \
        "$COMPOSE" -f compose.yaml -p "$name" --profile '*' config --format json) \
        >"$dir/out.json"
    sed "s|$dir|/PROJECT_DIR|g" "$dir/out.json" >"$here/$name.json"
    rm -rf "$dir"
done
