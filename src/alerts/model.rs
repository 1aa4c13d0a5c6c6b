//! The shapes of `/v1/alerts`: what clients send (strict: unknown fields are refused), what they get
//! back, and the events webhooks receive.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rules::RuleKind;

pub use super::bounds::{
    EVENT_ENDPOINT_DISABLED, EVENT_FIRING, EVENT_REPLAY_COMPLETED, EVENT_RESOLVED, EVENT_TEST, SUBSCRIBABLE,
};

/// How a webhook's body is shaped. Both are signed the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum PayloadFormat {
    /// The [`AlertEvent`] JSON document.
    #[default]
    Json,
    /// A Slack incoming-webhook message: `{"text": "..."}` with Slack's mrkdwn.
    Slack,
}

impl PayloadFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadFormat::Json => "json",
            PayloadFormat::Slack => "slack",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "json" => Some(PayloadFormat::Json),
            "slack" => Some(PayloadFormat::Slack),
            _ => None,
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_events() -> Vec<String> {
    SUBSCRIBABLE.map(str::to_owned).to_vec()
}

/// A new webhook endpoint.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://hooks.example.com/firesight",
    "description": "on-call channel",
    "events": ["alert.firing", "alert.resolved"],
    "format": "json"
}))]
pub struct WebhookCreate {
    /// Where events are POSTed: http or https, no credentials in the URL. Private, loopback and
    /// link-local addresses are refused unless allowed by `FIRESIGHT_ALERTS__ALLOW_PRIVATE_TARGETS`.
    #[schema(schema_with = super::schema::webhook_url)]
    pub url: String,
    /// Free text, at most 500 characters.
    #[serde(default)]
    #[schema(max_length = 500, pattern = "^[^\\x00]*$")]
    pub description: String,
    /// Event types to receive: `alert.firing`, `alert.resolved` (default both).
    #[serde(default = "default_events")]
    #[schema(schema_with = super::schema::webhook_events)]
    pub events: Vec<String>,
    /// Body format (default `json`).
    #[serde(default)]
    pub format: PayloadFormat,
    /// Deliver events (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
}

/// Changes to a webhook; absent fields stay as they are. The secret cannot be changed.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookUpdate {
    #[schema(schema_with = super::schema::webhook_url_update)]
    pub url: Option<String>,
    #[schema(max_length = 500, pattern = "^[^\\x00]*$")]
    pub description: Option<String>,
    #[schema(schema_with = super::schema::webhook_events_update)]
    pub events: Option<Vec<String>>,
    pub format: Option<PayloadFormat>,
    pub enabled: Option<bool>,
}

/// A webhook endpoint. Its signing secret is returned once, when it is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    /// `hook_...`
    pub id: String,
    pub url: String,
    pub description: String,
    pub enabled: bool,
    pub events: Vec<String>,
    pub format: PayloadFormat,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Since when every attempt to this webhook has failed (absent while the last one succeeded).
    #[serde(default)]
    pub failing_since: Option<DateTime<Utc>>,
    /// When firesight disabled the webhook because every attempt failed for
    /// `FIRESIGHT_ALERTS__DISABLE_AFTER_SECS`; `PATCH` with `enabled: true` enables it again.
    #[serde(default)]
    pub disabled_at: Option<DateTime<Utc>>,
    /// Why it was disabled (the last error).
    #[serde(default)]
    pub disabled_reason: Option<String>,
}

/// A webhook just created, with its signing secret. Keep the secret: it is never shown again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// Standard Webhooks signing secret, `whsec_<base64>`: verify `webhook-signature` with it.
    pub secret: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookPage {
    pub items: Vec<Webhook>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn default_cooldown() -> String {
    "10m".to_owned()
}

/// A new alert rule; its schema, one shape per kind, is [`super::schema::rule_create`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleCreate {
    /// 1 to 200 characters.
    pub name: String,
    pub kind: RuleKind,
    /// `delivery_errors`: errors in the window at or above this count. `ingest_silence`: fewer records
    /// than this in the window (1 means none) while the 6 windows before averaged at least this many.
    /// `error_rate`: percentage of 5xx responses above this. Not for `latency` (its `threshold_ms`).
    #[serde(default)]
    pub threshold: Option<f64>,
    /// `latency` only (required there): the percentile's milliseconds above which it fires.
    #[serde(default)]
    pub threshold_ms: Option<f64>,
    /// `latency` only (required there): the request-duration percentile watched, 50, 90, 95 or 99.
    #[serde(default)]
    pub percentile: Option<u8>,
    /// The window the condition looks back over: `30s`, `5m`, `1h`, `1d` (10 seconds to 7 days).
    pub window: String,
    /// After an incident opens, the rule opens no other one until this has passed (default `10m`; `0s`
    /// to 7 days).
    #[serde(default = "default_cooldown")]
    pub cooldown: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// `delivery_errors` only: delivery stream names (default all).
    #[serde(default)]
    pub streams: Option<Vec<String>>,
    /// `delivery_errors` only: error codes such as `HttpEndpoint.DestinationException` (default all).
    #[serde(default)]
    pub codes: Option<Vec<String>>,
    /// `delivery_errors` only: error families such as `http_endpoint`, `lambda`, `opensearch`.
    #[serde(default)]
    pub families: Option<Vec<String>>,
    /// `error_rate` and `latency` only: fewer requests (with a duration, for `latency`) than this in
    /// the window never fire (default 10).
    #[serde(default, deserialize_with = "whole_number")]
    pub min_requests: Option<u64>,
}

