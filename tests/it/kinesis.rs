//! The Kinesis Data Streams consumer against moto's Kinesis (started through `dev/moto_server.py`, which
//! gives moto the resharding behaviour AWS documents): real log lines put with the AWS SDK, read by
//! firesight, counted through the query API or in OpenSearch. Each test uses streams of its own.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, StreamStatus};
use base64::Engine;
use serde_json::Value;

use crate::harness::{self, TestApp, TestAppBuilder};

/// The first lines of the real log: all of them parse, so each is one document.
const LINES: usize = 3200;

async fn client(endpoint: &str) -> Client {
    let config = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .build();
    Client::from_conf(config)
}

async fn create_stream(client: &Client, name: &str, shards: i32) {
    client.create_stream().stream_name(name).shard_count(shards).send().await.unwrap();
    for _ in 0..100 {
        let d = client.describe_stream_summary().stream_name(name).send().await.unwrap();
        if d.stream_description_summary().map(|s| s.stream_status()) == Some(&StreamStatus::Active) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("stream {name} did not become active");
}

/// Puts `lines` as records: most hold one line, every seventh holds three (agents batch lines).
async fn put_lines(client: &Client, stream: &str, lines: &[String], first_key: usize) -> usize {
    let mut records = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let take = if (first_key + i).is_multiple_of(7) { 3.min(lines.len() - i) } else { 1 };
        let data = lines[i..i + take].join("\n");
        records.push(
            PutRecordsRequestEntry::builder()
                .partition_key(format!("web-{}", first_key + i))
                .data(Blob::new(data.into_bytes()))
                .build()
                .unwrap(),
        );
        i += take;
    }
    let count = records.len();
    put_records(client, stream, records).await;
    count
}

async fn put_records(client: &Client, stream: &str, records: Vec<PutRecordsRequestEntry>) {
    for chunk in records.chunks(500) {
        let out = client.put_records().stream_name(stream).set_records(Some(chunk.to_vec())).send().await.unwrap();
        assert_eq!(out.failed_record_count(), Some(0), "PutRecords refused records");
    }
}

async fn shard_ids(client: &Client, stream: &str) -> Vec<(String, Option<String>, Option<String>, bool)> {
    let out = client.list_shards().stream_name(stream).send().await.unwrap();
    out.shards()
        .iter()
        .map(|s| {
            (
                s.shard_id().to_owned(),
                s.parent_shard_id().map(str::to_owned),
                s.adjacent_parent_shard_id().map(str::to_owned),
                s.sequence_number_range().and_then(|r| r.ending_sequence_number()).is_some(),
            )
        })
        .collect()
}

/// A service consuming `stream` (fast rounds, short leases), with the cache off so counts are live.
fn consumer(moto: &str, stream: &str) -> TestAppBuilder {
    TestApp::builder()
        .set("KINESIS__STREAMS", stream)
        .set("KINESIS__ENDPOINT_URL", moto)
        .set("KINESIS__REGION", "us-east-1")
        .set("KINESIS__ACCESS_KEY_ID", "testing")
        .set("KINESIS__SECRET_ACCESS_KEY", "testing")
        .set("KINESIS__LEASE_SECS", "6")
        .set("KINESIS__SHARD_SYNC_SECS", "1")
        .set("KINESIS__IDLE_MILLIS", "200")
        .set("QUERY__CACHE_MAX_BYTES", "0")
}

/// Requests the query API counts in the real log's month.
async fn requests(app: &TestApp) -> u64 {
    let r = app.get("/v1/stats/summary?from=2015-05-01T00:00:00Z&to=2015-06-01T00:00:00Z").send().await.unwrap();
    assert!(r.status().is_success(), "summary: {}", r.status());
    let body: Value = r.json().await.unwrap();
    body["requests"].as_u64().unwrap()
}

