//! The shard lease table, after the Kinesis Client Library's (`docs/lease-lifecycle.md` in
//! awslabs/amazon-kinesis-client): one row per shard with its owner, a counter, an expiry and the
//! checkpoint. Every change is a conditional update: taking a lease names the counter it saw (two
//! replicas racing for it cannot both win), and renewing or checkpointing names the owner and counter of
//! the tenure (a replica whose lease was taken over cannot move the checkpoint any more).

use sqlx::Row;

use crate::state::{StateDb, StateDbError};

/// The checkpoint of a shard read to its end: its children may start.
pub const SHARD_END: &str = "SHARD_END";

/// One row of the lease table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub stream_arn: String,
    pub shard_id: String,
    pub parents: Vec<String>,
    pub owner: Option<String>,
    pub counter: i64,
    pub expires_at_ms: i64,
    pub checkpoint: Option<String>,
    pub sub_checkpoint: Option<i64>,
    pub checkpoint_at_ms: Option<i64>,
}

impl Lease {
    pub fn is_finished(&self) -> bool {
        self.checkpoint.as_deref() == Some(SHARD_END)
    }

    /// Owned by someone whose lease has not run out.
    pub fn is_held(&self, now_ms: i64) -> bool {
        self.owner.is_some() && self.expires_at_ms > now_ms
    }

    pub fn held_by(&self, owner: &str, now_ms: i64) -> bool {
        self.is_held(now_ms) && self.owner.as_deref() == Some(owner)
    }
}

/// A checkpoint: the last record whose lines are durable in the log store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub sequence: String,
    /// The last user record of that record when it was a KPL aggregate.
    pub sub_sequence: Option<i64>,
}

#[derive(Clone)]
pub struct LeaseRepo {
    db: StateDb,
}

impl LeaseRepo {
    pub fn new(db: StateDb) -> Self {
        Self { db }
    }

