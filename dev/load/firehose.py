"""A Firehose HTTP-endpoint client for load and fault scripts, written from the AWS delivery spec
(protocol 1.0) with the Python standard library only, independent of firesight's own code.

What it does as Firehose does:
- one POST per delivery: a JSON body {"requestId", "timestamp", "records": [{"data": base64}]}, gzip
  when asked (Content-Encoding: gzip), with the X-Amz-Firehose-* headers;
- a delivery succeeds only on a 200 whose JSON echoes the request id; anything else (another status, a
  reset connection, a timeout) is a failed attempt, and the retry sends the same request id and the same
  records, so the receiver can tell a retry from new data.
"""

import base64
import gzip
import http.client
import json
import time
import urllib.parse
import uuid

PROTOCOL_VERSION = "1.0"
SOURCE_ARN = "arn:aws:firehose:us-east-1:123456789012:deliverystream/weblogs"


def delivery_body(request_id, records, timestamp_ms=None):
    """The JSON body Firehose sends for `records` (a list of bytes)."""
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    data = [{"data": base64.b64encode(r).decode("ascii")} for r in records]
    return json.dumps({"requestId": request_id, "timestamp": ts, "records": data}).encode()


def headers(request_id, access_key, gzipped):
    h = {
        "Content-Type": "application/json",
        "X-Amz-Firehose-Protocol-Version": PROTOCOL_VERSION,
        "X-Amz-Firehose-Request-Id": request_id,
        "X-Amz-Firehose-Source-Arn": SOURCE_ARN,
        "X-Amz-Firehose-Access-Key": access_key,
    }
    if gzipped:
        h["Content-Encoding"] = "gzip"
    return h


class Delivery:
    """One delivery: its request id and records stay the same across retries."""

    def __init__(self, records, request_id=None, gzipped=True):
        self.request_id = request_id or str(uuid.uuid4())
        self.records = records
        body = delivery_body(self.request_id, records)
        self.body = gzip.compress(body, compresslevel=1) if gzipped else body
        self.gzipped = gzipped
        self.attempts = 0


class Endpoint:
    """A keep-alive connection to one firesight Firehose endpoint (`base` like http://127.0.0.1:8080)."""

    def __init__(self, base, access_key, timeout=180):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port or 80
        self.path = (url.path.rstrip("/") or "") + "/v1/firehose"
        self.access_key = access_key
        self.timeout = timeout
        self.conn = None

    def _connection(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self.conn

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def attempt(self, delivery):
        """Sends once. Returns (status, error message); status None when no answer came."""
        delivery.attempts += 1
        try:
            conn = self._connection()
            conn.request("POST", self.path, body=delivery.body,
                         headers=headers(delivery.request_id, self.access_key, delivery.gzipped))
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            return None, f"{type(e).__name__}: {e}"
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            answer = json.loads(raw)
        except ValueError:
            return response.status, f"not JSON: {raw[:200]!r}"
        if response.status == 200 and answer.get("requestId") != delivery.request_id:
            return None, f"200 for another request id: {answer.get('requestId')!r}"
        return response.status, answer.get("errorMessage")
