"""Helpers of dev/faults.sh, standard library only: the load (a Firehose client sending real log lines
round-robin to several firesight processes), the webhook receiver, the alert setup, and the checks
afterwards (documents by id, alert deliveries by webhook-id).

    faults.py send     --lines N --endpoint URL --endpoint URL ... --out DIR
    faults.py webhook  --port P --log FILE --secret-file FILE
    faults.py alerts-setup  --api URL --hook-url URL --out DIR
    faults.py verify-docs   --opensearch URL --prefix P --out DIR
    faults.py verify-alerts --api URL --out DIR
    faults.py summary       --out DIR

Everything a step learns is written as JSON into the run's directory (--out), so the shell script and
the later steps read it from there.
"""

import argparse
import base64
import collections
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import struct
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import firehose  # noqa: E402  (the spec-following client next to this file)

API_TIMEOUT = 30


def log(msg):
    print(f"[faults {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def write_json(path, value):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def read_json(path):
    with open(path) as f:
        return json.load(f)


# ---- document ids, as firesight derives them (src/ingest/ids.rs) --------------------------------------


def doc_id(parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(struct.pack("<Q", len(p)))
        h.update(p)
    return base64.urlsafe_b64encode(h.digest()[:15]).decode().rstrip("=")


def firehose_id(request_id, record, line):
    return doc_id([b"firehose", request_id.encode(), struct.pack("<Q", record), struct.pack("<Q", line)])


# ---- the load ------------------------------------------------------------------------------------------

# [17/May/2015:10:05:03 +0000] in Apache/Nginx combined lines.
STAMP = re.compile(r"\[[^\]]+\]")
WELL_FORMED = re.compile(r'^\S+ \S+ \S+ \[[^\]]+\] "[^"]*" \d{3} (\d+|-)( "[^"]*" "[^"]*")?$')


class Load:
    """Sends `lines` real log lines in deliveries of `records` records, `concurrency` at a time.

    Each delivery keeps its request id and body across retries (Firehose semantics). Attempt k of
    delivery d goes to endpoint (d + k) mod E, so a retry after a failure always goes to another
    process. Lines get the send time as their timestamp, so alert windows over "now" see them."""

    def __init__(self, args):
        self.args = args
        self.endpoints = args.endpoint
        with open(args.fixture, "rb") as f:
            self.fixture = [l.rstrip(b"\r\n").decode() for l in f if l.strip()]
        per = args.records * args.lines_per_record
        self.deliveries = (args.lines + per - 1) // per
        self.next_delivery = 0
        self.lock = threading.Lock()
        self.acked_lines = 0
        self.sent_lines = 0
        self.failed_attempts = 0
        self.attempts = 0
        self.done = 0
        self.unacked = 0
        self.per_endpoint_acks = collections.Counter()
        self.last_ack = {}
        self.started = time.time()
        self.gates = []
        for g in args.gate or []:
            frac, path = g.split(":", 1)
            self.gates.append((int(float(frac) * self.deliveries), path))
        self.manifest = open(os.path.join(args.out, "deliveries.jsonl"), "w")
        self.attempt_log = open(os.path.join(args.out, "attempts.jsonl"), "w")
        self.stop = threading.Event()
        self.trickle_lock = threading.Lock()
        self.last_trickle = 0.0

    def lines_of(self, d):
        """The lines of delivery d: the fixture replicated, timestamps set to now."""
        per = self.args.records * self.args.lines_per_record
        first = d * per
        count = min(per, self.args.lines - first)
        stamp = "[" + time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()) + "]"
        n = len(self.fixture)
        return [STAMP.sub(stamp, self.fixture[(first + i) % n], count=1) for i in range(count)]

    def records_of(self, lines):
        k = self.args.lines_per_record
        return [("\n".join(lines[i : i + k]) + "\n").encode() for i in range(0, len(lines), k)]

    def wait_gate(self, d):
        """Past one unfinished fault's gate, deliveries trickle (one every `trickle` seconds in all), so
        the fault still meets load without the load running on to the next fault; past two, they wait."""
        while not self.stop.is_set():
            pending = [path for start, path in self.gates if d >= start and not os.path.exists(path)]
            if not pending:
                return
            if len(pending) == 1:
                with self.trickle_lock:
                    pause = self.last_trickle + self.args.trickle - time.time()
                    if pause <= 0:
                        self.last_trickle = time.time()
                        return
                time.sleep(min(pause, 0.1))
            else:
                time.sleep(0.1)

    def take(self):
        with self.lock:
            if self.next_delivery >= self.deliveries:
                return None
            d = self.next_delivery
            self.next_delivery += 1
            return d

    def worker(self):
        conns = [firehose.Endpoint(u, self.args.access_key, timeout=self.args.attempt_timeout) for u in self.endpoints]
        while not self.stop.is_set():
            d = self.take()
            if d is None:
                break
            self.wait_gate(d)
            lines = self.lines_of(d)
            delivery = firehose.Delivery(self.records_of(lines))
            with self.lock:
                self.sent_lines += len(lines)
            first = time.time()
            acked = False
            errors = []
            while not self.stop.is_set():
                e = (d + delivery.attempts) % len(conns)
                t0 = time.time()
                status, error = conns[e].attempt(delivery)
                t1 = time.time()
                ok = status == 200 and error is None
                record = json.dumps({"d": d, "rid": delivery.request_id, "endpoint": e,
                                     "start": round(t0 - self.started, 3), "end": round(t1 - self.started, 3),
                                     "status": status, "error": error})
                with self.lock:
                    self.attempt_log.write(record + "\n")
                    self.attempts += 1
                    if ok:
                        self.acked_lines += len(lines)
                        self.per_endpoint_acks[e] += 1
                        self.last_ack[e] = t1 - self.started
                    else:
                        self.failed_attempts += 1
                if ok:
                    acked = True
                    break
                errors.append(f"{status} {error}")
                if time.time() - first > self.args.retry_secs:
                    break
                # Firehose backs off between retries; a short pause keeps the load going.
                time.sleep(min(0.25 * 2 ** min(delivery.attempts - 1, 5), 5.0))
            with self.lock:
                self.done += 1
                if not acked:
                    self.unacked += 1
                self.manifest.write(json.dumps({
                    "d": d, "rid": delivery.request_id, "records": len(delivery.records),
                    "first_line": d * self.args.records * self.args.lines_per_record,
                    "lines_per_record": [len(r.decode().splitlines()) for r in delivery.records]
                    if self.args.lines_per_record > 1 else 1,
                    "lines": len(lines), "acked": acked, "attempts": delivery.attempts,
                    "first": round(first - self.started, 3), "errors": errors[-5:],
                }) + "\n")
        for c in conns:
            c.close()

    def snapshot(self):
        with self.lock:
            return {
                "lines": self.args.lines, "deliveries": self.deliveries, "sent_lines": self.sent_lines,
                "acked_lines": self.acked_lines, "done_deliveries": self.done, "unacked_deliveries": self.unacked,
                "attempts": self.attempts, "failed_attempts": self.failed_attempts,
                "elapsed": round(time.time() - self.started, 3), "started_epoch": self.started,
                "per_endpoint_acks": {str(k): v for k, v in self.per_endpoint_acks.items()},
                "finished": self.done >= self.deliveries,
            }

    def run(self):
        log(f"sending {self.args.lines} lines in {self.deliveries} deliveries of up to {self.args.records} records "
            f"to {', '.join(self.endpoints)} ({self.args.concurrency} at a time)")
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(self.args.concurrency)]
        for t in threads:
            t.start()
        progress = os.path.join(self.args.out, "progress.json")
        timeline = open(os.path.join(self.args.out, "timeline.csv"), "w")
        timeline.write("elapsed_s,acked_lines,failed_attempts\n")
        next_tick = time.time()
        while any(t.is_alive() for t in threads):
            snap = self.snapshot()
            write_json(progress, snap)
            if time.time() >= next_tick:
                timeline.write(f"{snap['elapsed']},{snap['acked_lines']},{snap['failed_attempts']}\n")
                timeline.flush()
                next_tick += 1.0
            time.sleep(0.1)
        snap = self.snapshot()
        timeline.write(f"{snap['elapsed']},{snap['acked_lines']},{snap['failed_attempts']}\n")
        timeline.close()
        self.manifest.close()
        self.attempt_log.close()
        write_json(progress, snap)
        log(f"load done: {snap['sent_lines']} lines sent, {snap['acked_lines']} acknowledged in {snap['elapsed']:.1f}s, "
            f"{snap['failed_attempts']} failed attempts, {snap['unacked_deliveries']} deliveries never acknowledged")
        return 0 if snap["unacked_deliveries"] == 0 else 1


