//! The API fuzzed from its own OpenAPI document by schemathesis (PyPI, installed by
//! `dev/schemathesis.sh`): every check, the examples, coverage, fuzzing and stateful phases, once with
//! a fixed seed and once with a random one that the log prints. The service runs on the real stores
//! (OpenSearch, PostgreSQL) with the demo traffic, delivery errors polled from moto, a webhook that
//! answers, a rule that fired and its incident and event, so the `{id}` operations reach real objects.
//! What no schema can state (one parameter against another) is in `tests/schemathesis/hooks.py`.

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use crate::alerts::Receiver;
use crate::delivery_errors::{firehose_event, moto_client, seed};
use crate::firehose_client::ACCESS_KEY;
use crate::harness::{self, API_KEY, TestApp};

fn schemathesis() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".dev/schemathesis-venv/bin/schemathesis");
    assert!(bin.exists(), "schemathesis is not installed at {}: run dev/schemathesis.sh", bin.display());
    bin
}

async fn call(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(API_KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_does_what_its_openapi_document_says() {
    harness::require_opensearch().await;
    let moto = harness::require_moto().await;
    let bin = schemathesis();
    let (database_url, _) = harness::postgres_schema_url().await;

    // Delivery errors for the last hour, for the poller to find.
    let stream = harness::unique("fuzzed-");
    let group = format!("/aws/kinesisfirehose/{stream}");
    let now = Utc::now();
    let errors: Vec<(i64, String)> = (0..10)
        .map(|i| {
            let at = now - chrono::Duration::minutes(50 - i * 5);
            let event = firehose_event(&stream, "https://logs.example.com", "HttpEndpoint.ConnectionFailed", "refused");
            (at.timestamp_millis(), event)
        })
        .collect();
    seed(&moto_client(&moto).await, &group, "HttpEndpointDelivery", &errors).await;

    // Records Firehose gave up on, in its S3 backup: the replay job reads them, and the API's replays
    // read them again.
    let s3 = crate::replay::s3_client(&moto).await;
    let bucket = harness::unique("fuzzed-");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let failed: Vec<String> = crate::replay::lines(0, 5, now - chrono::Duration::minutes(40))
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let ending = now - chrono::Duration::minutes(30);
            crate::replay::http_record(l, &format!("{i}.0"), "HttpEndpoint.ConnectionFailed", ending)
        })
        .collect();
    let key = crate::replay::key("errors/", "http-endpoint-failed", now, &stream, "");
    crate::replay::put(&s3, &bucket, &key, crate::replay::jsonl(&failed)).await;

    let receiver = Receiver::start().await;
    let mut builder = TestApp::builder();
    for (k, v) in crate::replay::s3_settings(&moto) {
        builder = builder.set(k.trim_start_matches("FIRESIGHT_"), v);
    }
    let app = builder
        .set("S3_REPLAY__BUCKETS", format!("s3://{bucket}/errors/"))
        .set("S3_REPLAY__POLL_INTERVAL_SECS", "1")
        .set("DATABASE_URL", database_url)
        .set("DEMO", "true")
        .set("CLOUDWATCH__ENABLED", "true")
        .set("CLOUDWATCH__ENDPOINT_URL", moto)
        .set("CLOUDWATCH__REGION", "us-east-1")
        .set("CLOUDWATCH__ACCESS_KEY_ID", "testing")
        .set("CLOUDWATCH__SECRET_ACCESS_KEY", "testing")
        .set("CLOUDWATCH__LOG_GROUPS", group)
        .set("CLOUDWATCH__POLL_INTERVAL_SECS", "1")
        .set("CLOUDWATCH__START_LOOKBACK_SECS", "7200")
        .set("ALERTS__EVALUATION_INTERVAL_SECS", "1")
        .set("ALERTS__DISPATCH_INTERVAL_SECS", "1")
        .set("ALERTS__ALLOW_PRIVATE_TARGETS", "127.0.0.1/32")
        .spawn()
        .await;
    app.wait_ready(Duration::from_secs(60)).await;

    // A webhook that answers, and a rule over the seeded errors that fires and sends an event to it.
    let (status, hook) = call(
        &app,
        reqwest::Method::POST,
        "/v1/alerts/webhooks",
        Some(json!({"url": receiver.url("/hook"), "description": "fuzzed"})),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let (status, rule) = call(
        &app,
        reqwest::Method::POST,
        "/v1/alerts/rules",
        Some(json!({
            "name": "fuzzed stream failing", "kind": "delivery_errors", "threshold": 1, "window": "1d",
            "streams": [stream],
        })),
    )
    .await;
    assert_eq!(status, 201, "{rule}");
    let attempts = format!("/v1/alerts/webhooks/{}/attempts", hook["id"].as_str().unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let (_, incidents) = call(&app, reqwest::Method::GET, "/v1/alerts/incidents", None).await;
        let (_, sent) = call(&app, reqwest::Method::GET, &attempts, None).await;
        let incident = !incidents["items"].as_array().is_none_or(Vec::is_empty);
        if incident && !sent["items"].as_array().is_none_or(Vec::is_empty) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no incident and delivery yet: {incidents} {sent}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let random_seed: u32 = rand_seed();
    for seed in [1, random_seed] {
        println!("schemathesis seed {seed}");
        let hooks = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
        // Its own working directory: schemathesis keeps a cache of past crashes there and replays them.
        let workdir = tempfile::tempdir().unwrap();
        let output = tokio::process::Command::new(&bin)
            .current_dir(workdir.path())
            .arg("--config-file")
            .arg(hooks.join("schemathesis.toml"))
            .args(["run", &app.url("/openapi.json"), "--checks", "all", "--workers", "1", "--max-examples", "15"])
            .args(["--phases", "examples,coverage,fuzzing,stateful", "--seed", &seed.to_string()])
            .args(["--request-timeout", "30", "--no-color"])
            .args(["-H", &format!("Authorization: Bearer {API_KEY}")])
            .args(["-H", &format!("X-Amz-Firehose-Access-Key: {ACCESS_KEY}")])
            .env("SCHEMATHESIS_HOOKS", "hooks")
            .env("PYTHONPATH", &hooks)
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        let log = String::from_utf8_lossy(&output.stdout);
        println!("{log}{}", String::from_utf8_lossy(&output.stderr));
        // The run's summary with its seed goes to the test command's own log even when the test
        // passes (the harness captures `println!`, not writes to the process's stderr).
        let summary = log.lines().skip_while(|l| !l.contains("SUMMARY")).collect::<Vec<_>>().join("\n");
        let _ = writeln!(std::io::stderr(), "schemathesis, seed {seed}:\n{summary}");
        assert!(output.status.success(), "schemathesis (seed {seed}) found problems; see the log above");
        assert!(log.contains(&format!("Seed: {seed}")), "the log names the seed");
        assert!(log.contains(" passed"), "cases ran");
    }
    app.stop().await;
}

/// A seed from the OS random source, printed so a failing run can be replayed.
fn rand_seed() -> u32 {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).expect("the OS random source");
    u32::from_le_bytes(bytes) % 1_000_000
}
