"""Soak driver for dev/soak.sh: preload, measure the mix's maximum rate, then hold 80% of it.

Standard library only. Four kinds of request, each checked for the expected answer:
- firehose: a Firehose delivery of fresh lines (unique request id, timestamps rewritten to now); a
  success is a 200 echoing the request id (dev/load/firehose.py);
- cached: the same few dashboard aggregates (`from=now-24h&to=now`), answered from the aggregate cache
  except once per key every `query.cache_ttl_live_secs` (10 s by default);
- uncached: aggregates and log searches with a random absolute `from` (to the second) and random
  filters, so every request is a new cache key; `to=now` keeps them on the short live TTL, so the cache
  holds at most ~10 s of them and does not grow for the closed-range TTL (600 s);
- export: a CSV export of a random one-hour window of the preloaded data; the header, the column
  count of every row and every row's timestamp are checked.

Phases: preload (Firehose deliveries of the fixture, timestamps spread over the last 24 hours);
measure (closed loop, `--workers` threads choosing kinds by `--mix` weights, for `--measure` seconds:
the completed rate per kind is the maximum of the mix); soak (open loop: each kind scheduled at
`--ratio` of its measured rate, latency counted from the scheduled time, so a server falling behind
shows as latency, not as a lower rate). The server's /proc/<pid>/status is sampled every second in
every phase and written to `--rss-csv`; the growth verdict uses the soak's samples after `--warmup`.
"""

import argparse
import bisect
import collections
import csv
import heapq
import io
import itertools
import json
import math
import os
import queue
import random
import resource
import re
import statistics
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import firehose  # noqa: E402

import http.client  # noqa: E402

KINDS = ("firehose", "cached", "uncached", "export")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CLF_TIME = re.compile(r"\[(\d{2})/(\w{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\]")
CSV_COLUMNS = ["id", "timestamp", "client_ip", "country", "city", "method", "path", "query", "http_version",
               "status", "bytes", "referrer", "user_agent", "browser", "os", "device", "bot"]
MIB = 1024 * 1024


def clf(t):
    """A datetime as the common log format's time, without the locale."""
    t = t.astimezone(timezone.utc)
    return f"[{t.day:02d}/{MONTHS[t.month - 1]}/{t.year}:{t.hour:02d}:{t.minute:02d}:{t.second:02d} +0000]"


def rfc3339(t):
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Fixture:
    """The fixture's lines split around their time, so a line can be stamped with any time."""

    def __init__(self, path):
        self.parts, self.times = [], []
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.rstrip("\r\n")
                m = CLF_TIME.search(line)
                if not m:
                    continue
                d, mon, y, hh, mm, ss, _ = m.groups()
                t = datetime(int(y), MONTHS.index(mon) + 1, int(d), int(hh), int(mm), int(ss), tzinfo=timezone.utc)
                self.parts.append((line[: m.start()], line[m.end():]))
                self.times.append(t)
        if not self.parts:
            raise SystemExit(f"no access-log lines in {path}")
        self.lock = threading.Lock()
        self.next = 0

    def line(self, i, t):
        before, after = self.parts[i % len(self.parts)]
        return f"{before}{clf(t)}{after}".encode()

    def take(self, n, t):
        """The next n lines (cycling through the file), all stamped t."""
        with self.lock:
            start, self.next = self.next, self.next + n
        return [self.line(start + k, t) for k in range(n)]


# ---------------------------------------------------------------------------------------------------
# Requests


class Failure(Exception):
    pass