def cmd_send(args):
    return Load(args).run()


# ---- the webhook receiver --------------------------------------------------------------------------------


def verify_signature(secret, msg_id, stamp, body, header):
    """Standard Webhooks: v1,<base64 HMAC-SHA256 of "id.timestamp.body"> with the secret after whsec_."""
    key = base64.b64decode(secret.split("_", 1)[1])
    want = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()).decode()
    return any(part.split(",", 1)[-1] == want for part in (header or "").split())


def cmd_webhook(args):
    lock = threading.Lock()
    out = open(args.log, "a")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            msg_id = self.headers.get("webhook-id")
            stamp = self.headers.get("webhook-timestamp")
            verified = None
            if os.path.exists(args.secret_file):
                with open(args.secret_file) as f:
                    verified = verify_signature(f.read().strip(), msg_id, stamp, body, self.headers.get("webhook-signature"))
            try:
                event = json.loads(body)
            except ValueError:
                event = {}
            data = event.get("data") or {}
            with lock:
                out.write(json.dumps({"at": time.time(), "path": self.path, "webhook_id": msg_id, "timestamp": stamp,
                                      "verified": verified, "type": event.get("type"),
                                      "incident_id": data.get("incident_id"), "test": data.get("test")}) + "\n")
                out.flush()
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.serve_forever()


