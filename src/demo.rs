//! Sample traffic for a first run (`firesight serve --demo`): the real 10,000-line Apache access log the
//! tests use (elastic/examples, Apache-2.0), bundled in the binary, parsed and enriched like any
//! delivery, with every timestamp shifted by the same amount so the traffic ends now.
//!
//! Loaded only when the store holds nothing from the last 24 hours, so restarting with `--demo` does not
//! pile copies on top of each other. Ids derive from the shift and the line number: a load is idempotent,
//! and a later load (after the previous sample aged out of the last day) writes a fresh copy.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::ingest::{Ingestor, Prepared, SourceLine, WriteReport, ids, prepare};
use crate::query::model::{Filters, Query, TimeRange};
use crate::store::LogStore;

/// The bundled sample, one access-log line per line.
pub const SAMPLE_LOG: &str = include_str!("../tests/fixtures/access_logs/elastic_examples_apache_logs.log");
/// Where the sample comes from, for the start-up message.
pub const SAMPLE_ORIGIN: &str = "elastic/examples apache_logs (Apache-2.0)";

const BATCH_LINES: usize = 5_000;
const WRITE_DEADLINE: Duration = Duration::from_secs(120);

/// What a demo load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoLoad {
    /// The store already has traffic from the last 24 hours; nothing written.
    Skipped { recent_requests: u64 },
    /// The sample was written, ending at `ends`.
    Loaded { indexed: usize, duplicates: usize, dead_lettered: usize, ends: DateTime<Utc> },
}

/// Requests the store holds from the last 24 hours before `now`.
async fn recent_requests(store: &dyn LogStore, now: DateTime<Utc>) -> anyhow::Result<u64> {
    let query = Query { range: TimeRange { from: now - TimeDelta::hours(24), to: now }, filters: Filters::default() };
    let summary = store.summary(&query).await.map_err(anyhow::Error::new)?;
    Ok(summary.requests)
}

/// Loads the sample unless the store already has traffic from the last 24 hours.
pub async fn load(ingestor: &Ingestor, now: DateTime<Utc>) -> anyhow::Result<DemoLoad> {
    let recent = recent_requests(ingestor.store.as_ref(), now).await?;
    if recent > 0 {
        return Ok(DemoLoad::Skipped { recent_requests: recent });
    }
    // Whole seconds, so the ids of one load are stable however often its batches are retried.
    let ends = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    let enricher = ingestor.enricher.clone();
    let mut prepared = tokio::task::spawn_blocking(move || {
        let lines = SAMPLE_LOG
            .lines()
            .enumerate()
            .map(|(n, text)| SourceLine {
                id: ids::doc_id(&[b"demo", &ends.timestamp().to_le_bytes(), &(n as u64).to_le_bytes()]),
                text: text.to_owned(),
                fallback_time: None,
                firehose: None,
                reject: None,
            })
            .collect();
        prepare(lines, &enricher, "demo", ends)
    })
    .await?;
    let last = prepared.docs.iter().map(|d| d.doc.timestamp).max().unwrap_or(ends);
    let shift = ends - last;
    for doc in &mut prepared.docs {
        doc.doc.timestamp += shift;
    }
    let mut total = WriteReport::default();
    // Dead letters ride with the first batch.
    let mut dead = Some(std::mem::take(&mut prepared.dead));
    for docs in prepared.docs.chunks(BATCH_LINES) {
        let batch = Prepared { docs: docs.to_vec(), dead: dead.take().unwrap_or_default() };
        add(&mut total, ingestor.write(batch, "demo", tokio::time::Instant::now() + WRITE_DEADLINE).await?);
    }
    ingestor.store.refresh().await.map_err(anyhow::Error::new)?;
    Ok(DemoLoad::Loaded {
        indexed: total.indexed,
        duplicates: total.duplicates,
        dead_lettered: total.dead_lettered,
        ends,
    })
}

fn add(total: &mut WriteReport, report: WriteReport) {
    total.indexed += report.indexed;
    total.duplicates += report.duplicates;
    total.dead_lettered += report.dead_lettered;
    total.retries += report.retries;
}