class Client:
    """One worker's keep-alive connections: the REST API and the Firehose endpoint."""

    def __init__(self, cfg):
        self.cfg = cfg
        u = urllib.parse.urlsplit(cfg.base)
        self.host, self.port = u.hostname, u.port or 80
        self.conn = None
        self.endpoint = firehose.Endpoint(cfg.base, cfg.firehose_key, timeout=cfg.timeout)
        self.rng = random.Random()

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.endpoint.close()

    def get(self, path, params):
        url = path + "?" + urllib.parse.urlencode(params, doseq=True)
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.cfg.timeout)
            self.conn.request("GET", url, headers={"Authorization": f"Bearer {self.cfg.api_key}"})
            r = self.conn.getresponse()
            body = r.read()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise Failure(f"GET {url}: {type(e).__name__}: {e}") from None
        if r.getheader("Connection", "").lower() == "close":
            self.close()
        if r.status != 200:
            raise Failure(f"GET {url}: {r.status} {body[:200]!r}")
        return r, body

    def get_json(self, path, params, required):
        _, body = self.get(path, params)
        try:
            doc = json.loads(body)
        except ValueError:
            raise Failure(f"GET {path}: not JSON: {body[:200]!r}") from None
        missing = [k for k in required if k not in doc]
        if missing:
            raise Failure(f"GET {path}: answer lacks {missing}: {body[:200]!r}")
        return doc

    # -- the four kinds ----------------------------------------------------------------------------

    def firehose(self):
        d = firehose.Delivery(self.cfg.fixture.take(self.cfg.records, datetime.now(timezone.utc)))
        status, error = self.endpoint.attempt(d)
        if status != 200 or error:
            raise Failure(f"delivery {d.request_id}: {status} {error}")
        self.cfg.delivered.add(len(d.records))

    def cached(self):
        path, params, required = self.cfg.next_cached()
        self.get_json(path, params, required)

    def uncached(self):
        rng, cfg = self.rng, self.cfg
        now = datetime.now(timezone.utc)
        start = now - timedelta(seconds=rng.randint(600, 86_400))
        params = {"from": rfc3339(start), "to": "now"}
        # Random filters multiply the keys; each is one the fixture has.
        if rng.random() < 0.5:
            params["status"] = rng.choice(["200", "304", "404", "2xx", "4xx"])
        if rng.random() < 0.3:
            params["method"] = "GET"
        if rng.random() < 0.3:
            params["path_prefix"] = rng.choice(["/presentations", "/images", "/blog", "/projects"])
        choice = rng.randrange(5)
        if choice == 0:
            self.get_json("/v1/stats/summary", params, ["from", "to"])
        elif choice == 1:
            dim = rng.choice(["path", "status", "browser", "os", "client_ip", "referrer_host"])
            params["limit"] = rng.choice([5, 10, 20])
            self.get_json(f"/v1/stats/top/{dim}", params, ["dimension", "total", "buckets"])
        elif choice == 2:
            params["interval"] = rng.choice(["auto", "1h", "30m"])
            self.get_json("/v1/stats/timeline", params, ["interval_secs", "buckets"])
        elif choice == 3:
            params["size"] = rng.choice([20, 50, 100])
            self.get_json("/v1/logs", params, ["from", "to", "items"])
        else:
            self.get_json("/v1/stats/visit-times", params, [])

    def export(self):
        cfg = self.cfg
        lo, hi = cfg.preload_range
        span = max(0, int((hi - lo).total_seconds()) - cfg.export_window)
        start = lo + timedelta(seconds=self.rng.randint(0, span))
        end = start + timedelta(seconds=cfg.export_window)
        params = {"from": rfc3339(start), "to": rfc3339(end), "format": "csv"}
        r, body = self.get("/v1/logs/export", params)
        ctype = r.getheader("Content-Type", "")
        if not ctype.startswith("text/csv"):
            raise Failure(f"export: content type {ctype!r}")
        if body and not body.endswith(b"\r\n"):
            raise Failure(f"export: body ends without a line end ({len(body)} bytes): truncated")
        rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
        if not rows or rows[0] != CSV_COLUMNS:
            raise Failure(f"export: header {rows[:1]!r}")
        lo_s, hi_s = params["from"], params["to"]
        for row in rows[1:]:
            if len(row) != len(CSV_COLUMNS):
                raise Failure(f"export: row with {len(row)} fields: {row[:3]!r}")
            ts = row[1][:19]
            if not (lo_s[:19] <= ts <= hi_s[:19]):
                raise Failure(f"export: row at {row[1]} outside {lo_s}..{hi_s}")
        cfg.exported.add(len(rows) - 1)


class Counter:
    def __init__(self):
        self.lock, self.value = threading.Lock(), 0

    def add(self, n):
        with self.lock:
            self.value += n