# ---- the REST API ---------------------------------------------------------------------------------------


def api(base, key, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=API_TIMEOUT) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def paged(base, key, path):
    items, cursor = [], None
    while True:
        sep = "&" if "?" in path else "?"
        q = f"{path}{sep}size=1000" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
        status, page = api(base, key, "GET", q)
        if status != 200:
            raise RuntimeError(f"GET {q}: {status} {page}")
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def cmd_alerts_setup(args):
    status, hook = api(args.api, args.key, "POST", "/v1/alerts/webhooks",
                       {"url": args.hook_url, "description": "fault run receiver",
                        "events": ["alert.firing", "alert.resolved"], "format": "json"})
    if status != 201:
        log(f"webhook not created: {status} {hook}")
        return 1
    with open(args.secret_file, "w") as f:
        f.write(hook["secret"])
    # Any 5xx line in the last minute fires: the real log has 3 in every 10,000 lines, so it fires soon
    # after the load starts and resolves a minute after it ends. A long cooldown keeps it from opening a
    # second incident should the window ever look clean in between.
    rule = {"name": "fault run 5xx", "kind": "error_rate", "threshold": 0, "min_requests": 10,
            "window": args.window, "cooldown": "1h"}
    status, created = api(args.api, args.key, "POST", "/v1/alerts/rules", rule)
    if status != 201:
        log(f"rule not created: {status} {created}")
        return 1
    write_json(os.path.join(args.out, "alerts.json"), {"webhook_id": hook["id"], "rule_id": created["id"], "rule": rule})
    log(f"webhook {hook['id']} -> {args.hook_url}; rule {created['id']} (error_rate > 0% over {args.window})")
    return 0


def cmd_wait_alert(args):
    """Waits until the rule's incident has state `--state` (open: it fired; resolved: all resolved)."""
    setup = read_json(os.path.join(args.out, "alerts.json"))
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        try:
            incidents = paged(args.api, args.key, f"/v1/alerts/incidents?rule_id={setup['rule_id']}")
        except (OSError, RuntimeError) as e:
            log(f"incidents not read yet: {e}")
            incidents = None
        if incidents:
            states = {i["status"] for i in incidents}
            if args.state == "open" or states == {"resolved"}:
                return 0
        time.sleep(2)
    log(f"no incident {args.state} within {args.timeout}s")
    return 1


