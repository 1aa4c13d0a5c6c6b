"""A reverse proxy in front of a local OpenSearch that checks every request's AWS Signature Version 4
the way Amazon OpenSearch Service (`es`) or OpenSearch Serverless (`aoss`) does, and forwards only the
requests whose signature it accepts.

The signature is recomputed with botocore's SigV4 implementation (`botocore.auth.SigV4Auth`), from the
request as it arrived: the signed headers it names, the path, the query string (decoded and encoded
again, as AWS canonicalises it), the body's SHA-256 and the time in `X-Amz-Date`. Independent of the
signer under test.

Refusals answer as AWS does (403 with AWS's message; on Serverless an operation it does not support
answers 404 with an empty body), and every refusal is counted:

    GET  /__proxy/stats        counters, the operations refused as unsupported, the keys seen
    POST /__proxy/config       {"keys": {AKID: {"secret": s, "token": t|null, "expires": epoch|null}},
                                "skew_secs": n, "rotate_lifetime_secs": n}  (each field optional)
    GET  /__proxy/credentials  the ECS container-credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI):
                               a new session key on every call, valid for rotate_lifetime_secs
    POST /__proxy/sts          STS AssumeRole (AWS_ENDPOINT_URL_STS): the call's own SigV4 (service `sts`)
                               is checked the same way, and the session key it returns is accepted

Usage: python proxy.py --upstream http://127.0.0.1:9201 --service es|aoss [--region us-east-1]
       [--collection-type search|timeseries] [--keys-json '{"AKID": {"secret": "..."}}']
Prints "listening on PORT" once it accepts connections.
"""

import argparse
import datetime
import hashlib
import hmac
import http.client
import json
import re
import sys
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MAX_SKEW = 300  # seconds, as AWS allows
MAX_BODY = 110 * 1024 * 1024

