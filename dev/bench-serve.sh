#!/usr/bin/env bash
# `firesight serve` on the embedded store under a Firehose load, with a summary query every 0.5 s.
#
# The real 10,000-line log replicated to LINES records (default 1,000,000), in deliveries of RECORDS
# (default 500: 2,000 deliveries) gzipped before the clock starts, POSTed by CONNECTIONS (default 4)
# keep-alive connections (dev/bench_serve.py, on the Firehose client of dev/load/firehose.py). Prints
# records/s, delivery latency p50/p99, and the server's peak resident memory split into anonymous and
# file-backed (the memory-mapped GeoIP database and index files are the file-backed part).
# The answer cache is off for closed ranges (the log is from 2015), so every query reads the store.
# The log spans four days, so the load writes four days at once; ONE_DAY=1 folds them into the first
# (each line keeps its time of day), as a live delivery stream writes one day (two around midnight).
# SERVE_ENV: more settings for the server (NAME=VALUE ...). Needs: dev/fixtures.sh. BIN: another build (e.g. target/profiling/firesight); NO_BUILD=1 skips the build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LINES=${1:-1000000}
RECORDS=${RECORDS:-500}
CONNECTIONS=${CONNECTIONS:-4}
db=$(dev/fixtures.sh 2>/dev/null | sed -n 's/^FIRESIGHT_TEST_GEOLITE2_CITY=//p' | tail -n 1)
[[ -f $db ]] || { echo "GeoLite2-City missing: run dev/fixtures.sh" >&2; exit 1; }
BIN=${BIN:-target/release/firesight}
[[ -n ${NO_BUILD:-} ]] || cargo build --release --locked --bin firesight >/dev/null

data=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "cores: $(nproc); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
env ${SERVE_ENV:-} FIRESIGHT_LISTEN=127.0.0.1:$port FIRESIGHT_DATA_DIR=$data FIRESIGHT_API_KEYS=bench FIRESIGHT_STORE=embedded \
    FIRESIGHT_FIREHOSE__ACCESS_KEYS=bench FIRESIGHT_QUERY__CACHE_TTL_CLOSED_SECS=0 FIRESIGHT_GEOIP__CITY_DB=$db FIRESIGHT_LOG__LEVEL=${LOG_LEVEL:-warn} "$BIN" serve &
pid=$!
until curl -fsS "http://127.0.0.1:$port/health/live" >/dev/null 2>&1; do sleep 0.05; done
log=tests/fixtures/access_logs/elastic_examples_apache_logs.log
if [[ -n ${ONE_DAY:-} ]]; then
    sed -E 's#\[(18|19|20)/May/2015:#[17/May/2015:#' "$log" > "$data/one-day.log"
    log=$data/one-day.log
fi
python3 dev/bench_serve.py "$port" "$pid" "$log" \
    "$LINES" "$RECORDS" "$CONNECTIONS"