def cmd_verify_alerts(args):
    setup = read_json(os.path.join(args.out, "alerts.json"))
    try:
        incidents = paged(args.api, args.key, f"/v1/alerts/incidents?rule_id={setup['rule_id']}")
        attempts = paged(args.api, args.key, f"/v1/alerts/webhooks/{setup['webhook_id']}/attempts")
    except (OSError, RuntimeError) as e:
        print(f"alerts: could not read incidents and attempts from {args.api}: {e}")
        return 1
    received = []
    if os.path.exists(args.hook_log):
        with open(args.hook_log) as f:
            received = [json.loads(l) for l in f if l.strip()]
    expected = sum(2 if i["status"] == "resolved" else 1 for i in incidents)
    by_event = collections.defaultdict(list)
    for a in attempts:
        by_event[a["event_id"]].append(a)
    events = {}
    for event_id in by_event:
        status, view = api(args.api, args.key, "GET", f"/v1/alerts/events/{event_id}")
        events[event_id] = view if status == 200 else {"error": f"{status} {view}"}
    receptions = collections.Counter(r["webhook_id"] for r in received)
    problems = []
    if not any(v.get("type") == "alert.firing" for v in events.values()):
        problems.append("no alert.firing event was sent")
    if len(by_event) != expected:
        problems.append(f"{len(by_event)} events attempted, {expected} expected from {len(incidents)} incident(s)")
    for event_id, tries in by_event.items():
        ok = [a for a in tries if a["success"]]
        if len(ok) != 1:
            problems.append(f"event {event_id}: {len(ok)} successful attempts")
        if receptions[event_id] != 1:
            problems.append(f"event {event_id}: received {receptions[event_id]} times")
    for r in received:
        if r["webhook_id"] not in by_event:
            problems.append(f"received {r['webhook_id']} that firesight has no attempt for")
        if r["verified"] is not True:
            problems.append(f"received {r['webhook_id']} with a signature that does not verify")
    for event_id, view in events.items():
        for dlv in view.get("deliveries", []):
            if dlv.get("status") != "delivered":
                problems.append(f"event {event_id}: delivery {dlv.get('id')} is {dlv.get('status')}")
    summary = {
        "incidents": [{k: i.get(k) for k in ("id", "status", "opened_at", "resolved_at", "peak_value")} for i in incidents],
        "events": {e: {"type": v.get("type"), "incident_id": v.get("incident_id")} for e, v in events.items()},
        "attempts": len(attempts), "failed_attempts": sum(1 for a in attempts if not a["success"]),
        "expected_events": expected, "received": len(received), "distinct_received": len(receptions),
        "receptions": [{k: r[k] for k in ("webhook_id", "type", "verified", "at")} for r in received],
        "problems": problems,
    }
    write_json(os.path.join(args.out, "alerts-result.json"), summary)
    types = collections.Counter(v.get("type") for v in events.values())
    print(f"alerts: {len(incidents)} incident(s); events {dict(types)}; {len(received)} webhook deliveries received, "
          f"{len(receptions)} distinct webhook-ids, {summary['failed_attempts']} failed attempts retried")
    for p in problems:
        print(f"  ALERT PROBLEM: {p}")
    return 1 if problems else 0


# ---- documents ------------------------------------------------------------------------------------------


def os_call(base, method, path, body=None, timeout=120):
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        raw = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {raw[:500]!r}")
        return json.loads(raw)
    finally:
        conn.close()


