//! The write path's shared core, used by the Firehose endpoint and by `firesight ingest`:
//! raw lines → [`parse`](crate::parse) → [`enrich`](crate::enrich) → documents with deterministic ids
//! ([`prepare`], pure and synchronous, run as one blocking unit per batch) → the log store
//! ([`Ingestor::write`], which retries what the store refused for now and dead-letters what it refused
//! for good). A batch counts as written only when every document and dead letter is durable. The
//! documents a store round trip newly indexed go to the live tail ([`crate::tail`]) as soon as that
//! round trip returns, whatever happens to the rest of the batch: a retried delivery finds them
//! already indexed (duplicates, which the tail never sends), so publishing later could lose them.

pub mod backfill;
pub use firesight_core::ids;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::document::FirehoseMeta;
use crate::enrich::Enricher;
use crate::metrics::{Metrics, SourceLabels};
use crate::parse::{Formats, LogFormat};
use crate::store::{DeadLetter, IndexDoc, ItemOutcome, LogStore, StoreError};
use crate::tail::TailHub;
use crate::worker::Pacing;

/// One line to ingest, with what identifies it across retries and replays.
#[derive(Debug, Clone)]
pub struct SourceLine {
    /// Deterministic document id (see [`ids`]).
    pub id: String,
    /// The line (or JSON record) as received, lossy UTF-8.
    pub text: String,
    /// Time to use when the line carries none (a CloudWatch Logs event's own timestamp).
    pub fallback_time: Option<DateTime<Utc>>,
    /// Delivery metadata, when it came through Firehose.
    pub firehose: Option<Arc<FirehoseMeta>>,
    /// Set when the record's payload could not even be decoded into text: goes straight to the
    /// dead-letter store with this reason.
    pub reject: Option<String>,
}

/// Documents ready for the store plus the lines that could not be parsed.
#[derive(Debug, Default)]
pub struct Prepared {
    pub docs: Vec<IndexDoc>,
    pub dead: Vec<DeadLetter>,
}

/// Parses (recognising each line's format) and enriches a batch. Pure: no I/O, no clock other than `now`.
pub fn prepare(lines: Vec<SourceLine>, enricher: &Enricher, source: &str, now: DateTime<Utc>) -> Prepared {
    prepare_with(lines, None, enricher, source, now)
}

/// [`prepare`] with the log format configured for the batch's source (`None`: recognised per line).
pub fn prepare_with(
    lines: Vec<SourceLine>,
    format: Option<&LogFormat>,
    enricher: &Enricher,
    source: &str,
    now: DateTime<Utc>,
) -> Prepared {
    let mut prepared = Prepared { docs: Vec::with_capacity(lines.len()), dead: Vec::new() };
    for mut line in lines {
        if let Some(reason) = line.reject.take() {
            prepared.dead.push(dead_letter(line, reason, "decode", source, now));
            continue;
        }
        match crate::line::document(std::mem::take(&mut line.text), line.fallback_time, format, enricher, now) {
            Ok(mut doc) => {
                if let Some(meta) = &line.firehose {
                    doc.firehose = Some(FirehoseMeta::clone(meta));
                }
                prepared.docs.push(IndexDoc { id: line.id, doc });
            }
            Err((e, text)) => {
                line.text = text;
                prepared.dead.push(dead_letter(line, e.to_string(), "parse", source, now));
            }
        }
    }
    prepared
}

fn dead_letter(line: SourceLine, reason: String, stage: &'static str, source: &str, now: DateTime<Utc>) -> DeadLetter {
    DeadLetter {
        id: line.id,
        timestamp: now,
        reason,
        stage,
        raw_base64: base64::engine::general_purpose::STANDARD.encode(line.text.as_bytes()),
        raw: line.text,
        firehose: line.firehose.map(|m| FirehoseMeta::clone(&m)),
        source: source.to_owned(),
        failed_delivery: None,
    }
}