# ---------------------------------------------------------------------------------------------------
# Results


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency = collections.defaultdict(list)  # kind -> seconds (from the scheduled time)
        self.service = collections.defaultdict(list)  # kind -> seconds (from sending)
        self.errors = collections.Counter()
        self.messages = collections.defaultdict(list)
        self.late = collections.Counter()  # started more than 1 s after their scheduled time

    def ok(self, kind, latency, service):
        with self.lock:
            self.latency[kind].append(latency)
            self.service[kind].append(service)

    def error(self, kind, message):
        with self.lock:
            self.errors[kind] += 1
            if len(self.messages[kind]) < 5:
                self.messages[kind].append(message)

    def count(self, kind):
        return len(self.latency[kind]) + self.errors[kind]


def run_one(client, kind, results, scheduled=None):
    start = time.monotonic()
    try:
        getattr(client, kind)()
    except Failure as e:
        results.error(kind, str(e))
        return
    except Exception as e:  # a bug in the driver or an answer it cannot read: an error too
        results.error(kind, f"{type(e).__name__}: {e}")
        return
    end = time.monotonic()
    results.ok(kind, end - (scheduled if scheduled is not None else start), end - start)


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


# ---------------------------------------------------------------------------------------------------
# The server's memory, sampled every second


class Sampler(threading.Thread):
    FIELDS = ("VmRSS", "RssAnon", "RssFile", "VmHWM", "Threads")

    def __init__(self, pid, path):
        super().__init__(daemon=True)
        self.pid, self.path = pid, path
        self.phase = "start"
        self.rows = []
        self.stop = threading.Event()
        self.died = None
        self.t0 = time.monotonic()
        self.clock_ticks = os.sysconf("SC_CLK_TCK")

    def read(self):
        status = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in self.FIELDS:
                    status[key] = int(value.split()[0])
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / self.clock_ticks  # utime + stime
        fds = len(os.listdir(f"/proc/{self.pid}/fd"))
        with open("/proc/loadavg") as f:
            load1 = float(f.read().split()[0])
        return status, cpu, fds, load1, pressure("cpu"), pressure("io")

    def run(self):
        with open(self.path, "w", newline="") as out:
            w = csv.writer(out)
            w.writerow(["elapsed_s", "utc", "phase", "vm_rss_kib", "rss_anon_kib", "rss_file_kib", "vm_hwm_kib",
                        "threads", "fds", "cpu_s", "load1", "cpu_some_avg10", "io_some_avg10"])
            tick = self.t0
            while not self.stop.is_set():
                try:
                    status, cpu, fds, load1, psi_cpu, psi_io = self.read()
                except (OSError, ValueError, IndexError) as e:
                    self.died = f"{type(e).__name__}: {e}"
                    return
                now = time.monotonic()
                row = {"t": now - self.t0, "phase": self.phase, "rss": status.get("VmRSS", 0),
                       "anon": status.get("RssAnon", 0), "file": status.get("RssFile", 0),
                       "hwm": status.get("VmHWM", 0), "threads": status.get("Threads", 0), "fds": fds,
                       "cpu": cpu, "load1": load1, "psi_cpu": psi_cpu, "psi_io": psi_io}
                self.rows.append(row)
                w.writerow([f"{row['t']:.1f}", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), row["phase"],
                            row["rss"], row["anon"], row["file"], row["hwm"], row["threads"], fds, f"{cpu:.2f}",
                            load1, psi_cpu, psi_io])
                out.flush()
                tick += 1.0
                self.stop.wait(max(0.0, tick - time.monotonic()))