def cmd_verify_docs(args):
    deliveries = []
    with open(os.path.join(args.out, "deliveries.jsonl")) as f:
        deliveries = [json.loads(l) for l in f if l.strip()]
    progress = read_json(os.path.join(args.out, "progress.json"))
    with open(args.fixture, "rb") as f:
        fixture = [l.rstrip(b"\r\n").decode() for l in f if l.strip()]
    # A line that is not a complete combined/common log line goes to the dead-letter index, not to the
    # logs (the real log has one, cut off inside its user agent).
    malformed = {i for i, l in enumerate(fixture) if not WELL_FORMED.match(l)}
    acked_ids, unacked_ids, dead_expected, acked_dead = set(), set(), set(), set()
    for dl in deliveries:
        target = acked_ids if dl["acked"] else unacked_ids
        lpr = dl["lines_per_record"]
        n = dl["first_line"]
        for r in range(dl["records"]):
            for line in range(lpr if isinstance(lpr, int) else lpr[r]):
                i = firehose_id(dl["rid"], r, line)
                if n % len(fixture) in malformed:
                    dead_expected.add(i)
                    if dl["acked"]:
                        acked_dead.add(i)
                else:
                    target.add(i)
                n += 1
    sent_ids = acked_ids | unacked_ids
    pattern = f"{args.prefix}-*"
    os_call(args.opensearch, "POST", f"/{pattern}/_refresh")
    count = os_call(args.opensearch, "GET", f"/{pattern}/_count")["count"]
    seen = collections.Counter()
    page = os_call(args.opensearch, "POST",
                   f"/{pattern}/_search?scroll=2m&filter_path=_scroll_id,hits.hits._id,hits.total",
                   {"size": 10000, "_source": False, "sort": ["_doc"], "track_total_hits": True})
    scroll_id = page.get("_scroll_id")
    while True:
        hits = page.get("hits", {}).get("hits", [])
        if not hits:
            break
        seen.update(h["_id"] for h in hits)
        page = os_call(args.opensearch, "POST", "/_search/scroll?filter_path=_scroll_id,hits.hits._id",
                       {"scroll": "2m", "scroll_id": scroll_id})
        scroll_id = page.get("_scroll_id", scroll_id)
    try:
        os_call(args.opensearch, "DELETE", "/_search/scroll", {"scroll_id": scroll_id})
    except RuntimeError:
        pass
    scanned = sum(seen.values())
    duplicates = {i: n for i, n in seen.items() if n > 1}
    missing_acked = acked_ids - seen.keys()
    unexpected = seen.keys() - sent_ids
    dead_seen = collections.Counter()
    stages = collections.Counter()
    dead_index = f"{args.prefix}_deadletter"
    os_call(args.opensearch, "POST", f"/{dead_index}/_refresh?ignore_unavailable=true&allow_no_indices=true")
    page = os_call(args.opensearch, "POST",
                   f"/{dead_index}/_search?scroll=2m&ignore_unavailable=true&allow_no_indices=true"
                   "&filter_path=_scroll_id,hits.hits._id,hits.hits._source.stage",
                   {"size": 10000, "_source": ["stage"], "sort": ["_doc"]})
    while page.get("hits", {}).get("hits"):
        for h in page["hits"]["hits"]:
            dead_seen[h["_id"]] += 1
            stages[h["_source"]["stage"]] += 1
        page = os_call(args.opensearch, "POST", "/_search/scroll?filter_path=_scroll_id,hits.hits._id,hits.hits._source.stage",
                       {"scroll": "2m", "scroll_id": page["_scroll_id"]})
    dead_letters = sum(dead_seen.values())
    shards = os_call(args.opensearch, "GET", f"/_cat/shards/{pattern}?format=json&h=index,shard,prirep,state,docs,node")
    copies = collections.defaultdict(set)
    for s in shards:
        copies[(s["index"], s["shard"])].add((s["prirep"], s["state"], s["docs"]))
    copy_problems = [f"{k}: {sorted(v)}" for k, v in copies.items()
                     if len({d for _, _, d in v}) != 1 or any(st != "STARTED" for _, st, _ in v) or len(v) != 2]
    result = {
        "sent": progress["sent_lines"], "sent_ids": len(sent_ids), "acknowledged": len(acked_ids),
        "acknowledged_lines": progress["acked_lines"], "indexed": count, "scanned": scanned,
        "distinct_indexed": len(seen), "duplicates": scanned - len(seen), "duplicate_ids": sorted(duplicates)[:20],
        "missing_acknowledged": len(missing_acked), "missing_ids": sorted(missing_acked)[:20],
        "unacknowledged_present": len(unacked_ids & seen.keys()), "unexpected": len(unexpected),
        "unexpected_ids": sorted(unexpected)[:20], "dead_letters": dead_letters, "dead_letter_stages": dict(stages),
        "dead_letters_expected": len(dead_expected),
        "shard_copies": [{"index": k[0], "shard": k[1], "copies": sorted(v)} for k, v in copies.items()],
        "copy_problems": copy_problems,
    }
    problems = []
    if result["sent"] != args.lines:
        problems.append(f"sent {result['sent']} of {args.lines} lines")
    if len(acked_ids) != len(sent_ids):
        problems.append(f"{len(sent_ids) - len(acked_ids)} lines never acknowledged")
    if missing_acked:
        problems.append(f"{len(missing_acked)} acknowledged lines missing, e.g. {sorted(missing_acked)[:5]}")
    if result["duplicates"]:
        problems.append(f"{result['duplicates']} duplicate documents, e.g. {sorted(duplicates)[:5]}")
    if unexpected:
        problems.append(f"{len(unexpected)} documents with ids nobody sent, e.g. {sorted(unexpected)[:5]}")
    if count != len(sent_ids) or scanned != count:
        problems.append(f"count {count}, scanned {scanned}, expected {len(sent_ids)}")
    if set(dead_seen) != dead_expected or dead_letters != len(dead_expected) or set(stages) - {"parse"}:
        problems.append(f"dead letters: {dead_letters} ({dict(stages)}), expected {len(dead_expected)} at stage parse; "
                        f"missing {sorted(acked_dead - dead_seen.keys())[:5]}, unexpected {sorted(dead_seen.keys() - dead_expected)[:5]}")
    if copy_problems:
        problems.append(f"shard copies disagree: {copy_problems}")
    result["problems"] = problems
    write_json(os.path.join(args.out, "docs-result.json"), result)
    print(f"sent {result['sent']} / acknowledged {progress['acked_lines']} / indexed {count} / "
          f"duplicates {result['duplicates']}")
    print(f"  {len(sent_ids)} documents expected (+ {len(dead_expected)} malformed lines expected as dead letters); "
          f"missing acknowledged {len(missing_acked)}, unexpected {len(unexpected)}, dead letters {dead_letters} "
          f"({', '.join(f'{k} {v}' for k, v in stages.items()) or 'none'}); shard copies "
          f"{'agree' if not copy_problems else 'DISAGREE'}")
    for p in problems:
        print(f"  DOCUMENT PROBLEM: {p}")
    return 1 if problems else 0


