"""The web server of the pipeline: Debian's nginx serving a small site on loopback, its access log in the
combined format plus `$request_time`, the client address taken from `X-Forwarded-For`
(ngx_http_realip_module) as behind a load balancer; and a client that replays the real sample log's
requests (method, path, user agent, referrer, client address) against it.
"""

import collections
import http.client
import os
import re
import signal
import subprocess
import time

LOG_FORMAT = ('\'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
              '"$http_referer" "$http_user_agent" $request_time\'')

# The sample log's lines (Apache combined), read here independently of firesight's parser.
SAMPLE = re.compile(r'^(\S+) \S+ \S+ \[[^\]]+\] "(\S+) (\S+)(?: [^"]*)?" \d{3} \S+ "([^"]*)" "([^"]*)"')
# What nginx wrote: the same shape plus the request time.
SERVED = re.compile(r'^(\S+) - (\S+) \[([^\]]+)\] "(\S+) (\S+) [^"]*" (\d{3}) (\d+) "([^"]*)" "([^"]*)" ([\d.]+)$')


class Nginx:
    def __init__(self, work, port):
        self.work, self.port = work, port
        self.root = os.path.join(work, "site")
        self.log = os.path.join(work, "logs", "access.log")
        self.conf = os.path.join(work, "nginx.conf")
        self.process = None

    def write_site(self, requests, pages=60):
        """The most requested paths of the sample become files; the rest answer 404."""
        os.makedirs(self.root, exist_ok=True)
        counts = collections.Counter(r["path"].split("?")[0] for r in requests)
        for path, _ in counts.most_common(pages):
            if ".." in path or not path.startswith("/"):
                continue
            target = os.path.join(self.root, path.lstrip("/"))
            if path.endswith("/"):
                target = os.path.join(target, "index.html")
            try:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "w") as f:
                    f.write(f"<!doctype html><title>{path}</title><p>{path}</p>\n" * 8)
            except OSError:
                pass  # a path that is also a directory of another (nginx redirects it)
        for d, _, _ in os.walk(self.work):
            os.chmod(d, 0o755)

    def start(self):
        os.makedirs(os.path.join(self.work, "logs"), exist_ok=True)
        os.makedirs(os.path.join(self.work, "tmp"), exist_ok=True)
        user = "user root root;\n" if os.geteuid() == 0 else ""
        with open(self.conf, "w") as f:
            f.write(f"""{user}daemon off;
worker_processes 1;
pid {self.work}/nginx.pid;
error_log {self.work}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format timed {LOG_FORMAT};
    access_log {self.log} timed;
    client_body_temp_path {self.work}/tmp/body;
    proxy_temp_path {self.work}/tmp/proxy;
    fastcgi_temp_path {self.work}/tmp/fastcgi;
    uwsgi_temp_path {self.work}/tmp/uwsgi;
    scgi_temp_path {self.work}/tmp/scgi;
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    server {{
        listen 127.0.0.1:{self.port};
        root {self.root};
        index index.html;
        keepalive_requests 100000;
    }}
}}
""")
        self.process = subprocess.Popen(["nginx", "-c", self.conf, "-p", self.work], stdout=subprocess.DEVNULL,
                                        stderr=open(os.path.join(self.work, "logs", "nginx.stderr"), "w"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/__ready__")
                c.getresponse().read()
                c.close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"nginx exited ({self.process.returncode}); see {self.work}/logs")
                time.sleep(0.1)
        raise RuntimeError("nginx did not answer")

    def rotate(self):
        """As logrotate does: rename the log, then tell nginx to reopen it (USR1)."""
        os.rename(self.log, self.log + ".1")
        self.process.send_signal(signal.SIGUSR1)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def served(self):
        """Every request nginx logged (both files), parsed here; and the lines that are not requests."""
        rows, other = [], []
        for name in (self.log + ".1", self.log):
            if not os.path.exists(name):
                continue
            with open(name, encoding="utf-8", errors="replace") as f:
                for line in f:
                    m = SERVED.match(line.rstrip("\n"))
                    if not m:
                        other.append(line)
                        continue
                    rows.append({"ip": m.group(1), "time": m.group(3), "method": m.group(4), "target": m.group(5),
                                 "path": m.group(5).split("?")[0], "status": int(m.group(6)),
                                 "bytes": int(m.group(7)), "agent": m.group(9), "request_time": float(m.group(10))})
        return rows, other


def sample_requests(path, limit):
    """The first `limit` requests of the sample log that can be sent again as they were."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = SAMPLE.match(line)
            if not m:
                continue
            ip, method, target, referrer, agent = m.groups()
            if not target.startswith("/") or any(c in target for c in ' \t"\\') or not target.isascii():
                continue
            if method not in ("GET", "HEAD", "POST", "OPTIONS"):
                continue
            out.append({"ip": ip, "method": method, "path": target, "referrer": referrer, "agent": agent})
            if len(out) >= limit:
                break
    return out


class Client:
    """Sends requests over one keep-alive connection, at a steady rate."""

    def __init__(self, port):
        self.port = port
        self.conn = None
        self.sent = 0

    def send(self, requests, rate):
        interval = 1.0 / rate if rate else 0
        start = time.monotonic()
        for i, r in enumerate(requests):
            headers = {"X-Forwarded-For": r["ip"], "User-Agent": r["agent"]}
            if r["referrer"] != "-":
                headers["Referer"] = r["referrer"]
            body = b"" if r["method"] == "POST" else None
            for attempt in range(3):
                try:
                    if self.conn is None:
                        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                    self.conn.request(r["method"], r["path"], body=body, headers=headers)
                    self.conn.getresponse().read()
                    break
                except (OSError, http.client.HTTPException):
                    # A request nginx never logged is sent again; one it logged has its answer read.
                    self.conn = None
                    if attempt == 2:
                        raise
            self.sent += 1
            if interval:
                delay = start + (i + 1) * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
