"""`firesight serve` under a Firehose load: what dev/bench-serve.sh runs.

The real log replicated to LINES records, cut into deliveries of RECORDS records, each body built and
gzipped before the clock starts (so the client's own cost is mostly sending), then POSTed by
CONNECTIONS threads with keep-alive, as Firehose's HTTP-endpoint delivery does (dev/load/firehose.py).
Meanwhile a summary query every 0.5 s, and the server's resident memory sampled every 50 ms from
/proc (VmRSS, and its anonymous and file-backed parts). Prints records/s, delivery latency
percentiles, the summary's request count at the end, and the peak and final memory.
"""

import gzip
import http.client
import json
import os
import sys
import threading
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "load"))
import firehose  # noqa: E402

port, pid, log_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lines_wanted, per_delivery, connections = (int(a) for a in sys.argv[4:7])
key = "bench"

with open(log_path, "rb") as f:
    source = [line.rstrip(b"\n") for line in f if line.strip()]
records = [source[i % len(source)] for i in range(lines_wanted)]
bodies = []
for start in range(0, len(records), per_delivery):
    request_id = str(uuid.uuid4())
    body = gzip.compress(firehose.delivery_body(request_id, records[start : start + per_delivery]), 1)
    bodies.append((request_id, body, min(per_delivery, len(records) - start)))
print(f"client: {len(bodies)} deliveries of {per_delivery} records built, "
      f"{sum(len(b) for _, b, _ in bodies) // 1_000_000} MB gzip", flush=True)


def memory():
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile"):
                fields[name] = int(value.split()[0]) // 1024
    return fields


peak = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
done = threading.Event()


def sample():
    while not done.is_set():
        for k, v in memory().items():
            peak[k] = max(peak[k], v)
        time.sleep(0.05)


summary_url = (f"http://127.0.0.1:{port}/v1/stats/summary"
               "?from=2015-05-17T00:00:00Z&to=2015-05-21T00:00:00Z")


def summary():
    req = urllib.request.Request(summary_url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)["requests"]


queries = []


def query_loop():
    while not done.is_set():
        t = time.monotonic()
        summary()
        queries.append(time.monotonic() - t)
        time.sleep(0.5)


latencies = []
lock = threading.Lock()
next_body = iter(bodies)
failures = []


def sender():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while True:
        with lock:
            item = next(next_body, None)
        if item is None:
            conn.close()
            return
        request_id, body, _ = item
        t = time.monotonic()
        conn.request("POST", "/v1/firehose", body=body, headers=firehose.headers(request_id, key, True))
        resp = conn.getresponse()
        answer = resp.read()
        elapsed = time.monotonic() - t
        if resp.status != 200 or json.loads(answer).get("requestId") != request_id:
            failures.append((resp.status, answer[:200]))
        with lock:
            latencies.append(elapsed)


threads = [threading.Thread(target=sample), threading.Thread(target=query_loop)]
for t in threads:
    t.start()
t0 = time.monotonic()
senders = [threading.Thread(target=sender) for _ in range(connections)]
for t in senders:
    t.start()
for t in senders:
    t.join()
wall = time.monotonic() - t0
done.set()
for t in threads:
    t.join()
time.sleep(1)
after = memory()
count = summary()
latencies.sort()


def pct(values, p):
    return values[min(len(values) - 1, max(0, int(-(-p * len(values) // 100)) - 1))] * 1000


print(f"deliveries: {len(latencies)} ({len(failures)} failed) in {wall:.2f} s: "
      f"{lines_wanted / wall:,.0f} records/s")
print(f"delivery latency: p50 {pct(latencies, 50):.0f} ms, p99 {pct(latencies, 99):.0f} ms, "
      f"max {latencies[-1] * 1000:.0f} ms")
if queries:
    queries.sort()
    print(f"summary queries during the load: {len(queries)}, p50 {pct(queries, 50):.0f} ms, "
          f"max {queries[-1] * 1000:.0f} ms")
print(f"summary after the load: {count} requests")
print(f"server memory: peak RSS {peak['VmRSS']} MiB (anonymous {peak['RssAnon']}, file-backed "
      f"{peak['RssFile']}), 1 s after the load {after['VmRSS']} MiB")
if failures:
    print(f"failures, first: {failures[0]}")
    sys.exit(1)
