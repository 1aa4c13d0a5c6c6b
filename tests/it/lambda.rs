//! The enrichment Lambda (`firesight-lambda`) in the Lambda runtime emulator of `cargo lambda watch`
//! (installed by `dev/lambda.sh install`), invoked over its HTTP API with Firehose transformation events
//! built from the real log: direct PUT and Kinesis-sourced shapes, 1, 500 and a 3 MB buffer of records,
//! broken and unusual records. Every answer has one record per input record with the same id and stays
//! under Lambda's 6 MB; the documents equal what the service makes of the same lines.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::dataset::geolite2_city;
use crate::harness::{http, real_log_lines};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const STREAM_ARN: &str = "arn:aws:firehose:eu-west-1:111122223333:deliverystream/weblogs";
const LAMBDA_RESPONSE_LIMIT: usize = 6_291_556;

/// `cargo lambda watch` serving the function, killed on drop.
struct Emulator {
    port: u16,
    child: Child,
}

impl Emulator {
    fn start(env: &[(&str, String)]) -> Self {
        let root = env!("CARGO_MANIFEST_DIR");
        let cargo_lambda = format!("{root}/.dev/lambda-venv/bin/cargo-lambda");
        assert!(
            std::path::Path::new(&cargo_lambda).is_file(),
            "cargo-lambda not installed: run dev/lambda.sh install (dev/test.sh does)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = Command::new(cargo_lambda);
        command
            .current_dir(root)
            .args(["lambda", "watch", "--bin", "firesight-lambda", "--ignore-changes", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.args(["--env-var", &format!("{key}={value}")]);
        }
        Emulator { port, child: command.spawn().expect("start cargo lambda watch") }
    }

    /// Invokes the function (the first call waits for the emulator and the build).
    async fn invoke(&self, event: &Value) -> (Value, usize) {
        let url = format!("http://127.0.0.1:{}/2015-03-31/functions/firesight-lambda/invocations", self.port);
        let body = event.to_string();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
        loop {
            match http().post(&url).header("content-type", "application/json").body(body.clone()).send().await {
                Ok(r) if r.status().is_success() => {
                    let bytes = r.bytes().await.unwrap();
                    return (serde_json::from_slice(&bytes).unwrap(), bytes.len());
                }
                Ok(r) if tokio::time::Instant::now() < deadline && r.status().as_u16() != 500 => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Ok(r) => panic!("the function answered {}: {}", r.status(), r.text().await.unwrap()),
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(500)).await
                }
                Err(e) => panic!("the emulator did not answer: {e}"),
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // cargo-lambda runs the function as its child; end the whole group it started.
        let _ = Command::new("pkill").args(["-TERM", "-P", &self.child.id().to_string()]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn record(id: &str, data: &[u8], kinesis: Option<u64>) -> Value {
    let mut record =
        json!({ "recordId": id, "approximateArrivalTimestamp": 1_765_000_000_000i64, "data": B64.encode(data) });
    if let Some(seq) = kinesis {
        record["kinesisRecordMetadata"] = json!({
            "shardId": "shardId-000000000000", "partitionKey": "web-1",
            "sequenceNumber": format!("4959{seq:052}"), "subsequenceNumber": 0,
            "approximateArrivalTimestamp": 1_765_000_000_000i64
        });
    }
    record
}

fn event(records: Vec<Value>, kinesis: bool) -> Value {
    let mut event = json!({
        "invocationId": "inv-1", "deliveryStreamArn": STREAM_ARN, "region": "eu-west-1", "records": records
    });
    if kinesis {
        event["sourceKinesisStreamArn"] = json!("arn:aws:kinesis:eu-west-1:111122223333:stream/weblogs");
    }
    event
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The answer's records, checked one to one against the event's ids.
fn answered(event: &Value, response: &Value) -> Vec<(String, String, Vec<u8>)> {
    let asked: Vec<&str> =
        event["records"].as_array().unwrap().iter().map(|r| r["recordId"].as_str().unwrap()).collect();
    let got = response["records"].as_array().expect("records");
    let ids: Vec<&str> = got.iter().map(|r| r["recordId"].as_str().unwrap()).collect();
    assert_eq!(ids, asked, "one output record per input record, same ids, same order");
    got.iter()
        .map(|r| {
            let data = B64.decode(r["data"].as_str().unwrap()).unwrap();
            (r["recordId"].as_str().unwrap().to_owned(), r["result"].as_str().unwrap().to_owned(), data)
        })
        .collect()
}

/// What the service makes of `line` (the Firehose endpoint's and backfill's own path).
fn service_document(line: &str) -> Value {
    let enricher = firesight::enrich::Enricher::new(
        Some(firesight::enrich::GeoIp::open(&geolite2_city(), None).unwrap()),
        firesight::enrich::UserAgentParser::new().unwrap(),
    );
    let lines = vec![firesight::ingest::SourceLine {
        id: "x".into(),
        text: line.to_owned(),
        fallback_time: None,
        firehose: None,
        reject: None,
    }];
    let prepared = firesight::ingest::prepare(lines, &enricher, "firehose", chrono::Utc::now());
    serde_json::to_value(&prepared.docs[0].doc).unwrap()
}

/// A document without what differs by design between two runs (ingest time, ids, delivery metadata).
fn comparable(mut doc: Value) -> Value {
    let event = doc["event"].as_object_mut().unwrap();
    event.remove("ingested");
    event.remove("id");
    doc.as_object_mut().unwrap().remove("firehose");
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_transforms_firehose_events_in_the_runtime_emulator() {
    let emulator = Emulator::start(&[
        ("FIRESIGHT_GEOIP__CITY_DB", geolite2_city().display().to_string()),
        ("FIRESIGHT_LAMBDA__DROP_PATHS", "/health".to_owned()),
        ("FIRESIGHT_LAMBDA__MULTI_LINE", "ndjson".to_owned()),
        ("FIRESIGHT_LAMBDA__PARTITION_KEYS", "date".to_owned()),
    ]);
    let lines = real_log_lines();

    // One record, direct PUT: the document equals the service's, field by field.
    let one = event(vec![record("r0", lines[0].as_bytes(), None)], false);
    let (response, _) = emulator.invoke(&one).await;
    let out = answered(&one, &response);
    assert_eq!(out[0].1, "Ok");
    let doc: Value = serde_json::from_slice(&out[0].2).unwrap();
    assert_eq!(
        comparable(doc.clone()),
        comparable(service_document(&lines[0])),
        "the Lambda's document is the service's"
    );
    assert_eq!(doc["firehose"]["source_arn"], STREAM_ARN);
    assert_eq!(doc["firehose"]["record_id"], "r0");
    assert_eq!(doc["event"]["id"].as_str().unwrap().len(), 20);
    assert!(doc["source"]["geo"]["country_iso_code"].is_string(), "{doc}");
    assert_eq!(response["records"][0]["metadata"]["partitionKeys"]["date"], "2015-05-17");

    // 500 records from a Kinesis data stream: every one Ok, each equal to the service's document.
    let kds = event((0..500).map(|i| record(&format!("k{i}"), lines[i].as_bytes(), Some(i as u64))).collect(), true);
    let (response, _) = emulator.invoke(&kds).await;
    for (i, (_, result, data)) in answered(&kds, &response).into_iter().enumerate() {
        assert_eq!(result, "Ok", "record {i}");
        let doc: Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(comparable(doc.clone()), comparable(service_document(&lines[i])), "line {i}");
        assert_eq!(doc["firehose"]["kinesis"]["shard_id"], "shardId-000000000000");
        assert_eq!(doc["firehose"]["kinesis"]["stream_arn"], "arn:aws:kinesis:eu-west-1:111122223333:stream/weblogs");
    }

    // Records that are not plain lines.
    let cloudwatch = json!({
        "messageType": "DATA_MESSAGE", "owner": "111122223333", "logGroup": "/web/access", "logStream": "i-1",
        "subscriptionFilters": ["all"],
        "logEvents": [
            { "id": "1", "timestamp": 1_765_000_000_000i64, "message": lines[1] },
            { "id": "2", "timestamp": 1_765_000_000_001i64, "message": lines[2] }
        ]
    });
    // The Kinesis Agent's LOGTOJSON (COMBINEDAPACHELOG) form of the log's first line.
    let agent_json = json!({
        "host": "83.149.9.216", "ident": null, "authuser": null, "datetime": "17/May/2015:10:05:03 +0000",
        "request": "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1",
        "response": "200", "bytes": "203023",
        "referrer": "http://semicomplete.com/presentations/logstash-monitorama-2013/",
        "agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36"
    })
    .to_string();
    let control = json!({ "messageType": "CONTROL_MESSAGE", "logGroup": "", "logStream": "", "logEvents": [] });
    let mut not_utf8 = lines[3].as_bytes().to_vec();
    let at = not_utf8.iter().position(|b| *b == b'"').unwrap() + 1;
    not_utf8.insert(at, 0xff);
    let health = lines[4].replacen(lines[4].split('"').nth(1).unwrap().split(' ').nth(1).unwrap(), "/health", 1);
    let odd = event(
        vec![
            record("truncated", &lines[5].as_bytes()[..40], None),
            record("not-utf8", &not_utf8, None),
            record("cloudwatch", &gzip(cloudwatch.to_string().as_bytes()), None),
            record("control", &gzip(control.to_string().as_bytes()), None),
            record("empty", b"", None),
            record("agent-json", agent_json.as_bytes(), None),
            record("health", health.as_bytes(), None),
            record("bad-gzip", &[0x1f, 0x8b, 8, 0, 1, 2, 3], None),
        ],
        false,
    );
    let (response, _) = emulator.invoke(&odd).await;
    let out = answered(&odd, &response);
    let result = |id: &str| out.iter().find(|(i, _, _)| i == id).unwrap();
    assert_eq!(result("truncated").1, "ProcessingFailed");
    assert_eq!(result("truncated").2, &lines[5].as_bytes()[..40], "a failed record is answered back as it came");
    assert_eq!(result("not-utf8").1, "Ok");
    let doc: Value = serde_json::from_slice(&result("not-utf8").2).unwrap();
    assert!(doc["event"]["original"].as_str().unwrap().contains('\u{fffd}'), "{doc}");
    assert_eq!(result("cloudwatch").1, "Ok");
    let docs: Vec<Value> = String::from_utf8(result("cloudwatch").2.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 2, "one JSON line per log event");
    assert_eq!(comparable(docs[1].clone()), comparable(service_document(&lines[2])));
    assert_eq!(result("agent-json").1, "Ok");
    let from_json: Value = serde_json::from_slice(&result("agent-json").2).unwrap();
    assert_eq!(comparable(from_json.clone()), comparable(service_document(&agent_json)));
    assert_eq!(from_json["firesight"]["record_format"], "kinesis_agent_json");
    let from_line = service_document(&lines[0]);
    for pointer in [
        "/@timestamp",
        "/source/ip",
        "/source/geo/city_name",
        "/url/path",
        "/http/response/status_code",
        "/user_agent/name",
    ] {
        assert_eq!(from_json.pointer(pointer), from_line.pointer(pointer), "{pointer}");
    }
    assert_eq!(result("control").1, "Dropped");
    assert_eq!(result("empty").1, "Dropped");
    assert_eq!(result("health").1, "Dropped", "{health}");
    assert_eq!(result("bad-gzip").1, "ProcessingFailed");

    // A 3 MB buffer (Firehose's largest): the answer stays under Lambda's 6 MB, ids one to one, and what
    // does not fit is ProcessingFailed (Firehose keeps it in S3) rather than a failed invocation.
    let mut records = Vec::new();
    let mut size = 0;
    for (i, line) in lines.iter().cycle().enumerate() {
        if size + line.len() > 3 * 1024 * 1024 {
            break;
        }
        size += line.len();
        records.push(record(&format!("b{i}"), line.as_bytes(), None));
    }
    let big = event(records, false);
    let (response, bytes) = emulator.invoke(&big).await;
    assert!(bytes < LAMBDA_RESPONSE_LIMIT, "{bytes} bytes");
    let out = answered(&big, &response);
    let ok = out.iter().filter(|r| r.1 == "Ok").count();
    let failed = out.iter().filter(|r| r.1 == "ProcessingFailed").count();
    assert_eq!(ok + failed, out.len());
    assert!(ok > 0, "the first records fit");
    eprintln!("3 MB buffer: {} records, {ok} Ok, {failed} past the 6 MB answer, {bytes} bytes answered", out.len());
}