/// What one batch write achieved. Everything counted here is durable.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteReport {
    /// Newly indexed documents.
    pub indexed: usize,
    /// Documents already present (replays).
    pub duplicates: usize,
    /// Lines kept in the dead-letter store instead (parse errors and permanent store rejections).
    pub dead_lettered: usize,
    /// How many store round trips were retried.
    pub retries: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The store could not make the batch durable in time; nothing may be acknowledged.
    #[error("the log store did not accept the batch within {0:?}")]
    Deadline(Duration, #[source] Option<StoreError>),
    /// The store refused in a way retrying will not fix.
    #[error("the log store refused the batch")]
    Store(#[source] StoreError),
}

/// Told of the timestamps of every document an ingestor newly indexes (the aggregate cache, which
/// reloads cached answers that late documents change).
pub trait IndexedListener: Send + Sync {
    fn indexed(&self, timestamps: &mut dyn Iterator<Item = DateTime<Utc>>);
}

/// Writes prepared batches to the store with bounded retries.
#[derive(Clone)]
pub struct Ingestor {
    pub store: Arc<dyn LogStore>,
    pub enricher: Arc<Enricher>,
    pub metrics: Arc<Metrics>,
    pub pacing: Pacing,
    /// Where newly indexed documents go for live tails; none in one-shot commands.
    pub tail: Option<Arc<TailHub>>,
    /// The configured log formats (`parse.log_format`, `parse.sources`); empty: recognised per line.
    pub formats: Arc<Formats>,
    /// Told of what this ingestor newly indexes; none in one-shot commands.
    pub listener: Option<Arc<dyn IndexedListener>>,
}

impl Ingestor {
    pub fn new(store: Arc<dyn LogStore>, enricher: Arc<Enricher>, metrics: Arc<Metrics>) -> Self {
        let pacing = Pacing {
            idle: Duration::ZERO,
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(5),
        };
        Self { store, enricher, metrics, pacing, tail: None, formats: Arc::new(Formats::default()), listener: None }
    }

    /// Parses with these log formats.
    pub fn with_formats(mut self, formats: Formats) -> Self {
        self.formats = Arc::new(formats);
        self
    }

    /// Tells `listener` the timestamps of every document this ingestor newly indexes.
    pub fn with_listener(mut self, listener: Arc<dyn IndexedListener>) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Publishes every document this ingestor newly indexes to `hub`.
    pub fn with_tail(mut self, hub: Arc<TailHub>) -> Self {
        self.tail = Some(hub);
        self
    }

    /// Parses (in the default log format) and enriches on a blocking thread (one unit per batch), then
    /// writes.
    pub async fn ingest(
        &self,
        lines: Vec<SourceLine>,
        source: &str,
        deadline: Instant,
    ) -> Result<WriteReport, IngestError> {
        self.ingest_from(lines, source, None, deadline).await
    }

    /// [`Ingestor::ingest`] of lines from `origin` (a Firehose delivery stream or Kinesis data stream,
    /// by ARN or name), in the log format configured for it.
    pub async fn ingest_from(
        &self,
        lines: Vec<SourceLine>,
        source: &str,
        origin: Option<&str>,
        deadline: Instant,
    ) -> Result<WriteReport, IngestError> {
        let enricher = self.enricher.clone();
        let source_owned = source.to_owned();
        let format = self.formats.for_source(origin).cloned();
        let prepared = tokio::task::spawn_blocking(move || {
            prepare_with(lines, format.as_deref(), &enricher, &source_owned, Utc::now())
        })
        .await
        .expect("parse and enrich do not panic");
        self.write(prepared, source, deadline).await
    }

    /// Writes documents and dead letters until every one is durable or `deadline` passes.
    pub async fn write(&self, prepared: Prepared, source: &str, deadline: Instant) -> Result<WriteReport, IngestError> {
        let started = Instant::now();
        let budget = deadline.saturating_duration_since(started);
        let mut report = WriteReport::default();
        let mut pending = prepared.docs;
        let mut dead = prepared.dead;
        let parse_failures = dead.len();
        let mut failures = 0u32;
        let mut last_error = None;

        while !pending.is_empty() {
            match self.store.index(&pending).await {
                Ok(outcomes) => {
                    let mut retry = Vec::new();
                    let mut created = Vec::new();
                    let mut created_at = Vec::new();
                    for (item, outcome) in pending.into_iter().zip(outcomes) {
                        match outcome {
                            ItemOutcome::Created => {
                                report.indexed += 1;
                                if self.listener.is_some() {
                                    created_at.push(item.doc.timestamp);
                                }
                                if self.tail.is_some() {
                                    created.push(item);
                                }
                            }
                            ItemOutcome::Duplicate => report.duplicates += 1,
                            ItemOutcome::Retry { .. } => retry.push(item),
                            ItemOutcome::Rejected { reason, .. } => {
                                let line = SourceLine {
                                    id: item.id,
                                    text: item.doc.event.original.clone(),
                                    fallback_time: None,
                                    firehose: item.doc.firehose.clone().map(Arc::new),
                                    reject: None,
                                };
                                dead.push(dead_letter(line, reason, "index", source, Utc::now()));
                            }
                        }
                    }
                    if let Some(tail) = &self.tail {
                        tail.publish(created);
                    }
                    if let Some(listener) = &self.listener {
                        listener.indexed(&mut created_at.into_iter());
                    }
                    pending = retry;
                    if pending.is_empty() {
                        break;
                    }
                }
                Err(e) if e.needs_operator() => return Err(IngestError::Store(e)),
                Err(e) if e.is_retryable() => last_error = Some(e),
                Err(e) => return Err(IngestError::Store(e)),
            }
            report.retries += 1;
            failures += 1;
            let pause = self.pacing.backoff(failures - 1);
            if Instant::now() + pause >= deadline {
                return Err(IngestError::Deadline(budget, last_error));
            }
            tokio::time::sleep(pause).await;
        }

        let mut failures = 0u32;
        while !dead.is_empty() {
            match self.store.dead_letter(&dead).await {
                Ok(()) => break,
                Err(e) if e.is_retryable() && !e.needs_operator() => {
                    failures += 1;
                    report.retries += 1;
                    let pause = self.pacing.backoff(failures - 1);
                    if Instant::now() + pause >= deadline {
                        return Err(IngestError::Deadline(budget, Some(e)));
                    }
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(IngestError::Store(e)),
            }
        }
        report.dead_lettered = dead.len();
        record(&self.metrics, source_label(source), &report, parse_failures);
        Ok(report)
    }
}

/// Counts a written batch in the ingest metrics.
fn record(metrics: &Metrics, source: &'static str, report: &WriteReport, parse_failures: usize) {
    let labels = SourceLabels { source };
    metrics.ingest_indexed.get_or_create(&labels).inc_by(report.indexed as u64);
    metrics.ingest_duplicates.get_or_create(&labels).inc_by(report.duplicates as u64);
    metrics.ingest_parse_failures.get_or_create(&labels).inc_by(parse_failures as u64);
    metrics.ingest_dead_lettered.get_or_create(&labels).inc_by(report.dead_lettered as u64);
    metrics.ingest_retries.get_or_create(&labels).inc_by(report.retries as u64);
}

/// Metric label for an ingest source: bounded to the four kinds.
fn source_label(source: &str) -> &'static str {
    match source {
        "firehose" => "firehose",
        "kinesis" => "kinesis",
        "replay" => "replay",
        _ => "backfill",
    }
}
