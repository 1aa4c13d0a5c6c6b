//! Replaying what Firehose gave up on, end to end against moto's S3 (real SDK calls): error objects in
//! the three documented formats (HTTP endpoint, data transformation, OpenSearch), plain and gzip, over
//! several hours under a user prefix, with unparseable records and records already delivered; the
//! command, the background job across a restart, the API, the incident linkage and the webhook event.
//! Each test uses its own bucket: moto is shared.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use chrono::{DateTime, TimeDelta, Timelike, Utc};
use serde_json::{Value, json};

use crate::alerts::Receiver;
use crate::delivery_errors::{firehose_event, moto_client, seed};
use crate::firehose_client::gzip;
use crate::harness::{self, API_KEY, TestApp};

/// A seeding client on moto's S3, path-style like firesight's own behind an endpoint override.
pub(crate) async fn s3_client(moto: &str) -> aws_sdk_s3::Client {
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(moto)
        .credentials_provider(aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&shared).force_path_style(true).build())
}

pub(crate) async fn put(client: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("putting {key}: {}", aws_sdk_s3::error::DisplayErrorContext(e)));
}

/// The settings that point firesight's S3 client at moto (full variable names).
pub(crate) fn s3_settings(moto: &str) -> Vec<(&'static str, String)> {
    vec![
        ("FIRESIGHT_S3__ENDPOINT_URL", moto.to_owned()),
        ("FIRESIGHT_S3__REGION", "us-east-1".into()),
        ("FIRESIGHT_S3__ACCESS_KEY_ID", "testing".into()),
        ("FIRESIGHT_S3__SECRET_ACCESS_KEY", "testing".into()),
    ]
}

/// An object key as Firehose names it: `<prefix><error type>/YYYY/MM/dd/HH/<stream>-<version>-<time>-<uuid>`.
pub(crate) fn key(prefix: &str, error_type: &str, t: DateTime<Utc>, stream: &str, ext: &str) -> String {
    format!(
        "{prefix}{error_type}/{}/{stream}-1-{}-{}{ext}",
        t.format("%Y/%m/%d/%H"),
        t.format("%Y-%m-%d-%H-%M-%S"),
        uuid::Uuid::new_v4()
    )
}

fn b64(data: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Real access-log lines, their times moved to `t` plus one second each.
pub(crate) fn lines(skip: usize, n: usize, t: DateTime<Utc>) -> Vec<String> {
    harness::real_log_lines()
        .into_iter()
        .filter(|l| l.contains('[') && l.ends_with('"'))
        .skip(skip)
        .take(n)
        .enumerate()
        .map(|(i, l)| {
            let (start, end) = (l.find('[').unwrap(), l.find(']').unwrap());
            let time = t + TimeDelta::seconds(i as i64);
            format!("{}[{}]{}", &l[..start], time.format("%d/%b/%Y:%H:%M:%S +0000"), &l[end + 1..])
        })
        .collect()
}

pub(crate) fn http_record(raw: &str, data_id: &str, code: &str, ending: DateTime<Utc>) -> String {
    json!({
        "attemptsMade": 5, "arrivalTimestamp": ending.timestamp_millis() - 300_000, "errorCode": code,
        "errorMessage": format!("{code} from the endpoint"), "attemptEndingTimestamp": ending.timestamp_millis(),
        "rawData": b64(raw), "subsequenceNumber": 0, "dataId": data_id,
    })
    .to_string()
}

fn processing_record(raw: &str, arrival_ms: i64, ending: DateTime<Utc>) -> String {
    json!({
        "attemptsMade": 4, "arrivalTimestamp": arrival_ms, "errorCode": "Lambda.FunctionError",
        "errorMessage": "The Lambda function was successfully invoked but it returned an error result.",
        "attemptEndingTimestamp": ending.timestamp_millis(), "rawData": b64(raw),
        "lambdaArn": "arn:aws:lambda:us-east-1:111122223333:function:firesight:$LATEST",
    })
    .to_string()
}

fn opensearch_record(raw: &str, doc_id: &str, ending: DateTime<Utc>) -> String {
    // The capitalised spelling of one edition of the guide: both are accepted.
    json!({
        "attemptsMade": 1, "arrivalTimestamp": ending.timestamp_millis() - 60_000, "ErrorCode": "429",
        "ErrorMessage": "es_rejected_execution_exception", "attemptEndingTimestamp": ending.timestamp_millis(),
        "esDocumentId": doc_id, "esIndexName": "weblogs", "esTypeName": "", "rawData": b64(raw),
    })
    .to_string()
}

/// A document as firesight's Lambda writes it, with its `event.id`.
fn lambda_document(line: &str, event_id: &str) -> String {
    let enricher = firesight::enrich::Enricher::new(None, firesight::enrich::UserAgentParser::new().unwrap());
    let mut doc = firesight::line::document(line.to_owned(), None, None, &enricher, Utc::now()).unwrap();
    doc.event.id = Some(event_id.to_owned());
    serde_json::to_string(&doc).unwrap()
}

pub(crate) fn jsonl(records: &[String]) -> Vec<u8> {
    let mut out = records.join("\n").into_bytes();
    out.push(b'\n');
    out
}

fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_minute(0).unwrap().with_second(0).unwrap().with_nanosecond(0).unwrap()
}

