#!/usr/bin/env bash
# Soak test of the embedded store: mixed load at 80% of the measured maximum, with the server's memory
# sampled every second.
#
# What it does: starts the release binary (`firesight serve`, embedded store, default settings) on a
# fresh temporary data directory with an API key and a Firehose access key; preloads the fixture's
# 10,000 real Apache lines ten times over (PRELOAD) as Firehose deliveries, their timestamps moved into
# the last 24 hours; measures the maximum rate of the mix (closed loop, WORKERS threads, MEASURE
# seconds); then runs the mix open loop at RATIO of that rate, per kind, for DURATION seconds:
#   firehose  deliveries of fresh lines stamped now, unique request ids: 200 echoing the request id;
#   cached    the same six dashboard aggregates over now-24h in turn (a miss per key every 10 s, the
#             live TTL);
#   uncached  summary, top, timeline, visit-times and /v1/logs with a random `from` (to the second) and
#             random filters, `to=now`: a new cache key every time, kept only for the 10 s live TTL, so
#             the cache does not fill up over the closed-range TTL (600 s) and pass for a leak;
#   export    CSV of a random EXPORT_WINDOW of the preloaded data: header, field count and the time of
#             every row checked.
# Every answer is checked (200 and a valid body). At the end: every acknowledged line is indexed or
# dead-lettered (the fixture has one truncated line) and every indexed document is counted by a
# summary; /metrics shows cache hits and misses. The server's /proc/<pid>/status is sampled every
# second. The driver is dev/load/soak.py (Python 3 standard library, threads, keep-alive connections).
#
# Settings (environment):
#   DURATION=600      seconds of open-loop load (e.g. DURATION=60 for a quick check)
#   WARMUP=120        seconds of the soak left out of the memory verdict
#   MEASURE=60        seconds of closed-loop load to find the maximum rate
#   RATIO=0.8         share of the measured maximum held during the soak
#   WORKERS=4         closed-loop threads while measuring
#   SOAK_WORKERS=32   threads serving the open-loop schedule (a request waits when all are busy)
#   MIX=firehose=1,cached=6,uncached=2,export=1   relative weights of the kinds while measuring
#   RECORDS=5         lines per Firehose delivery while measuring and soaking (few, so that the data
#                     the aggregates read grows by a fraction during the soak, not by multiples)
#   EXPORT_WINDOW=600 seconds of preloaded data per CSV export (about 700 rows)
#   PROGRESS=60       seconds between progress lines during the soak
#   PRELOAD=100000    documents delivered before measuring (the fixture 10 times, 24 hours)
#   MAX_SLOPE=2.0     MiB/min: the RSS slope after warm-up must stay below this ...
#   MAX_DRIFT=10      ... and the final RSS (median of the last 10 s) within this % of the post-warm-up median
#   OUT=.dev/soak/<UTC time>   where the results go
#   BIN=target/release/firesight   another build; NO_BUILD=1 skips `cargo build --release`
#   KEEP_DATA=1       keep the temporary data directory
#
# Output: the summary on stdout (requests, errors and latency percentiles per kind, cache hits and
# misses, RSS start/after warm-up/end, min/median/max, slope per minute after warm-up, VmHWM), and in
# OUT: rss.csv (one row per second: phase, VmRSS, RssAnon, RssFile, VmHWM, threads, open fds, CPU,
# load, CPU and I/O pressure), summary.json, server.log and server-warnings.log. Exit status: 0 when
# clean; 1 on any error (a failed request, the server gone, acknowledged documents missing from the
# final count); 2 when memory grew after warm-up or the cache's hit and miss paths were not both
# exercised.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION=${DURATION:-600}
WARMUP=${WARMUP:-120}
MEASURE=${MEASURE:-60}
RATIO=${RATIO:-0.8}
WORKERS=${WORKERS:-4}
SOAK_WORKERS=${SOAK_WORKERS:-32}
EXPORT_WINDOW=${EXPORT_WINDOW:-600}
PROGRESS=${PROGRESS:-60}
MIX=${MIX:-firehose=1,cached=6,uncached=2,export=1}
RECORDS=${RECORDS:-5}
PRELOAD=${PRELOAD:-100000}
MAX_SLOPE=${MAX_SLOPE:-2.0}
MAX_DRIFT=${MAX_DRIFT:-10}
OUT=${OUT:-.dev/soak/$(date -u +%Y%m%dT%H%M%SZ)}
FIXTURE=tests/fixtures/access_logs/elastic_examples_apache_logs.log
BIN=${BIN:-target/release/firesight}
[[ -n ${NO_BUILD:-} ]] || cargo build --release --locked --bin firesight >/dev/null
[[ -x $BIN ]] || { echo "no binary at $BIN" >&2; exit 1; }

mkdir -p "$OUT"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data=$(mktemp -d)
api_key=soak-$RANDOM$RANDOM
firehose_key=soak-firehose-$RANDOM$RANDOM

# The embedded store with its defaults: no FIRESIGHT_STORE, no cache or store tuning.
FIRESIGHT_LISTEN=127.0.0.1:$port FIRESIGHT_DATA_DIR=$data FIRESIGHT_API_KEYS=$api_key \
FIRESIGHT_FIREHOSE__ACCESS_KEYS=$firehose_key FIRESIGHT_LOG__LEVEL=warn \
"$BIN" serve >"$OUT/server.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [[ -n ${KEEP_DATA:-} ]] && echo "data directory kept: $data" || rm -rf "$data"
}
trap cleanup EXIT
for _ in $(seq 200); do curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null || { echo "the server did not start" >&2; cat "$OUT/server.log" >&2; exit 1; }

echo "== firesight soak: $("$BIN" --version 2>/dev/null || echo "$BIN"), pid $pid, $(nproc) cores," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg), started $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "   DURATION=$DURATION WARMUP=$WARMUP MEASURE=$MEASURE RATIO=$RATIO WORKERS=$WORKERS SOAK_WORKERS=$SOAK_WORKERS MIX=$MIX RECORDS=$RECORDS PRELOAD=$PRELOAD"
status=0
python3 dev/load/soak.py --base "http://127.0.0.1:$port" --api-key "$api_key" --firehose-key "$firehose_key" \
  --pid "$pid" --fixture "$FIXTURE" --preload "$PRELOAD" --records "$RECORDS" --measure "$MEASURE" \
  --duration "$DURATION" --warmup "$WARMUP" --ratio "$RATIO" --workers "$WORKERS" --mix "$MIX" \
  --soak-workers "$SOAK_WORKERS" --export-window "$EXPORT_WINDOW" --progress "$PROGRESS" \
  --max-slope "$MAX_SLOPE" --max-drift "$MAX_DRIFT" --rss-csv "$OUT/rss.csv" --summary-json "$OUT/summary.json" \
  || status=$?
kill -0 "$pid" 2>/dev/null || { echo "the server exited during the run" >&2; status=1; }
# tracing colours its levels: strip the escapes before looking for warnings and errors.
sed 's/\x1b\[[0-9;]*m//g' "$OUT/server.log" | grep -E ' (ERROR|WARN) ' >"$OUT/server-warnings.log" || true
if [[ -s $OUT/server-warnings.log ]]; then
  echo "== server warnings and errors (first 20 of $(wc -l <"$OUT/server-warnings.log")):"
  head -20 "$OUT/server-warnings.log"
fi
echo "== results in $OUT (rss.csv, summary.json, server.log); ended $(date -u +%Y-%m-%dT%H:%M:%SZ)"
exit "$status"
