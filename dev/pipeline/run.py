"""The seed pipeline on one machine (see dev/seed-pipeline.sh): nginx -> agent -> Kinesis (moto) ->
Firehose (dev/pipeline/firehose_sim.py) -> firesight-lambda (cargo lambda watch) -> (a) OpenSearch, read
by one firesight, and (b) another firesight's HTTP endpoint; failures to S3 and CloudWatch Logs (moto),
which both firesight processes follow and replay. Faults: the OpenSearch node and firesight (b) stopped for
longer than the retry duration, a burst of lines that are not requests, a log rotation, a shard split.
Then every request nginx served is looked for in both firesight processes' answers.
"""

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import uuid

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import firehose_sim  # noqa: E402
import stack  # noqa: E402
import verify  # noqa: E402
import web  # noqa: E402
from agent import Agent, Flow  # noqa: E402

REGION = "us-east-1"
REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GARBAGE = [
    "upstream timed out (110: Connection timed out) while reading response header from upstream",
    "\x00\x00\x00\x00 partial write",
    "[17/May/2015:10:05:03 +0000] GET / HTTP/1.1",
    "-",
]


def log(message):
    print(f"[seed-pipeline {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=3000, help="requests replayed from the sample log")
    p.add_argument("--rate", type=float, default=150.0, help="requests per second")
    p.add_argument("--retry-seconds", type=float, default=8.0, help="the delivery streams' retry duration")
    p.add_argument("--outage-seconds", type=float, default=25.0, help="how long OpenSearch and firesight (b) stay down")
    p.add_argument("--garbage", type=int, default=40, help="lines that are not requests, written into the log")
    p.add_argument("--work", help="working directory (default: a new temporary one)")
    p.add_argument("--json", help="write the summary here as JSON")
    args = p.parse_args()
    # Stopped from outside (a timeout, Ctrl-C): still stop what was started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    moto = os.environ["FIRESIGHT_SEED_MOTO_URL"]
    binary = os.environ["FIRESIGHT_SEED_BIN"]
    geoip = os.environ["FIRESIGHT_SEED_GEOIP"]
    work = args.work or tempfile.mkdtemp(prefix="firesight-seed-")
    os.makedirs(os.path.join(work, "logs"), exist_ok=True)
    log(f"working directory {work}")
    run_id = uuid.uuid4().hex[:8]
    key = f"seed-{uuid.uuid4().hex}"
    access_key = f"firehose-{uuid.uuid4().hex}"
    aws = dict(endpoint_url=moto, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing",
               config=Config(retries={"max_attempts": 10, "mode": "standard"}))
    kinesis, s3, logs = boto3.client("kinesis", **aws), boto3.client("s3", **aws), boto3.client("logs", **aws)
    names = {m: f"seed-{m}-{run_id}" for m in ("a", "b")}
    buckets = {m: f"seed-backup-{m}-{run_id}" for m in ("a", "b")}
    summary = {"run": run_id, "work": work, "modes": {}}
    processes = []
    t0 = time.time()
    try:
        # --- the services --------------------------------------------------------------------------------
        node = stack.OpenSearchNode(work, os.environ["FIRESIGHT_SEED_OPENSEARCH_LIB"])
        node.start()
        processes.append(node)
        emulator = stack.LambdaEmulator(REPO, os.environ["FIRESIGHT_SEED_CARGO_LAMBDA"], work,
                                        {"FIRESIGHT_GEOIP__CITY_DB": geoip, "FIRESIGHT_LAMBDA__INCLUDE_ORIGINAL": "true"})
        emulator.start()
        processes.append(emulator)
        kinesis.create_stream(StreamName=names["a"], ShardCount=2)
        kinesis.create_stream(StreamName=names["b"], ShardCount=1)
        for m in ("a", "b"):
            kinesis.get_waiter("stream_exists").wait(StreamName=names[m])
            s3.create_bucket(Bucket=buckets[m])

        requests = web.sample_requests(os.path.join(REPO, "tests/fixtures/access_logs/elastic_examples_apache_logs.log"),
                                       args.requests)
        nginx = web.Nginx(os.path.join(work, "nginx"), stack.free_port())
        nginx.write_site(requests)
        nginx.start()
        processes.append(nginx)

        common = {
            "FIRESIGHT_GEOIP__CITY_DB": geoip,
            "FIRESIGHT_CLOUDWATCH__ENABLED": "true", "FIRESIGHT_CLOUDWATCH__ENDPOINT_URL": moto,
            "FIRESIGHT_CLOUDWATCH__REGION": REGION, "FIRESIGHT_CLOUDWATCH__ACCESS_KEY_ID": "testing",
            "FIRESIGHT_CLOUDWATCH__SECRET_ACCESS_KEY": "testing", "FIRESIGHT_CLOUDWATCH__POLL_INTERVAL_SECS": "1",
            "FIRESIGHT_CLOUDWATCH__SETTLE_SECS": "5", "FIRESIGHT_CLOUDWATCH__LEASE_SECS": "15",
            "FIRESIGHT_CLOUDWATCH__START_LOOKBACK_SECS": "3600",
            "FIRESIGHT_S3__ENDPOINT_URL": moto, "FIRESIGHT_S3__REGION": REGION,
            "FIRESIGHT_S3__ACCESS_KEY_ID": "testing", "FIRESIGHT_S3__SECRET_ACCESS_KEY": "testing",
            "FIRESIGHT_S3_REPLAY__POLL_INTERVAL_SECS": "2", "FIRESIGHT_S3_REPLAY__LEASE_SECS": "60",
            "FIRESIGHT_ALERTS__ENABLED": "false",
        }
        fs = {
            "a": stack.Firesight("firesight-a", binary, work, {
                **common, "FIRESIGHT_STORE": "opensearch", "FIRESIGHT_OPENSEARCH__URL": node.url,
                "FIRESIGHT_OPENSEARCH__INDEX_PREFIX": "weblogs", "FIRESIGHT_OPENSEARCH__REPLICAS": "0",
                "FIRESIGHT_CLOUDWATCH__LOG_GROUPS": f"/aws/kinesisfirehose/{names['a']}",
                "FIRESIGHT_S3_REPLAY__BUCKETS": f"s3://{buckets['a']}/errors/"}, key),
            "b": stack.Firesight("firesight-b", binary, work, {
                **common, "FIRESIGHT_STORE": "embedded", "FIRESIGHT_FIREHOSE__ACCESS_KEYS": access_key,
                "FIRESIGHT_EMBEDDED__COMMIT_DOCS": "1000",
                "FIRESIGHT_CLOUDWATCH__LOG_GROUPS": f"/aws/kinesisfirehose/{names['b']}",
                "FIRESIGHT_S3_REPLAY__BUCKETS": f"s3://{buckets['b']}/errors/"}, key),
        }
        log("waiting for OpenSearch")
        node.wait()
        for f in fs.values():
            f.start()
            processes.append(f)
        for f in fs.values():
            f.wait()
        log("waiting for the Lambda emulator (builds firesight-lambda the first time)")
        emulator.wait()
        log(f"services up in {time.time() - t0:.0f} s")

        # --- the pipeline ----------------------------------------------------------------------------------
        flows = [Flow(kinesis, names["a"], "SINGLELINE"), Flow(kinesis, names["b"], "LOGTOJSON")]
        agent = Agent(nginx.log, flows)
        firehose = {
            "a": firehose_sim.DeliveryStream(
                names["a"], REGION, boto3.client("kinesis", **aws), boto3.client("s3", **aws),
                boto3.client("logs", **aws), names["a"], emulator.url,
                firehose_sim.OpenSearchDestination(node.url, "weblogs",
                                                   f"arn:aws:es:{REGION}:{firehose_sim.ACCOUNT}:domain/weblogs"),
                buckets["a"], retry_seconds=args.retry_seconds),
            "b": firehose_sim.DeliveryStream(
                names["b"], REGION, boto3.client("kinesis", **aws), boto3.client("s3", **aws),
                boto3.client("logs", **aws), names["b"], emulator.url,
                firehose_sim.HttpDestination(fs["b"].url, access_key), buckets["b"],
                retry_seconds=args.retry_seconds, compression=True),
        }
        agent.start()
        for f in firehose.values():
            f.start()
        client = web.Client(nginx.port)
        thirds = [requests[: len(requests) // 3], requests[len(requests) // 3: 2 * len(requests) // 3],
                  requests[2 * len(requests) // 3:]]
        start = time.time()
        log(f"phase 1: {len(thirds[0])} requests")
        client.send(thirds[0], args.rate)
        nginx.rotate()
        shard = kinesis.list_shards(StreamName=names["a"])["Shards"][0]
        lo, hi = int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"])
        kinesis.split_shard(StreamName=names["a"], ShardToSplit=shard["ShardId"], NewStartingHashKey=str((lo + hi) // 2))
        log(f"rotated the log, split {shard['ShardId']} of {names['a']}")
        time.sleep(3)

        log(f"outage: OpenSearch and firesight (b) stopped for {args.outage_seconds:.0f} s")
        outage = {"start": time.time()}
        node.stop()
        fs["b"].stop()
        client.send(thirds[1], args.rate)
        with open(nginx.log, "a") as f:
            for i in range(args.garbage):
                f.write(GARBAGE[i % len(GARBAGE)] + "\n")
        time.sleep(max(0.0, outage["start"] + args.outage_seconds - time.time()))
        node.start()
        fs["b"].start()
        node.wait()
        fs["b"].wait()
        outage["end"] = time.time()
        log(f"outage over after {outage['end'] - outage['start']:.0f} s")

        log(f"phase 3: {len(thirds[2])} requests")
        client.send(thirds[2], args.rate)
        latency = verify.probe_latency(client, fs, count=3)
        log("draining the agent and the delivery streams")
        agent.stop()
        agent.join(120)
        for f in firehose.values():
            f.stop()
        for f in firehose.values():
            f.drained.wait(300)
        for f in (agent, *firehose.values()):
            if getattr(f, "error", None):
                raise RuntimeError(f"{f.name} failed: {f.error!r}")

        served, other = nginx.served()
        summary.update({
            "requests_served": len(served), "other_lines": len(other), "rotations": agent.rotations,
            "agent": {f.stream: {"option": f.option, "sent": f.sent, "skipped": f.skipped, "retried": f.retried}
                      for f in flows},
            "outage": {"start": outage["start"], "end": outage["end"]},
            "latency_seconds": latency,
        })
        window = (start - 300, time.time() + 300)
        for m in ("a", "b"):
            log(f"waiting for firesight ({m}) to follow the errors and replay the failed records")
            summary["modes"][m] = verify.settle_and_check(m, fs[m], firehose[m], served, window, outage,
                                                          os.path.join(REPO, "tests/fixtures/geoip/"
                                                                       "elastic_examples_apache_logs.ip_geo_reference.csv"))
        summary["elapsed_seconds"] = round(time.time() - t0, 1)
    finally:
        for proc in reversed(processes):
            try:
                proc.stop()
            except Exception as e:  # keep stopping the others
                log(f"stopping {proc}: {e!r}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    print(verify.render(summary))
    failures = [c for m in summary["modes"].values() for c in m["checks"] if not c["ok"]]
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
