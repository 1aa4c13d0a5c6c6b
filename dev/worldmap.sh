#!/usr/bin/env bash
# Regenerate the dashboard's world map (assets/dashboard/worldmap.js) from Natural Earth data: fetches
# the pinned npm packages world-atlas (Natural Earth's 1:110m countries as TopoJSON) and
# i18n-iso-countries (ISO 3166-1 numeric to alpha-2 codes) with `npm pack`, checks their integrity,
# and runs dev/worldmap.mjs, which projects the shapes once into SVG paths. The result is committed;
# the dashboard never fetches map data at run time. Licences: assets/dashboard/WORLDMAP-LICENSE.
#
# Usage: dev/worldmap.sh
#   Needs node and npm. Deterministic: the same pins give the same file.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)

WORLD_ATLAS=world-atlas@2.0.2
WORLD_ATLAS_INTEGRITY=sha512-IXfV0qwlKXpckz1FhwXVwKRjiIhOnWttOskm5CtxMsjgE/MXAYRHWJqgXOpM8IkcPBoXnyTU5lFHcYa5ChG0LQ==
CODES=i18n-iso-countries@7.14.0
CODES_INTEGRITY=sha512-nXHJZYtNrfsi1UQbyRqm3Gou431elgLjKl//CYlnBGt5aTWdRPH1PiS2T/p/n8Q8LnqYqzQJik3Q7mkwvLokeg==
OUT=$REPO_ROOT/assets/dashboard/worldmap.js

log() { printf '[worldmap] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v node >/dev/null || die "node is missing"
command -v npm >/dev/null || die "npm is missing"

WORK=$(mktemp -d)
trap 'rm -rf -- "$WORK"' EXIT

# Fetch one package tarball, check it against its pinned integrity, unpack it.
fetch() {
    local spec=$1 integrity=$2 dir=$WORK/${1%@*}
    mkdir -p -- "$dir"
    local json
    json=$(cd -- "$WORK" && npm pack --json --silent "$spec") || die "npm pack $spec failed"
    local file got
    file=$(node -e 'const p = JSON.parse(process.argv[1])[0]; console.log(p.filename)' "$json")
    got=$(node -e 'const p = JSON.parse(process.argv[1])[0]; console.log(p.integrity)' "$json")
    if [[ $got != "$integrity" ]]; then
        die "$spec: integrity $got, expected $integrity"
    fi
    tar -xzf "$WORK/$file" -C "$dir"
    log "$spec ($got)"
    printf '%s\n' "$dir/package"
}

atlas=$(fetch "$WORLD_ATLAS" "$WORLD_ATLAS_INTEGRITY")
codes=$(fetch "$CODES" "$CODES_INTEGRITY")
node "$SCRIPT_DIR/worldmap.mjs" "$atlas" "$codes" "$OUT"
