"""An Amazon Data Firehose delivery stream with a Kinesis data stream as its source, a Lambda
data-transformation processor and either an OpenSearch or an HTTP endpoint destination, written from
the Firehose Developer Guide and API reference, independent of firesight's code. moto has no Firehose
that invokes Lambdas or HTTP endpoints, so this stands in for it; everything around it is real (the
Kinesis stream, S3 and CloudWatch Logs in moto, OpenSearch, firesight, and the Lambda in the runtime
emulator of `cargo lambda watch`).

What it does, with the page each behaviour comes from:
- Source ("Source, destination, and name"; Kinesis Data Streams as a source): reads every shard of the
  stream from its start (TRIM_HORIZON), a GetRecords call per shard per second, a parent shard to its
  end before its children (after a split or a merge).
- Buffering ("Configure buffering hints"): records are delivered when the buffer reaches
  `buffer_bytes` or when its oldest record is `buffer_seconds` old, whichever comes first.
- Transformation ("Transform source data in Amazon Data Firehose", "Required parameters for data
  transformation", "Handle failure in data transformation"): the Lambda gets the documented event
  (`invocationId`, `deliveryStreamArn`, `sourceKinesisStreamArn`, `region`, `records` with `recordId`,
  `approximateArrivalTimestamp`, `data`, `kinesisRecordMetadata`), at most `lambda_buffer_bytes` of
  records per invocation. Its answer must hold every record id once with a `result` of `Ok`, `Dropped`
  or `ProcessingFailed`, else the whole batch failed (`Lambda.MissingRecordId`,
  `Lambda.DuplicatedRecordId`, `Lambda.JsonProcessingException`); a failed invocation is retried three
  times. Records that failed go to S3 under `processing-failed/` with `attemptsMade`,
  `arrivalTimestamp`, `errorCode`, `errorMessage`, `attemptEndingTimestamp`, `rawData` (the record as it
  arrived) and `lambdaArn`.
- OpenSearch destination ("Handle data delivery failures", `IndexRotationPeriod`, `DocumentIdOptions`):
  one `_bulk` request per buffer into `<index>-YYYY-MM-DD` (OneDay rotation: the UTC date of the
  record's arrival appended), each document with an id derived from its record that stays the same
  across attempts (`FIREHOSE_DEFAULT`); documents the cluster did not take are retried until
  `retry_seconds` after the first attempt, then written to S3 under `AmazonOpenSearchService-failed/`
  with `esDocumentId`, `esIndexName`, `esTypeName` and `rawData` (the transformed document).
- HTTP endpoint destination ("HTTP endpoint delivery request and response specifications"): one POST per
  buffer (protocol 1.0, gzip, access key header; see dev/load/firehose.py), the same request id on every
  retry until `retry_seconds` after the first attempt, then S3 under `http-endpoint-failed/` with
  `subsequenceNumber` and `dataId`.
- Errors ("Monitor Amazon Data Firehose using CloudWatch Logs"): every failed attempt is logged to the
  log group `/aws/kinesisfirehose/<name>`, in the destination's log stream (`HttpEndpointDelivery`,
  `AmazonOpenSearchServiceDelivery`; Lambda invocation errors go to the same stream), as the JSON event
  with `deliveryStreamARN`, `destination`, `deliveryStreamVersionId`, `message`, `errorCode` and
  `processor`. The guide lists codes for HTTP endpoints and Lambda; for OpenSearch it says errors are
  logged "as returned" by the service, so an unreachable cluster is `OS.ConnectionFailed` here, named
  like `HttpEndpoint.ConnectionFailed`.
- S3 objects ("Configure Amazon S3 object name format"): `<prefix><error-type>/YYYY/MM/dd/HH/<stream
  name>-<version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<uuid>`, one failed record per line, gzip with `.gz`
  when `compression` is on.
"""

import base64
import datetime as dt
import gzip
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "load"))
import firehose as http_protocol  # noqa: E402  (dev/load/firehose.py: the HTTP endpoint protocol)

ACCOUNT = "123456789012"
LAMBDA_RETRIES = 3