/// A count given as a JSON number: `10` or `10.0` (JSON Schema's `integer` admits both).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n: Option<f64> = Option::deserialize(d)?;
    n.map(|n| match n >= 0.0 && n.fract() == 0.0 && n < 2f64.powi(53) {
        true => Ok(n as u64),
        false => Err(serde::de::Error::custom("min_requests must be a whole number of at least 0")),
    })
    .transpose()
}

impl utoipa::PartialSchema for RuleCreate {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::schema::rule_create()
    }
}

impl ToSchema for RuleCreate {}

/// Changes to a rule; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleUpdate {
    #[schema(schema_with = super::schema::rule_name_update)]
    pub name: Option<String>,
    /// Within the range of the rule's kind (see `RuleCreate`); a value outside it is a conflict (409).
    #[schema(schema_with = super::schema::rule_threshold_update)]
    pub threshold: Option<f64>,
    #[schema(schema_with = super::schema::rule_window_update)]
    pub window: Option<String>,
    #[schema(schema_with = super::schema::rule_cooldown_update)]
    pub cooldown: Option<String>,
    pub enabled: Option<bool>,
    /// `delivery_errors` rules only (409 for another kind, unless empty).
    #[schema(schema_with = super::schema::rule_values_update)]
    pub streams: Option<Vec<String>>,
    /// `delivery_errors` rules only (409 for another kind, unless empty).
    #[schema(schema_with = super::schema::rule_values_update)]
    pub codes: Option<Vec<String>>,
    /// `delivery_errors` rules only (409 for another kind, unless empty).
    #[schema(schema_with = super::schema::rule_families_update)]
    pub families: Option<Vec<String>>,
    /// `error_rate` and `latency` rules only (409 for another kind).
    #[schema(schema_with = super::schema::rule_min_requests_update)]
    #[serde(default, deserialize_with = "whole_number")]
    pub min_requests: Option<u64>,
    /// `latency` rules only (409 for another kind): milliseconds, 0 to 86400000.
    #[schema(schema_with = super::schema::rule_threshold_ms_update)]
    pub threshold_ms: Option<f64>,
    /// `latency` rules only (409 for another kind): 50, 90, 95 or 99.
    #[schema(schema_with = super::schema::rule_percentile_update)]
    pub percentile: Option<u8>,
}

/// An alert rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Rule {
    /// `rule_...`
    pub id: String,
    pub name: String,
    pub kind: RuleKind,
    pub threshold: f64,
    pub window: String,
    pub cooldown: String,
    pub enabled: bool,
    pub streams: Vec<String>,
    pub codes: Vec<String>,
    pub families: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<u64>,
    /// `latency` rules: the watched request-duration percentile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentile: Option<u8>,
    /// `latency` rules: the threshold in milliseconds (also `threshold`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_ms: Option<f64>,
    /// When the rule last opened an incident.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_fired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RulePage {
    pub items: Vec<Rule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Open,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Resolved => "resolved",
        }
    }
}

/// The evaluated window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The rule's window, e.g. `5m`.
    pub duration: String,
}

/// How often one error code occurred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CodeCount {
    pub code: String,
    pub count: u64,
}

/// What an evaluation found: the window, the counts behind the value and where to look next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Findings {
    pub window: Window,
    /// The value compared with the threshold: errors, records, the 5xx percentage, or the request-duration
    /// percentile in milliseconds.
    pub value: f64,
    pub threshold: f64,
    /// The counts read: `delivery_errors`; `records` and `baseline_records` (the 6 windows before);
    /// `requests` and `errors_5xx`; `requests` and `timed_requests` (those with a duration, `latency`).
    pub counts: BTreeMap<String, u64>,
    /// Most frequent error codes in the window: delivery-error codes, or HTTP status codes of 5xx
    /// responses for `error_rate`.
    pub top_codes: Vec<CodeCount>,
    /// Delivery errors per stream in the window (`delivery_errors` rules).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<CodeCount>,
    /// `/v1` queries showing the window, by name (`delivery_errors`, `delivery_error_summary`,
    /// `correlation`, `timeline`, `summary`, `logs`); absolute when `FIRESIGHT_ALERTS__PUBLIC_URL` is set.
    pub links: BTreeMap<String, String>,
}

