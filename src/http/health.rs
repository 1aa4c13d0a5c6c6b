//! Liveness, readiness (each dependency reported separately) and the Prometheus endpoint. Public: no
//! API key, so orchestrators and scrapers need no secret.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    /// Always `live` while the process serves HTTP.
    #[schema(example = "live")]
    pub status: &'static str,
}

/// Whether the process is up.
#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, description = "The process serves HTTP", body = Liveness)))]
pub async fn live() -> Json<Liveness> {
    Json(Liveness { status: "live" })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` when every dependency is up, else `not_ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// One entry per dependency: `state_db`, `log_store`, `cloudwatch` when enabled, and
    /// `kinesis:<stream>` for each configured Kinesis data stream.
    pub checks: BTreeMap<String, DependencyCheck>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DependencyCheck {
    /// `up` or `down`.
    #[schema(example = "up")]
    pub status: &'static str,
    /// What answers: `sqlite`, `postgres`, `opensearch`, `cloudwatch-logs`, `kinesis`.
    pub kind: String,
    /// Round-trip time of the check in milliseconds.
    pub latency_ms: u64,
    /// Backend version, when known (a Kinesis stream's ARN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why the dependency is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A Kinesis stream's shards (open and closed) at the last ListShards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<usize>,
    /// A Kinesis stream's shard leases this replica holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leases_held: Option<usize>,
}

/// Whether every dependency answers; 503 when one does not.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses(
        (status = 200, description = "Every dependency is up", body = Readiness),
        (status = 503, description = "At least one dependency is down", body = Readiness)))]
pub async fn ready(State(app): State<App>) -> impl IntoResponse {
    let db = timed("sqlite", async { app.db.ping().await.map(|()| None).map_err(|e| e.to_string()) });
    let db_kind = app.db.backend().as_str();
    let store = timed(app.store.kind(), async {
        let status = app.store.status().await.map_err(|e| with_causes(&e))?;
        if !status.schema_installed {
            return Err("index template not installed yet".to_owned());
        }
        Ok(status.version)
    });
    let cloudwatch = async {
        match &app.cloudwatch {
            Some(cw) => Some(
                timed("cloudwatch-logs", async { cw.ping().await.map(|()| None).map_err(|e| e.to_string()) }).await,
            ),
            None => None,
        }
    };
    let (mut db, store, cloudwatch) = tokio::join!(db, store, cloudwatch);
    db.kind = db_kind.to_owned();

    let mut checks = BTreeMap::new();
    checks.insert("state_db".to_owned(), db);
    checks.insert("log_store".to_owned(), store);
    if let Some(cw) = cloudwatch {
        checks.insert("cloudwatch".to_owned(), cw);
    }
    for (stream, status) in app.kinesis_streams.read().expect("stream status lock").iter() {
        checks.insert(format!("kinesis:{stream}"), stream_check(status));
    }
    let all_up = checks.values().all(|c| c.status == "up");
    let status = if all_up { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(Readiness { status: if all_up { "ready" } else { "not_ready" }, checks }))
}

/// A Kinesis stream is up once the consumer resolved it and its last shard listing succeeded.
fn stream_check(status: &crate::kinesis::StreamStatus) -> DependencyCheck {
    let error = match (&status.arn, &status.error) {
        (_, Some(e)) => Some(e.clone()),
        (None, None) => Some("not resolved yet (DescribeStreamSummary)".to_owned()),
        (Some(_), None) => None,
    };
    DependencyCheck {
        status: if error.is_none() { "up" } else { "down" },
        kind: "kinesis".to_owned(),
        latency_ms: 0,
        version: status.arn.clone(),
        error,
        shards: Some(status.shards),
        leases_held: Some(status.leases_held),
    }
}

/// An error with its causes: "log store unreachable: error sending request: connection refused".
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

async fn timed(kind: &str, check: impl Future<Output = Result<Option<String>, String>>) -> DependencyCheck {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    };
    let latency_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(version) => DependencyCheck {
            status: "up",
            kind: kind.to_owned(),
            latency_ms,
            version,
            error: None,
            shards: None,
            leases_held: None,
        },
        Err(error) => DependencyCheck {
            status: "down",
            kind: kind.to_owned(),
            latency_ms,
            version: None,
            error: Some(error),
            shards: None,
            leases_held: None,
        },
    }
}

/// Prometheus metrics (OpenMetrics text format).
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(State(app): State<App>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], app.metrics.render())
}
