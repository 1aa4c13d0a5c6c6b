//! Moving access logs between stores (`firesight migrate-store`), for a user who outgrows one machine
//! (embedded → OpenSearch) or wants a local copy (OpenSearch → embedded). Documents are read in time
//! order, a page at a time, and written under their own ids: re-running after an interruption copies
//! only what is missing, and documents Firehose keeps delivering meanwhile stay deduplicated.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{IndexDoc, ItemOutcome, LogStore, StoreError};
use crate::query::model::{Filters, MAX_PAGE_SIZE, Order, Query, SearchRequest, TimeRange};

/// Attempts per page before giving up on documents the target keeps refusing for now.
const ATTEMPTS: u32 = 8;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CopySummary {
    pub read: u64,
    pub created: u64,
    /// Already present in the target (an earlier run, or the same delivery sent to both).
    pub duplicates: u64,
    /// Refused by the target for good (mapping errors); the first reason is logged.
    pub rejected: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("reading from the source store failed")]
    Read(#[source] StoreError),
    #[error("writing to the target store failed")]
    Write(#[source] StoreError),
    #[error("the target store kept refusing {0} documents for now ({1}); run again later, nothing is copied twice")]
    Retries(usize, String),
}

/// Copies every document with a timestamp in `[from, to)` from `source` to `target`, calling
/// `progress` after each page.
pub async fn copy(
    source: &dyn LogStore,
    target: &dyn LogStore,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mut progress: impl FnMut(&CopySummary),
) -> Result<CopySummary, CopyError> {
    let mut summary = CopySummary::default();
    let mut request = SearchRequest {
        query: Query { range: TimeRange { from, to }, filters: Filters::default() },
        order: Order::Asc,
        size: MAX_PAGE_SIZE,
        cursor: None,
    };
    loop {
        let page = source.search(&request).await.map_err(CopyError::Read)?;
        summary.read += page.items.len() as u64;
        let docs: Vec<IndexDoc> = page.items.into_iter().map(|s| IndexDoc { id: s.id, doc: s.doc }).collect();
        write(target, docs, &mut summary).await?;
        progress(&summary);
        match page.next_cursor {
            Some(cursor) => request.cursor = Some(cursor),
            None => break,
        }
    }
    target.refresh().await.map_err(CopyError::Write)?;
    Ok(summary)
}

async fn write(target: &dyn LogStore, mut pending: Vec<IndexDoc>, summary: &mut CopySummary) -> Result<(), CopyError> {
    for attempt in 0..ATTEMPTS {
        if pending.is_empty() {
            return Ok(());
        }
        let outcomes = match target.index(&pending).await {
            Ok(outcomes) => outcomes,
            Err(e) if e.is_retryable() && attempt + 1 < ATTEMPTS => {
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            Err(e) => return Err(CopyError::Write(e)),
        };
        let mut retry = Vec::new();
        let mut last_reason = String::new();
        for (doc, outcome) in pending.into_iter().zip(outcomes) {
            match outcome {
                ItemOutcome::Created => summary.created += 1,
                ItemOutcome::Duplicate => summary.duplicates += 1,
                ItemOutcome::Rejected { status, reason } => {
                    if summary.rejected == 0 {
                        tracing::warn!(id = doc.id, status, reason, "the target refused a document");
                    }
                    summary.rejected += 1;
                }
                ItemOutcome::Retry { reason, .. } => {
                    last_reason = reason;
                    retry.push(doc);
                }
            }
        }
        if !retry.is_empty() && attempt + 1 == ATTEMPTS {
            return Err(CopyError::Retries(retry.len(), last_reason));
        }
        pending = retry;
        if !pending.is_empty() {
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
    Ok(())
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(6))
}
