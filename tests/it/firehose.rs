//! The Firehose HTTP endpoint against the real OpenSearch: the real 10,000-line log delivered the way
//! Firehose delivers it, replays, every error reply, and an OpenSearch outage.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::firehose_client::{FirehoseClient, STREAM_ARN, gzip};
use crate::harness::{self, TcpProxy, TestApp};

/// Line 8899 (1-based) of the real log is truncated: no closing quote on the user agent.
const TRUNCATED_LINE: usize = 8899;

fn records(lines: &[String]) -> Vec<Vec<u8>> {
    lines.iter().map(|l| l.as_bytes().to_vec()).collect()
}

#[tokio::test]
async fn the_real_log_is_indexed_once_even_when_every_delivery_is_replayed() {
    let os = harness::require_opensearch().await;
    let app = TestApp::spawn().await;
    assert_eq!(app.wait_ready(Duration::from_secs(60)).await["status"], "ready");
    let prefix = app.index_prefix.clone();
    let lines = harness::real_log_lines();
    assert_eq!(lines.len(), 10_000);
    let client = FirehoseClient::new(&app.base);

    // One maximal delivery: 10,000 records, gzip.
    let first = client.deliver("delivery-full", &records(&lines)).await;
    first.assert_firehose_shape("delivery-full");
    assert_eq!(first.status, 200, "{:?}", first.body);

    assert_eq!(harness::count(&os, &format!("{prefix}-*")).await, 9_999);
    assert_eq!(harness::count(&os, &format!("{prefix}_deadletter")).await, 1);

    // Firehose retries with the same request id (for example after a timeout): nothing is added.
    for _ in 0..2 {
        let replay = client.deliver("delivery-full", &records(&lines)).await;
        assert_eq!(replay.status, 200, "{:?}", replay.body);
    }
    assert_eq!(harness::count(&os, &format!("{prefix}-*")).await, 9_999);
    assert_eq!(harness::count(&os, &format!("{prefix}_deadletter")).await, 1);

    // The truncated line is in the dead-letter index with a reason and its raw bytes.
    let dead = harness::search(&os, &format!("{prefix}_deadletter"), json!({"size": 5})).await;
    let letter = &dead["hits"]["hits"][0]["_source"];
    assert_eq!(letter["raw"], lines[TRUNCATED_LINE - 1]);
    assert_eq!(letter["stage"], "parse");
    assert!(letter["reason"].as_str().unwrap().contains("user agent"), "{letter}");
    assert_eq!(letter["firehose"]["request_id"], "delivery-full");
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.decode(letter["raw_base64"].as_str().unwrap()).unwrap();
    assert_eq!(raw, lines[TRUNCATED_LINE - 1].as_bytes());

    // Delivery metadata travels with every document (found by fields: event.original is not indexed).
    let doc = harness::search(
        &os,
        &format!("{prefix}-*"),
        json!({"size": 1, "query": {"bool": {"filter": [
            {"term": {"source.ip": "83.149.9.216"}},
            {"term": {"url.path": "/presentations/logstash-monitorama-2013/images/kibana-search.png"}}]}}}),
    )
    .await;
    let src = &doc["hits"]["hits"][0]["_source"];
    assert_eq!(src["@timestamp"], "2015-05-17T10:05:03Z");
    assert_eq!(src["http"]["response"]["status_code"], 200);
    assert_eq!(src["http"]["response"]["body"]["bytes"], 203023);
    assert_eq!(src["user_agent"]["name"], "Chrome");
    assert_eq!(src["firehose"]["request_id"], "delivery-full");
    assert_eq!(src["firehose"]["source_arn"], STREAM_ARN);
    assert_eq!(src["firehose"]["common_attributes"]["team"], "web");
    assert_eq!(src["firehose"]["arrival_time"], "2025-11-26T00:00:00Z");

    // Two identical lines in one delivery stay two documents; its replay adds none.
    let twice = vec![lines[1].as_bytes().to_vec(), lines[1].as_bytes().to_vec()];
    assert_eq!(client.deliver("delivery-twice", &twice).await.status, 200);
    assert_eq!(client.deliver("delivery-twice", &twice).await.status, 200);
    assert_eq!(harness::count(&os, &format!("{prefix}-*")).await, 10_001);

    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"firesight_ingest_indexed_documents_total{source="firehose"} 10001"#), "{metrics}");
    assert!(metrics.contains(r#"firesight_ingest_parse_failures_total{source="firehose"} 3"#), "{metrics}");
    harness::drop_prefix(&os, &prefix).await;
    app.stop().await;
}

#[tokio::test]
async fn multi_line_records_agent_json_and_cloudwatch_subscriptions() {
    let os = harness::require_opensearch().await;
    let app = TestApp::spawn().await;
    assert_eq!(app.wait_ready(Duration::from_secs(60)).await["status"], "ready");
    let prefix = app.index_prefix.clone();
    let lines = harness::real_log_lines();
    let client = FirehoseClient::new(&app.base);

    // Record 0: three lines batched in one record. Record 1: Kinesis Agent LOGTOJSON. Records 2-3: a
    // CloudWatch Logs subscription DATA_MESSAGE (gzip) carrying two lines, and a CONTROL_MESSAGE.
    let batched = format!("{}\n{}\n{}\n", lines[0], lines[1], lines[2]).into_bytes();
    let agent = br#"{"host":"64.242.88.10","ident":null,"authuser":null,"datetime":"07/Mar/2004:16:10:02 -0800","request":"GET /mailman/listinfo/hsdivision HTTP/1.1","response":"200","bytes":"6291","referrer":"-","agent":"-"}"#.to_vec();
    let cw = json!({"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/web/access",
        "logStream": "i-0abc", "subscriptionFilters": ["all"], "logEvents": [
            {"id": "1", "timestamp": 1431857103000i64, "message": lines[3]},
            {"id": "2", "timestamp": 1431857104000i64, "message": lines[4]}]});
    let control = std::fs::read(harness::fixture("firehose/otel-awsfirehosereceiver/cwlog_only_control")).unwrap();
    let reply = client.deliver("mixed", &[batched, agent, gzip(cw.to_string().as_bytes()), gzip(&control)]).await;
    reply.assert_firehose_shape("mixed");
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(harness::count(&os, &format!("{prefix}-*")).await, 3 + 1 + 2);
    assert_eq!(harness::count(&os, &format!("{prefix}_deadletter")).await, 0);

    let agent_doc =
        harness::search(&os, &format!("{prefix}-*"), json!({"query": {"term": {"source.ip": "64.242.88.10"}}})).await;
    let src = &agent_doc["hits"]["hits"][0]["_source"];
    assert_eq!(src["@timestamp"], "2004-03-08T00:10:02Z");
    assert_eq!(src["url"]["path"], "/mailman/listinfo/hsdivision");
    assert_eq!(src["firesight"]["record_format"], "kinesis_agent_json");
    harness::drop_prefix(&os, &prefix).await;
    app.stop().await;
}

#[tokio::test]
async fn every_refusal_answers_in_firehose_format() {
    let app = TestApp::builder()
        .set("OPENSEARCH__URL", "http://127.0.0.1:9")
        .set("OPENSEARCH__TIMEOUT_SECS", "1")
        .set("FIREHOSE__DEADLINE_SECS", "2")
        .set("FIREHOSE__MAX_BODY_BYTES", (2 * 1024 * 1024).to_string())
        .set("FIREHOSE__MAX_DECOMPRESSED_BYTES", (4 * 1024 * 1024).to_string())
        .spawn()
        .await;
    let mut client = FirehoseClient::new(&app.base);
    let ok_records = vec![b"x".to_vec()];

    // Wrong and missing access keys: 401, checked before the body is read.
    client.access_key = "wrong".into();
    let r = client.deliver("r-key", &ok_records).await;
    r.assert_firehose_shape("r-key");
    assert_eq!(r.status, 401);
    let r = client
        .send_raw("r-nokey", FirehoseClient::body("r-nokey", &ok_records), |h| {
            h.insert("x-amz-firehose-access-key", "".parse().unwrap());
        })
        .await;
    assert_eq!(r.status, 401);
    client.access_key = crate::firehose_client::ACCESS_KEY.into();

    // The rotated-out key that is still configured is accepted (the store is down, so 503, not 401).
    client.access_key = "old-rotated-key".into();
    assert_ne!(client.deliver("r-old", &ok_records).await.status, 401);
    client.access_key = crate::firehose_client::ACCESS_KEY.into();

    // Missing and wrong headers: 400 naming the header.
    let r = client
        .send_raw("r-ver", FirehoseClient::body("r-ver", &ok_records), |h| {
            h.insert("x-amz-firehose-protocol-version", "2.0".parse().unwrap());
        })
        .await;
    r.assert_firehose_shape("r-ver");
    assert_eq!(r.status, 400);
    assert!(r.error().contains("Protocol-Version"), "{}", r.error());
    let r = client
        .send_raw("r-attr", FirehoseClient::body("r-attr", &ok_records), |h| {
            h.insert("x-amz-firehose-common-attributes", "not json".parse().unwrap());
        })
        .await;
    assert_eq!(r.status, 400);
    assert!(r.error().contains("Common-Attributes"), "{}", r.error());

    // Bad base64 in a record.
    let body = br#"{"requestId":"r-b64","timestamp":1,"records":[{"data":"aGVsbG8="},{"data":"%%%"}]}"#.to_vec();
    let r = client.send_raw("r-b64", body, |_| {}).await;
    r.assert_firehose_shape("r-b64");
    assert_eq!(r.status, 400);
    assert!(r.error().contains("record 1") && r.error().contains("base64"), "{}", r.error());

    // Bad JSON, including the spec's own example with its missing comma.
    let verbatim =
        std::fs::read(harness::fixture("firehose/aws-docs/examples/request_body_example.VERBATIM_INVALID_JSON.txt"))
            .unwrap();
    let r = client.send_raw("ed4acda5-034f-9f42-bba1-f29aea6d7d8f", verbatim, |_| {}).await;
    r.assert_firehose_shape("ed4acda5-034f-9f42-bba1-f29aea6d7d8f");
    assert_eq!(r.status, 400);
    assert!(r.error().contains("not a valid Firehose request"), "{}", r.error());

    // A body claiming gzip that is not gzip.
    let mut plain = FirehoseClient::new(&app.base);
    plain.gzip = false;
    let r = plain
        .send_raw("r-gz", FirehoseClient::body("r-gz", &ok_records), |h| {
            h.insert("content-encoding", "gzip".parse().unwrap());
        })
        .await;
    assert_eq!(r.status, 400);
    assert!(r.error().contains("gzip"), "{}", r.error());

    // Request id in the body differs from the header.
    let r = client.send_raw("r-one", FirehoseClient::body("r-other", &ok_records), |_| {}).await;
    assert_eq!(r.status, 400);

    // A gzip bomb: 1 GiB of zeros in about 1 MiB, refused quickly at the decompressed limit.
    let bomb = gzip_zeros(1024 * 1024 * 1024);
    assert!(bomb.len() < 2 * 1024 * 1024);
    let started = Instant::now();
    let r = plain
        .send_raw("r-bomb", bomb, |h| {
            h.insert("content-encoding", "gzip".parse().unwrap());
        })
        .await;
    let took = started.elapsed();
    r.assert_firehose_shape("r-bomb");
    assert_eq!(r.status, 413, "{:?}", r.body);
    assert!(r.error().contains("decompressed"), "{}", r.error());
    eprintln!("gzip bomb refused in {took:?}");

    // Over the body limit before decompression.
    let r = plain.send_raw("r-big", vec![b' '; 3 * 1024 * 1024], |_| {}).await;
    assert_eq!(r.status, 413);

    // 10,001 records.
    let many: Vec<Vec<u8>> = (0..10_001).map(|_| b"x".to_vec()).collect();
    let r = client.deliver("r-many", &many).await;
    r.assert_firehose_shape("r-many");
    assert_eq!(r.status, 413);
    assert!(r.error().contains("10001"), "{}", r.error());
    app.stop().await;
}

/// Gzip of `n` zero bytes, built in pieces so the test itself stays small in memory.
fn gzip_zeros(n: usize) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1024 * 1024];
    for _ in 0..n / chunk.len() {
        e.write_all(&chunk).unwrap();
    }
    e.finish().unwrap()
}