/// An incident: opened when a rule's condition holds, resolved when it clears.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Incident {
    /// `inc_...`
    pub id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub kind: RuleKind,
    pub status: IncidentStatus,
    pub opened_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    pub last_evaluated_at: DateTime<Utc>,
    /// The value when it opened, the highest while open, and the latest.
    pub opened_value: f64,
    pub peak_value: f64,
    pub last_value: f64,
    /// The latest evaluation.
    pub findings: Findings,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IncidentPage {
    pub items: Vec<Incident>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The rule an event is about, as it was when the event was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuleRef {
    pub id: String,
    pub name: String,
    pub kind: RuleKind,
    pub threshold: f64,
    pub window: String,
    pub cooldown: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub families: Vec<String>,
}

/// The data of `alert.firing`, `alert.resolved` and `alert.test` events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertData {
    pub rule: RuleRef,
    pub incident_id: String,
    pub status: IncidentStatus,
    pub opened_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// The evaluation that fired (or, for `alert.resolved`, the one that found the condition cleared).
    pub findings: Findings,
    /// Only on `alert.test`: this is a sample.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

/// The body of a webhook in the `json` format, following the Standard Webhooks payload shape. The
/// `webhook-id` header is the event id and stays the same on every retry and redelivery: receivers
/// deduplicate with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "alert.firing",
    "timestamp": "2026-11-26T08:00:00Z",
    "data": {
        "rule": {"id": "rule_0193", "name": "weblogs delivery failing", "kind": "delivery_errors",
                 "threshold": 5.0, "window": "5m", "cooldown": "10m", "streams": ["weblogs"]},
        "incident_id": "inc_0193",
        "status": "open",
        "opened_at": "2026-11-26T08:00:00Z",
        "findings": {
            "window": {"from": "2026-11-26T07:55:00Z", "to": "2026-11-26T08:00:00Z", "duration": "5m"},
            "value": 12.0, "threshold": 5.0,
            "counts": {"delivery_errors": 12},
            "top_codes": [{"code": "HttpEndpoint.DestinationException", "count": 12}],
            "streams": [{"code": "weblogs", "count": 12}],
            "links": {"delivery_errors": "/v1/delivery-errors?from=2026-11-26T07:55:00Z&to=2026-11-26T08:00:00Z&stream=weblogs"}
        }
    }
}))]
pub struct AlertEvent {
    /// `alert.firing`, `alert.resolved` or `alert.test`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the event was written.
    pub timestamp: DateTime<Utc>,
    pub data: EventData,
}

/// What an event is about: an incident (`alert.firing`, `alert.resolved`, `alert.test`), a webhook
/// that was disabled (`alert.endpoint_disabled`) or a finished replay (`replay.completed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EventData {
    Incident(Box<AlertData>),
    EndpointDisabled(EndpointDisabled),
    ReplayCompleted(Box<ReplayCompleted>),
}

/// The data of `replay.completed`: a replay of the records Firehose backed up to S3 after giving up on
/// them finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayCompleted {
    pub replay_id: String,
    /// `cli`, `api` or `job`.
    pub origin: String,
    /// `s3://bucket/prefix` read.
    pub location: String,
    /// `completed` or `failed` (then `error` says why; the counts are what was done before).
    pub status: String,
    pub dry_run: bool,
    pub objects: u64,
    pub counts: crate::delivery_errors::recovered::ReplayCounts,
    /// The same counts per Firehose error code.
    pub codes: Vec<crate::delivery_errors::recovered::CodeCounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `/v1/delivery-errors/replays/{id}`, absolute with `FIRESIGHT_ALERTS__PUBLIC_URL`.
    pub link: String,
}

/// The data of `alert.endpoint_disabled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointDisabled {
    pub webhook_id: String,
    /// The webhook's host (its path may hold a credential).
    pub host: String,
    pub failing_since: DateTime<Utc>,
    pub disabled_at: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a dispatcher, being sent.
    Sending,
    Delivered,
    /// Gave up after the retry schedule (or the webhook was deleted or disabled).
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "sending" => DeliveryStatus::Sending,
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            _ => DeliveryStatus::Pending,
        }
    }
}

/// One event on its way to one webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookDelivery {
    pub id: String,
    pub event_id: String,
    pub webhook_id: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// When the next attempt is due (pending deliveries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// An event with its deliveries.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    /// `msg_...`: the `webhook-id` header.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
    pub payload: AlertEvent,
    pub deliveries: Vec<WebhookDelivery>,
}

/// One HTTP request to a webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    pub id: String,
    pub delivery_id: String,
    pub event_id: String,
    pub webhook_id: String,
    /// 1 for the first try of its delivery.
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub latency_ms: u64,
    /// The receiver's status, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Why it failed: timeout, connection refused, a non-2xx status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub success: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttemptPage {
    pub items: Vec<Attempt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The answer to a test send: the event and how the one attempt went.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TestResult {
    pub event_id: String,
    pub attempt: Attempt,
}

/// Deliveries queued by a redelivery.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Redelivery {
    pub event_id: String,
    pub deliveries: Vec<WebhookDelivery>,
}