# ---- summary --------------------------------------------------------------------------------------------


def acked_at(timeline, t):
    """Acknowledged lines at time t (the last timeline point at or before it)."""
    last = 0
    for when, acked in timeline:
        if when > t:
            break
        last = acked
    return last


def cmd_summary(args):
    progress = read_json(os.path.join(args.out, "progress.json"))
    faults = []
    if os.path.exists(os.path.join(args.out, "faults.jsonl")):
        with open(os.path.join(args.out, "faults.jsonl")) as f:
            faults = [json.loads(l) for l in f if l.strip()]
    timeline = []
    with open(os.path.join(args.out, "timeline.csv")) as f:
        next(f)
        for l in f:
            t, a, _ = l.strip().split(",")
            timeline.append((float(t), int(a)))
    attempts = []
    with open(os.path.join(args.out, "attempts.jsonl")) as f:
        attempts = [json.loads(l) for l in f if l.strip()]
    errors = collections.Counter()
    for a in attempts:
        if not (a["status"] == 200 and a["error"] is None):
            kind = str(a["status"]) if a["status"] is not None else (a["error"] or "?").split(":")[0]
            errors[kind] += 1
    print(f"load: {progress['sent_lines']} lines in {progress['deliveries']} deliveries, {progress['elapsed']:.1f}s, "
          f"{progress['acked_lines'] / max(progress['elapsed'], 1e-9):.0f} lines/s acknowledged; "
          f"{progress['attempts']} attempts, {progress['failed_attempts']} failed ({dict(errors)})")
    if faults and faults[0]["at"] > 0:
        print(f"before the first fault: {faults[0]['acked_at_fault']} lines acknowledged in {faults[0]['at']:.1f}s, "
              f"{faults[0]['acked_at_fault'] / faults[0]['at']:.0f} lines/s")
    first_start, acked_end = {}, {}
    for a in attempts:
        first_start[a["d"]] = min(first_start.get(a["d"], a["start"]), a["start"])
        if a["status"] == 200 and a["error"] is None:
            acked_end[a["d"]] = a["end"]
    for k, f in enumerate(faults):
        t0, t1 = f["at"], f["recovered"]
        until = min(t1 + 5, faults[k + 1]["at"]) if k + 1 < len(faults) else t1 + 5
        # Deliveries in flight at the fault or begun before it recovered: how long until acknowledged.
        hit = [d for d in first_start if first_start[d] <= t1 and acked_end.get(d, float("inf")) >= t0]
        waits = [acked_end[d] - first_start[d] for d in hit if d in acked_end]
        failed = sum(1 for a in attempts if not (a["status"] == 200 and a["error"] is None) and t0 <= a["end"] <= until)
        during = acked_at(timeline, t1) - acked_at(timeline, t0)
        f.update({"deliveries_during": len(hit), "slowest_ack_s": round(max(waits, default=0.0), 1),
                  "failed_attempts_during": failed, "acked_during": during})
        print(f"fault {f['name']}: {f['what']} at {t0:.1f}s (at {f['acked_at_fault']} acked lines), "
              f"back at {f['restarted']:.1f}s, recovered at {t1:.1f}s ({f['recovery']}); meanwhile {during} lines "
              f"acknowledged, {len(hit)} deliveries in flight, slowest acknowledged {f['slowest_ack_s']}s after its "
              f"first attempt, {failed} failed attempts (all retried)")
    write_json(os.path.join(args.out, "faults-summary.json"), {"progress": progress, "faults": faults,
                                                               "attempt_errors": dict(errors)})
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--lines", type=int, required=True)
    s.add_argument("--endpoint", action="append", required=True)
    s.add_argument("--access-key", required=True)
    s.add_argument("--fixture", required=True)
    s.add_argument("--records", type=int, default=500, help="records per delivery")
    s.add_argument("--lines-per-record", type=int, default=1)
    s.add_argument("--concurrency", type=int, default=4)
    s.add_argument("--retry-secs", type=float, default=900, help="give a delivery up after retrying this long")
    s.add_argument("--attempt-timeout", type=float, default=180, help="Firehose waits 180 s for an answer")
    s.add_argument("--gate", action="append", help="FRACTION:FILE: deliveries past the fraction trickle until FILE exists")
    s.add_argument("--trickle", type=float, default=2.0, help="seconds between deliveries past an open gate")
    s.add_argument("--out", required=True)
    w = sub.add_parser("webhook")
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--log", required=True)
    w.add_argument("--secret-file", required=True)
    for name in ("alerts-setup", "wait-alert", "verify-alerts"):
        a = sub.add_parser(name)
        a.add_argument("--api", required=True)
        a.add_argument("--key", required=True)
        a.add_argument("--out", required=True)
        if name == "alerts-setup":
            a.add_argument("--hook-url", required=True)
            a.add_argument("--secret-file", required=True)
            a.add_argument("--window", default="1m")
        if name == "wait-alert":
            a.add_argument("--state", choices=["open", "resolved"], required=True)
            a.add_argument("--timeout", type=float, default=300)
        if name == "verify-alerts":
            a.add_argument("--hook-log", required=True)
    v = sub.add_parser("verify-docs")
    v.add_argument("--opensearch", required=True)
    v.add_argument("--prefix", required=True)
    v.add_argument("--lines", type=int, required=True)
    v.add_argument("--fixture", required=True)
    v.add_argument("--out", required=True)
    m = sub.add_parser("summary")
    m.add_argument("--out", required=True)
    args = p.parse_args()
    handler = {"send": cmd_send, "webhook": cmd_webhook, "alerts-setup": cmd_alerts_setup,
               "wait-alert": cmd_wait_alert, "verify-alerts": cmd_verify_alerts, "verify-docs": cmd_verify_docs,
               "summary": cmd_summary}[args.cmd]
    sys.exit(handler(args) or 0)


if __name__ == "__main__":
    main()
