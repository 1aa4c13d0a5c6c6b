//! Records Firehose gave up on and firesight got back from its S3 backup (`crate::replay`), counted per
//! delivery stream, error code and minute of `attemptEndingTimestamp`: what ties a replay to the
//! delivery-error incident covering the time Firehose stopped trying. Each object's rows are replaced
//! when it is replayed again, so a second replay counts nothing twice.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

use crate::state::{StateDb, StateDbError};

/// What a replay did with the records it read, in failed records and in access-log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReplayCounts {
    /// Failed records read from S3 (within the time range).
    pub records: u64,
    /// Access-log lines in them, recoverable or not.
    pub lines: u64,
    /// Lines newly indexed.
    pub indexed: u64,
    /// Lines already in the log store (replayed before, or delivered after all).
    pub already_present: u64,
    /// Lines (or whole records) still unparseable, kept in the dead-letter store with Firehose's error
    /// code and message.
    pub dead_lettered: u64,
}

impl ReplayCounts {
    pub fn add(&mut self, other: &ReplayCounts) {
        self.records += other.records;
        self.lines += other.lines;
        self.indexed += other.indexed;
        self.already_present += other.already_present;
        self.dead_lettered += other.dead_lettered;
    }
}

/// The counts of one Firehose error code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CodeCounts {
    /// Firehose's `errorCode` (`""` when the record had none).
    pub code: String,
    #[serde(flatten)]
    pub counts: ReplayCounts,
}

/// What one object held for one stream, error code and minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredCount {
    /// `""` when the object's name does not tell the stream.
    pub stream: String,
    pub error_code: String,
    pub minute_ms: i64,
    /// Access-log lines found in the failed records.
    pub found: u64,
    /// Lines now in the log store (newly indexed or already present).
    pub replayed: u64,
    pub dead_lettered: u64,
}

/// Totals over a time range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    pub found: u64,
    pub replayed: u64,
}

#[derive(Clone)]
pub struct RecoveredRepo {
    db: StateDb,
}

impl RecoveredRepo {
    pub fn new(db: StateDb) -> Self {
        Self { db }
    }

    /// Replaces what is known of one object with `counts`, in one transaction.
    pub async fn save(
        &self,
        bucket: &str,
        key: &str,
        counts: &[RecoveredCount],
        now_ms: i64,
    ) -> Result<(), StateDbError> {
        let mut tx = self.db.pool().begin().await?;
        sqlx::query("DELETE FROM replay_counts WHERE bucket = $1 AND object_key = $2")
            .bind(bucket)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        for c in counts {
            sqlx::query(
                "INSERT INTO replay_counts (bucket, object_key, stream, error_code, minute_ms, found, replayed, \
                 dead_lettered, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(bucket)
            .bind(key)
            .bind(&c.stream)
            .bind(&c.error_code)
            .bind(c.minute_ms)
            .bind(c.found as i64)
            .bind(c.replayed as i64)
            .bind(c.dead_lettered as i64)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Lines found and replayed for `stream` (and for objects whose stream is unknown) whose attempts
    /// ended in `[from_ms, to_ms)`.
    pub async fn totals(&self, stream: &str, from_ms: i64, to_ms: i64) -> Result<Recovered, StateDbError> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(found), 0) AS BIGINT), CAST(COALESCE(SUM(replayed), 0) AS BIGINT) \
             FROM replay_counts WHERE (stream = $1 OR stream = '') AND minute_ms >= $2 AND minute_ms < $3",
        )
        .bind(stream)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_one(self.db.pool())
        .await?;
        Ok(Recovered { found: row.get::<i64, _>(0).max(0) as u64, replayed: row.get::<i64, _>(1).max(0) as u64 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_save_replaces_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::connect(&format!("sqlite://{}/state.db", dir.path().display())).await.unwrap();
        db.migrate().await.unwrap();
        let repo = RecoveredRepo::new(db);
        let row = |stream: &str, minute_ms, replayed| RecoveredCount {
            stream: stream.into(),
            error_code: "HttpEndpoint.RequestTimeout".into(),
            minute_ms,
            found: 10,
            replayed,
            dead_lettered: 10 - replayed,
        };
        repo.save("b", "k", &[row("weblogs", 60_000, 7), row("", 120_000, 10)], 1).await.unwrap();
        repo.save("b", "k", &[row("weblogs", 60_000, 9), row("", 120_000, 10)], 2).await.unwrap();
        repo.save("b", "other", &[row("api", 60_000, 1)], 2).await.unwrap();
        assert_eq!(repo.totals("weblogs", 0, 180_000).await.unwrap(), Recovered { found: 20, replayed: 19 });
        assert_eq!(repo.totals("weblogs", 0, 120_000).await.unwrap(), Recovered { found: 10, replayed: 9 });
        assert_eq!(repo.totals("api", 60_000, 60_001).await.unwrap(), Recovered { found: 10, replayed: 1 });
    }
}
