//! firesight's own refusals of Firehose deliveries, counted per minute, status and reason for the
//! correlation view. The receiver only bumps an in-memory counter (it must answer Firehose quickly and
//! never fail because of this bookkeeping); a worker flushes the counts to the state database.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::delivery_errors::repo::{DeliveryRepo, Rejection};
use crate::state::StateDbError;

/// Distinct (minute, status, reason) keys kept while the database is unreachable; beyond, counts of new
/// keys are dropped (and logged once per flush) rather than growing without bound.
const MAX_PENDING_KEYS: usize = 10_000;

#[derive(Debug, Default)]
pub struct RejectionLog {
    pending: Mutex<HashMap<(i64, u16, &'static str), u64>>,
}

impl RejectionLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one refused delivery. Never blocks on I/O, never fails.
    pub fn record(&self, status: u16, reason: &'static str) {
        let minute = chrono::Utc::now().timestamp_millis().div_euclid(60_000) * 60_000;
        let Ok(mut pending) = self.pending.lock() else { return };
        let key = (minute, status, reason);
        if pending.len() < MAX_PENDING_KEYS || pending.contains_key(&key) {
            *pending.entry(key).or_insert(0) += 1;
        }
    }

    /// Writes the counts so far; on failure they are kept for the next flush.
    pub async fn flush(&self, repo: &DeliveryRepo) -> Result<usize, StateDbError> {
        let taken: Vec<Rejection> = {
            let Ok(mut pending) = self.pending.lock() else { return Ok(0) };
            pending
                .drain()
                .map(|((bucket_ms, status, reason), count)| Rejection {
                    bucket_ms,
                    status,
                    reason: reason.to_owned(),
                    count,
                })
                .collect()
        };
        if taken.is_empty() {
            return Ok(0);
        }
        if let Err(e) = repo.add_rejections(&taken).await {
            if let Ok(mut pending) = self.pending.lock() {
                for r in &taken {
                    let reason = reason_static(&r.reason);
                    *pending.entry((r.bucket_ms, r.status, reason)).or_insert(0) += r.count;
                }
            }
            return Err(e);
        }
        Ok(taken.len())
    }

    /// Flushes every few seconds until shutdown, then once more.
    pub async fn run(self: std::sync::Arc<Self>, repo: DeliveryRepo, every: Duration, shutdown: CancellationToken) {
        loop {
            let stop = tokio::select! {
                _ = shutdown.cancelled() => true,
                _ = tokio::time::sleep(every) => false,
            };
            if let Err(e) = self.flush(&repo).await {
                tracing::warn!(error = crate::telemetry::chain(&e), "could not record rejected Firehose requests");
            }
            if stop {
                break;
            }
        }
    }
}

/// The reasons are the receiver's fixed error codes; map a string back to its static form.
fn reason_static(reason: &str) -> &'static str {
    super::errors::FirehoseError::CODES.iter().find(|c| **c == reason).copied().unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_reach_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::state::StateDb::connect(&format!("sqlite://{}/s.db", dir.path().display())).await.unwrap();
        db.migrate().await.unwrap();
        let repo = DeliveryRepo::new(db);
        let log = RejectionLog::new();
        log.record(401, "unauthorized");
        log.record(401, "unauthorized");
        log.record(503, "store_unavailable");
        assert_eq!(log.flush(&repo).await.unwrap(), 2);
        assert_eq!(log.flush(&repo).await.unwrap(), 0);
        let now = chrono::Utc::now().timestamp_millis();
        let got = repo.rejections(now - 3_600_000, now + 60_000, 3_600_000).await.unwrap();
        let total: u64 = got.iter().map(|r| r.count).sum();
        assert_eq!(total, 3);
        assert!(got.iter().any(|r| r.status == 401 && r.reason == "unauthorized" && r.count == 2));
    }
}