# Operations OpenSearch Serverless supports ("Supported operations and plugins in Amazon OpenSearch
# Serverless", and its point-in-time page), as (method, path pattern). <index> is any name or pattern.
IDX = r"[^/_][^/]*"
SERVERLESS_OPERATIONS = [
    # aoss:CreateIndex
    ("PUT", rf"/{IDX}"),
    # aoss:DescribeIndex
    ("GET", rf"/{IDX}"), ("HEAD", rf"/{IDX}"),
    ("GET", rf"/{IDX}/_mappings?"), ("GET", rf"/{IDX}/_settings?(/[^/]+)?"), ("GET", rf"/{IDX}/_setting(/[^/]+)?"),
    ("GET", r"/_cat/indices(/[^/]+)?"), ("GET", r"/_mappings?"), ("GET", rf"/_resolve/index/{IDX}"),
    # aoss:WriteDocument (create and PUT _doc with an id: search collections only, checked below)
    ("DELETE", rf"/{IDX}/_doc/[^/]+"), ("POST", rf"/{IDX}/_bulk"), ("POST", r"/_bulk"),
    ("POST", rf"/{IDX}/_create/[^/]+"), ("PUT", rf"/{IDX}/_create/[^/]+"), ("POST", rf"/{IDX}/_doc"),
    ("PUT", rf"/{IDX}/_doc/[^/]+"), ("POST", rf"/{IDX}/_update/[^/]+"),
    # aoss:ReadDocument
    ("GET", rf"/{IDX}/_doc/[^/]+"), ("HEAD", rf"/{IDX}/_doc/[^/]+"), ("GET", rf"/{IDX}/_source/[^/]+"),
    ("HEAD", rf"/{IDX}/_source/[^/]+"), ("GET", rf"/{IDX}/_mget"), ("GET", r"/_mget"),
    ("GET", rf"/{IDX}/_search"), ("POST", rf"/{IDX}/_search"), ("GET", r"/_search"), ("POST", r"/_search"),
    ("GET", rf"/{IDX}/_count"), ("POST", rf"/{IDX}/_count"), ("GET", rf"/{IDX}/_msearch"),
    ("GET", rf"/{IDX}/_field_caps"), ("POST", rf"/{IDX}/_field_caps"), ("GET", r"/_field_caps"), ("POST", r"/_field_caps"),
    ("GET", rf"/{IDX}/_explain/[^/]+"), ("POST", rf"/{IDX}/_explain/[^/]+"), ("GET", rf"/{IDX}/_validate/query"),
    ("GET", rf"/{IDX}/_analyze"), ("POST", rf"/{IDX}/_analyze"), ("GET", r"/_analyze"), ("POST", r"/_analyze"),
    ("GET", rf"/{IDX}/_rank_eval"), ("POST", rf"/{IDX}/_rank_eval"),
    ("POST", rf"/{IDX}/_search/point_in_time"), ("GET", r"/_search/point_in_time/_all"),
    ("DELETE", r"/_search/point_in_time/_all"), ("DELETE", r"/_search/point_in_time"),
    ("POST", r"/_plugins/_(sql|ppl)(/_explain|/close|/_close)?"),
    # aoss:DeleteIndex
    ("DELETE", rf"/{IDX}"),
    # aoss:UpdateIndex
    ("PUT", rf"/{IDX}/_mappings?"), ("POST", rf"/{IDX}/_mappings?"), ("PUT", r"/_mapping"), ("POST", r"/_mapping"),
    ("PUT", rf"/{IDX}/_settings"), ("POST", rf"/{IDX}/_settings"), ("PUT", r"/_settings"), ("POST", r"/_settings"),
    # aoss:CreateCollectionItems / DescribeCollectionItems / UpdateCollectionItems / DeleteCollectionItems
    ("POST", r"/_aliases"),
    ("GET", rf"/{IDX}/_alias/[^/]+"), ("GET", r"/_alias(/[^/]+)?"), ("GET", r"/_cat/aliases"), ("GET", r"/_cat/templates(/[^/]+)?"),
    ("GET", r"/_index_template(/[^/]+)?"), ("HEAD", r"/_index_template/[^/]+"),
    ("GET", r"/_component_template(/[^/]+)?"), ("HEAD", r"/_component_template/[^/]+"),
    ("PUT", r"/_index_template/[^/]+"), ("POST", r"/_index_template/[^/]+"),
    ("PUT", r"/_component_template/[^/]+"), ("POST", r"/_component_template/[^/]+"),
    ("PUT", rf"/{IDX}/_alias(es)?/[^/]+"), ("POST", rf"/{IDX}/_alias(es)?/[^/]+"),
    ("DELETE", rf"/{IDX}/_alias(es)?/[^/]+"), ("DELETE", r"/_index_template/[^/]+"), ("DELETE", r"/_component_template/[^/]+"),
]
SERVERLESS = [(m, re.compile(p + r"$")) for m, p in SERVERLESS_OPERATIONS]
SEARCH_COLLECTION_ONLY = re.compile(rf"/{IDX}/(_create/[^/]+|_doc/[^/]+|_update/[^/]+)$")


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.service = args.service
        self.region = args.region
        self.collection_type = args.collection_type
        self.keys = json.loads(args.keys_json) if args.keys_json else {}
        self.skew = 0
        self.rotate_lifetime = 900
        self.issued = 0
        self.counts = {"accepted": 0, "refused_signature": 0, "refused_expired_key": 0, "refused_unknown_key": 0,
                       "refused_clock": 0, "refused_unsupported": 0, "refused_custom_id": 0, "credentials_issued": 0}
        self.unsupported = []
        self.accepted_by_key = {}

    def now(self):
        return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=self.skew)

    def issue(self, key_prefix, name, lifetime):
        """A new session key (access key id, secret, token, expiry), accepted until it expires."""
        with self.lock:
            self.issued += 1
            self.counts["credentials_issued"] += 1
            akid = f"{key_prefix}{self.issued:08d}"
            secret = hashlib.sha256(f"{name}-secret-{self.issued}".encode()).hexdigest()[:40]
            token = f"{name}-token-{self.issued}-{uuid.uuid4().hex}"
            expires = self.now() + datetime.timedelta(seconds=lifetime)
            self.keys[akid] = {"secret": secret, "token": token, "expires": expires.timestamp()}
        return akid, secret, token, expires

    def count(self, name, detail=None):
        with self.lock:
            self.counts[name] += 1
            if detail and name in ("refused_unsupported", "refused_custom_id") and len(self.unsupported) < 200:
                self.unsupported.append(detail)


class Refusal(Exception):
    def __init__(self, status, body, counter, detail=None):
        super().__init__(counter)
        self.status, self.body, self.counter, self.detail = status, body, counter, detail


