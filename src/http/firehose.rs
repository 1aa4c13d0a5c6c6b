//! `POST /v1/firehose`: the Amazon Kinesis Data Firehose HTTP endpoint. The handler hands the request to
//! the [`Receiver`](crate::firehose::receiver::Receiver) and answers in Firehose's own JSON format (never
//! problem+json); the receiver bounds the body and the deadline itself, so the REST limits do not apply.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::App;
use crate::firehose::models::{self, FirehoseResponse};
use crate::metrics::FirehoseLabels;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(receive))
}

/// Receive a Kinesis Data Firehose delivery (HTTP endpoint protocol 1.0).
///
/// Configure this URL as the Firehose stream's HTTP endpoint destination with one of the configured
/// access keys. Each record holds one or more access-log lines (Apache/Nginx combined or common format,
/// Kinesis Agent JSON, or JSON enriched by a Lambda) or a CloudWatch Logs subscription payload. The
/// answer is 200 only when every line is durable (indexed, or kept in the dead-letter index when it
/// cannot be parsed); a replayed delivery (same request id) adds nothing.
#[utoipa::path(post, path = "/v1/firehose", tag = "ingest",
    params(
        ("X-Amz-Firehose-Protocol-Version" = String, Header, description = "Must be `1.0`", pattern = "^1\\.0$"),
        ("X-Amz-Firehose-Request-Id" = String, Header, description = "Delivery id, kept across retries; the \
body's `requestId` must be the same", pattern = "[^\\t ]"),
        ("X-Amz-Firehose-Access-Key" = String, Header, description = "One of `FIRESIGHT_FIREHOSE__ACCESS_KEYS`"),
        ("X-Amz-Firehose-Source-Arn" = Option<String>, Header, description = "The delivery stream's ARN"),
        ("X-Amz-Firehose-Common-Attributes" = Option<String>, Header,
            description = "JSON `{\"commonAttributes\": {...}}` with at most 50 string values, kept on every document"),
        ("Content-Encoding" = Option<String>, Header, description = "`gzip` (the body is gzip), `identity` or absent",
            pattern = "^([gG][zZ][iI][pP]|[iI][dD][eE][nN][tT][iI][tT][yY])$"),
    ),
    request_body(content = models::FirehoseRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Every record is durable", body = FirehoseResponse),
        (status = 400, description = "Malformed body or header; `errorMessage` says which", body = FirehoseResponse),
        (status = 401, description = "Missing or wrong access key", body = FirehoseResponse),
        (status = 413, description = "Body, decompressed body or record count over the limit", body = FirehoseResponse),
        (status = 415, description = "`Content-Encoding` other than `gzip`", body = FirehoseResponse),
        (status = 500, description = "Unexpected failure; Firehose retries", body = FirehoseResponse),
        (status = 503, description = "Log store unavailable or shutting down; Firehose retries", body = FirehoseResponse),
    ))]
pub async fn receive(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let delivery = app.receiver.receive(&headers, body).await;
    let timestamp = chrono::Utc::now().timestamp_millis();
    let (status, error_message) = match &delivery.result {
        Ok(report) => {
            tracing::debug!(request_id = %delivery.request_id, indexed = report.indexed,
                duplicates = report.duplicates, dead_lettered = report.dead_lettered, "delivery accepted");
            (StatusCode::OK, None)
        }
        Err(e) => {
            let status = e.status();
            if status.is_server_error() {
                tracing::warn!(request_id = %delivery.request_id, status = status.as_u16(), error = %e, "delivery refused");
            } else {
                tracing::debug!(request_id = %delivery.request_id, status = status.as_u16(), error = %e, "delivery refused");
            }
            (status, Some(truncate(e.to_string(), 8192)))
        }
    };
    app.metrics.firehose_requests.get_or_create(&FirehoseLabels { status: status.as_u16() }).inc();
    let body = FirehoseResponse { request_id: delivery.request_id, timestamp, error_message };
    (status, Json(body)).into_response()
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use crate::firehose::errors::FirehoseError;

    #[test]
    fn documents_every_status_a_refusal_can_answer() {
        let spec = serde_json::to_value(super::super::openapi()).unwrap();
        let responses = &spec["paths"]["/v1/firehose"]["post"]["responses"];
        for status in FirehoseError::STATUSES.iter().map(|s| s.as_u16().to_string()).chain(["200".to_owned()]) {
            assert!(responses.get(&status).is_some(), "POST /v1/firehose does not document {status}");
        }
    }
}
