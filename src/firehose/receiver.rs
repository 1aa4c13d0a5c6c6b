//! The delivery service behind `POST /v1/firehose`: authenticate, bound and decode the request, then
//! hand its lines to the ingest core and wait until every one is durable. Its answer decides whether
//! Firehose retries, so every failure maps to a status Firehose understands (see [`FirehoseError`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Limited};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::decode;
use super::errors::FirehoseError;
use super::models::*;
use crate::config::FirehoseConfig;
use crate::document::FirehoseMeta;
use crate::firehose::rejections::RejectionLog;
use crate::ingest::{IngestError, Ingestor, WriteReport};
use crate::keys::KeySet;

/// Deliveries decoded and written at once; each can hold 64 MiB, so this bounds memory. Others wait
/// for a slot within their deadline, then get 503.
const MAX_CONCURRENT_DELIVERIES: usize = 4;

#[derive(Clone)]
pub struct Receiver {
    config: Arc<FirehoseConfig>,
    keys: KeySet,
    ingestor: Ingestor,
    shutdown: CancellationToken,
    slots: Arc<Semaphore>,
    /// Counts of refused deliveries, for correlation with delivery errors.
    rejections: Arc<RejectionLog>,
}

/// A delivery's request id as known so far (for the answer), and what became of it.
pub struct FirehoseDelivery {
    pub request_id: String,
    pub result: Result<WriteReport, FirehoseError>,
}

impl Receiver {
    pub fn new(
        config: &FirehoseConfig,
        ingestor: Ingestor,
        shutdown: CancellationToken,
        rejections: Arc<RejectionLog>,
    ) -> Self {
        Self {
            rejections,
            keys: KeySet::new(&config.access_keys, false),
            config: Arc::new(config.clone()),
            ingestor,
            shutdown,
            slots: Arc::new(Semaphore::new(MAX_CONCURRENT_DELIVERIES)),
        }
    }

    pub async fn receive(&self, headers: &HeaderMap, body: Body) -> FirehoseDelivery {
        let mut request_id = header_str(headers, HEADER_REQUEST_ID).unwrap_or_default().to_owned();
        let result = self.receive_inner(headers, body, &mut request_id).await;
        if let Err(e) = &result {
            self.rejections.record(e.status().as_u16(), e.code());
        }
        FirehoseDelivery { request_id, result }
    }

    async fn receive_inner(
        &self,
        headers: &HeaderMap,
        body: Body,
        request_id: &mut String,
    ) -> Result<WriteReport, FirehoseError> {
        let deadline = Instant::now() + Duration::from_secs(self.config.deadline_secs);
        let (meta, gzip) = match self.check_headers(headers) {
            Ok(checked) => checked,
            Err(e) => {
                discard(body, self.config.max_body_bytes).await;
                return Err(e);
            }
        };

        let _slot = tokio::time::timeout_at(deadline, self.slots.acquire())
            .await
            .map_err(|_| FirehoseError::StoreUnavailable)?
            .map_err(|_| FirehoseError::ShuttingDown)?;
        let raw = read_limited(body, self.config.max_body_bytes).await?;

        let config = self.config.clone();
        let header_id = request_id.clone();
        let source_arn = meta.source_arn.clone();
        let decoded = tokio::task::spawn_blocking(move || {
            let json = if gzip { decode::gunzip(&raw, config.max_decompressed_bytes)? } else { raw.to_vec() };
            let request = decode::parse_request(&json, config.max_records)?;
            if request.request_id != header_id {
                return Err(FirehoseError::RequestIdMismatch { header: header_id, body: request.request_id });
            }
            let mut meta = meta;
            meta.arrival_time = request.timestamp.and_then(DateTime::<Utc>::from_timestamp_millis);
            let lines = decode::lines(&request, &Arc::new(meta))?;
            Ok::<_, FirehoseError>((request.records.len(), lines))
        })
        .await
        .map_err(|_| FirehoseError::Internal)??;
        let (records, lines) = decoded;
        self.ingestor.metrics.firehose_records.inc_by(records as u64);

        self.ingestor.ingest_from(lines, "firehose", source_arn.as_deref(), deadline).await.map_err(|e| match e {
            IngestError::Deadline(budget, cause) => {
                let cause = cause.map(|c| crate::telemetry::chain(&c)).unwrap_or_default();
                tracing::warn!(request_id = %request_id, ?budget, cause, "delivery not durable in time; Firehose will retry");
                FirehoseError::StoreUnavailable
            }
            IngestError::Store(e) if e.needs_operator() => {
                tracing::error!(request_id = %request_id, error = crate::telemetry::chain(&e), "log store refused the request itself (credentials, clock or policy); Firehose will retry");
                FirehoseError::StoreUnavailable
            }
            IngestError::Store(e) => {
                tracing::error!(request_id = %request_id, error = crate::telemetry::chain(&e), "log store refused a delivery");
                FirehoseError::Internal
            }
        })
    }

