//! `latency` alert rules end to end: what a rule takes, and a rule firing on the p95 of the request
//! durations of its window.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use crate::alerts::{Receiver, hook, of_type, post, rule};
use crate::harness::{self, TestApp};

/// A `combined_timed` line at `time` that took `ms` milliseconds.
fn timed_line(i: usize, time: chrono::DateTime<Utc>, ms: u64) -> Vec<u8> {
    format!(
        "203.0.113.{} - - [{}] \"GET /api/slow/{i} HTTP/1.1\" 200 512 \"-\" \"curl/8.5.0\" {}.{:03}",
        i % 250,
        time.format("%d/%b/%Y:%H:%M:%S +0000"),
        ms / 1000,
        ms % 1000
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_latency_rule_fires_on_the_percentile_of_the_window() {
    let app = TestApp::builder()
        .set("STORE", "embedded")
        .set("PARSE__LOG_FORMAT", "combined_timed")
        .set("ALERTS__EVALUATION_INTERVAL_SECS", "1")
        .set("ALERTS__ALLOW_PRIVATE_TARGETS", "127.0.0.0/8")
        .spawn()
        .await;
    for (body, field) in [
        (json!({"name": "x", "kind": "latency", "threshold_ms": 250, "window": "5m"}), "percentile"),
        (json!({"name": "x", "kind": "latency", "percentile": 80, "threshold_ms": 250, "window": "5m"}), "percentile"),
        (json!({"name": "x", "kind": "latency", "percentile": 95, "threshold": 250, "window": "5m"}), "threshold_ms"),
        (
            json!({"name": "x", "kind": "error_rate", "threshold": 5, "threshold_ms": 250, "window": "5m"}),
            "threshold_ms",
        ),
        (json!({"name": "x", "kind": "error_rate", "threshold": 5, "percentile": 95, "window": "5m"}), "percentile"),
    ] {
        let (status, problem) = post(&app.base, "/v1/alerts/rules", body.clone()).await;
        assert_eq!((status, problem["field"].as_str()), (400, Some(field)), "{body}: {problem}");
    }

    let receiver = Receiver::start().await;
    hook(&app.base, &receiver, "/hook", "json").await;
    // Thirty requests half a minute ago taking 10, 20, ..., 300 ms: the nearest-rank p95 is 290 ms.
    let then = Utc::now() - chrono::TimeDelta::seconds(30);
    let records: Vec<Vec<u8>> = (1..=30).map(|i| timed_line(i, then, i as u64 * 10)).collect();
    let firehose = crate::firehose_client::FirehoseClient::new(&app.base);
    let reply = firehose.deliver(&harness::unique("req-"), &records).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Too few requests to judge: never fires.
    rule(
        &app.base,
        json!({"name": "p50 with 100 requests", "kind": "latency", "percentile": 50, "threshold_ms": 1,
               "window": "5m", "cooldown": "0s", "min_requests": 100}),
    )
    .await;
    let id = rule(
        &app.base,
        json!({"name": "p95 above 250 ms", "kind": "latency", "percentile": 95, "threshold_ms": 250,
               "window": "5m", "cooldown": "0s", "min_requests": 20}),
    )
    .await;
    let got =
        receiver.wait_for("latency firing", Duration::from_secs(60), |g| !of_type(g, "alert.firing").is_empty()).await;
    let firing = of_type(&got, "alert.firing");
    assert_eq!(firing.len(), 1, "only the rule with enough requests fires");
    let data = &firing[0].body["data"];
    assert_eq!(data["rule"]["id"], id.as_str());
    let stored = crate::alerts::get(&app.base, &format!("/v1/alerts/rules/{id}")).await;
    assert_eq!((stored["percentile"].as_u64(), stored["threshold_ms"].as_f64()), (Some(95), Some(250.0)), "{stored}");
    let findings = &data["findings"];
    assert_eq!(findings["value"], 290.0, "{findings}");
    assert_eq!(findings["counts"], json!({"requests": 30, "timed_requests": 30}), "{findings}");
    app.stop().await;
}
