#!/usr/bin/env bash
# The enrichment Lambda's cold start and warm duration in the runtime emulator (`cargo lambda watch
# --release`), with Firehose events of 1 MB and 3 MB of the real log's lines, with and without
# `event.original`. Prints init time (the function's own "ready" log line), per-invocation transform
# time and lines/s (its Embedded Metric Format line), and output bytes / input bytes.
#   ROUNDS=5 (warm invocations per size)   GEOIP=path to GeoLite2-City.mmdb (default: dev/fixtures.sh's)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dev/lambda.sh install
ROUNDS=${ROUNDS:-5}
GEOIP=${GEOIP:-.dev/fixtures/GeoLite2-City.mmdb}
LOG=tests/fixtures/access_logs/elastic_examples_apache_logs.log
WORK=$(mktemp -d)
trap 'kill "$WATCH_PID" 2>/dev/null; pkill -f "target/release/firesight-lambda" 2>/dev/null; rm -rf "$WORK"' EXIT

python3 - "$LOG" "$WORK" <<'PY'
import base64, json, sys
lines = [l for l in open(sys.argv[1], "rb").read().split(b"\n") if l.strip()]
for mb in (1, 3):
    records, size, i = [], 0, 0
    while True:
        line = lines[i % len(lines)]
        if size + len(line) > mb * 1024 * 1024:
            break
        size += len(line)
        records.append({"recordId": f"4954698668313554428650745793632167567570019247115678{i:06d}",
                        "approximateArrivalTimestamp": 1765000000000, "data": base64.b64encode(line).decode()})
        i += 1
    event = {"invocationId": "bench", "deliveryStreamArn": "arn:aws:firehose:eu-west-1:111122223333:deliverystream/bench",
             "region": "eu-west-1", "records": records}
    json.dump(event, open(f"{sys.argv[2]}/event-{mb}mb.json", "w"))
    print(f"event {mb} MB: {len(records)} records, {size} bytes of lines", file=sys.stderr)
PY

run() { # $1 = a name, then settings as NAME=VALUE
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    PATH="$PWD/.dev/lambda-venv/bin:$PATH" cargo lambda watch --release --bin firesight-lambda --ignore-changes \
        --invoke-address 127.0.0.1 --invoke-port "$port" \
        --env-var "FIRESIGHT_GEOIP__CITY_DB=$PWD/$GEOIP" "${@:2}" \
        >"$WORK/watch-$1.log" 2>&1 &
    WATCH_PID=$!
    local url="http://127.0.0.1:$port/2015-03-31/functions/firesight-lambda/invocations"
    for mb in 1 3; do
        for round in $(seq 0 "$ROUNDS"); do
            until curl -sf -o "$WORK/out.json" -H 'content-type: application/json' --data-binary "@$WORK/event-${mb}mb.json" "$url"; do
                sleep 1
            done
            printf '%s %s %s\n' "$mb" "$round" "$(stat -c %s "$WORK/out.json")" >>"$WORK/sizes-$1"
        done
    done
    kill "$WATCH_PID"; wait "$WATCH_PID" 2>/dev/null || true
    pkill -f "target/release/firesight-lambda" 2>/dev/null || true
    python3 - "$WORK" "$1" "$ROUNDS" <<'PY'
import json, re, statistics, sys
work, original, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(f"{work}/watch-{original}.log", errors="replace").read()
inits = [int(m) for m in re.findall(r'"init_ms":(\d+)', text)]
emf = [json.loads(l[l.index("{"):]) for l in text.splitlines() if '"CloudWatchMetrics"' in l]
sizes = [l.split() for l in open(f"{work}/sizes-{original}")]
print(f"{original}: init (cold start, GeoIP opened): {inits} ms")
for mb in (1, 3):
    runs = [e for e in emf if abs(e["InputBytes"] - mb * 1024 * 1024) < 64 * 1024][1:]  # warm only
    ms = statistics.median(e["TransformDuration"] for e in runs)
    lines = runs[0]["RecordsOk"] + runs[0]["RecordsDropped"] + runs[0]["RecordsFailed"]
    answer = [int(s[2]) for s in sizes if s[0] == str(mb)][-1]
    e = runs[0]
    print(f"  {mb} MB: {lines} lines, warm transform median {ms:.1f} ms over {len(runs)} = {lines / ms * 1000:,.0f} lines/s; "
          f"Ok {e['RecordsOk']}, ProcessingFailed {e['RecordsFailed']}; documents {e['OkOutputBytes'] / e['OkInputBytes']:.2f} x their lines "
          f"(answer {answer:,} bytes incl. base64)")
PY
}
run full
run no-original --env-var FIRESIGHT_LAMBDA__INCLUDE_ORIGINAL=false
run compact --env-var FIRESIGHT_LAMBDA__COMPACT=true
