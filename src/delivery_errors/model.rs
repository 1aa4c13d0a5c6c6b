//! What the `/v1/delivery-errors` endpoints answer. Times are RFC 3339 UTC; intervals are seconds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::event::Family;

/// One Firehose delivery error as CloudWatch Logs recorded it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "38217839876541234567890123456789012345678901234567890123",
    "time": "2026-11-26T03:12:09.164Z",
    "stream": "weblogs",
    "stream_arn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/weblogs",
    "destination": "logs.example.com",
    "delivery_stream_version_id": 1,
    "error_code": "HttpEndpoint.DestinationException",
    "family": "http_endpoint",
    "http_status": 413,
    "message": "The following response was received from the endpoint destination. 413: {\"requestId\": \"43b8e724-dbac-4510-adb7-ef211c6044b9\", \"timestamp\": 1598556019164, \"errorMessage\": \"Payload too large\"}",
    "log_group": "/aws/kinesisfirehose/weblogs",
    "log_stream": "HttpEndpointDelivery"
}))]
pub struct DeliveryErrorItem {
    /// CloudWatch Logs event id (each event is stored once).
    pub id: String,
    /// When Firehose logged the error.
    pub time: DateTime<Utc>,
    /// Delivery stream name, from the ARN (or the log group).
    pub stream: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_stream_version_id: Option<i64>,
    /// Firehose's error code, e.g. `HttpEndpoint.DestinationException`, `Lambda.InvokeAccessDenied`, `400`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    pub family: Family,
    /// OpenSearch error type embedded in the message, e.g. `mapper_parsing_exception`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// HTTP status the destination answered, when the code or the message says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i64>,
    /// ARN of the transforming Lambda function, when one is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub log_group: String,
    pub log_stream: String,
    /// The event exactly as logged, for events of family `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

/// A page of delivery errors, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "from": "2026-11-25T06:00:00Z", "to": "2026-11-26T06:00:00Z",
    "items": [{
        "id": "38217839876541234567890123456789012345678901234567890124",
        "time": "2026-11-26T03:14:41Z",
        "stream": "to-opensearch",
        "stream_arn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/to-opensearch",
        "destination": "arn:aws:es:us-east-1:123456789012:domain/logs",
        "delivery_stream_version_id": 2,
        "error_code": "400",
        "family": "http_status",
        "error_type": "mapper_parsing_exception",
        "http_status": 400,
        "message": "{\"type\":\"mapper_parsing_exception\",\"reason\":\"failed to parse field [http.response.status_code] of type [long]\"}",
        "log_group": "/aws/kinesisfirehose/to-opensearch",
        "log_stream": "DestinationDelivery"
    }],
    "next_cursor": "MTc2NDEyNjg4MTAwMDozODIxNzgzOTg3NjU0MTIzNDU2Nzg5"
}))]
pub struct DeliveryErrorPage {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub items: Vec<DeliveryErrorItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A count with the first and last occurrence.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"key": "HttpEndpoint.DestinationException", "count": 42,
    "first_seen": "2026-11-26T01:00:03Z", "last_seen": "2026-11-26T01:58:41Z"}))]
pub struct KeyStat {
    pub key: String,
    pub count: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CountBucket {
    pub start: DateTime<Utc>,
    pub count: u64,
}

/// Delivery errors summed up.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "from": "2026-11-25T06:00:00Z", "to": "2026-11-26T06:00:00Z", "interval": 3600,
    "total": 45, "unknown_shapes": 0,
    "first_seen": "2026-11-26T01:00:03Z", "last_seen": "2026-11-26T01:58:41Z",
    "by_code": [{"key": "HttpEndpoint.DestinationException", "count": 42, "first_seen": "2026-11-26T01:00:03Z", "last_seen": "2026-11-26T01:58:41Z"}],
    "by_family": [{"key": "http_endpoint", "count": 45, "first_seen": "2026-11-26T01:00:03Z", "last_seen": "2026-11-26T01:58:41Z"}],
    "by_stream": [{"key": "weblogs", "count": 45, "first_seen": "2026-11-26T01:00:03Z", "last_seen": "2026-11-26T01:58:41Z"}],
    "timeline": [{"start": "2026-11-26T01:00:00Z", "count": 45}]
}))]
pub struct DeliveryErrorSummary {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Timeline bucket width, seconds.
    pub interval: u64,
    pub total: u64,
    /// Events that were not Firehose delivery errors (family `unknown`).
    pub unknown_shapes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
    /// Most frequent first (events without a code count as `(none)`).
    pub by_code: Vec<KeyStat>,
    pub by_family: Vec<KeyStat>,
    pub by_stream: Vec<KeyStat>,
    /// Every bucket of the range, empty ones as 0.
    pub timeline: Vec<CountBucket>,
}