    /// Adds a row for a shard not seen before (free, no checkpoint); an existing row is left alone.
    pub async fn ensure(
        &self,
        stream_arn: &str,
        shard_id: &str,
        parents: &[String],
        now_ms: i64,
    ) -> Result<(), StateDbError> {
        sqlx::query(
            "INSERT INTO kinesis_leases (stream_arn, shard_id, parent_ids, owner, counter, expires_at, created_at) \
             VALUES ($1, $2, $3, NULL, 0, 0, $4) ON CONFLICT (stream_arn, shard_id) DO NOTHING",
        )
        .bind(stream_arn)
        .bind(shard_id)
        .bind(parents.join(","))
        .bind(now_ms)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Every lease of a stream.
    pub async fn list(&self, stream_arn: &str) -> Result<Vec<Lease>, StateDbError> {
        let rows = sqlx::query(
            "SELECT stream_arn, shard_id, parent_ids, owner, counter, expires_at, checkpoint, sub_checkpoint, \
             checkpoint_at FROM kinesis_leases WHERE stream_arn = $1 ORDER BY shard_id",
        )
        .bind(stream_arn)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let parents: String = row.get(2);
                Lease {
                    stream_arn: row.get(0),
                    shard_id: row.get(1),
                    parents: parents.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
                    owner: row.get(3),
                    counter: row.get(4),
                    expires_at_ms: row.get(5),
                    checkpoint: row.get(6),
                    sub_checkpoint: row.get(7),
                    checkpoint_at_ms: row.get(8),
                }
            })
            .collect())
    }

    /// Takes `lease` for `owner` if nobody changed it since it was read (free, expired, or taken from a
    /// busier replica). Returns the new tenure's counter.
    pub async fn take(
        &self,
        lease: &Lease,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<i64>, StateDbError> {
        let done = sqlx::query(
            "UPDATE kinesis_leases SET owner = $1, counter = counter + 1, expires_at = $2 \
             WHERE stream_arn = $3 AND shard_id = $4 AND counter = $5",
        )
        .bind(owner)
        .bind(now_ms + ttl_ms)
        .bind(&lease.stream_arn)
        .bind(&lease.shard_id)
        .bind(lease.counter)
        .execute(self.db.pool())
        .await?;
        Ok((done.rows_affected() == 1).then_some(lease.counter + 1))
    }

    /// Extends a tenure; `false` when the lease is no longer this tenure's (taken over).
    pub async fn renew(&self, lease: &Held, now_ms: i64, ttl_ms: i64) -> Result<bool, StateDbError> {
        let done = sqlx::query(
            "UPDATE kinesis_leases SET expires_at = $1 \
             WHERE stream_arn = $2 AND shard_id = $3 AND owner = $4 AND counter = $5",
        )
        .bind(now_ms + ttl_ms)
        .bind(&lease.stream_arn)
        .bind(&lease.shard_id)
        .bind(&lease.owner)
        .bind(lease.counter)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves the checkpoint; `false` when the lease is no longer this tenure's.
    pub async fn checkpoint(&self, lease: &Held, at: &Checkpoint, now_ms: i64) -> Result<bool, StateDbError> {
        let done = sqlx::query(
            "UPDATE kinesis_leases SET checkpoint = $1, sub_checkpoint = $2, checkpoint_at = $3 \
             WHERE stream_arn = $4 AND shard_id = $5 AND owner = $6 AND counter = $7",
        )
        .bind(&at.sequence)
        .bind(at.sub_sequence)
        .bind(now_ms)
        .bind(&lease.stream_arn)
        .bind(&lease.shard_id)
        .bind(&lease.owner)
        .bind(lease.counter)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks the shard read to its end and frees it, so its children can start.
    pub async fn finish(&self, lease: &Held, now_ms: i64) -> Result<bool, StateDbError> {
        let done = sqlx::query(
            "UPDATE kinesis_leases SET checkpoint = $1, sub_checkpoint = NULL, checkpoint_at = $2, owner = NULL, \
             counter = counter + 1, expires_at = 0 \
             WHERE stream_arn = $3 AND shard_id = $4 AND owner = $5 AND counter = $6",
        )
        .bind(SHARD_END)
        .bind(now_ms)
        .bind(&lease.stream_arn)
        .bind(&lease.shard_id)
        .bind(&lease.owner)
        .bind(lease.counter)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a tenure up (on shutdown), so another replica continues at once.
    pub async fn release(&self, lease: &Held) -> Result<(), StateDbError> {
        sqlx::query(
            "UPDATE kinesis_leases SET owner = NULL, counter = counter + 1, expires_at = 0 \
             WHERE stream_arn = $1 AND shard_id = $2 AND owner = $3 AND counter = $4",
        )
        .bind(&lease.stream_arn)
        .bind(&lease.shard_id)
        .bind(&lease.owner)
        .bind(lease.counter)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Forgets a shard the stream no longer lists (past its retention).
    pub async fn forget(&self, stream_arn: &str, shard_id: &str) -> Result<(), StateDbError> {
        sqlx::query("DELETE FROM kinesis_leases WHERE stream_arn = $1 AND shard_id = $2")
            .bind(stream_arn)
            .bind(shard_id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }
}

/// A tenure this replica holds: what renewing and checkpointing must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub stream_arn: String,
    pub shard_id: String,
    pub owner: String,
    pub counter: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn repo() -> (tempfile::TempDir, LeaseRepo) {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::connect(&format!("sqlite://{}/state.db", dir.path().display())).await.unwrap();
        db.migrate().await.unwrap();
        (dir, LeaseRepo::new(db))
    }

    #[tokio::test]
    async fn a_lease_changes_hands_only_by_conditional_updates() {
        let (_dir, repo) = repo().await;
        repo.ensure("arn", "shard-0", &[], 0).await.unwrap();
        repo.ensure("arn", "shard-0", &["x".into()], 0).await.unwrap(); // no change
        let lease = repo.list("arn").await.unwrap().remove(0);
        assert!(lease.parents.is_empty() && lease.owner.is_none() && !lease.is_held(0));

        // Two replicas race with what they both read: one wins.
        let a = repo.take(&lease, "a", 1000, 10_000).await.unwrap();
        let b = repo.take(&lease, "b", 1000, 10_000).await.unwrap();
        assert_eq!((a, b), (Some(1), None));
        let held_a = Held { stream_arn: "arn".into(), shard_id: "shard-0".into(), owner: "a".into(), counter: 1 };
        assert!(repo.renew(&held_a, 2000, 10_000).await.unwrap());
        let at = Checkpoint { sequence: "42".into(), sub_sequence: Some(3) };
        assert!(repo.checkpoint(&held_a, &at, 2000).await.unwrap());

        // b takes it over after expiry; a can neither renew nor checkpoint any more.
        let lease = repo.list("arn").await.unwrap().remove(0);
        assert!(lease.held_by("a", 5000) && !lease.is_held(20_000));
        assert_eq!(repo.take(&lease, "b", 20_000, 10_000).await.unwrap(), Some(2));
        assert!(!repo.renew(&held_a, 20_001, 10_000).await.unwrap());
        assert!(
            !repo.checkpoint(&held_a, &Checkpoint { sequence: "43".into(), sub_sequence: None }, 20_001).await.unwrap()
        );
        let lease = repo.list("arn").await.unwrap().remove(0);
        assert_eq!((lease.checkpoint.as_deref(), lease.sub_checkpoint), (Some("42"), Some(3)));

        let held_b = Held { owner: "b".into(), counter: 2, ..held_a };
        assert!(repo.finish(&held_b, 21_000).await.unwrap());
        let lease = repo.list("arn").await.unwrap().remove(0);
        assert!(lease.is_finished() && lease.owner.is_none());
        repo.forget("arn", "shard-0").await.unwrap();
        assert!(repo.list("arn").await.unwrap().is_empty());
    }
}
