"""What the OpenAPI document cannot say, told to schemathesis as hooks.

Every single value's form is in the schema (patterns, bounds, enums) and the server checks exactly
that. Three rules relate one parameter to another, which no JSON Schema can express; the descriptions
state them, and the server answers 400 when they are broken:
- `from` must be before `to`, and the range may span at most FIRESIGHT_QUERY__MAX_RANGE_DAYS;
- a timeline `interval` may give at most 2,000 buckets over the range;
- a `cursor` is the `next_cursor` of a previous page of the same list (an opaque token);
- a duration `rank_by` (`duration_p95`, `duration_total`) applies to `top/path` only and not with
  `compare`; a timeline's `metric=duration` takes neither `split` nor `compare`;
- a Firehose delivery's body `requestId` is its `X-Amz-Firehose-Request-Id` header, its
  `X-Amz-Firehose-Common-Attributes` header is JSON, and a gzip `Content-Encoding` means a gzip body.
Cases generated as valid are adjusted to keep those rules (a broken range gets `from` one hour before
`to`, a too-fine interval becomes `auto`, a cursor the service did not issue is dropped, a duration
ranking or metric drops what it does not take); a Firehose delivery gets its header's request id in its body, JSON common attributes and no gzip
claim (the fuzzer sends bodies as they are); cases generated as invalid are left alone, so every
refusal is still tested.

One bound is about time, not form: a live tail (`/v1/logs/tail`) streams until its `max_duration`
(or the server's own limit of an hour). Every case of it gets `max_duration=1` unless the case is invalid
and `max_duration` may be what makes it so; the stream then ends after a second instead of running into
the request timeout.
"""

import datetime as dt
import os
import re

import schemathesis
from schemathesis import GenerationMode

MAX_RANGE = dt.timedelta(days=int(os.environ.get("FIRESIGHT_QUERY__MAX_RANGE_DAYS", "366")))
MAX_BUCKETS = 2000
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
RELATIVE = re.compile(r"^now(?:-([0-9]+)([smhdw]))?$")
INTERVAL = re.compile(r"^([0-9]+)([smhd])$")
ISSUED_CURSORS = set()
TAIL = "/v1/logs/tail"
MAX_TAIL_DURATION = 86400


def _time(text, now):
    m = RELATIVE.match(text)
    if m:
        return now - dt.timedelta(seconds=int(m.group(1)) * UNITS[m.group(2)]) if m.group(1) else now
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _rfc3339(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _keep_range(query):
    now = dt.datetime.now(dt.timezone.utc)
    to_text, from_text = query.get("to"), query.get("from")
    to = _time(to_text, now) if isinstance(to_text, str) and to_text else now
    if to is None:
        return None
    frm = _time(from_text, now) if isinstance(from_text, str) and from_text else to - dt.timedelta(hours=24)
    if frm is None:
        return None
    if frm >= to or to - frm > MAX_RANGE - dt.timedelta(minutes=5):
        frm = to - dt.timedelta(hours=1)
        query["from"] = _rfc3339(frm)
    return to - frm


def _keep_interval(query, span):
    interval = query.get("interval")
    if not isinstance(interval, str) or span is None:
        return
    m = INTERVAL.match(interval)
    if m:
        secs = int(m.group(1)) * UNITS[m.group(2)]
        # A minute of slack for relative times, which the server aligns.
        if secs == 0 or -(-(int(span.total_seconds()) + 60) // secs) > MAX_BUCKETS:
            query["interval"] = "auto"


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """Runs on every case just before it is sent, after generation, links and overlays."""
    meta = case.meta
    negative = meta is not None and meta.generation.mode == GenerationMode.NEGATIVE
    if case.operation.path == TAIL:
        _end_stream_soon(case, negative)
    if negative:
        return
    if case.operation.path == "/v1/firehose":
        _keep_delivery(case)
        return
    query = case.query
    if not isinstance(query, dict):
        return
    if "from" in query or "to" in query or "interval" in query:
        _keep_interval(query, _keep_range(query))
    if "cursor" in query and query["cursor"] not in ISSUED_CURSORS:
        del query["cursor"]
    _keep_durations(case, query)


def _keep_durations(case, query):
    if query.get("rank_by") in ("duration_p95", "duration_total"):
        if not case.operation.path.startswith("/v1/stats/top/") or (case.path_parameters or {}).get("dimension") != "path":
            query["rank_by"] = "count"
        else:
            query.pop("compare", None)
    if query.get("metric") == "duration":
        query.pop("split", None)
        query.pop("split_limit", None)
        query.pop("compare", None)


@schemathesis.hook
def after_call(ctx, case, response):
    """Remembers every cursor the service issues, which links then pass back."""
    try:
        cursor = response.json().get("next_cursor")
    except Exception:
        return
    if isinstance(cursor, str):
        ISSUED_CURSORS.add(cursor)


def _end_stream_soon(case, negative):
    """A live tail ends after one second, unless `max_duration` is invalid in an invalid case."""
    if not isinstance(case.query, dict):
        if case.query is not None and negative:
            return
        case.query = {}
    if negative and "max_duration" in case.query:
        value = case.query["max_duration"]
        valid = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_TAIL_DURATION
        if not (valid or (isinstance(value, str) and value.isdigit() and 1 <= int(value) <= MAX_TAIL_DURATION)):
            return
    case.query["max_duration"] = 1


def _keep_delivery(case):
    headers = case.headers if case.headers is not None else {}
    request_id = headers.get("X-Amz-Firehose-Request-Id")
    if isinstance(case.body, dict) and isinstance(request_id, str):
        case.body = {**case.body, "requestId": request_id.strip()}
    if "X-Amz-Firehose-Common-Attributes" in headers:
        headers["X-Amz-Firehose-Common-Attributes"] = '{"commonAttributes": {"env": "fuzz"}}'
    headers.pop("Content-Encoding", None)
