#!/usr/bin/env bash
# Cached top-N under load, next to a trivial handler in the same run.
#
# Starts the release binary on the benchmark data set that `cargo bench --bench query` leaves in the
# local OpenSearch (`bench-query-<N>` indices), warms the cache with one request, then drives
# `/health/live` (trivial) and `/v1/stats/top/country` (cached) with wrk, one after the other.
# Needs: dev/services.sh up, cargo bench --bench query (once), wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DOCS=${1:-1000000}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
eval "$(dev/services.sh env)"
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
# BIN: another build of firesight (e.g. target/profiling/firesight); NO_BUILD=1 skips the release build.
BIN=${BIN:-target/release/firesight}
[[ -n ${NO_BUILD:-} ]] || cargo build --release --locked --bin firesight >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data=$(mktemp -d)
FIRESIGHT_LISTEN=127.0.0.1:$port FIRESIGHT_DATA_DIR=$data FIRESIGHT_API_KEYS=bench \
FIRESIGHT_STORE=opensearch FIRESIGHT_OPENSEARCH__URL=$FIRESIGHT_TEST_OPENSEARCH_URL FIRESIGHT_OPENSEARCH__INDEX_PREFIX=bench-query-$DOCS \
FIRESIGHT_LOG__LEVEL=warn "$BIN" serve &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/health/live" >/dev/null 2>&1 && break; sleep 0.1; done

top="http://127.0.0.1:$port/v1/stats/top/country?from=2015-05-17T00:00:00Z&to=2015-05-21T00:00:00Z"
curl -fsS -H "Authorization: Bearer bench" "$top" >/dev/null

echo "== trivial handler: GET /health/live"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$port/health/live"
echo "== cached top-N: GET /v1/stats/top/country"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer bench" "$top"
curl -fsS "http://127.0.0.1:$port/metrics" | grep -E '^firesight_query_cache_(hits|misses)_total'
echo "== server peak RSS"
grep VmHWM "/proc/$pid/status"