/// One bucket of the correlation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CorrelationBucket {
    pub start: DateTime<Utc>,
    /// Delivery errors Firehose logged.
    pub delivery_errors: u64,
    /// Access-log records the log store holds for this bucket.
    pub records_ingested: u64,
    /// Firehose deliveries firesight refused (non-200 answers).
    pub rejected_requests: u64,
    /// The refusals by HTTP status.
    pub rejected_by_status: BTreeMap<String, u64>,
    /// Median records ingested over the baseline buckets before this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest_baseline: Option<f64>,
    /// Ingest fell at least `min_drop` below the baseline while delivery errors rose above theirs.
    pub flagged: bool,
}

/// Delivery errors next to ingest volume and firesight's own refusals.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "from": "2026-11-26T00:00:00Z", "to": "2026-11-26T03:00:00Z", "interval": 3600,
    "baseline_buckets": 6, "min_drop": 0.3, "flagged_buckets": 1,
    "buckets": [
        {"start": "2026-11-26T00:00:00Z", "delivery_errors": 0, "records_ingested": 4210, "rejected_requests": 0, "rejected_by_status": {}, "ingest_baseline": 4180.0, "flagged": false},
        {"start": "2026-11-26T01:00:00Z", "delivery_errors": 45, "records_ingested": 310, "rejected_requests": 12, "rejected_by_status": {"503": 12}, "ingest_baseline": 4195.0, "flagged": true},
        {"start": "2026-11-26T02:00:00Z", "delivery_errors": 0, "records_ingested": 4302, "rejected_requests": 0, "rejected_by_status": {}, "ingest_baseline": 4195.0, "flagged": false}
    ]
}))]
pub struct Correlation {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub interval: u64,
    pub baseline_buckets: u32,
    pub min_drop: f64,
    pub flagged_buckets: u64,
    pub buckets: Vec<CorrelationBucket>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CodeCount {
    pub code: String,
    pub count: u64,
}

/// A run of consecutive buckets with delivery errors of one stream.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = DeliveryIncident)]
pub struct Incident {
    pub stream: String,
    /// Start of the first bucket with errors.
    pub start: DateTime<Utc>,
    /// End of the last bucket with errors; absent while ongoing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// Errors continue into the present bucket.
    pub ongoing: bool,
    pub error_count: u64,
    /// Most frequent first.
    pub codes: Vec<CodeCount>,
    /// Median records ingested per bucket before the incident.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest_baseline: Option<f64>,
    /// Shortfall of records ingested against that baseline, summed over the incident. Ingest is counted
    /// over every stream, so concurrent incidents share it.
    pub estimated_missing_records: u64,
    /// Access-log lines found in the records Firehose backed up to S3 after giving up on them, whose
    /// attempts ended within the incident (`attemptEndingTimestamp`), as replays read them.
    pub recoverable_records: u64,
    /// Of those, the lines now in the log store (replayed, or already there).
    pub replayed_records: u64,
}

/// Incidents overlapping the range, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "from": "2026-11-25T06:00:00Z", "to": "2026-11-26T06:00:00Z", "interval": 600,
    "incidents": [{
        "stream": "weblogs", "start": "2026-11-26T01:00:00Z", "end": "2026-11-26T02:00:00Z", "ongoing": false,
        "error_count": 45,
        "codes": [{"code": "HttpEndpoint.ConnectionFailed", "count": 30}, {"code": "HttpEndpoint.RequestTimeout", "count": 15}],
        "ingest_baseline": 700.0, "estimated_missing_records": 3890,
        "recoverable_records": 3890, "replayed_records": 3702
    }]
}))]
pub struct Incidents {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub interval: u64,
    pub incidents: Vec<Incident>,
}