def now_ms():
    return int(time.time() * 1000)


def utc(ms):
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)


class Record:
    __slots__ = ("record_id", "data", "arrival_ms", "shard", "partition_key", "sequence", "result")

    def __init__(self, record_id, data, arrival_ms, shard, partition_key, sequence):
        self.record_id = record_id
        self.data = data
        self.arrival_ms = arrival_ms
        self.shard = shard
        self.partition_key = partition_key
        self.sequence = sequence
        self.result = None


class ShardSource:
    """Reads a Kinesis stream's shards, parents before children."""

    def __init__(self, kinesis, stream):
        self.kinesis = kinesis
        self.stream = stream
        self.iterators = {}
        self.finished = set()
        self.parents = {}
        self.closed = set()

    def _sync(self):
        shards, token = [], None
        while True:
            page = self.kinesis.list_shards(NextToken=token) if token else self.kinesis.list_shards(StreamName=self.stream)
            shards += page["Shards"]
            token = page.get("NextToken")
            if not token:
                break
        known = {s["ShardId"] for s in shards}
        for s in shards:
            sid = s["ShardId"]
            if s.get("SequenceNumberRange", {}).get("EndingSequenceNumber"):
                self.closed.add(sid)
            self.parents[sid] = [p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p and p in known]
            if sid in self.finished or sid in self.iterators:
                continue
            if all(p in self.finished for p in self.parents[sid]):
                it = self.kinesis.get_shard_iterator(StreamName=self.stream, ShardId=sid, ShardIteratorType="TRIM_HORIZON")
                self.iterators[sid] = it["ShardIterator"]

    def poll(self):
        """One GetRecords per open shard. Returns (records, caught_up)."""
        self._sync()
        out, caught_up = [], True
        for sid in sorted(self.iterators):
            answer = self.kinesis.get_records(ShardIterator=self.iterators[sid], Limit=10000)
            for r in answer["Records"]:
                arrival = int(r["ApproximateArrivalTimestamp"].timestamp() * 1000)
                # Firehose's record ids are opaque and unique within the delivery stream; the emulator's
                # sequence numbers restart in each shard, so the shard's number leads.
                record_id = f"{int(sid.rsplit('-', 1)[-1]):04d}{int(r['SequenceNumber']):052d}"
                out.append(Record(record_id, r["Data"], arrival, sid, r["PartitionKey"], r["SequenceNumber"]))
            nxt = answer.get("NextShardIterator")
            if answer["Records"] or answer.get("MillisBehindLatest", 0) > 0:
                caught_up = False
            # A closed shard ends with a null iterator (and ChildShards); the emulator keeps answering with
            # iterators, so a closed shard that has nothing more to give has ended too.
            if nxt is None or (sid in self.closed and not answer["Records"]):
                self.finished.add(sid)
                del self.iterators[sid]
                caught_up = False  # its children start now
            else:
                self.iterators[sid] = nxt
        return out, caught_up


class Failures:
    """S3 error objects and CloudWatch error events of one delivery stream."""

    def __init__(self, s3, logs, name, bucket, prefix, log_stream, compression):
        self.s3, self.logs = s3, logs
        self.name, self.bucket, self.prefix = name, bucket, prefix
        self.log_group = f"/aws/kinesisfirehose/{name}"
        self.log_stream = log_stream
        self.compression = compression
        self.objects = 0
        self.records = {}
        self.events = {}
        self.event_times = []
        # (error type, errorCode, attemptEndingTimestamp) of every failed record written
        self.written = []

    def setup(self):
        try:
            self.s3.create_bucket(Bucket=self.bucket)
        except self.s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        for call, kwargs in ((self.logs.create_log_group, {"logGroupName": self.log_group}),
                             (self.logs.create_log_stream, {"logGroupName": self.log_group, "logStreamName": self.log_stream})):
            try:
                call(**kwargs)
            except self.logs.exceptions.ResourceAlreadyExistsException:
                pass

    def write(self, error_type, rows):
        if not rows:
            return
        t = utc(now_ms())
        key = (f"{self.prefix}{error_type}/{t:%Y/%m/%d/%H}/{self.name}-1-{t:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}"
               + (".gz" if self.compression else ""))
        body = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows).encode()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=gzip.compress(body) if self.compression else body)
        self.objects += 1
        for r in rows:
            self.records[r["errorCode"]] = self.records.get(r["errorCode"], 0) + 1
            self.written.append((error_type, r["errorCode"], r["attemptEndingTimestamp"]))

    def log(self, arn, destination, code, message, processor, at=None):
        event = {"deliveryStreamARN": arn, "destination": destination, "deliveryStreamVersionId": 1,
                 "message": message, "errorCode": code}
        if processor:
            event["processor"] = processor
        t = at or now_ms()
        self.logs.put_log_events(logGroupName=self.log_group, logStreamName=self.log_stream,
                                 logEvents=[{"timestamp": t, "message": json.dumps(event)}])
        self.events[code] = self.events.get(code, 0) + 1
        self.event_times.append(t)


