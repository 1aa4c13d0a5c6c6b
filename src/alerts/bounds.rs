//! What clients may send to `/v1/alerts`, as numbers and names: the bounds [`super::validate`] checks
//! and [`super::schema`] states.

/// Event types a webhook can subscribe to.
pub const EVENT_FIRING: &str = "alert.firing";
pub const EVENT_RESOLVED: &str = "alert.resolved";
/// Sent by `POST /v1/alerts/webhooks/{id}/test` only.
pub const EVENT_TEST: &str = "alert.test";
/// A webhook failed every attempt for `FIRESIGHT_ALERTS__DISABLE_AFTER_SECS` and was disabled; sent to
/// the other webhooks.
pub const EVENT_ENDPOINT_DISABLED: &str = "alert.endpoint_disabled";
/// A replay of the records Firehose backed up to S3 finished (`firesight replay`, the API or the
/// background job), with its counts.
pub const EVENT_REPLAY_COMPLETED: &str = "replay.completed";
pub const SUBSCRIBABLE: [&str; 4] = [EVENT_FIRING, EVENT_RESOLVED, EVENT_ENDPOINT_DISABLED, EVENT_REPLAY_COMPLETED];

pub const MAX_NAME: usize = 200;
pub const MAX_DESCRIPTION: usize = 500;
pub const MAX_FILTER_VALUES: usize = 100;
pub const MAX_FILTER_VALUE: usize = 512;
pub const MIN_WINDOW_SECS: u64 = 10;
pub const MAX_SPAN_SECS: u64 = 7 * 86_400;
pub const MAX_THRESHOLD: f64 = 1e9;
pub const MAX_MIN_REQUESTS: u64 = 1_000_000_000;
