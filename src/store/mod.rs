//! The log store port: where parsed, enriched access-log documents are written (write path) and where
//! queries read them back (read path). One trait, one adapter per backend:
//! - [`opensearch`]: OpenSearch 2.x, daily indices `<prefix>-YYYY.MM.DD` with the canonical mapping;
//! - [`embedded`]: tantivy under the data directory, one index per UTC day (the default: one machine,
//!   nothing to install).
//!
//! Callers hold an `Arc<dyn LogStore>` (built by [`from_config`]) and never see which
//! backend answers. This file holds the port's vocabulary, which the adapters import; it imports none
//! of them.

pub mod copy;
pub mod embedded;
mod open;
pub mod opensearch;

pub use open::{for_bulk_load, from_config};

use async_trait::async_trait;
use serde::Serialize;

use crate::document::LogDocument;
use crate::query::model::{
    DurationTimelineRequest, DurationTimelineResult, GeoRequest, GeoResult, Query, SearchPage, SearchRequest,
    SlowestRequest, SlowestResult, SummaryResult, TimelineRequest, TimelineResult, TopRequest, TopResult,
    VisitTimesRequest, VisitTimesResult,
};

/// What a store reports about itself for readiness and `/v1/info`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoreStatus {
    /// `opensearch` or `embedded`.
    pub kind: &'static str,
    /// Backend version, e.g. `2.19.1`.
    pub version: Option<String>,
    /// Whether the index template / schema is installed and current.
    pub schema_installed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("log store unreachable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("log store version {found} is not supported (need {required})")]
    UnsupportedVersion { found: String, required: &'static str },
    #[error("log store answered {status}: {body}")]
    Rejected { status: u16, body: String },
    #[error("unexpected answer from the log store")]
    Protocol(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("this log store does not support {0}")]
    Unsupported(&'static str),
    /// The request cannot be answered on this store's data (a dimension its field map lacks, a cursor
    /// that expired or belongs elsewhere).
    #[error("{0}")]
    BadRequest(String),
    /// No AWS credentials could be found or renewed for signing (SigV4).
    #[error("AWS credentials missing: {0}")]
    Credentials(String),
    /// AWS refused the request's signature or its credentials (403): a wrong secret, a revoked key.
    #[error("signature refused (403): {0}")]
    SignatureRefused(String),
    /// AWS refused the signature's time: this host's clock is off by more than SigV4 allows.
    #[error("clock skew: this host's clock is {skew_secs} s off AWS's (SigV4 allows 300 s): {message}")]
    ClockSkew { skew_secs: i64, message: String },
    /// The request was signed correctly but the IAM identity may not make it (403).
    #[error("access denied (403), check the IAM or data access policy: {0}")]
    AccessDenied(String),
}

impl StoreError {
    /// Whether trying again later may succeed (the backend was down or overloaded).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Rejected { status, .. } => *status == 429 || *status >= 500,
            // The operator fixes these (credentials, clock, policy); the data waits and is retried.
            StoreError::Credentials(_)
            | StoreError::SignatureRefused(_)
            | StoreError::ClockSkew { .. }
            | StoreError::AccessDenied(_) => true,
            StoreError::UnsupportedVersion { .. }
            | StoreError::Protocol(_)
            | StoreError::Unsupported(_)
            | StoreError::BadRequest(_) => false,
        }
    }
}

impl StoreError {
    /// A refusal only the operator can end (credentials, clock, policy): waiting within one request
    /// does not help, yet the data is good and its sender should retry later.
    pub fn needs_operator(&self) -> bool {
        matches!(self, StoreError::SignatureRefused(_) | StoreError::ClockSkew { .. } | StoreError::AccessDenied(_))
    }
}