def pressure(resource_name):
    """`some avg10` of /proc/pressure/<resource>: % of the last 10 s some task waited for it."""
    try:
        with open(f"/proc/pressure/{resource_name}") as f:
            return float(f.readline().split()[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return ""


def driver_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def slope_per_minute(points):
    """Least-squares slope of (seconds, value) points, per minute."""
    if len(points) < 2:
        return float("nan")
    mx = statistics.fmean(p[0] for p in points)
    my = statistics.fmean(p[1] for p in points)
    sxx = sum((p[0] - mx) ** 2 for p in points)
    sxy = sum((p[0] - mx) * (p[1] - my) for p in points)
    return sxy / sxx * 60 if sxx else float("nan")


# ---------------------------------------------------------------------------------------------------
# Phases


class Config:
    def __init__(self, args):
        self.base = args.base.rstrip("/")
        self.api_key = args.api_key
        self.firehose_key = args.firehose_key
        self.timeout = args.timeout
        self.records = args.records
        self.export_window = args.export_window
        self.fixture = Fixture(args.fixture)
        self.delivered = Counter()
        self.exported = Counter()
        self.preload_range = None
        # The dashboard: the same aggregates over the last 24 hours, in turn.
        base = {"from": "now-24h", "to": "now"}
        self.cached_set = [
            ("/v1/stats/summary", base, ["from", "to"]),
            ("/v1/stats/top/path", {**base, "limit": 10}, ["dimension", "total", "buckets"]),
            ("/v1/stats/top/status", {**base, "limit": 10}, ["dimension", "total", "buckets"]),
            ("/v1/stats/top/browser", {**base, "limit": 10}, ["dimension", "total", "buckets"]),
            ("/v1/stats/top/client_ip", {**base, "limit": 10}, ["dimension", "total", "buckets"]),
            ("/v1/stats/timeline", {**base, "split": "status_class"}, ["interval_secs", "buckets"]),
        ]
        self.cached_next = 0
        self.cached_lock = threading.Lock()

    def next_cached(self):
        with self.cached_lock:
            i, self.cached_next = self.cached_next, self.cached_next + 1
        return self.cached_set[i % len(self.cached_set)]


def preload(cfg, docs, per_delivery):
    """`docs` fixture lines as Firehose deliveries, their times spread over the last 24 hours (the
    fixture's order and spacing kept), ending two minutes ago."""
    fx = cfg.fixture
    end = datetime.now(timezone.utc) - timedelta(minutes=2)
    start = end - timedelta(hours=24)
    t0, t1 = min(fx.times), max(fx.times)
    span = (t1 - t0).total_seconds() or 1.0
    n = len(fx.parts)
    endpoint = firehose.Endpoint(cfg.base, cfg.firehose_key, timeout=cfg.timeout)
    sent = 0
    began = time.monotonic()
    while sent < docs:
        batch = []
        for i in range(sent, min(docs, sent + per_delivery)):
            # Later passes over the file land a few seconds apart from the first.
            t = start + timedelta(seconds=(fx.times[i % n] - t0).total_seconds() / span * 86_400 + (i // n) * 7)
            batch.append(fx.line(i, min(t, end)))
        d = firehose.Delivery(batch)
        status, error = endpoint.attempt(d)
        if status != 200 or error:
            raise SystemExit(f"preload delivery failed: {status} {error}")
        sent += len(batch)
    endpoint.close()
    cfg.preload_range = (start, end)
    return sent, time.monotonic() - began


def measure(cfg, seconds, workers, weights, results):
    kinds = [k for k in KINDS if weights[k] > 0]
    cum = list(itertools.accumulate(weights[k] for k in kinds))
    deadline = time.monotonic() + seconds

    def worker():
        client = Client(cfg)
        rng = random.Random()
        while time.monotonic() < deadline:
            kind = kinds[bisect.bisect_right(cum, rng.random() * cum[-1])]
            run_one(client, kind, results)
        client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    return {k: results.count(k) / elapsed for k in kinds}, elapsed


def soak(cfg, seconds, rates, workers, results, sampler, progress):
    """Open loop: every kind at its own fixed rate, merged into one schedule that a pool of workers
    serves. A request waits in the queue when every worker is busy; its latency counts from the
    scheduled time."""
    jobs = queue.Queue()
    stop = object()
    backlog_max = [0]

    def worker():
        client = Client(cfg)
        while True:
            job = jobs.get()
            if job is stop:
                break
            kind, scheduled = job
            if time.monotonic() - scheduled > 1.0:
                with results.lock:
                    results.late[kind] += 1
            run_one(client, kind, results, scheduled)
        client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    began = time.monotonic()
    end = began + seconds
    heap = [(began + random.random() / r, k) for k, r in rates.items() if r > 0]
    heapq.heapify(heap)
    next_report, last = began + progress, {k: 0 for k in rates}
    while heap:
        if progress and time.monotonic() >= next_report:
            done = {k: len(results.latency[k]) + results.errors[k] for k in rates}
            rss = sampler.rows[-1] if sampler.rows else {"rss": 0, "psi_cpu": ""}
            print(f"  {next_report - began:5.0f} s: " + ", ".join(f"{k} {(done[k] - last[k]) / progress:.1f}/s"
                                                              for k in rates)
                  + f"; queued {jobs.qsize()}, late {sum(results.late.values())}, errors "
                  f"{sum(results.errors.values())}; RSS {rss['rss'] / 1024:.0f} MiB; load {os.getloadavg()[0]:.1f}",
                  flush=True)
            next_report, last = next_report + progress, done
        at, kind = heap[0]
        if at >= end:
            break
        now = time.monotonic()
        if at > now:
            time.sleep(at - now)
            continue
        heapq.heapreplace(heap, (at + 1.0 / rates[kind], kind))
        jobs.put((kind, at))
        backlog_max[0] = max(backlog_max[0], jobs.qsize())
    for _ in threads:
        jobs.put(stop)
    for t in threads:
        t.join(timeout=cfg.timeout + 10)
    return time.monotonic() - began, backlog_max[0]


def metrics(cfg):
    """Sum of each sample of /metrics by name (labels added up)."""
    conn = http.client.HTTPConnection(urllib.parse.urlsplit(cfg.base).hostname,
                                      urllib.parse.urlsplit(cfg.base).port, timeout=cfg.timeout)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    out = collections.Counter()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        try:
            out[name] += float(value)
        except ValueError:
            pass
    return out


# ---------------------------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True)
    p.add_argument("--api-key", required=True)
    p.add_argument("--firehose-key", required=True)
    p.add_argument("--pid", type=int, required=True, help="the server's process id (for /proc)")
    p.add_argument("--fixture", required=True)
    p.add_argument("--preload", type=int, default=100_000, help="documents delivered before measuring")
    p.add_argument("--records", type=int, default=5, help="records (lines) per soak delivery")
    p.add_argument("--export-window", type=int, default=600, help="seconds of preloaded data per export")
    p.add_argument("--measure", type=float, default=60)
    p.add_argument("--duration", type=float, default=600)
    p.add_argument("--warmup", type=float, default=120)
    p.add_argument("--ratio", type=float, default=0.8)
    p.add_argument("--workers", type=int, default=4, help="closed-loop threads while measuring")
    p.add_argument("--soak-workers", type=int, default=32, help="threads serving the open-loop schedule")
    p.add_argument("--mix", default="firehose=1,cached=6,uncached=2,export=1")
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--progress", type=float, default=60, help="seconds between progress lines (0: none)")
    p.add_argument("--max-slope", type=float, default=2.0, help="MiB per minute after warm-up")
    p.add_argument("--max-drift", type=float, default=10.0, help="%% of the post-warm-up median")
    p.add_argument("--rss-csv", required=True)
    p.add_argument("--summary-json")
    args = p.parse_args()

    weights = {k: 0.0 for k in KINDS}
    for part in args.mix.split(","):
        k, _, v = part.partition("=")
        if k not in weights:
            raise SystemExit(f"--mix: unknown kind {k!r} (kinds: {', '.join(KINDS)})")
        weights[k] = float(v)

    cfg = Config(args)
    sampler = Sampler(args.pid, args.rss_csv)
    sampler.start()
    load_before = os.getloadavg()

    sampler.phase = "preload"
    docs, took = preload(cfg, args.preload, 500)
    print(f"preload: {docs} documents in {took:.1f} s ({docs / took:.0f}/s), "
          f"{rfc3339(cfg.preload_range[0])} .. {rfc3339(cfg.preload_range[1])}", flush=True)

    # One of each, so a broken kind stops the run here rather than after the measurement.
    check = Results()
    probe = Client(cfg)
    for kind in KINDS:
        run_one(probe, kind, check)
    probe.close()
    if sum(check.errors.values()):
        for kind, msgs in check.messages.items():
            for m in msgs:
                print(f"probe {kind}: {m}", file=sys.stderr)
        raise SystemExit("a probe request failed")

    sampler.phase = "measure"
    measured = Results()
    cpu0 = driver_cpu()
    max_rates, took = measure(cfg, args.measure, args.workers, weights, measured)
    driver_measure = (driver_cpu() - cpu0) / took * 100
    print(f"measure: {args.workers} closed-loop workers for {took:.0f} s, mix {args.mix}; "
          f"this driver used {driver_measure:.0f}% of one core", flush=True)
    for k, r in max_rates.items():
        print(f"  {k:9s} {r:8.1f}/s max  -> {r * args.ratio:8.1f}/s at {args.ratio:.0%}"
              f"  (errors {measured.errors[k]})", flush=True)
    rates = {k: r * args.ratio for k, r in max_rates.items()}

    before = metrics(cfg)
    delivered_before = cfg.delivered.value
    sampler.phase = "soak"
    soak_start = sampler.rows[-1]["t"] if sampler.rows else 0.0
    results = Results()
    print(f"soak: {args.duration:.0f} s open loop, warm-up {args.warmup:.0f} s", flush=True)
    cpu0 = driver_cpu()
    took, backlog = soak(cfg, args.duration, rates, args.soak_workers, results, sampler, args.progress)
    driver_soak = (driver_cpu() - cpu0) / took * 100
    sampler.phase = "end"
    after = metrics(cfg)
    time.sleep(1.5)
    sampler.stop.set()
    sampler.join()
    load_after = os.getloadavg()

    # Every acknowledged line is accounted for (indexed or dead-lettered: the fixture has one truncated
    # line), and every indexed document is searchable: one uncached summary over everything.
    acknowledged = docs + cfg.delivered.value
    counted = None
    try:
        c = Client(cfg)
        frm = rfc3339(cfg.preload_range[0] - timedelta(minutes=1))
        counted = c.get_json("/v1/stats/summary", {"from": frm, "to": "now"}, ["requests"])["requests"]
        c.close()
    except Failure as e:
        print(f"final count failed: {e}", file=sys.stderr)
    final = metrics(cfg)
    indexed = final["firesight_ingest_indexed_documents_total"]
    dead = final["firesight_ingest_dead_letters_total"]

    # -- report ------------------------------------------------------------------------------------
    print()
    print(f"== soak: {took:.0f} s at {args.ratio:.0%} of the measured maximum; load average "
          f"{load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f} before, "
          f"{load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f} after")
    print(f"{'kind':9s} {'max/s':>7s} {'rate/s':>7s} {'sent':>7s} {'ok':>7s} {'errors':>6s} {'late':>6s}"
          f" {'p50 ms':>8s} {'p90 ms':>8s} {'p99 ms':>8s} {'p99.9 ms':>8s} {'max ms':>8s}"
          f" {'svc p50':>8s} {'svc p99':>8s}")
    summary = {"kinds": {}}
    for k in KINDS:
        if k not in rates:
            continue
        lat = sorted(results.latency[k])
        row = {"max_rate": max_rates[k], "rate": rates[k], "sent": results.count(k), "ok": len(lat),
               "errors": results.errors[k], "late": results.late[k],
               "p50_ms": percentile(lat, 50) * 1e3, "p90_ms": percentile(lat, 90) * 1e3,
               "p99_ms": percentile(lat, 99) * 1e3, "p999_ms": percentile(lat, 99.9) * 1e3,
               "max_ms": (lat[-1] if lat else float("nan")) * 1e3,
               "service_p50_ms": percentile(sorted(results.service[k]), 50) * 1e3,
               "service_p99_ms": percentile(sorted(results.service[k]), 99) * 1e3,
               "measure_errors": measured.errors[k]}
        summary["kinds"][k] = row
        print(f"{k:9s} {row['max_rate']:7.1f} {row['rate']:7.1f} {row['sent']:7d} {row['ok']:7d} {row['errors']:6d}"
              f" {row['late']:6d} {row['p50_ms']:8.1f} {row['p90_ms']:8.1f} {row['p99_ms']:8.1f}"
              f" {row['p999_ms']:8.1f} {row['max_ms']:8.1f} {row['service_p50_ms']:8.1f} {row['service_p99_ms']:8.1f}")
    print(f"(latency from the scheduled time, svc = from sending; 'late' = started over 1 s after it; queue backlog peak {backlog}; "
          f"this driver used {driver_soak:.0f}% of one core)")

    hits = after["firesight_query_cache_hits_total"] - before["firesight_query_cache_hits_total"]
    misses = after["firesight_query_cache_misses_total"] - before["firesight_query_cache_misses_total"]
    evictions = after["firesight_query_cache_evictions_total"] - before["firesight_query_cache_evictions_total"]
    print(f"query cache during the soak: {hits:.0f} hits, {misses:.0f} misses, {evictions:.0f} evictions "
          f"(totals since start: {after['firesight_query_cache_hits_total']:.0f} hits, "
          f"{after['firesight_query_cache_misses_total']:.0f} misses)")
    soak_delivered = cfg.delivered.value - delivered_before
    print(f"documents: {docs} preloaded + {cfg.delivered.value} delivered ({soak_delivered} in the soak); "
          f"{cfg.exported.value} rows exported in the soak and measure phases")
    count_ok = counted is not None and counted == indexed and indexed + dead == acknowledged
    print(f"final count: {acknowledged} lines acknowledged = {indexed:.0f} indexed + {dead:.0f} dead-lettered? "
          f"{'yes' if indexed + dead == acknowledged else 'NO'}; {counted} documents searchable "
          f"({'all' if counted == indexed else 'MISMATCH'})")

    # -- memory ------------------------------------------------------------------------------------
    rows = [r for r in sampler.rows if r["phase"] == "soak"]
    after_warm = [r for r in rows if r["t"] - soak_start >= args.warmup]
    verdict = {}
    if sampler.died:
        print(f"sampler stopped: the server is gone? {sampler.died}")
    if rows and after_warm:
        mib = lambda r, f="rss": r[f] / 1024  # noqa: E731
        med = statistics.median(mib(r) for r in after_warm)
        final = statistics.median(mib(r) for r in rows[-10:])
        slope = slope_per_minute([(r["t"], mib(r)) for r in after_warm])
        slope_anon = slope_per_minute([(r["t"], mib(r, "anon")) for r in after_warm])
        slope_file = slope_per_minute([(r["t"], mib(r, "file")) for r in after_warm])
        drift = (final - med) / med * 100
        all_rss = [mib(r) for r in rows]
        grew = not (slope < args.max_slope and abs(drift) <= args.max_drift)
        verdict = {
            "samples": len(rows), "samples_after_warmup": len(after_warm),
            "rss_start_mib": mib(rows[0]), "rss_after_warmup_mib": mib(after_warm[0]),
            "rss_end_mib": mib(rows[-1]), "rss_min_mib": min(all_rss), "rss_median_mib": statistics.median(all_rss),
            "rss_max_mib": max(all_rss), "rss_median_after_warmup_mib": med, "rss_final_mib": final,
            "slope_mib_per_min": slope, "slope_anon_mib_per_min": slope_anon, "slope_file_mib_per_min": slope_file,
            "drift_pct": drift, "vm_hwm_mib": sampler.rows[-1]["hwm"] / 1024,
            "anon_end_mib": mib(rows[-1], "anon"), "file_end_mib": mib(rows[-1], "file"),
            "threads_start": rows[0]["threads"], "threads_end": rows[-1]["threads"],
            "fds_start": rows[0]["fds"], "fds_end": rows[-1]["fds"], "fds_max": max(r["fds"] for r in rows),
            "server_cpu_pct": (rows[-1]["cpu"] - rows[0]["cpu"]) / max(1e-9, rows[-1]["t"] - rows[0]["t"]) * 100,
            "load1_mean": statistics.fmean(r["load1"] for r in rows),
            "cpu_pressure_mean": statistics.fmean(r["psi_cpu"] or 0 for r in rows),
            "growth": grew,
        }
        v = verdict
        print(f"RSS (soak, {v['samples']} samples): start {v['rss_start_mib']:.1f} MiB, after warm-up "
              f"{v['rss_after_warmup_mib']:.1f}, end {v['rss_end_mib']:.1f}; min {v['rss_min_mib']:.1f} / median "
              f"{v['rss_median_mib']:.1f} / max {v['rss_max_mib']:.1f}; VmHWM {v['vm_hwm_mib']:.1f} MiB")
        print(f"after warm-up ({v['samples_after_warmup']} samples): slope {slope:+.3f} MiB/min "
              f"(anonymous {slope_anon:+.3f}, file-backed {slope_file:+.3f}); median {med:.1f} MiB, final "
              f"(median of the last 10 s) {final:.1f} MiB, {drift:+.1f}% from the median")
        cuts = {}
        for cut in range(60, int(args.duration) - 119, 60):
            pts = [(r["t"], mib(r)) for r in rows if r["t"] - soak_start >= cut]
            cuts[cut] = slope_per_minute(pts)
        verdict["slope_by_warmup_s"] = cuts
        if cuts:
            print("slope (MiB/min) with the warm-up ending at: "
                  + ", ".join(f"{c} s {x:+.2f}" for c, x in cuts.items()))
        by_minute = collections.defaultdict(list)
        for r in rows:
            by_minute[int((r["t"] - soak_start) // 60)].append(r)
        verdict["rss_by_minute_mib"] = [statistics.median(mib(r) for r in by_minute[m]) for m in sorted(by_minute)]
        verdict["anon_by_minute_mib"] = [statistics.median(mib(r, "anon") for r in by_minute[m]) for m in sorted(by_minute)]
        print("RSS median by minute of the soak (MiB): " + " ".join(f"{x:.0f}" for x in verdict["rss_by_minute_mib"])
              + "; anonymous: " + " ".join(f"{x:.0f}" for x in verdict["anon_by_minute_mib"]))
        print(f"threads {v['threads_start']} -> {v['threads_end']}; open fds {v['fds_start']} -> {v['fds_end']} "
              f"(max {v['fds_max']}); server CPU {v['server_cpu_pct']:.0f}% of one core; load1 mean "
              f"{v['load1_mean']:.1f}, CPU pressure (some, avg10) mean {v['cpu_pressure_mean']:.0f}%")
        print(f"growth after warm-up: {'YES' if grew else 'no'} (criterion: slope < {args.max_slope} MiB/min and "
              f"final within {args.max_drift:.0f}% of the post-warm-up median)")
    else:
        print("not enough RSS samples after the warm-up for a verdict")
        verdict = {"growth": None}

    errors = sum(results.errors.values()) + sum(measured.errors.values())
    for kind in KINDS:
        for m in measured.messages[kind] + results.messages[kind]:
            print(f"error {kind}: {m}")
    exercised = hits > 0 and misses > 0
    if not exercised:
        print("the cache's hit and miss paths were not both exercised")
    print(f"errors: {errors}")

    summary.update({
        "utc_end": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "duration_s": took,
        "ratio": args.ratio, "mix": args.mix, "workers": args.workers, "preload_docs": docs,
        "delivered_docs": cfg.delivered.value, "records_per_delivery": args.records,
        "load_before": load_before, "load_after": load_after, "cache_hits": hits, "cache_misses": misses,
        "cache_evictions": evictions, "driver_cpu_pct_measure": driver_measure, "driver_cpu_pct_soak": driver_soak,
        "errors": errors, "final_count_ok": count_ok, "acknowledged": acknowledged, "indexed": indexed,
        "dead_lettered": dead, "searchable": counted, "backlog_peak": backlog,
        "memory": verdict,
    })
    if args.summary_json:
        with open(args.summary_json, "w") as f:
            json.dump(summary, f, indent=2)
    if errors or sampler.died or not count_ok:
        sys.exit(1)
    if verdict.get("growth") or not exercised:
        sys.exit(2)


if __name__ == "__main__":
    main()