/// A refusal decided from the headers is answered after the body was read, so the client reads the 401
/// every time instead of a connection reset from a socket closed under its upload.
#[tokio::test]
async fn a_wrong_key_on_a_3_mib_delivery_gets_401_every_time() {
    let app = TestApp::builder().set("OPENSEARCH__URL", "http://127.0.0.1:9").spawn().await;
    let mut client = FirehoseClient::new(&app.base);
    client.access_key = "wrong".into();
    let records: Vec<Vec<u8>> = (0..3072).map(|i| format!("{i:01023}").into_bytes()).collect();
    for attempt in 0..20 {
        let id = format!("r-big-{attempt}");
        let r = client.deliver(&id, &records).await;
        assert_eq!(r.status, 401, "attempt {attempt}");
        r.assert_firehose_shape(&id);
    }
    app.stop().await;
}

#[tokio::test]
async fn opensearch_outage_gets_503_and_nothing_is_lost_after_it() {
    let os = harness::require_opensearch().await;
    let target = os.trim_start_matches("http://").to_owned();
    let mut proxy = TcpProxy::start(&target).await;
    let app = TestApp::builder()
        .set("OPENSEARCH__URL", proxy.url())
        .set("OPENSEARCH__TIMEOUT_SECS", "2")
        .set("FIREHOSE__DEADLINE_SECS", "4")
        .spawn()
        .await;
    assert_eq!(app.wait_ready(Duration::from_secs(60)).await["status"], "ready");
    let prefix = app.index_prefix.clone();
    let lines = harness::real_log_lines();
    let batch = records(&lines[..500]);
    let client = FirehoseClient::new(&app.base);

    // OpenSearch goes away: Firehose is told to retry, and readiness says why.
    proxy.stop();
    // The configured 4 s deadline bounds the internal retries; Firehose itself gives up after 180 s.
    let r = tokio::time::timeout(Duration::from_secs(170), client.deliver("outage-1", &batch))
        .await
        .expect("an answer before Firehose's own timeout");
    r.assert_firehose_shape("outage-1");
    assert_eq!(r.status, 503, "{:?}", r.body);
    let ready: Value = app.client.get(app.url("/health/ready")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["checks"]["log_store"]["status"], "down");

    // It comes back; Firehose retries the same delivery: every record arrives exactly once.
    proxy.resume().await;
    let r = client.deliver("outage-1", &batch).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(harness::count(&os, &format!("{prefix}-*")).await, 500);
    let r = client.deliver("outage-1", &batch).await;
    assert_eq!(r.status, 200);
    assert_eq!(harness::count(&os, &format!("{prefix}-*")).await, 500);
    harness::drop_prefix(&os, &prefix).await;
    app.stop().await;
}

