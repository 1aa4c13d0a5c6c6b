#!/usr/bin/env bash
# `firesight replay` end to end against moto's S3 (dev/services.sh): RECORDS failed records, as Firehose
# writes them when the HTTP endpoint destination gives up (one JSON line per record, `rawData` the
# base64 of one real log line from the 10,000-line sample), in gzip objects of PER_OBJECT records under
# `http-endpoint-failed/YYYY/MM/dd/HH/`, then
#   1. the emulator's own read rate: every object fetched whole by one boto3 client, nothing done with it;
#   2. `firesight replay` (release build, embedded store, SQLite) over the whole prefix: wall time,
#      lines/s, peak RSS (VmHWM of the process, polled every 50 ms);
#   3. the same replay again: every line already present.
# RECORDS=1000000 PER_OBJECT=50000
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RECORDS=${RECORDS:-1000000}
PER_OBJECT=${PER_OBJECT:-50000}
if [[ -z ${FIRESIGHT_TEST_MOTO_URL:-} ]]; then
    dev/services.sh up >/dev/null
    eval "$(dev/services.sh env)"
fi
PROFILE=${PROFILE:-release}
cargo build --profile "$PROFILE" --quiet --bin firesight
BIN=target/$PROFILE/firesight
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
BUCKET=bench-replay-$RANDOM$RANDOM
PY=${PY:-.dev/venv/bin/python}
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1

"$PY" - "$FIRESIGHT_TEST_MOTO_URL" "$BUCKET" "$RECORDS" "$PER_OBJECT" <<'PY'
import base64, datetime, gzip, json, sys, time, uuid, boto3
url, bucket, total, per_object = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s3 = boto3.client("s3", endpoint_url=url)
s3.create_bucket(Bucket=bucket)
lines = [l for l in open("tests/fixtures/access_logs/elastic_examples_apache_logs.log", "rb").read().split(b"\n") if l.strip()]
now = datetime.datetime.now(datetime.timezone.utc)
t = time.monotonic()
written = compressed = 0
for n, start in enumerate(range(0, total, per_object)):
    at = now - datetime.timedelta(hours=2, minutes=-n % 60)
    ms = int(at.timestamp() * 1000)
    body = bytearray()
    for i in range(start, min(total, start + per_object)):
        body += json.dumps({
            "attemptsMade": 5, "arrivalTimestamp": ms - 300000, "errorCode": "HttpEndpoint.RequestTimeout",
            "errorMessage": "Firehose timed out waiting for the endpoint", "attemptEndingTimestamp": ms,
            "rawData": base64.b64encode(lines[i % len(lines)]).decode(), "subsequenceNumber": 0,
            "dataId": f"{49607357361271740811418664280693044274821622880012337186 + i}.0",
        }, separators=(",", ":")).encode() + b"\n"
        written += 1
    data = gzip.compress(bytes(body), 6)
    compressed += len(data)
    key = f"errors/http-endpoint-failed/{at:%Y/%m/%d/%H}/weblogs-1-{at:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=data)
print(f"put {written} failed records in {n + 1} gzip objects ({compressed / 1e6:.0f} MB) in {time.monotonic() - t:.1f} s", file=sys.stderr)
t = time.monotonic()
read = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="errors/"):
    for o in page.get("Contents", []):
        read += len(gzip.decompress(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()).split(b"\n")) - 1
print(f"emulator alone (GetObject and gunzip): {read} records in {time.monotonic() - t:.1f} s = {read / (time.monotonic() - t):.0f} records/s")
PY

run_replay() {
    local label=$1 hwm=0 start end
    start=$(date +%s.%N)
    FIRESIGHT_DATA_DIR=$WORK/data FIRESIGHT_LOG__LEVEL=warn \
    FIRESIGHT_S3__ENDPOINT_URL=$FIRESIGHT_TEST_MOTO_URL FIRESIGHT_S3__REGION=us-east-1 \
    FIRESIGHT_S3__ACCESS_KEY_ID=testing FIRESIGHT_S3__SECRET_ACCESS_KEY=testing \
        "$BIN" replay "s3://$BUCKET/errors/" --quiet >"$WORK/$label.out" 2>"$WORK/$label.err" &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        local kb
        kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        [[ -n $kb && $kb -gt $hwm ]] && hwm=$kb
        sleep 0.05
    done
    wait "$pid" || { cat "$WORK/$label.err"; exit 1; }
    end=$(date +%s.%N)
    echo "$label: $(head -1 "$WORK/$label.out")"
    awk -v s="$start" -v e="$end" -v n="$RECORDS" -v kb="$hwm" -v label="$label" \
        'BEGIN { printf "%s: wall %.1f s, %.0f lines/s, peak RSS %.0f MiB\n", label, e - s, n / (e - s), kb / 1024 }'
}
run_replay "first replay"
run_replay "second replay"