def aws_time(t):
    return t.strftime("%Y%m%dT%H%M%SZ")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sigv4-verifying-proxy"

    def log_message(self, *args):
        pass

    def date_time_string(self, timestamp=None):
        # The `Date` header carries this proxy's (possibly skewed) clock, as AWS's carries its own.
        return self.server.state.now().strftime("%a, %d %b %Y %H:%M:%S GMT")

    def do_GET(self):
        self.handle_any()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

    def handle_any(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self.answer(413, b"", "text/plain")
        body = self.rfile.read(length) if length else b""
        split = urllib.parse.urlsplit(self.path)
        if split.path.rstrip("/") == "/__proxy/sts":
            return self.assume_role(split, body)
        if split.path.startswith("/__proxy/"):
            return self.control(split.path, body)
        try:
            key = self.verify(split, body)
            if state.service == "aoss":
                self.check_serverless(split, body)
        except Refusal as refusal:
            state.count(refusal.counter, refusal.detail)
            return self.answer(refusal.status, refusal.body, "application/json" if refusal.body else None)
        with state.lock:
            state.counts["accepted"] += 1
            state.accepted_by_key[key] = state.accepted_by_key.get(key, 0) + 1
        self.forward(body)

    # -- SigV4 ---------------------------------------------------------------------------------

    def forbidden(self, message, counter):
        state = self.server.state
        if state.service == "aoss":
            body = {"status": 403, "request-id": str(uuid.uuid4()), "error": {"reason": "403 Forbidden", "type": "Forbidden"}}
            # Serverless does not say why; the message is kept for the proxy's own log only.
            return Refusal(403, json.dumps(body).encode(), counter, message)
        return Refusal(403, json.dumps({"message": message}).encode(), counter, message)

    def verify(self, split, body, expected_service=None):
        state = self.server.state
        expected_service = expected_service or state.service
        auth = self.headers.get("Authorization", "")
        m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, ?"
                         r"SignedHeaders=([a-z0-9;\-]+), ?Signature=([0-9a-f]{64})", auth)
        if not m:
            raise self.forbidden("Missing Authentication Token", "refused_signature")
        akid, scope_date, region, service, signed, signature = m.groups()
        with state.lock:
            key = state.keys.get(akid)
        if key is None:
            raise self.forbidden("The security token included in the request is invalid.", "refused_unknown_key")
        now = state.now()
        if key.get("expires") is not None and now.timestamp() > key["expires"]:
            raise self.forbidden("The security token included in the request is expired", "refused_expired_key")
        amz_date = self.headers.get("X-Amz-Date", "")
        try:
            signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            raise self.forbidden("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.", "refused_signature")
        if (now - signed_at).total_seconds() > MAX_SKEW:
            limit = now - datetime.timedelta(seconds=MAX_SKEW)
            raise self.forbidden(f"Signature expired: {amz_date} is now earlier than {aws_time(limit)} ({aws_time(now)} - 5 min.)", "refused_clock")
        if (signed_at - now).total_seconds() > MAX_SKEW:
            limit = now + datetime.timedelta(seconds=MAX_SKEW)
            raise self.forbidden(f"Signature not yet current: {amz_date} is still later than {aws_time(limit)} ({aws_time(now)} + 5 min.)", "refused_clock")
        if scope_date != amz_date[:8] or region != state.region or service != expected_service:
            raise self.forbidden(f"Credential should be scoped to a valid region and service ({state.region}/{expected_service}).", "refused_signature")
        names = signed.split(";")
        if "host" not in names:
            raise self.forbidden("'Host' must be a signed header.", "refused_signature")
        if key.get("token") is not None:
            if self.headers.get("X-Amz-Security-Token") != key["token"] or "x-amz-security-token" not in names:
                raise self.forbidden("The security token included in the request is invalid.", "refused_unknown_key")
        declared = self.headers.get("X-Amz-Content-SHA256")
        if declared is not None and declared != hashlib.sha256(body).hexdigest():
            raise self.forbidden("The provided 'x-amz-content-sha256' header does not match what was computed.", "refused_signature")
        if expected_service == "aoss" and declared is None:
            raise self.forbidden("x-amz-content-sha256 is required by OpenSearch Serverless.", "refused_signature")

        headers = {}
        for name in names:
            values = self.headers.get_all(name)
            if values is None:
                raise self.forbidden(f"Signed header {name} is missing.", "refused_signature")
            headers[name] = ",".join(values)
        request = AWSRequest(method=self.command, url=f"http://{headers['host']}{split.path}",
                             headers=headers, data=body,
                             params=urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(akid, key["secret"], key.get("token")), service, region)
        if signer.signed_headers(signer.headers_to_sign(request)) != signed:
            raise self.forbidden("The request signature we calculated does not match the signature you provided (signed headers).", "refused_signature")
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected, signature):
            raise self.forbidden(
                "The request signature we calculated does not match the signature you provided. Check your AWS "
                "Secret Access Key and signing method. Consult the service documentation for details.", "refused_signature")
        return akid

    # -- STS ---------------------------------------------------------------------------------------------

    def assume_role(self, split, body):
        state = self.server.state
        try:
            caller = self.verify(split, body, expected_service="sts")
        except Refusal as refusal:
            state.count(refusal.counter, "sts: " + str(refusal.detail))
            return self.answer(403, b"<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>", "text/xml")
        form = dict(urllib.parse.parse_qsl(body.decode()))
        if form.get("Action") != "AssumeRole" or not form.get("RoleArn", "").startswith("arn:aws:iam::"):
            return self.answer(400, b"<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>", "text/xml")
        akid, secret, token, expires = state.issue("ASIAASSUMED", "assumed", 3600)
        with state.lock:
            state.assumed = getattr(state, "assumed", []) + [{"role": form["RoleArn"], "session": form.get("RoleSessionName"), "caller": caller}]
        role = form["RoleArn"].split(":role/")[-1]
        account = form["RoleArn"].split(":")[4]
        xml = f"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>{akid}</AccessKeyId>
      <SecretAccessKey>{secret}</SecretAccessKey>
      <SessionToken>{token}</SessionToken>
      <Expiration>{expires.strftime("%Y-%m-%dT%H:%M:%SZ")}</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <AssumedRoleId>AROAFIRESIGHTTEST:{form.get("RoleSessionName", "")}</AssumedRoleId>
      <Arn>arn:aws:sts::{account}:assumed-role/{role}/{form.get("RoleSessionName", "")}</Arn>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>