#[tokio::test]
async fn one_replay_indexes_every_recoverable_line_once_and_a_second_adds_nothing() {
    let os = harness::require_opensearch().await;
    let moto = harness::require_moto().await;
    let s3 = s3_client(&moto).await;
    let bucket = harness::unique("replay-cli-");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let prefix = "weblogs/errors/";
    let stream = "weblogs";
    let h0 = hour_of(Utc::now()) - TimeDelta::hours(3);
    let (h1, h2) = (h0 + TimeDelta::hours(1), h0 + TimeDelta::hours(2));

    // HTTP endpoint, hour 0, plain: five one-line records, one that is not an access log, one line that
    // is not JSON at all.
    let a = lines(0, 5, h0);
    let mut records: Vec<String> = a
        .iter()
        .enumerate()
        .map(|(i, l)| {
            http_record(
                l,
                &format!("4960735736127174081141866428069304427482162288001233718{i}.0"),
                "HttpEndpoint.RequestTimeout",
                h0 + TimeDelta::minutes(10),
            )
        })
        .collect();
    records.push(http_record(
        "this is not an access log line",
        "49607357361271740811418664280693044274821622880012337199.0",
        "HttpEndpoint.RequestTimeout",
        h0 + TimeDelta::minutes(10),
    ));
    records.push("{\"attemptsMade\": 5, \"rawData\": ".to_owned());
    put(&s3, &bucket, &key(prefix, "http-endpoint-failed", h0, stream, ""), jsonl(&records)).await;

    // HTTP endpoint, hour 1, gzip: four records of two lines each, and a document the Lambda made.
    let b = lines(5, 8, h1);
    let mut records: Vec<String> = b
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            http_record(
                &format!("{}\n{}\n", pair[0], pair[1]),
                &format!("5000{i}.0"),
                "HttpEndpoint.DestinationException",
                h1 + TimeDelta::minutes(5),
            )
        })
        .collect();
    let lambda_line = lines(13, 1, h1).remove(0);
    records.push(http_record(
        &lambda_document(&lambda_line, "lambda-doc-1"),
        "50009.0",
        "HttpEndpoint.DestinationException",
        h1 + TimeDelta::minutes(5),
    ));
    put(&s3, &bucket, &key(prefix, "http-endpoint-failed", h1, stream, ".gz"), gzip(&jsonl(&records))).await;

    // Data transformation, hour 1, gzip: five records as they entered Firehose, and one the parser refuses.
    let c = lines(14, 5, h1 + TimeDelta::minutes(30));
    let mut records: Vec<String> = c
        .iter()
        .enumerate()
        .map(|(i, l)| processing_record(l, h1.timestamp_millis() + i as i64, h1 + TimeDelta::minutes(31)))
        .collect();
    records.push(processing_record("GARBAGE", h1.timestamp_millis() + 99, h1 + TimeDelta::minutes(31)));
    put(&s3, &bucket, &key(prefix, "processing-failed", h1, stream, ".gz"), gzip(&jsonl(&records))).await;

    // OpenSearch, hour 2, plain: four documents; the first was delivered after all (it is in the index
    // under the id Firehose meant for it).
    let d = lines(19, 4, h2);
    let records: Vec<String> = d
        .iter()
        .enumerate()
        .map(|(i, l)| opensearch_record(l, &format!("esdoc-{i}"), h2 + TimeDelta::minutes(1)))
        .collect();
    put(&s3, &bucket, &key(prefix, "AmazonOpenSearchService-failed", h2, stream, ""), jsonl(&records)).await;

    // Firehose's backup of delivered data beside the failures, and an object outside the prefix: never read.
    let delivered = jsonl(&[http_record(&lines(30, 1, h0)[0], "1.0", "x", h0)]);
    put(
        &s3,
        &bucket,
        &format!(
            "weblogs/errors/{}/{stream}-1-2026-12-07-10-00-00-0b1c2d3e-aaaa-bbbb-cccc-0123456789ab",
            h0.format("%Y/%m/%d/%H")
        ),
        delivered.clone(),
    )
    .await;
    put(&s3, &bucket, &key("other/", "http-endpoint-failed", h0, stream, ""), delivered).await;

    let data_dir = tempfile::tempdir().unwrap();
    let prefix_index = harness::unique("it-");
    let mut env: Vec<(&str, String)> = vec![
        ("FIRESIGHT_STORE", "opensearch".into()),
        ("FIRESIGHT_OPENSEARCH__URL", os.clone()),
        ("FIRESIGHT_OPENSEARCH__INDEX_PREFIX", prefix_index.clone()),
        ("FIRESIGHT_OPENSEARCH__REPLICAS", "0".into()),
        ("FIRESIGHT_DATA_DIR", data_dir.path().display().to_string()),
    ];
    env.extend(s3_settings(&moto));
    // The first OpenSearch document arrived after all: index it as Firehose would have, under its id.
    harness::run_firesight(&["migrate"], &env);
    let dry = harness::run_firesight(&["replay", &format!("s3://{bucket}/{prefix}"), "--dry-run"], &env);
    assert!(dry.contains("dry run: 4 objects, 22 failed records (26 lines)"), "{dry}");
    let delivered_doc = json!({"@timestamp": (h2).to_rfc3339(), "event": {"original": d[0]}});
    let day = h2.format("%Y.%m.%d");
    let r = harness::http()
        .put(format!("{os}/{prefix_index}-{day}/_doc/esdoc-0?refresh=true"))
        .json(&delivered_doc)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    assert_eq!(harness::count(&os, &format!("{prefix_index}-*")).await, 1);

    let first = harness::run_firesight(&["replay", &format!("s3://{bucket}/{prefix}")], &env);
    assert!(first.contains("4 objects, 22 failed records (26 lines) read from"), "{first}");
    assert!(first.contains("22 indexed, 1 already present, 3 still unparseable"), "{first}");
    assert!(first.contains("HttpEndpoint.RequestTimeout"), "{first}");
    assert!(first.contains("Lambda.FunctionError"), "{first}");
    // Every recoverable line once: 22 replayed plus the one delivered after all.
    assert_eq!(harness::count(&os, &format!("{prefix_index}-*")).await, 23);

    let second = harness::run_firesight(&["replay", &format!("s3://{bucket}/{prefix}")], &env);
    assert!(second.contains("0 indexed, 23 already present, 3 still unparseable"), "{second}");
    assert_eq!(harness::count(&os, &format!("{prefix_index}-*")).await, 23);

    // The Lambda's document kept its own id; the OpenSearch ones the ids Firehose meant for them.
    let lambda = harness::search(
        &os,
        &format!("{prefix_index}-*"),
        json!({"query": {"ids": {"values": ["lambda-doc-1", "esdoc-1", "esdoc-3"]}}}),
    )
    .await;
    assert_eq!(lambda["hits"]["total"]["value"], 3, "{lambda}");

    // The unparseable ones are dead letters with Firehose's code and message, once each.
    let dead_index = format!("{prefix_index}_deadletter");
    assert_eq!(harness::count(&os, &dead_index).await, 3);
    let dead = harness::search(&os, &dead_index, json!({"size": 10})).await;
    let mut codes: Vec<String> = dead["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["_source"]["failed_delivery"]["error_code"].as_str().unwrap_or("(none)").to_owned())
        .collect();
    codes.sort();
    assert_eq!(codes, ["(none)", "HttpEndpoint.RequestTimeout", "Lambda.FunctionError"], "{dead:#}");
    let garbage = dead["hits"]["hits"].as_array().unwrap().iter().find(|h| h["_source"]["raw"] == "GARBAGE").unwrap();
    assert_eq!(garbage["_source"]["source"], "replay");
    assert!(
        garbage["_source"]["failed_delivery"]["error_message"].as_str().unwrap().contains("returned an error result")
    );
    assert!(garbage["_source"]["failed_delivery"]["object"].as_str().unwrap().contains("/processing-failed/"));

    // A time range takes only the records whose attempts ended within it.
    let ranged = harness::run_firesight(
        &[
            "replay",
            &format!("s3://{bucket}/{prefix}"),
            "--since",
            &h2.to_rfc3339(),
            "--until",
            &(h2 + TimeDelta::hours(1)).to_rfc3339(),
        ],
        &env,
    );
    // The line that is not JSON has no time to judge it by: every range takes it (as a dead letter).
    assert!(ranged.contains("5 failed records (5 lines)"), "{ranged}");
    assert!(ranged.contains("0 indexed, 4 already present, 1 still unparseable"), "{ranged}");
    harness::drop_prefix(&os, &prefix_index).await;
}