#[tokio::test]
async fn backfill_cli_indexes_a_gzip_file_once() {
    let os = harness::require_opensearch().await;
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::read(harness::fixture("access_logs/elastic_examples_apache_logs.log")).unwrap();
    let gz = dir.path().join("access.log.gz");
    std::fs::write(&gz, gzip(&log)).unwrap();
    let prefix = harness::unique("it-");
    let run = || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_firesight"));
        cmd.current_dir(dir.path())
            .args(["ingest", "--quiet", gz.to_str().unwrap()])
            .env("FIRESIGHT_STORE", "opensearch")
            .env("FIRESIGHT_OPENSEARCH__URL", &os)
            .env("FIRESIGHT_OPENSEARCH__INDEX_PREFIX", &prefix)
            .env("FIRESIGHT_OPENSEARCH__REPLICAS", "0")
            .env("FIRESIGHT_LOG__LEVEL", "error");
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run();
    assert!(first.starts_with("10000 lines read: 9999 indexed, 0 already present, 1 dead-lettered"), "{first}");
    let second = run();
    assert!(second.starts_with("10000 lines read: 0 indexed, 9999 already present, 1 dead-lettered"), "{second}");
    assert_eq!(harness::count(&os, &format!("{prefix}-*")).await, 9_999);
    assert_eq!(harness::count(&os, &format!("{prefix}_deadletter")).await, 1);
    harness::drop_prefix(&os, &prefix).await;
}