/// Waits until `count` reaches `at_least`, returning the last count.
async fn wait_for<F, Fut>(what: &str, at_least: u64, timeout: Duration, mut count: F) -> u64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let n = count().await;
        if n >= at_least {
            return n;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {n} of {at_least} after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A metric's value from `/metrics` (0 when absent).
async fn metric(app: &TestApp, line_prefix: &str) -> f64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines().filter(|l| l.starts_with(line_prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

/// The stream's entry in `/health/ready`.
async fn stream_check(app: &TestApp, stream: &str) -> Value {
    let r = app.client.get(app.url("/health/ready")).send().await.unwrap();
    let body: Value = r.json().await.unwrap();
    body["checks"][format!("kinesis:{stream}")].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn split_and_merge_while_consuming_index_every_line_once_in_both_stores() {
    let moto = harness::require_moto().await;
    let os = harness::require_opensearch().await;
    let kinesis = client(&moto).await;
    let stream = harness::unique("weblogs-reshard-");
    create_stream(&kinesis, &stream, 2).await;
    let lines: Vec<String> = harness::real_log_lines().into_iter().take(LINES).collect();
    let mut records = put_lines(&kinesis, &stream, &lines[..1000], 0).await;

    let embedded = consumer(&moto, &stream).set("STORE", "embedded").spawn().await;
    let opensearch = consumer(&moto, &stream).spawn().await;
    records += put_lines(&kinesis, &stream, &lines[1000..1800], 1000).await;
    wait_for("embedded before the split", 1000, Duration::from_secs(60), || requests(&embedded)).await;

    // Split shard 0 at the middle of its hash range, then merge its upper child with shard 1.
    kinesis
        .split_shard()
        .stream_name(&stream)
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key((1u128 << 126).to_string())
        .send()
        .await
        .unwrap();
    records += put_lines(&kinesis, &stream, &lines[1800..2500], 1800).await;
    kinesis
        .merge_shards()
        .stream_name(&stream)
        .shard_to_merge("shardId-000000000003")
        .adjacent_shard_to_merge("shardId-000000000001")
        .send()
        .await
        .unwrap();
    records += put_lines(&kinesis, &stream, &lines[2500..], 2500).await;
    let shards = shard_ids(&kinesis, &stream).await;
    assert_eq!(shards.len(), 5, "{shards:?}");
    assert_eq!(shards.iter().filter(|s| s.3).count(), 3, "three closed parents: {shards:?}");

    let expected = LINES as u64;
    let pattern = format!("{}-*", opensearch.index_prefix);
    let os_count = || harness::count(&os, &pattern);
    wait_for("embedded", expected, Duration::from_secs(90), || requests(&embedded)).await;
    wait_for("opensearch", expected, Duration::from_secs(90), os_count).await;
    // Every child read to its end; a little later still exactly once (no late re-reads).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(requests(&embedded).await, expected, "embedded store");
    assert_eq!(harness::count(&os, &format!("{}-*", opensearch.index_prefix)).await, expected, "OpenSearch");
    assert_eq!(requests(&opensearch).await, expected, "OpenSearch through the API");
    for app in [&embedded, &opensearch] {
        let check = stream_check(app, &stream).await;
        assert_eq!(check["status"], "up", "{check}");
        assert_eq!(check["shards"], 5, "{check}");
        assert_eq!(check["leases_held"], 2, "the two open shards: {check}");
        assert_eq!(metric(app, "firesight_kinesis_leases{").await, 2.0);
        assert_eq!(metric(app, "firesight_kinesis_records_total{").await, records as f64, "each record read once");
    }
    harness::drop_prefix(&os, &opensearch.index_prefix).await;
    embedded.stop().await;
    opensearch.stop().await;
}

/// The KPL fixture (made with AWS's aws-kinesis-agg): aggregated records and their user records.
fn kpl_records() -> (Vec<PutRecordsRequestEntry>, u64) {
    let text = std::fs::read_to_string(harness::fixture("kpl/aggregated.json")).unwrap();
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut lines = 0;
    let mut records = Vec::new();
    for case in &cases {
        for user in case["user_records"].as_array().unwrap() {
            let data = b64.decode(user["data"].as_str().unwrap()).unwrap();
            lines += String::from_utf8_lossy(&data).lines().filter(|l| !l.trim().is_empty()).count() as u64;
        }
        let aggregated = b64.decode(case["aggregated"].as_str().unwrap()).unwrap();
        records.push(
            PutRecordsRequestEntry::builder()
                .partition_key(case["partition_key"].as_str().unwrap())
                .data(Blob::new(aggregated))
                .build()
                .unwrap(),
        );
    }
    (records, lines)
}

/// The throttling endpoint of `tests/kinesis/throttle.py` in front of moto.
struct Throttle {
    port: u16,
    child: Child,
}

impl Throttle {
    fn start(upstream: &str, every: u32) -> Self {
        let python = std::env::var("FIRESIGHT_TEST_PYTHON")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.dev/venv/bin/python").to_owned());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kinesis/throttle.py");
        let mut child = Command::new(&python)
            .args(["-u", script, upstream, &every.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}; {}", harness::START_SERVICES));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("PORT ").and_then(|p| p.parse().ok()).expect("throttle proxy port");
        Throttle { port, child }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// (GetRecords calls seen, calls refused).
    async fn calls(&self) -> (u64, u64) {
        let text =
            harness::http().get(format!("{}/__throttle", self.url())).send().await.unwrap().text().await.unwrap();
        let mut parts = text.split(' ').map(|p| p.parse::<u64>().unwrap());
        (parts.next().unwrap(), parts.next().unwrap())
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_resumes_at_the_checkpoint_through_throttling_with_kpl_aggregates() {
    let moto = harness::require_moto().await;
    let kinesis = client(&moto).await;
    let stream = harness::unique("weblogs-restart-");
    create_stream(&kinesis, &stream, 2).await;
    let (aggregated, kpl_lines) = kpl_records();
    put_records(&kinesis, &stream, aggregated).await;
    let lines: Vec<String> = harness::real_log_lines().into_iter().take(2000).collect();
    put_lines(&kinesis, &stream, &lines, 0).await;
    let expected = kpl_lines + lines.len() as u64;

    // Every third GetRecords call is refused as over the shard's limits.
    let throttle = Throttle::start(&moto, 3);
    let data_dir = tempfile::tempdir().unwrap();
    let start = || {
        consumer(&throttle.url(), &stream)
            .set("STORE", "embedded")
            .set("DATA_DIR", data_dir.path().display().to_string())
            .set("KINESIS__MAX_RECORDS", "40")
    };
    let first = start().spawn().await;
    let before = wait_for("first run", 300, Duration::from_secs(60), || requests(&first)).await;
    first.stop().await;

    let second = start().spawn().await;
    let after_restart = requests(&second).await;
    assert!(after_restart >= before && after_restart < expected, "stopped mid-stream: {after_restart} of {expected}");
    wait_for("second run", expected, Duration::from_secs(120), || requests(&second)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(requests(&second).await, expected, "every line once, the KPL user records' included");
    // Resumed at the checkpoint: nothing read again, so nothing written twice.
    assert_eq!(metric(&second, "firesight_ingest_duplicate_documents_total{source=\"kinesis\"}").await, 0.0);
    let (calls, refused) = throttle.calls().await;
    assert!(refused >= 3 && refused * 3 <= calls + 2, "throttled {refused} of {calls} calls");
    assert!(metric(&second, "firesight_kinesis_throttles_total{").await > 0.0, "throttles counted");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_the_shards_and_one_takes_over_when_the_other_is_killed() {
    let moto = harness::require_moto().await;
    let os = harness::require_opensearch().await;
    let (db_url, _schema) = harness::postgres_schema_url().await;
    let kinesis = client(&moto).await;
    let stream = harness::unique("weblogs-replicas-");
    create_stream(&kinesis, &stream, 4).await;
    let lines: Vec<String> = harness::real_log_lines().into_iter().take(3000).collect();
    put_lines(&kinesis, &stream, &lines[..1200], 0).await;

    let prefix = harness::unique("it-");
    // Real processes (SIGKILL is the point), one database and one index prefix.
    let replica = || {
        consumer(&moto, &stream)
            .set("DATABASE_URL", db_url.clone())
            .set("OPENSEARCH__INDEX_PREFIX", prefix.clone())
            .process_env("AWS_REGION", "us-east-1")
    };
    let a = replica().spawn().await;
    let b = replica().spawn().await;
    let held = |app: &TestApp| {
        let stream = stream.clone();
        let app_url = app.url("/health/ready");
        async move {
            let body: Value = harness::http().get(app_url).send().await.unwrap().json().await.unwrap();
            body["checks"][format!("kinesis:{stream}")]["leases_held"].as_u64().unwrap_or(0)
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (na, nb) = (held(&a).await, held(&b).await);
        if na == 2 && nb == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "shards not divided evenly: {na} and {nb}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let pattern = format!("{prefix}-*");
    let count = || harness::count(&os, &pattern);
    put_lines(&kinesis, &stream, &lines[1200..2400], 1200).await;
    wait_for("both replicas", 1500, Duration::from_secs(60), count).await;

    drop(a); // SIGKILL: its leases stay until they expire
    put_lines(&kinesis, &stream, &lines[2400..], 2400).await;
    wait_for("the survivor takes every shard", 4, Duration::from_secs(60), || held(&b)).await;
    wait_for("every line", lines.len() as u64, Duration::from_secs(90), count).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(harness::count(&os, &format!("{prefix}-*")).await, lines.len() as u64, "0 lost, 0 duplicated");
    harness::drop_prefix(&os, &prefix).await;
    b.stop().await;
}

/// The consumer reads a stream in the format configured for it (`parse.sources` by stream name), over a
/// default that would refuse its lines.
#[tokio::test]
async fn a_stream_is_read_in_its_configured_format() {
    let moto = harness::require_moto().await;
    let kinesis = client(&moto).await;
    let stream = harness::unique("formats-");
    create_stream(&kinesis, &stream, 1).await;
    // NGINX's admin guide, "Configuring Logging": `log_format upstream_time`.
    let format = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" rt=$request_time uct="$upstream_connect_time" uht="$upstream_header_time" urt="$upstream_response_time""#;
    let lines: Vec<String> = (0..3)
        .map(|i| format!(r#"203.0.113.{i} - - [10/Oct/2020:13:55:3{i} +0000] "GET /api/{i} HTTP/1.1" 200 512 "-" "curl/8.5.0" rt=0.05{i} uct="0.001" uht="0.040" urt="0.040""#))
        .collect();
    put_lines(&kinesis, &stream, &lines, 1).await;
    let app = consumer(&moto, &stream)
        .set("STORE", "embedded")
        .set("PARSE__LOG_FORMAT", "combined")
        .set(&format!("PARSE__SOURCES__{stream}"), format)
        .spawn()
        .await;
    let path = "/v1/logs?from=2020-10-10T00:00:00Z&to=2020-10-11T00:00:00Z&order=asc";
    let items = |app: &TestApp| {
        let request = app.get(path);
        async move {
            let page: Value = request.send().await.unwrap().json().await.unwrap();
            page["items"].as_array().cloned().unwrap_or_default()
        }
    };
    wait_for("documents", 3, Duration::from_secs(60), || async { items(&app).await.len() as u64 }).await;
    let durations: Vec<u64> = items(&app).await.iter().map(|d| d["event"]["duration"].as_u64().unwrap()).collect();
    assert_eq!(durations, [50_000_000, 51_000_000, 52_000_000]);
    app.stop().await;
}
