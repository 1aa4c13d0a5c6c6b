"""What the seed pipeline checks, from nginx's own log and the delivery streams' own records, against
firesight's answers; and the one-screen summary."""

import collections
import csv
import datetime as dt
import time
import urllib.parse
import uuid

DESTINATION_TYPES = ("AmazonOpenSearchService-failed", "http-endpoint-failed")


def iso(t):
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def nginx_epoch(s):
    return int(dt.datetime.strptime(s, "%d/%b/%Y:%H:%M:%S %z").timestamp())


def probe_latency(client, fs, count):
    """Seconds from a request's log line to its document being searchable, per mode (median of `count`)."""
    found = {m: [] for m in fs}
    for _ in range(count):
        path = f"/probe/{uuid.uuid4().hex}"
        sent = time.time()
        client.send([{"ip": "66.249.73.135", "method": "GET", "path": path, "referrer": "-",
                      "agent": "seed-pipeline probe"}], 0)
        waiting = set(fs)
        deadline = sent + 180
        while waiting and time.time() < deadline:
            for m in sorted(waiting):
                q = urllib.parse.urlencode({"path": path, "from": iso(sent - 600), "to": iso(sent + 600)})
                try:
                    if fs[m].get(f"/v1/logs?{q}", timeout=10)["items"]:
                        found[m].append(round(time.time() - sent, 2))
                        waiting.discard(m)
                except OSError:
                    pass
            time.sleep(0.1)
        for m in waiting:
            found[m].append(None)
    return {m: {"samples": v, "median": sorted(x for x in v if x is not None)[len(v) // 2]
                if all(x is not None for x in v) else None} for m, v in found.items()}


def countries(path):
    with open(path) as f:
        return {row["client_host"]: row["geolite2_2019_country_iso"] or None for row in csv.DictReader(f)}


def check(checks, name, ok, detail):
    checks.append({"check": name, "ok": bool(ok), "detail": detail})


def settle_and_check(mode, fs, firehose, served, window, outage, geo_csv, timeout=360):
    """Waits until firesight has the errors, the replays and every request, then compares."""
    stream = firehose.name
    frm, to = iso(window[0]), iso(window[1])
    rng = urllib.parse.urlencode({"from": frm, "to": to})
    events = sum(firehose.failures.events.values())
    failed = firehose.stats["delivery_failed"]
    deadline = time.time() + timeout
    state = {}
    while time.time() < deadline:
        try:
            incidents = [i for i in fs.get(f"/v1/delivery-errors/incidents?{rng}&interval=1m")["incidents"]
                         if i["stream"] == stream]
            replays = fs.get("/v1/delivery-errors/replays")["items"]
            total = fs.get(f"/v1/stats/summary?{rng}")
            state = {"incidents": incidents, "replays": replays, "summary": total}
            errors = sum(i["error_count"] for i in incidents)
            replayed = sum(i["replayed_records"] for i in incidents)
            requests = total.get("requests", total.get("total"))
            if errors >= events and replayed >= failed and requests >= len(served) \
                    and all(r["status"] != "running" for r in replays):
                break
        except OSError:
            pass
        time.sleep(2)

    checks = []
    docs = fs.export(rng)
    # Every request nginx served, exactly once: the same (second, client, method, path, status) multiset.
    want = collections.Counter((nginx_epoch(r["time"]), r["ip"], r["method"], r["path"], r["status"]) for r in served)
    got = collections.Counter((int(parse_iso(d["@timestamp"])), d["source"].get("ip"), d["http"]["request"]["method"],
                               d["url"]["path"], d["http"]["response"]["status_code"]) for d in docs)
    missing, extra = want - got, got - want
    check(checks, "every request served is a document, once", not missing and not extra and len(docs) == len(served),
          f"{len(served)} served, {len(docs)} documents, {sum(missing.values())} missing, {sum(extra.values())} extra"
          + (f"; e.g. missing {next(iter(missing))}" if missing else "") + (f"; e.g. extra {next(iter(extra))}" if extra else ""))

    # Counts by status, path and country from the query API equal those from nginx's log.
    geo = countries(geo_csv)
    for dimension, key in (("status", lambda r: str(r["status"])), ("path", lambda r: r["path"]),
                           ("country", lambda r: geo.get(r["ip"]))):
        expected = collections.Counter(key(r) for r in served)
        expected_missing = expected.pop(None, 0)
        if len(expected) > 1000:
            check(checks, f"counts by {dimension}", False, f"{len(expected)} values exceed one top-N page")
            continue
        top = fs.get(f"/v1/stats/top/{dimension}?{rng}&limit=1000")
        answered = {b["key"]: b["count"] for b in top["buckets"]}
        ok = answered == dict(expected) and top["missing"] == expected_missing and top["other"] == 0
        diff = {k: (expected.get(k), answered.get(k)) for k in set(expected) | set(answered)
                if expected.get(k) != answered.get(k)}
        check(checks, f"counts by {dimension}", ok,
              f"{len(expected)} values, {sum(expected.values())} requests, {expected_missing} without a value"
              + (f"; differences {dict(list(diff.items())[:3])}, missing {top['missing']}" if not ok else ""))

    # The outage is one delivery-error incident, its window holding every error event.
    incidents = state.get("incidents", [])
    times = sorted(t / 1000 for t in firehose.failures.event_times)
    if times:
        covering = [i for i in incidents if parse_iso(i["start"]) <= times[0]
                    and (i["ongoing"] or parse_iso(i["end"]) > times[-1])]
        inc = covering[0] if covering else None
        check(checks, "the outage is one incident covering every error", len(incidents) == 1 and inc is not None
              and inc["error_count"] == len(times),
              f"{len(incidents)} incident(s); errors {iso(times[0])}..{iso(times[-1])}"
              + (f"; incident {inc['start']}..{inc.get('end')} with {inc['error_count']} errors" if inc else ""))
        if inc:
            check(checks, "the incident lies within the outage (minute buckets)",
                  parse_iso(inc["start"]) >= outage["start"] - 60 and parse_iso(inc["end"]) <= outage["end"] + 120,
                  f"outage {iso(outage['start'])}..{iso(outage['end'])}")
            lo, hi = parse_iso(inc["start"]) * 1000, parse_iso(inc["end"]) * 1000
            in_window = [w for w in firehose.failures.written if lo <= w[2] < hi]
            recoverable_failed = sum(1 for w in in_window if w[0] in DESTINATION_TYPES)
            unparseable = len(in_window) - recoverable_failed
            check(checks, "the incident's records are all back",
                  inc["replayed_records"] == recoverable_failed == failed
                  and inc["recoverable_records"] == failed + unparseable,
                  f"recoverable {inc['recoverable_records']}, replayed {inc['replayed_records']}; the delivery stream "
                  f"gave up on {failed} records ({unparseable} unparseable ones in the window too)")
    else:
        check(checks, "the outage produced delivery errors", False, "the delivery stream logged no error")

    # What the replays read, by error code, against what the delivery stream wrote to S3.
    by_code = collections.defaultdict(lambda: collections.Counter())
    for r in state.get("replays", []):
        for c in r.get("codes", []):
            by_code[c["code"]].update({k: v for k, v in c.items() if isinstance(v, int)})
    written = collections.Counter(w[1] for w in firehose.failures.written)
    for code, n in written.items():
        got_code = by_code.get(code, collections.Counter())
        processing = code.startswith("Lambda.")
        ok = got_code["records"] == n and (got_code["dead_lettered"] == n if processing
                                            else got_code["indexed"] + got_code["already_present"] == n)
        check(checks, f"replayed {code}", ok, f"{n} records in S3; replays read {dict(got_code)}")

    return {
        "stream": stream, "destination": firehose.destination.describe(), "stats": firehose.stats,
        "s3_objects": firehose.failures.objects, "s3_records": dict(firehose.failures.records),
        "error_events": dict(firehose.failures.events), "documents": len(docs),
        "incidents": incidents, "checks": checks,
    }


def render(summary):
    out = [f"seed pipeline {summary['run']}: {summary.get('requests_served', 0)} requests served by nginx, "
           f"{summary.get('other_lines', 0)} other lines in its log, {summary.get('rotations', 0)} rotation(s)"]
    for stream, a in summary.get("agent", {}).items():
        out.append(f"  agent -> {stream} ({a['option']}): {a['sent']} records put, {a['skipped']} skipped, "
                   f"{a['retried']} retried")
    if "outage" in summary:
        o = summary["outage"]
        out.append(f"  outage {iso(o['start'])} .. {iso(o['end'])} ({o['end'] - o['start']:.0f} s)")
    for m, r in summary["modes"].items():
        s = r["stats"]
        out.append(f"mode ({m}) {r['stream']} -> {r['destination']}")
        out.append(f"  firehose: {s['read']} read, lambda {s['ok']} ok / {s['dropped']} dropped / "
                   f"{s['processing_failed']} failed in {s['invocations']} invocations; {s['delivered']} delivered "
                   f"in {s['deliveries']} buffers ({s['attempts']} attempts), {s['delivery_failed']} gave up")
        out.append(f"  backup: {r['s3_objects']} S3 objects {r['s3_records']}; CloudWatch {r['error_events']}")
        for i in r["incidents"]:
            out.append(f"  incident {i['start']} .. {i.get('end', 'now')}: {i['error_count']} errors, "
                       f"recoverable {i['recoverable_records']}, replayed {i['replayed_records']}")
        lat = summary.get("latency_seconds", {}).get(m)
        if lat:
            out.append(f"  log line -> searchable: {lat['median']} s (samples {lat['samples']})")
        out.append(f"  firesight: {r['documents']} documents")
        for c in r["checks"]:
            out.append(f"  [{'ok' if c['ok'] else 'FAIL'}] {c['check']}: {c['detail']}")
    if "elapsed_seconds" in summary:
        out.append(f"whole run {summary['elapsed_seconds']} s")
    return "\n".join(out)