</AssumeRoleResponse>"""
        return self.answer(200, xml.encode(), "text/xml")

    # -- Serverless --------------------------------------------------------------------------------

    def check_serverless(self, split, body):
        state = self.server.state
        path = urllib.parse.unquote(split.path).rstrip("/") or "/"
        operation = f"{self.command} {path}"
        if not any(m == self.command and p.match(path) for m, p in SERVERLESS):
            raise Refusal(404, b"", "refused_unsupported", operation)
        query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        if "refresh" in query and query["refresh"] not in ("false",):
            raise Refusal(400, json.dumps({"status": 400, "error": {"type": "status_exception",
                          "reason": f"{query['refresh']} refresh policy is not supported."}}).encode(), "refused_unsupported", operation + "?refresh")
        if state.collection_type != "timeseries":
            return
        if SEARCH_COLLECTION_ONLY.match(path) and self.command in ("PUT", "POST"):
            raise Refusal(400, json.dumps({"status": 400, "error": {"type": "illegal_argument_exception",
                          "reason": "Document ID is not supported in create/index operation request"}}).encode(),
                          "refused_custom_id", operation)
        if path.endswith("/_bulk"):
            for line in body.split(b"\n")[::2]:
                if not line.strip():
                    continue
                action = json.loads(line)
                meta = next(iter(action.values()), {})
                if "_id" in meta and next(iter(action)) in ("create", "index"):
                    raise Refusal(400, json.dumps({"status": 400, "error": {"type": "illegal_argument_exception",
                                  "reason": "Document ID is not supported in create/index operation request"}}).encode(),
                                  "refused_custom_id", operation + " with _id")

    # -- forwarding and control --------------------------------------------------------------------

    def forward(self, body):
        upstream = self.server.upstream
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("authorization", "host", "connection", "x-amz-date", "x-amz-security-token",
                                        "x-amz-content-sha256", "content-length", "transfer-encoding")}
        headers["Content-Length"] = str(len(body))
        try:
            connection.request(self.command, self.path, body=body if body or self.command != "GET" else None, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except OSError as e:
            return self.answer(502, json.dumps({"message": f"upstream: {e}"}).encode(), "application/json")
        finally:
            connection.close()
        self.answer(response.status, data, response.getheader("Content-Type"), head=self.command == "HEAD",
                    length=response.getheader("Content-Length"))

    def answer(self, status, data, content_type, head=False, length=None):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", length if head and length else str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def control(self, path, body):
        state = self.server.state
        if path == "/__proxy/stats":
            with state.lock:
                stats = dict(state.counts, unsupported=list(state.unsupported), accepted_by_key=dict(state.accepted_by_key),
                             assumed=list(getattr(state, "assumed", [])))
            return self.answer(200, json.dumps(stats).encode(), "application/json")
        if path == "/__proxy/config" and self.command == "POST":
            change = json.loads(body or b"{}")
            with state.lock:
                state.keys.update(change.get("keys", {}))
                state.skew = change.get("skew_secs", state.skew)
                state.rotate_lifetime = change.get("rotate_lifetime_secs", state.rotate_lifetime)
            return self.answer(204, b"", None)
        if path == "/__proxy/credentials":
            akid, secret, token, expires = state.issue("ASIAROTATING", "rotating", state.rotate_lifetime)
            answer = {"AccessKeyId": akid, "SecretAccessKey": secret, "Token": token,
                      "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
            return self.answer(200, json.dumps(answer).encode(), "application/json")
        return self.answer(404, b"", None)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--service", choices=["es", "aoss"], required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--collection-type", choices=["search", "timeseries"], default="search")
    parser.add_argument("--keys-json", default="")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    server.upstream = urllib.parse.urlsplit(args.upstream)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