def failed_row(record, code, message, attempts, raw, ended=None, **extra):
    row = {"attemptsMade": attempts, "arrivalTimestamp": record.arrival_ms, "errorCode": code,
           "errorMessage": message, "attemptEndingTimestamp": ended or now_ms(),
           "rawData": base64.b64encode(raw).decode()}
    row.update(extra)
    return row


class OpenSearchDestination:
    log_stream = "AmazonOpenSearchServiceDelivery"
    error_type = "AmazonOpenSearchService-failed"

    def __init__(self, url, index, domain_arn):
        self.url, self.index, self.domain_arn = url.rstrip("/"), index, domain_arn

    def describe(self):
        return self.domain_arn

    def deliver(self, docs):
        """One attempt for [(record, doc_id, body)]. Returns ([retryable], [(item, code, message)], error)."""
        lines = []
        for record, doc_id, body in docs:
            index = f"{self.index}-{utc(record.arrival_ms):%Y-%m-%d}"
            lines.append(json.dumps({"index": {"_index": index, "_id": doc_id}}))
            lines.append(body.decode().strip())
        request = urllib.request.Request(f"{self.url}/_bulk", data=("\n".join(lines) + "\n").encode(),
                                         headers={"Content-Type": "application/x-ndjson"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                answer = json.load(r)
        except urllib.error.HTTPError as e:
            code = "OS.ServiceException" if e.code >= 500 else f"{e.code}"
            return docs, [], (code, f"{e.code}: {e.read()[:300].decode(errors='replace')}")
        except OSError as e:
            return docs, [], ("OS.ConnectionFailed", f"Unable to connect to the OpenSearch cluster: {e}")
        retry, refused = [], []
        for item, doc in zip(answer["items"], docs):
            result = item["index"]
            status = result.get("status", 500)
            if status < 300:
                continue
            if status == 429 or status >= 500:
                retry.append(doc)
            else:
                error = result.get("error", {})
                refused.append((doc, str(status), json.dumps(error)[:500]))
        error = None
        if retry:
            error = ("OS.ServiceException", f"{len(retry)} documents were not indexed (429 or 5xx)")
        return retry, refused, error

    def failed_rows(self, pending, code, message, attempts, ended=None):
        return [failed_row(record, code, message, attempts, body, ended, esDocumentId=doc_id,
                           esIndexName=f"{self.index}-{utc(record.arrival_ms):%Y-%m-%d}", esTypeName="")
                for record, doc_id, body in pending]


class HttpDestination:
    log_stream = "HttpEndpointDelivery"
    error_type = "http-endpoint-failed"

    def __init__(self, url, access_key):
        self.url = url
        self.endpoint = http_protocol.Endpoint(url, access_key, timeout=20)
        self.delivery = None

    def describe(self):
        return self.url

    def deliver(self, docs):
        if self.delivery is None:  # the same request id and records on every retry
            self.delivery = http_protocol.Delivery([body for _, _, body in docs], gzipped=True)
        status, message = self.endpoint.attempt(self.delivery)
        if status == 200:
            self.delivery = None
            return [], [], None
        if status is None:
            return docs, [], ("HttpEndpoint.ConnectionFailed",
                              "Unable to connect to the destination endpoint. Contact the owner of the endpoint to "
                              f"resolve this issue. ({message})")
        return docs, [], ("HttpEndpoint.DestinationException",
                          f"The following response was received from the endpoint destination. {status}: {message}")

    def failed_rows(self, pending, code, message, attempts, ended=None):
        self.delivery = None
        return [failed_row(record, code, message, attempts, body, ended, subsequenceNumber=0, dataId=doc_id)
                for record, doc_id, body in pending]


class DeliveryStream(threading.Thread):
    def __init__(self, name, region, kinesis, s3, logs, source_stream, lambda_url, destination, bucket,
                 buffer_bytes=1 << 20, buffer_seconds=2.0, lambda_buffer_bytes=512 << 10, retry_seconds=10.0,
                 compression=False):
        super().__init__(daemon=True, name=f"firehose-{name}")
        self.name, self.region = name, region
        self.arn = f"arn:aws:firehose:{region}:{ACCOUNT}:deliverystream/{name}"
        self.source_arn = f"arn:aws:kinesis:{region}:{ACCOUNT}:stream/{source_stream}"
        self.lambda_arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:firesight-lambda:live"
        self.source = ShardSource(kinesis, source_stream)
        self.lambda_url = lambda_url
        self.destination = destination
        self.failures = Failures(s3, logs, name, bucket, "errors/", destination.log_stream, compression)
        self.buffer_bytes, self.buffer_seconds = buffer_bytes, buffer_seconds
        self.lambda_buffer_bytes, self.retry_seconds = lambda_buffer_bytes, retry_seconds
        self.stats = {"read": 0, "ok": 0, "dropped": 0, "processing_failed": 0, "delivered": 0,
                      "delivery_failed": 0, "invocations": 0, "deliveries": 0, "attempts": 0}
        self.error = None
        self._stopping = threading.Event()
        self.drained = threading.Event()

    def stop(self):
        """Finish: read the stream to its end, deliver what is buffered, then end."""
        self._stopping.set()

    def run(self):
        try:
            self.failures.setup()
            self._loop()
        except Exception as e:  # surfaced by the orchestrator
            self.error = e
        finally:
            self.drained.set()

    def _loop(self):
        buffer, size, oldest = [], 0, None
        while True:
            records, caught_up = self.source.poll()
            self.stats["read"] += len(records)
            for r in records:
                buffer.append(r)
                size += len(r.data)
                oldest = oldest or time.monotonic()
            due = oldest is not None and time.monotonic() - oldest >= self.buffer_seconds
            if buffer and (size >= self.buffer_bytes or due or (caught_up and self._stopping.is_set())):
                self._flush(buffer)
                buffer, size, oldest = [], 0, None
            if caught_up and not buffer and self._stopping.is_set():
                return
            time.sleep(1.0 if caught_up else 0.2)

    def _flush(self, records):
        ok = []
        batch, size = [], 0
        for r in records:
            if batch and size + len(r.data) > self.lambda_buffer_bytes:
                ok += self._transform(batch)
                batch, size = [], 0
            batch.append(r)
            size += len(r.data)
        if batch:
            ok += self._transform(batch)
        if ok:
            self._deliver(ok)

    # --- transformation ---------------------------------------------------------------------------------

    def _event(self, batch):
        return {
            "invocationId": str(uuid.uuid4()), "deliveryStreamArn": self.arn,
            "sourceKinesisStreamArn": self.source_arn, "region": self.region,
            "records": [{
                "recordId": r.record_id, "approximateArrivalTimestamp": r.arrival_ms,
                "data": base64.b64encode(r.data).decode(),
                "kinesisRecordMetadata": {"shardId": r.shard, "partitionKey": r.partition_key,
                                          "approximateArrivalTimestamp": r.arrival_ms,
                                          "sequenceNumber": r.sequence, "subsequenceNumber": ""},
            } for r in batch],
        }

    def _invoke(self, event):
        """(answer, None) or (None, (code, message)) after the retries."""
        body = json.dumps(event).encode()
        failure = None
        for _ in range(1 + LAMBDA_RETRIES):
            self.stats["invocations"] += 1
            request = urllib.request.Request(self.lambda_url, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=120) as r:
                    raw = r.read()
                answer = json.loads(raw)
                if isinstance(answer, dict) and "errorType" in answer:
                    failure = ("Lambda.FunctionError", f"The Lambda function returned an error: {answer['errorType']}")
                    continue
                return answer, None
            except urllib.error.HTTPError as e:
                failure = ("Lambda.FunctionError", f"The Lambda function returned {e.code}")
            except (OSError, ValueError) as e:
                failure = ("Lambda.InvokeLimitExceeded" if isinstance(e, TimeoutError) else "Lambda.FunctionError",
                           f"The Lambda function could not be invoked: {e}")
            time.sleep(1.0)
        return None, failure

    def _transform(self, batch):
        answer, failure = self._invoke(self._event(batch))
        if failure is None:
            failure = self._check(batch, answer)
        if failure is not None:
            code, message = failure
            self.failures.log(self.arn, self.destination.describe(), code, message, self.lambda_arn)
            self._processing_failed(batch, code, message, 1 + LAMBDA_RETRIES)
            return []
        by_id = {r["recordId"]: r for r in answer["records"]}
        ok, failed = [], []
        for record in batch:
            out = by_id[record.record_id]
            if out["result"] == "Ok":
                self.stats["ok"] += 1
                ok.append((record, base64.b64decode(out["data"])))
            elif out["result"] == "Dropped":
                self.stats["dropped"] += 1
            else:
                failed.append(record)
        self._processing_failed(failed, "Lambda.FunctionError",
                                "The Lambda function was successfully invoked but it returned an error result.", 1)
        return ok

    def _check(self, batch, answer):
        records = answer.get("records") if isinstance(answer, dict) else None
        if not isinstance(records, list):
            return ("Lambda.JsonProcessingException", "There was an error parsing returned records from the Lambda function.")
        ids = [r.get("recordId") for r in records]
        if len(ids) != len(set(ids)):
            return ("Lambda.DuplicatedRecordId", "Multiple records were returned with the same record ID.")
        if set(ids) != {r.record_id for r in batch}:
            return ("Lambda.MissingRecordId", "One or more record IDs were not returned.")
        for r in records:
            if r.get("result") not in ("Ok", "Dropped", "ProcessingFailed") or not isinstance(r.get("data", ""), str):
                return ("Lambda.JsonProcessingException", "There was an error parsing returned records from the Lambda function.")
        return None

    def _processing_failed(self, records, code, message, attempts):
        self.stats["processing_failed"] += len(records)
        rows = [failed_row(r, code, message, attempts, r.data, lambdaArn=self.lambda_arn) for r in records]
        self.failures.write("processing-failed", rows)

    # --- delivery ---------------------------------------------------------------------------------------

    def _deliver(self, ok):
        pending = [(record, f"{record.record_id}.0", data) for record, data in ok]
        self.stats["deliveries"] += 1
        first, attempts, delay = time.monotonic(), 0, 0.5
        while pending:
            attempts += 1
            self.stats["attempts"] += 1
            retry, refused, error = self.destination.deliver(pending)
            if refused:
                rows = self.destination.failed_rows([d for d, _, _ in refused], refused[0][1], refused[0][2], attempts)
                self.failures.write(self.destination.error_type, rows)
                self.stats["delivery_failed"] += len(refused)
            self.stats["delivered"] += len(pending) - len(retry) - len(refused)
            pending = retry
            if not pending:
                return
            code, message = error
            # The attempt's error event and, after the last one, the records' attemptEndingTimestamp.
            ended = now_ms()
            self.failures.log(self.arn, self.destination.describe(), code, message, self.lambda_arn, at=ended)
            if time.monotonic() - first >= self.retry_seconds:
                self.failures.write(self.destination.error_type,
                                    self.destination.failed_rows(pending, code, message, attempts, ended))
                self.stats["delivery_failed"] += len(pending)
                return
            time.sleep(delay)
            delay = min(delay * 2, 4.0)