/// The log store seam.
#[async_trait]
pub trait LogStore: Send + Sync + 'static {
    fn kind(&self) -> &'static str;

    /// Connects, checks the backend version and installs or updates the schema (index template).
    /// Idempotent; called at start and retried by the caller while the backend is down.
    async fn prepare(&self) -> Result<StoreStatus, StoreError>;

    /// A cheap round trip for readiness; reports the same facts as `prepare` without changing anything.
    async fn status(&self) -> Result<StoreStatus, StoreError>;

    /// Writes documents under their deterministic ids and reports each item's fate, in input order.
    /// An id that already exists is a [`ItemOutcome::Duplicate`], not an error: that is how replayed
    /// deliveries stay idempotent. Returns `Err` only when the whole request failed.
    async fn index(&self, docs: &[IndexDoc]) -> Result<Vec<ItemOutcome>, StoreError>;

    /// Writes records that could not be parsed or indexed to the dead-letter store.
    async fn dead_letter(&self, letters: &[DeadLetter]) -> Result<(), StoreError>;

    /// Makes everything written so far visible to searches (tests and backfill summaries).
    async fn refresh(&self) -> Result<(), StoreError>;

    /// Commits what the store holds only in its own write-ahead log, before the process stops (so
    /// that the next start has nothing to replay). Nothing to do for most stores.
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Documents per `index` call that suit this store for bulk loads (`firesight ingest`), when it has
    /// a preference.
    fn batch_hint(&self) -> Option<usize> {
        None
    }

    /// Deletes every document of the UTC days before `day` (retention). Returns the days dropped.
    async fn drop_days_before(&self, _day: chrono::NaiveDate) -> Result<Vec<chrono::NaiveDate>, StoreError> {
        Err(StoreError::Unsupported("retention"))
    }

    // Read path. Each call answers one request of `query::model` exactly as documented there; the
    // defaults let an adapter grow its read side one call at a time.

    /// One page of matching documents in time order, with a cursor that continues past any depth.
    async fn search(&self, _request: &SearchRequest) -> Result<SearchPage, StoreError> {
        Err(StoreError::Unsupported("search"))
    }

    async fn top(&self, _request: &TopRequest) -> Result<TopResult, StoreError> {
        Err(StoreError::Unsupported("top"))
    }

    async fn timeline(&self, _request: &TimelineRequest) -> Result<TimelineResult, StoreError> {
        Err(StoreError::Unsupported("timeline"))
    }

    /// Of `ids`, those already stored in any index the store reads, whichever writer named the index.
    /// A replayed OpenSearch failure keeps the id Firehose meant for it; when Firehose's attempt did
    /// index it after all (the answer was lost), it lies in Firehose's daily index, not in the one
    /// firesight would write. Default: none (one writer, whose `index` already reports duplicates).
    async fn stored_ids(&self, _ids: &[String]) -> Result<std::collections::HashSet<String>, StoreError> {
        Ok(std::collections::HashSet::new())
    }

    /// Request-duration percentiles per timeline interval.
    async fn duration_timeline(
        &self,
        _request: &DurationTimelineRequest,
    ) -> Result<DurationTimelineResult, StoreError> {
        Err(StoreError::Unsupported("duration_timeline"))
    }

    /// Paths ranked by request duration ("slowest endpoints").
    async fn slowest(&self, _request: &SlowestRequest) -> Result<SlowestResult, StoreError> {
        Err(StoreError::Unsupported("slowest"))
    }

    async fn summary(&self, _query: &Query) -> Result<SummaryResult, StoreError> {
        Err(StoreError::Unsupported("summary"))
    }

    async fn visit_times(&self, _request: &VisitTimesRequest) -> Result<VisitTimesResult, StoreError> {
        Err(StoreError::Unsupported("visit_times"))
    }

    async fn geo(&self, _request: &GeoRequest) -> Result<GeoResult, StoreError> {
        Err(StoreError::Unsupported("geo"))
    }
}

/// A document with its deterministic id.
#[derive(Debug, Clone)]
pub struct IndexDoc {
    pub id: String,
    pub doc: LogDocument,
}