    /// What can be refused from the headers alone: shutting down, the access key, the protocol headers,
    /// the content encoding. Gives the delivery's metadata and whether its body is gzip.
    fn check_headers(&self, headers: &HeaderMap) -> Result<(FirehoseMeta, bool), FirehoseError> {
        if self.shutdown.is_cancelled() {
            return Err(FirehoseError::ShuttingDown);
        }
        self.authenticate(headers)?;
        let meta = self.metadata(headers)?;
        let gzip = match headers
            .get(header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        {
            None => false,
            Some(e) if e == "gzip" => true,
            Some(e) if e == "identity" => false,
            Some(e) => return Err(FirehoseError::UnsupportedEncoding(e)),
        };
        Ok((meta, gzip))
    }

    fn authenticate(&self, headers: &HeaderMap) -> Result<(), FirehoseError> {
        if self.keys.is_empty() {
            return Err(FirehoseError::NotConfigured);
        }
        match header_str(headers, HEADER_ACCESS_KEY) {
            Some(key) if self.keys.accepts(key) => Ok(()),
            _ => Err(FirehoseError::Unauthorized),
        }
    }

    fn metadata(&self, headers: &HeaderMap) -> Result<FirehoseMeta, FirehoseError> {
        match header_str(headers, HEADER_PROTOCOL_VERSION) {
            None => return Err(FirehoseError::MissingHeader("X-Amz-Firehose-Protocol-Version")),
            Some(PROTOCOL_VERSION) => {}
            Some(other) => {
                return Err(FirehoseError::BadHeader {
                    header: "X-Amz-Firehose-Protocol-Version",
                    reason: format!("version {other:?} is not supported (expected {PROTOCOL_VERSION})"),
                });
            }
        }
        let request_id = header_str(headers, HEADER_REQUEST_ID)
            .filter(|id| !id.is_empty())
            .ok_or(FirehoseError::MissingHeader("X-Amz-Firehose-Request-Id"))?;
        let common_attributes = match headers.get(HEADER_COMMON_ATTRIBUTES) {
            None => None,
            Some(value) => Some(parse_common_attributes(value.as_bytes())?),
        };
        Ok(FirehoseMeta {
            request_id: Some(request_id.to_owned()),
            source_arn: header_str(headers, HEADER_SOURCE_ARN).map(str::to_owned),
            arrival_time: None,
            record_index: None,
            common_attributes,
            record_id: None,
            kinesis: None,
        })
    }
}

fn parse_common_attributes(raw: &[u8]) -> Result<BTreeMap<String, String>, FirehoseError> {
    let bad = |reason: String| FirehoseError::BadHeader { header: "X-Amz-Firehose-Common-Attributes", reason };
    let parsed: CommonAttributes = serde_json::from_slice(raw).map_err(|e| bad(e.to_string()))?;
    if parsed.common_attributes.len() > 50 {
        return Err(bad(format!("{} attributes exceed the limit of 50", parsed.common_attributes.len())));
    }
    Ok(parsed.common_attributes)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// Reads and drops the body of a delivery refused from its headers (up to the body limit, for a few
/// seconds at most): answering while the client is still uploading makes the socket close under it, and
/// Firehose then logs a connection reset instead of the status that says what is wrong.
async fn discard(body: Body, limit: usize) {
    let drained = async {
        let mut body = Limited::new(body, limit);
        while let Some(Ok(_)) = body.frame().await {}
    };
    let _ = tokio::time::timeout(DISCARD_TIME, drained).await;
}

/// How long a refused delivery's body is read before the answer goes out anyway.
const DISCARD_TIME: Duration = Duration::from_secs(10);

async fn read_limited(body: Body, limit: usize) -> Result<Bytes, FirehoseError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            Err(FirehoseError::BodyTooLarge { limit })
        }
        Err(e) => Err(FirehoseError::ReadBody(e.to_string())),
    }
}
