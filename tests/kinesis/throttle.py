"""A throttling Kinesis endpoint: forwards every request to a real Kinesis API (the emulator) and answers
a share of GetRecords calls the way Kinesis does when a shard's read limits are spent (HTTP 400,
`ProvisionedThroughputExceededException`, awsJson1.1 error body), as the Kinesis API Reference describes
for GetRecords.

Usage: throttle.py UPSTREAM_URL EVERY   (every EVERY-th GetRecords call is refused)
Prints "PORT <n>" once listening on 127.0.0.1.
"""

import http.client
import http.server
import sys
import threading
import urllib.parse

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
EVERY = int(sys.argv[2])
lock = threading.Lock()
calls = {"GetRecords": 0, "refused": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/__throttle":
            body = ("%d %d" % (calls["GetRecords"], calls["refused"])).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.forward(b"")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        target = self.headers.get("X-Amz-Target", "")
        if target.endswith(".GetRecords"):
            with lock:
                calls["GetRecords"] += 1
                refuse = calls["GetRecords"] % EVERY == 0
                if refuse:
                    calls["refused"] += 1
            if refuse:
                error = (
                    b'{"__type":"ProvisionedThroughputExceededException",'
                    b'"message":"Rate exceeded for shard in stream under account 123456789012."}'
                )
                self.send_response(400)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("x-amzn-ErrorType", "ProvisionedThroughputExceededException")
                self.send_header("Content-Length", str(len(error)))
                self.end_headers()
                self.wfile.write(error)
                return
        self.forward(body)

    def forward(self, body):
        upstream = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        upstream.request(self.command, self.path, body=body, headers=headers)
        reply = upstream.getresponse()
        data = reply.read()
        self.send_response(reply.status)
        for k, v in reply.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("PORT %d" % server.server_address[1], flush=True)
server.serve_forever()