async fn replays(app: &TestApp) -> Vec<Value> {
    let r = app.get("/v1/delivery-errors/replays?size=100").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

fn sum(items: &[Value], field: &str) -> u64 {
    items.iter().map(|r| r["counts"][field].as_u64().unwrap()).sum()
}

async fn wait_indexed(app: &TestApp, indexed: u64) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let items = replays(app).await;
        if sum(&items, "indexed") >= indexed {
            assert_eq!(sum(&items, "indexed"), indexed, "{items:#?}");
            return items;
        }
        assert!(tokio::time::Instant::now() < deadline, "the job did not replay: {items:#?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn logged(app: &TestApp, from: DateTime<Utc>) -> usize {
    let path = format!("/v1/logs?from={}&to=now&size=1000", from.to_rfc3339().replace('+', "%2B"));
    let body: Value = app.get(&path).send().await.unwrap().json().await.unwrap();
    body["items"].as_array().unwrap_or_else(|| panic!("{body}")).len()
}

async fn job_app(moto: &str, bucket: &str, data_dir: &std::path::Path) -> TestApp {
    let mut builder = TestApp::builder()
        .set("STORE", "embedded")
        .set("DATA_DIR", data_dir.display().to_string())
        .set("S3_REPLAY__BUCKETS", format!("s3://{bucket}/job/"))
        .set("S3_REPLAY__POLL_INTERVAL_SECS", "1");
    for (k, v) in s3_settings(moto) {
        builder = builder.set(k.trim_start_matches("FIRESIGHT_"), v);
    }
    builder.spawn().await
}

#[tokio::test]
async fn the_job_replays_new_objects_and_a_restart_reads_none_again() {
    let moto = harness::require_moto().await;
    let s3 = s3_client(&moto).await;
    let bucket = harness::unique("replay-job-");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let t = hour_of(Utc::now()) - TimeDelta::hours(2);

    let app = job_app(&moto, &bucket, data_dir.path()).await;
    let first: Vec<String> = lines(0, 3, t)
        .iter()
        .enumerate()
        .map(|(i, l)| http_record(l, &format!("{i}.0"), "HttpEndpoint.ConnectionFailed", t))
        .collect();
    put(&s3, &bucket, &key("job/", "http-endpoint-failed", t, "weblogs", ""), jsonl(&first)).await;
    wait_indexed(&app, 3).await;
    let second: Vec<String> =
        lines(3, 4, t).iter().enumerate().map(|(i, l)| processing_record(l, i as i64, t)).collect();
    put(&s3, &bucket, &key("job/", "processing-failed", t, "weblogs", ".gz"), gzip(&jsonl(&second))).await;
    let items = wait_indexed(&app, 7).await;
    assert!(items.iter().all(|r| r["origin"] == "job" && r["status"] == "completed"), "{items:#?}");
    assert_eq!(logged(&app, t - TimeDelta::hours(1)).await, 7);
    app.stop().await;

    // Restarted on the same state: nothing is read again.
    let app = job_app(&moto, &bucket, data_dir.path()).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = replays(&app).await;
    assert_eq!(after.len(), items.len(), "a pass that found nothing new records no replay: {after:#?}");
    assert_eq!(sum(&after, "already_present"), 0);
    let third: Vec<String> = lines(7, 2, t)
        .iter()
        .enumerate()
        .map(|(i, l)| http_record(l, &format!("3{i}.0"), "HttpEndpoint.ConnectionFailed", t))
        .collect();
    put(
        &s3,
        &bucket,
        &key("job/", "http-endpoint-failed", t + TimeDelta::minutes(1), "weblogs", ".gz"),
        gzip(&jsonl(&third)),
    )
    .await;
    let items = wait_indexed(&app, 9).await;
    assert_eq!(items[0]["objects"], 1, "only the new object was read: {items:#?}");
    assert_eq!(sum(&items, "already_present"), 0, "{items:#?}");
    assert_eq!(logged(&app, t - TimeDelta::hours(1)).await, 9);
    app.stop().await;
}

#[tokio::test]
async fn an_api_replay_fills_the_incident_and_tells_the_webhooks() {
    let os = harness::require_opensearch().await;
    let moto = harness::require_moto().await;
    let s3 = s3_client(&moto).await;
    let logs = moto_client(&moto).await;
    let stream = harness::unique("weblogs-");
    let group = format!("/aws/kinesisfirehose/{stream}");
    let bucket = harness::unique("replay-api-");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();

    // Delivery broke in hours 4 and 5 of the last eight: ten errors an hour in CloudWatch Logs.
    let hour = hour_of(Utc::now());
    let t0 = hour - TimeDelta::hours(8);
    let mut errors = Vec::new();
    for h in [4, 5] {
        for i in 0..10 {
            let time = t0 + TimeDelta::hours(h) + TimeDelta::minutes(i * 5);
            errors.push((
                time.timestamp_millis(),
                firehose_event(&stream, "https://logs.example.com", "HttpEndpoint.RequestTimeout", "timed out"),
            ));
        }
    }
    seed(&logs, &group, "HttpEndpointDelivery", &errors).await;

    let receiver = Receiver::start().await;
    let mut builder = TestApp::builder()
        .set("CLOUDWATCH__ENABLED", "true")
        .set("CLOUDWATCH__ENDPOINT_URL", moto.clone())
        .set("CLOUDWATCH__REGION", "us-east-1")
        .set("CLOUDWATCH__ACCESS_KEY_ID", "testing")
        .set("CLOUDWATCH__SECRET_ACCESS_KEY", "testing")
        .set("CLOUDWATCH__LOG_GROUPS", group.clone())
        .set("CLOUDWATCH__POLL_INTERVAL_SECS", "1")
        .set("ALERTS__ALLOW_PRIVATE_TARGETS", "127.0.0.0/8")
        .set("S3_REPLAY__BUCKETS", format!("s3://{bucket}/backup/"))
        // Only the API replays here: the job's first pass runs at start, before the objects exist.
        .set("S3_REPLAY__POLL_INTERVAL_SECS", "86400");
    for (k, v) in s3_settings(&moto) {
        builder = builder.set(k.trim_start_matches("FIRESIGHT_"), v);
    }
    let app = builder.spawn().await;
    app.wait_ready(Duration::from_secs(30)).await;
    let hook = app
        .client
        .post(app.url("/v1/alerts/webhooks"))
        .bearer_auth(API_KEY)
        .json(&json!({"url": receiver.url("/replays"), "events": ["replay.completed"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 201);
    let hook: Value = hook.json().await.unwrap();
    receiver.register("/replays", hook["secret"].as_str().unwrap());

    // Six records whose attempts ended in each broken hour, and one two hours later (no incident then).
    for h in [4, 5, 7] {
        let t = t0 + TimeDelta::hours(h);
        let n = if h == 7 { 1 } else { 6 };
        let records: Vec<String> = lines(h as usize * 10, n, t)
            .iter()
            .enumerate()
            .map(|(i, l)| {
                http_record(l, &format!("{h}{i}.0"), "HttpEndpoint.RequestTimeout", t + TimeDelta::minutes(20))
            })
            .collect();
        put(&s3, &bucket, &key("backup/", "http-endpoint-failed", t, &stream, ".gz"), gzip(&jsonl(&records))).await;
    }

    let range =
        format!("from={}&to={}", t0.to_rfc3339(), (hour + TimeDelta::hours(1)).to_rfc3339()).replace('+', "%2B");
    let outside = app
        .client
        .post(app.url(&format!("/v1/delivery-errors/replays?{range}&location=s3://{bucket}/elsewhere/")))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 409);
    assert_eq!(outside.headers()["content-type"], "application/problem+json");

    let started = app
        .client
        .post(app.url(&format!("/v1/delivery-errors/replays?{range}")))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let started: Value = started.json().await.unwrap();
    let id = started["items"][0]["id"].as_str().unwrap().to_owned();
    let replay = wait_replay(&app, &id).await;
    assert_eq!(
        replay["counts"],
        json!({"records": 13, "lines": 13, "indexed": 13, "already_present": 0, "dead_lettered": 0}),
        "{replay:#}"
    );
    assert_eq!(replay["codes"][0]["code"], "HttpEndpoint.RequestTimeout");
    assert_eq!(harness::count(&os, &format!("{}-*", app.index_prefix)).await, 13);

    // The incident of hours 4 and 5 shows the records found in S3 and replayed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let incident = loop {
        let body: Value = app
            .get(&format!("/v1/delivery-errors/incidents?{range}&interval=1h&baseline=3"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(i) = body["incidents"].as_array().and_then(|a| a.iter().find(|i| i["stream"] == stream.as_str())) {
            break i.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no incident: {body:#}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(
        (incident["recoverable_records"].as_u64(), incident["replayed_records"].as_u64()),
        (Some(12), Some(12)),
        "{incident:#}"
    );

    // The webhook heard of it, signed.
    let got = receiver
        .wait_for("replay.completed", Duration::from_secs(30), |got| {
            got.iter().any(|r| r.body["type"] == "replay.completed")
        })
        .await;
    let event = got.iter().find(|r| r.body["type"] == "replay.completed").unwrap();
    assert_eq!(event.verified, Ok(()));
    assert_eq!(event.body["data"]["replay_id"], id.as_str());
    assert_eq!(event.body["data"]["counts"]["indexed"], 13);

    // Again: nothing new, and the incident's counts stay.
    let again: Value = app
        .client
        .post(app.url(&format!("/v1/delivery-errors/replays?{range}")))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let replay = wait_replay(&app, again["items"][0]["id"].as_str().unwrap()).await;
    assert_eq!(
        (replay["counts"]["indexed"].as_u64(), replay["counts"]["already_present"].as_u64()),
        (Some(0), Some(13))
    );
    assert_eq!(harness::count(&os, &format!("{}-*", app.index_prefix)).await, 13);
    harness::drop_prefix(&os, &app.index_prefix).await;
    app.stop().await;
}

async fn wait_replay(app: &TestApp, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r: Value =
            app.get(&format!("/v1/delivery-errors/replays/{id}")).send().await.unwrap().json().await.unwrap();
        if r["status"] != "running" {
            assert_eq!(r["status"], "completed", "{r:#}");
            return r;
        }
        assert!(tokio::time::Instant::now() < deadline, "replay still running: {r:#}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