/// What happened to one document of an `index` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Newly written and durable.
    Created,
    /// Already present under this id (a replay); durable.
    Duplicate,
    /// Refused for now (overload, shard unavailable): try again later.
    Retry { status: u16, reason: String },
    /// Refused for good (mapping error, bad value): belongs in the dead-letter store.
    Rejected { status: u16, reason: String },
}

impl ItemOutcome {
    pub fn is_durable(&self) -> bool {
        matches!(self, ItemOutcome::Created | ItemOutcome::Duplicate)
    }
}

/// A record firesight could not turn into an indexed document, kept with the reason and its raw bytes.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// Deterministic, like document ids, so replays do not duplicate dead letters either.
    #[serde(skip)]
    pub id: String,
    #[serde(rename = "@timestamp")]
    pub timestamp: chrono::DateTime<chrono::Utc>,
    /// Why it was refused: a parse error or the store's rejection.
    pub reason: String,
    /// `decode`, `parse` or `index`.
    pub stage: &'static str,
    /// The raw record, lossy UTF-8 for reading.
    pub raw: String,
    /// The raw bytes, base64, exactly as received.
    pub raw_base64: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firehose: Option<crate::document::FirehoseMeta>,
    /// Which input: `firehose` or a backfill file name.
    pub source: String,
    /// For a record replayed from Firehose's S3 backup: why Firehose gave up on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_delivery: Option<FailedDelivery>,
}

/// What Firehose wrote beside a record it could not deliver, kept with the record's dead letter.
#[derive(Debug, Clone, Serialize)]
pub struct FailedDelivery {
    /// Firehose's `errorCode` (`HttpEndpoint.RequestTimeout`, an OpenSearch status, ...).
    pub error_code: String,
    pub error_message: String,
    /// `s3://bucket/key` of the object it was read from.
    pub object: String,
    /// When Firehose stopped trying (`attemptEndingTimestamp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_ending: Option<chrono::DateTime<chrono::Utc>>,
}

// Conventions both adapters share, so that they answer alike.

/// Milliseconds since the epoch, rounded up: how both adapters bound a time range (`[from, to)` on
/// whole milliseconds, as OpenSearch's `epoch_millis` receives it).
pub(crate) fn ceil_millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis() + i64::from(!t.timestamp_subsec_nanos().is_multiple_of(1_000_000))
}

/// A timeline's buckets, `(first start, width, count)` in epoch milliseconds: from the range's start
/// aligned down to a multiple of the interval since the epoch, to its end.
pub(crate) fn bucket_grid(
    range: &crate::query::model::TimeRange,
    interval_secs: u64,
) -> Result<(i64, i64, usize), StoreError> {
    use crate::query::model::MAX_TIMELINE_BUCKETS;
    if interval_secs == 0 {
        return Err(StoreError::BadRequest("the interval must be positive".into()));
    }
    let interval = i64::try_from(interval_secs)
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .ok_or_else(|| StoreError::BadRequest("the interval is too long".into()))?;
    let (from, to) = (ceil_millis(range.from), ceil_millis(range.to));
    if to <= from {
        return Ok((from, interval, 0));
    }
    let first = from.div_euclid(interval) * interval;
    let count = (to - first + interval - 1) / interval;
    if count as u64 > MAX_TIMELINE_BUCKETS {
        return Err(StoreError::BadRequest(format!(
            "{count} intervals; a timeline may have at most {MAX_TIMELINE_BUCKETS}"
        )));
    }
    Ok((first, interval, count as usize))
}

/// A search cursor as clients see it: base64url (no padding) of its JSON.
pub(crate) fn encode_cursor<C: Serialize>(cursor: &C) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).expect("cursors serialise"))
}

/// Reads back what [`encode_cursor`] wrote; anything else is the client's mistake.
pub(crate) fn decode_cursor<C: serde::de::DeserializeOwned>(text: &str) -> Result<C, StoreError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| invalid_cursor())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid_cursor())
}

/// The answer to a cursor this service did not write.
pub(crate) fn invalid_cursor() -> StoreError {
    StoreError::BadRequest("invalid cursor: pass the next_cursor of the previous page as is".into())
}
