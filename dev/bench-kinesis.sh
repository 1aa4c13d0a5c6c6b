#!/usr/bin/env bash
# The Kinesis consumer end to end, against moto's Kinesis (dev/services.sh): LINES real log lines (the
# 10,000-line sample repeated, one line per record as agents put them) in a 4-shard stream, then
#   1. the emulator's own GetRecords rate: every shard read from its start by one boto3 client, 10,000
#      records per call, nothing else done with them;
#   2. `firesight serve` (release build, embedded store, SQLite) consuming the same stream from its start:
#      wall time until every line is indexed (indexed and dead-lettered documents in /metrics), records/s,
#      peak RSS (VmHWM), and the ratio to (1);
#   3. end-to-end latency: LATENCY_RECORDS records put one at a time (20 a second) while a client follows
#      GET /v1/logs/tail; from PutRecord's answer to the document's arrival on the tail (p50, p99).
# LINES=100000 LATENCY_RECORDS=200
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LINES=${LINES:-100000}
LATENCY_RECORDS=${LATENCY_RECORDS:-200}
dev/services.sh up >/dev/null
eval "$(dev/services.sh env)"
cargo build --release --quiet --bin firesight
WORK=$(mktemp -d)
FS_PID=
trap '[[ -n $FS_PID ]] && kill "$FS_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
STREAM=bench-kinesis-$RANDOM$RANDOM
PY=.dev/venv/bin/python
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1

"$PY" - "$FIRESIGHT_TEST_MOTO_URL" "$STREAM" "$LINES" <<'PY'
import sys, time, boto3
url, stream, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
k = boto3.client("kinesis", endpoint_url=url)
k.create_stream(StreamName=stream, ShardCount=4)
k.get_waiter("stream_exists").wait(StreamName=stream)
lines = [l for l in open("tests/fixtures/access_logs/elastic_examples_apache_logs.log", "rb").read().split(b"\n") if l.strip()]
t = time.monotonic()
for start in range(0, total, 500):
    batch = [{"Data": lines[i % len(lines)], "PartitionKey": f"web-{i}"} for i in range(start, min(total, start + 500))]
    assert k.put_records(StreamName=stream, Records=batch)["FailedRecordCount"] == 0
print(f"put {total} records in {time.monotonic() - t:.1f} s", file=sys.stderr)
# (1) the emulator's own read rate
t = time.monotonic()
read = 0
for shard in k.list_shards(StreamName=stream)["Shards"]:
    it = k.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    while True:
        r = k.get_records(ShardIterator=it, Limit=10000)
        read += len(r["Records"])
        it = r["NextShardIterator"]
        if not r["Records"]:
            break
emulator = read / (time.monotonic() - t)
print(f"emulator GetRecords alone: {read} records in {time.monotonic() - t:.1f} s = {emulator:.0f} records/s")
PY

PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
START=$(date +%s.%N)
FIRESIGHT_LISTEN=127.0.0.1:$PORT FIRESIGHT_DATA_DIR=$WORK/data FIRESIGHT_API_KEYS=bench-key-0123456789 \
FIRESIGHT_KINESIS__STREAMS=$STREAM FIRESIGHT_KINESIS__ENDPOINT_URL=$FIRESIGHT_TEST_MOTO_URL \
FIRESIGHT_KINESIS__REGION=us-east-1 FIRESIGHT_KINESIS__ACCESS_KEY_ID=testing \
FIRESIGHT_KINESIS__SECRET_ACCESS_KEY=testing FIRESIGHT_KINESIS__IDLE_MILLIS=200 FIRESIGHT_LOG__LEVEL=warn \
    target/release/firesight serve >"$WORK/serve.log" 2>&1 &
FS_PID=$!
# Indexed plus dead-lettered (the sample has one truncated line, so every 10,000th line is refused).
indexed() {
    curl -sf "http://127.0.0.1:$PORT/metrics" |
        awk '/^firesight_ingest_(indexed_documents|dead_letters)_total\{source="kinesis"\}/ {n += $2} END {print n + 0}'
}
until [[ "$(indexed)" == "$LINES" ]]; do
    kill -0 "$FS_PID" || { cat "$WORK/serve.log"; exit 1; }
    sleep 0.2
done
END=$(date +%s.%N)
RSS=$(awk '/VmHWM/ {print $2}' "/proc/$FS_PID/status")
python3 -c "
secs = $END - $START
print(f'firesight consumed {$LINES} records in {secs:.1f} s = {$LINES / secs:.0f} records/s end to end (from start), peak RSS {$RSS / 1024:.0f} MiB')
"

# (3) latency from PutRecord to the live tail
"$PY" - "$FIRESIGHT_TEST_MOTO_URL" "$STREAM" "$LATENCY_RECORDS" "$PORT" <<'PY'
import http.client, json, sys, threading, time, boto3
url, stream, count, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
k = boto3.client("kinesis", endpoint_url=url)
seen, put = {}, {}
def follow():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("GET", "/v1/logs/tail?path_prefix=/bench-latency/&max_duration=600", headers={"Authorization": "Bearer bench-key-0123456789", "Accept": "text/event-stream"})
    r = c.getresponse()
    assert r.status == 200, r.status
    data = []
    for raw in r:
        line = raw.decode().rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            try:
                doc = json.loads("\n".join(data))
                path = doc.get("url", {}).get("path", "")
                if path.startswith("/bench-latency/"):
                    seen.setdefault(path, time.monotonic())
            except ValueError:
                pass
            data = []
            if len(seen) >= count:
                return
t = threading.Thread(target=follow, daemon=True)
t.start()
time.sleep(1.0)
for i in range(count):
    path = f"/bench-latency/{i}"
    line = f'203.0.113.9 - - [{time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())}] "GET {path} HTTP/1.1" 200 512 "-" "bench/1.0"'
    k.put_record(StreamName=stream, Data=line.encode(), PartitionKey=f"lat-{i}")
    put[path] = time.monotonic()
    time.sleep(0.05)
t.join(timeout=60)
lat = sorted((seen[p] - put[p]) * 1000 for p in put if p in seen)
if not lat:
    print("latency: no record reached the tail"); sys.exit(1)
pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"latency PutRecord -> tail: {len(lat)}/{count} seen, p50 {pct(0.5):.0f} ms, p99 {pct(0.99):.0f} ms, max {lat[-1]:.0f} ms")
PY
