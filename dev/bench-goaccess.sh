#!/usr/bin/env bash
# firesight against GoAccess, the one-machine tool people use for this job, in the same run.
#
# The real 10,000-line log replicated to DOCS lines (default 1,000,000) in one file, GeoLite2-City 2019:
#   1. goaccess FILE --log-format=COMBINED -o report.json --geoip-database=DB
#   2. firesight ingest FILE into an empty embedded store, then the five dashboard panels (summary,
#      1 h timeline, top countries, browsers, paths over the whole range) from `firesight serve` on that
#      data directory, start-up included; every record stays searchable afterwards.
# Wall times from the shell's clock, peak memory from /usr/bin/time. Needs: goaccess (apt-get install
# goaccess), dev/fixtures.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DOCS=${1:-1000000}
ROUNDS=${ROUNDS:-1}
command -v goaccess >/dev/null || { echo "goaccess is not installed: apt-get install goaccess" >&2; exit 1; }
db=$(dev/fixtures.sh 2>/dev/null | sed -n 's/^FIRESIGHT_TEST_GEOLITE2_CITY=//p' | tail -n 1)
[[ -f $db ]] || { echo "GeoLite2-City missing: run dev/fixtures.sh" >&2; exit 1; }
# BIN: another build of firesight (e.g. target/profiling/firesight); NO_BUILD=1 skips the release build.
BIN=${BIN:-target/release/firesight}
[[ -n ${NO_BUILD:-} ]] || cargo build --release --locked --bin firesight >/dev/null

work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
pid=
log=$work/access.log
src=tests/fixtures/access_logs/elastic_examples_apache_logs.log
lines=$(wc -l < "$src")
for _ in $(seq $(( (DOCS + lines - 1) / lines ))); do cat "$src"; done | head -n "$DOCS" > "$log"
echo "data: $(wc -l < "$log") lines, $(( $(stat -c %s "$log") / 1000000 )) MB; GeoIP: $db"
echo "cores: $(nproc); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }

for round in $(seq "$ROUNDS"); do
    echo "== round $round"
    cat "$log" > /dev/null # same page-cache state for both
    t0=$(now)
    /usr/bin/time -f '%M' -o "$work/goaccess.rss" \
        goaccess "$log" --log-format=COMBINED -o "$work/report.json" --geoip-database="$db" >/dev/null 2>"$work/goaccess.err"
    t1=$(now)
    echo "goaccess: $(secs "$t0" "$t1") s, peak RSS $(( $(cat "$work/goaccess.rss") / 1024 )) MiB, report $(( $(stat -c %s "$work/report.json") / 1000 )) kB"

    data=$work/data-$round
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    export FIRESIGHT_DATA_DIR=$data FIRESIGHT_GEOIP__CITY_DB=$db FIRESIGHT_LOG__LEVEL=warn FIRESIGHT_API_KEYS=bench \
        FIRESIGHT_STORE=embedded FIRESIGHT_LISTEN=127.0.0.1:$port
    t0=$(now)
    /usr/bin/time -f '%M' -o "$work/ingest.rss" "$BIN" ingest --quiet "$log" > "$work/ingest.out"
    t1=$(now)
    "$BIN" serve & pid=$!
    until curl -fsS "http://127.0.0.1:$port/health/live" >/dev/null 2>&1; do sleep 0.01; done
    range="from=2015-05-17T00:00:00Z&to=2015-05-21T00:00:00Z"
    for panel in "stats/summary?$range" "stats/timeline?$range&interval=1h" "stats/top/country?$range&limit=10" \
        "stats/top/browser?$range&limit=10" "stats/top/path?$range&limit=10"; do
        curl -fsS -H "Authorization: Bearer bench" "http://127.0.0.1:$port/v1/$panel" > "$work/panel.json"
    done
    t2=$(now)
    requests=$(python3 -c "import json; print(json.load(open('$work/panel.json'))['total'])")
    kill "$pid"; wait "$pid" || true; pid=
    echo "firesight ingest: $(secs "$t0" "$t1") s, peak RSS $(( $(cat "$work/ingest.rss") / 1024 )) MiB: $(cat "$work/ingest.out")"
    echo "firesight start + five panels: $(secs "$t1" "$t2") s (top paths counted $requests requests)"
    echo "firesight total: $(secs "$t0" "$t2") s; on disk $(du -sm "$data" | cut -f1) MB"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
